"""Server processes started the way users start them (`make run`, `make run-uvicorn`)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import requests

from bench.load import LoadResult, run_wrk_on
from tests.support.ports import free_port

PROJECT_ROOT = Path(__file__).resolve().parents[1]
BIN = Path(sys.executable).parent
START_TIMEOUT = 120.0  # seconds; a million-key upgrade on a busy 2-core box is slow
KV_APP = "kvproject.asgi:application"
BARE_APP = "bench.bare_asgi:application"


def server_command(kind: str, app: str, port: int) -> list[str]:
    """The Makefile's `run` / `run-uvicorn` command lines, on ``port``."""
    if kind == "daphne":
        return [str(BIN / "daphne"), "-b", "127.0.0.1", "-p", str(port), app]
    if kind == "uvicorn":
        return [str(BIN / "uvicorn"), "--host", "127.0.0.1", "--port", str(port), "--no-access-log", app]
    if kind == "uvicorn-h11":  # plain uvicorn, as `pip install uvicorn` without uvloop/httptools runs
        return [*server_command("uvicorn", app, port), "--http", "h11", "--loop", "asyncio"]
    raise ValueError(f"unknown server {kind!r}")


@dataclass
class Server:
    """One running server; ``start_seconds`` is from exec to the first answered /healthz."""

    kind: str
    app: str
    data: Path
    env: dict[str, str] = field(default_factory=dict)
    port: int = 0
    process: subprocess.Popen | None = None
    start_seconds: float = 0.0

    @property
    def url(self) -> str:
        """Base HTTP URL."""
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Server:
        """Start it and wait until it answers (bare app: any path; kvstore: /healthz)."""
        self.port = free_port()
        env = {**os.environ, "KV_DATA": str(self.data), "PYTHONPATH": str(PROJECT_ROOT), **self.env}
        started = time.perf_counter()
        with self.data.with_name(f"{self.kind}-{self.port}.log").open("ab") as log:  # the child keeps its copy
            self.process = subprocess.Popen(
                server_command(self.kind, self.app, self.port),
                cwd=PROJECT_ROOT,
                env=env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        self._wait_ready()
        self.start_seconds = time.perf_counter() - started
        return self

    def _wait_ready(self) -> None:
        """Poll until the server answers; fail with its exit code if it dies first."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"{self.kind} exited with {self.process.returncode}; see {self.data.parent}")
            try:
                requests.get(f"{self.url}/healthz", timeout=1)
                return
            except requests.RequestException:
                time.sleep(0.02)
        raise RuntimeError(f"{self.kind} did not answer within {START_TIMEOUT}s")

    def load(self, seconds: float, script: str, env: dict[str, str]) -> LoadResult:
        """Drive it with wrk for ``seconds``, measuring its CPU time per request too."""
        return run_wrk_on(self.process.pid, self.url, seconds, script, env)

    def rss_mb(self) -> float:
        """Resident memory of the server process, in MiB."""
        for line in Path(f"/proc/{self.process.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
        raise RuntimeError("no VmRSS line")

    def stop(self) -> None:
        """SIGTERM (a clean shutdown folds the journal), SIGKILL if it hangs."""
        if self.process is None or self.process.poll() is not None:
            return
        os.killpg(self.process.pid, signal.SIGTERM)
        try:
            self.process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            os.killpg(self.process.pid, signal.SIGKILL)
            self.process.wait()

    def __enter__(self) -> Server:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()
