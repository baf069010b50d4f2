"""kvproject.settings: DEBUG off, a real secret key, and the documented defaults."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

import pytest

from kvapp.testing.server import PROJECT_ROOT
from kvproject.env import secret_key


def _printed_by_fresh_django(code: str, unset: Callable[[str], bool]) -> str:
    """What ``code`` prints in a new process whose settings see none of the variables ``unset`` names."""
    env = {name: value for name, value in os.environ.items() if not unset(name)}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "kvproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_debug_is_off_and_the_secret_key_is_not_django_s_placeholder() -> None:
    printed = _printed_by_fresh_django(
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECRET_KEY.startswith('django-insecure'), len(s.SECRET_KEY))",
        unset=lambda name: name in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY"},
    )
    debug, insecure, length = printed.split()
    assert (debug, insecure) == ("False", "False")
    assert int(length) >= 50


def test_documented_defaults_hold_when_no_kv_variable_is_set() -> None:
    printed = _printed_by_fresh_django(
        "from kvapp.conf import kv_settings as k; s = k(); "
        "print(s.data, s.backend or '-', s.history, s.max_key_bytes, s.max_value_bytes, s.watch_buffer_bytes, "
        "s.max_leases, s.lease_max_ttl)",
        unset=lambda name: name.startswith("KV_"),
    )
    data, backend, history, max_key, max_value, watch_buffer, max_leases, lease_max_ttl = printed.split()
    assert data == str(PROJECT_ROOT / "store.pickle")
    assert (backend, history, max_key, max_value) == ("-", "100000", "1024", str(1024 * 1024))
    assert watch_buffer == str(8 * 1024 * 1024)
    assert (max_leases, lease_max_ttl) == ("100000", "86400")


def test_generated_secret_key_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    path = tmp_path / "secret_key.txt"
    first = secret_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(path) == first
    assert len(first) >= 50
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    assert secret_key(path) == "from-the-environment"


def test_a_process_losing_the_secret_key_race_uses_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    path = tmp_path / "secret_key.txt"

    def another_process_won(source: str, target: Path) -> None:
        target.write_text("the-winners-key")
        raise FileExistsError(target)

    monkeypatch.setattr(os, "link", another_process_won)
    assert secret_key(path) == "the-winners-key"
    assert [child.name for child in tmp_path.iterdir()] == ["secret_key.txt"]  # nothing left aside
