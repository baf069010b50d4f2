"""Helpers around real server processes (``kvapp.testing.server``) that only the tests need."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import requests

from kvapp.testing.server import PROJECT_ROOT, server_command, server_env

REFUSAL_TIMEOUT = 60.0  # seconds for a server that should refuse to start to exit


def run_until_refused(
    data: Path, kind: str = "daphne", env: dict[str, str] | None = None, wrapper: Sequence[str] = ()
) -> subprocess.CompletedProcess[str]:
    """Run a server that is expected to refuse to start on ``data``; its exit code and output.

    Port 1 is never bound: the store is opened (and refused) before the server listens.
    ``runserver-autoreload`` is runserver as `manage.py runserver` starts it, with its reloader.
    ``wrapper`` is a command that runs the server as its arguments (e.g. in its own mount namespace).
    """
    if kind == "runserver-autoreload":
        command = [sys.executable, "manage.py", "runserver", "127.0.0.1:1"]
    else:
        command = server_command(kind, 1)
    return subprocess.run(
        [*wrapper, *command],
        cwd=PROJECT_ROOT,
        env=server_env(data, env),
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )


def healthz(base_url: str, timeout: float = 10.0) -> dict[str, Any]:
    """A server's /healthz answer (revision, keys, watchers, backend), which must be a 200."""
    response = requests.get(f"{base_url}/healthz", timeout=timeout)
    assert response.status_code == 200, response.text
    return response.json()


def wait_for_watchers(base_url: str, count: int, timeout: float) -> None:
    """Until /healthz counts exactly ``count`` watchers (opens and closes are counted asynchronously)."""
    deadline = time.monotonic() + timeout
    while (seen := healthz(base_url)["watchers"]) != count:
        assert time.monotonic() < deadline, f"/healthz still counts {seen} watchers, expected {count}"
        time.sleep(0.05)
