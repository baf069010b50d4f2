"""kvapp.server.exposure: the warning for a server listening beyond loopback without a token."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from kvapp.server.exposure import bound_hosts, exposure_warning, is_loopback
from kvapp.testing.server import PROJECT_ROOT
from tests.support.security import (
    TOKEN,
)

# --- exposure warnings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hosts"),
    [
        (["daphne", "-b", "0.0.0.0", "-p", "8000", "kvproject.asgi:application"], ["0.0.0.0"]),
        (["daphne", "--bind=::", "kvproject.asgi:application"], ["::"]),
        (["daphne", "-e", "tcp:8000", "kvproject.asgi:application"], ["0.0.0.0"]),
        (["daphne", "-e", r"tcp:8000:interface=\:\:1", "kvproject.asgi:application"], ["::1"]),
        (["daphne", "-u", "/run/kv.sock", "-e", "unix:/run/kv2.sock", "kvproject.asgi:application"], []),
        (["uvicorn", "--host", "192.168.1.5", "kvproject.asgi:application"], ["192.168.1.5"]),
        (["manage.py", "runserver", "--noreload", "0:8000"], ["0.0.0.0"]),
        (["manage.py", "runserver", "[::]:8000"], ["::"]),
        (["manage.py", "runserver", "8000"], []),
        (["daphne", "kvproject.asgi:application"], []),
    ],
)
def test_bound_hosts_reads_daphne_uvicorn_and_runserver_command_lines(argv: list[str], hosts: list[str]) -> None:
    assert bound_hosts(argv) == hosts


LOOPBACK = ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"]
REACHABLE = ["0.0.0.0", "::", "10.0.0.1", "example.com"]


@pytest.mark.parametrize(("host", "loopback"), [(h, True) for h in LOOPBACK] + [(h, False) for h in REACHABLE])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_warning_only_without_a_token_beyond_loopback() -> None:
    exposed = ["daphne", "-b", "0.0.0.0", "kvproject.asgi:application"]
    assert "0.0.0.0" in exposure_warning(exposed, token="") and "KV_TOKEN" in exposure_warning(exposed, token="")
    assert exposure_warning(exposed, token=TOKEN) is None
    assert exposure_warning(["daphne", "-b", "127.0.0.1", "kvproject.asgi:application"], token="") is None


def test_starting_on_all_interfaces_without_a_token_warns_on_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KV_TOKEN"}
    env.update(KV_DATA=str(tmp_path / "store.pickle"), DJANGO_SETTINGS_MODULE="kvproject.settings")
    command = [sys.executable, "-c", "import kvproject.asgi", "-b", "0.0.0.0"]  # argv as daphne would see it
    exposed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert exposed.returncode == 0, exposed.stderr
    assert "WARNING: listening on 0.0.0.0 with no KV_TOKEN" in exposed.stderr
    with_token = subprocess.run(
        command, cwd=PROJECT_ROOT, env={**env, "KV_TOKEN": TOKEN}, capture_output=True, text=True, timeout=60
    )
    assert "WARNING" not in with_token.stderr
