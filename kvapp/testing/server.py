"""Real kvstore server processes, started the way users start them, for tests and the benchmark."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from kvapp.testing.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[2]
KV_APP = "kvproject.asgi:application"
START_TIMEOUT = 30.0  # seconds; a 2-core CI box importing Django can be slow
STOP_TIMEOUT = 20.0  # seconds for a clean shutdown (it folds the journal) before SIGKILL
READY_STATUSES = (200, 401, 503)  # /healthz answering at all: up, if perhaps locked out or degraded


def server_command(kind: str, port: int, app: str = KV_APP) -> list[str]:
    """The command users run (README, Makefile), for each supported server."""
    python = sys.executable
    if kind == "daphne":
        return [python, "-m", "daphne", "-b", "127.0.0.1", "-p", str(port), app]
    if kind == "uvicorn":
        quiet = ["--no-access-log", "--log-level", "warning"]
        return [python, "-m", "uvicorn", "--host", "127.0.0.1", "--port", str(port), *quiet, app]
    if kind == "uvicorn-h11":  # plain uvicorn, as `pip install uvicorn` without uvloop/httptools runs
        return [*server_command("uvicorn", port, app), "--http", "h11", "--loop", "asyncio"]
    if kind == "runserver":
        return [python, "manage.py", "runserver", "--noreload", f"127.0.0.1:{port}"]
    raise ValueError(f"unknown server {kind!r}")


def server_env(data: Path, extra: dict[str, str] | None = None) -> dict[str, str]:
    """This process's environment with settings pointed at the project and the store at ``data``."""
    return {
        **os.environ,
        "KV_DATA": str(data),
        "DJANGO_SETTINGS_MODULE": "kvproject.settings",
        "PYTHONPATH": str(PROJECT_ROOT),
        **(extra or {}),
    }


@dataclass
class ServerProcess:
    """One server on a free port with its own data file; ``stop()`` or ``kill()`` it.

    ``app`` is kvstore's ASGI application unless a benchmark runs another one under the
    same server; ``start_seconds`` is the time from exec to the first answer.
    """

    data: Path
    kind: str = "daphne"
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    app: str = KV_APP
    start_timeout: float = START_TIMEOUT
    start_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        """Base websocket URL."""
        return f"ws://127.0.0.1:{self.port}"

    def start(self, wait: bool = True) -> ServerProcess:
        """Start the process and (by default) wait until it answers."""
        self.port = self.port or free_port()
        self.log_path = self.data.with_name(f"{self.kind}-{self.port}.log")
        started = time.perf_counter()
        with self.log_path.open("ab") as log:  # the child keeps its own copy of the descriptor
            self.process = subprocess.Popen(
                server_command(self.kind, self.port, self.app),
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
            self.start_seconds = time.perf_counter() - started
        return self

    def __enter__(self) -> ServerProcess:
        """Start (and wait for) the server for a ``with`` block."""
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        """Stop it cleanly whatever happened in the block."""
        self.stop()

    def wait_ready(self) -> None:
        """Poll /healthz until it answers, failing loudly with the server log if it never does."""
        deadline = time.monotonic() + self.start_timeout
        token = self.env.get("KV_TOKEN")
        headers = {"Authorization": b"Bearer " + token.encode()} if token else {}  # UTF-8: any token
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}:\n{self.log()}")
            try:
                status = requests.get(f"{self.url}/healthz", timeout=1, headers=headers).status_code
                if self.app != KV_APP or status in READY_STATUSES:
                    return
            except requests.RequestException:
                pass
            time.sleep(0.05)
        raise RuntimeError(f"{self.kind} did not answer within {self.start_timeout}s:\n{self.log()}")

    def log(self) -> str:
        """Everything the server printed so far."""
        return self.log_path.read_text(errors="replace")

    def rss_mb(self) -> float:
        """Resident memory of the server process, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def kill(self) -> None:
        """kill -9: no atexit, no fold, no flush; what survives is what was fsynced."""
        self._signal(signal.SIGKILL)

    def stop(self, timeout: float = STOP_TIMEOUT) -> None:
        """A clean shutdown (SIGTERM), as an init system would do it; SIGKILL if it hangs."""
        self._signal(signal.SIGTERM, timeout)

    def _signal(self, sig: int, timeout: float = STOP_TIMEOUT) -> None:
        """Send ``sig`` to the process group and reap it."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, sig)
        try:
            self.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait(timeout=10)
