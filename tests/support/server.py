"""Real kvstore server processes for end-to-end tests (crash, lock, watch, CLI, browser)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from tests.support.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
START_TIMEOUT = 30.0  # seconds; a 2-core CI box importing Django can be slow
REFUSAL_TIMEOUT = 60.0  # seconds for a server that should refuse to start to exit


def server_command(kind: str, port: int) -> list[str]:
    """The command users run, for each supported server."""
    if kind == "daphne":
        return [sys.executable, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), "kvproject.asgi:application"]
    if kind == "uvicorn":
        return [
            sys.executable,
            "-m",
            "uvicorn",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--log-level",
            "warning",
            "kvproject.asgi:application",
        ]
    if kind == "runserver":
        return [sys.executable, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    raise ValueError(kind)


def server_env(data: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with settings pointed at the project and the store at ``data``."""
    return {**os.environ, "KV_DATA": str(data), "DJANGO_SETTINGS_MODULE": "kvproject.settings", **(extra or {})}


def run_until_refused(
    data: Path, kind: str = "daphne", env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    """Run a server that is expected to refuse to start on ``data``; its exit code and output.

    Port 1 is never bound: the store is opened (and refused) before the server listens.
    ``runserver-autoreload`` is runserver as `manage.py runserver` starts it, with its reloader.
    """
    if kind == "runserver-autoreload":
        command = [sys.executable, "manage.py", "runserver", "127.0.0.1:1"]
    else:
        command = server_command(kind, 1)
    return subprocess.run(
        command,
        cwd=PROJECT_ROOT,
        env=server_env(data, env),
        capture_output=True,
        text=True,
        timeout=REFUSAL_TIMEOUT,
    )


@dataclass
class ServerProcess:
    """One server on a free port with its own data file; ``stop()`` or ``kill()`` it."""

    data: Path
    kind: str = "daphne"
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base websocket URL."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> ServerProcess:
        """Start the process and (by default) wait until /healthz answers."""
        self.port = self.port or free_port()
        self.log_path = self.data.with_name(f"server-{self.port}.log")
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                server_command(self.kind, self.port),
                cwd=PROJECT_ROOT,
                env=server_env(self.data, self.env),
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        if wait:
            try:
                self.wait_ready()
            except BaseException:
                self.kill()  # its own session: nothing else would ever stop it
                raise
        return self

    def __enter__(self) -> ServerProcess:
        """Start (and wait for) the server for a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop it cleanly whatever happened in the block."""
        self.stop()

    def wait_ready(self) -> None:
        """Poll /healthz until it answers, failing loudly with the server log if it never does."""
        deadline = time.monotonic() + START_TIMEOUT
        token = self.env.get("KV_TOKEN")
        headers = {"Authorization": b"Bearer " + token.encode()} if token else {}  # UTF-8: any token
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"server exited with {self.process.returncode}:\n{self.log()}")
            try:
                if requests.get(f"{self.url}/healthz", timeout=1, headers=headers).status_code in (200, 401, 503):
                    return
            except requests.RequestException:
                pass
            time.sleep(0.1)
        raise RuntimeError(f"server did not answer within {START_TIMEOUT}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def kill(self) -> None:
        """kill -9: no atexit, no fold, no flush; what survives is what was fsynced."""
        self._signal(signal.SIGKILL)

    def stop(self) -> None:
        """A clean shutdown (SIGTERM), as an init system would do it."""
        self._signal(signal.SIGTERM)

    def _signal(self, sig: int) -> None:
        """Send ``sig`` to the process group and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)


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
