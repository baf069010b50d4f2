"""Server processes for the benchmark: ``kvapp.testing``'s, started as `make run` starts them."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from bench.load import LoadResult, run_wrk_on
from kvapp.testing.server import KV_APP, ServerProcess

BARE_APP = "bench.bare_asgi:application"
START_TIMEOUT = 120.0  # seconds; a million-key upgrade on a busy 2-core box is slow

__all__ = ["BARE_APP", "KV_APP", "Server"]


@dataclass
class Server(ServerProcess):
    """A server under load; its start time, memory and CPU per request are measured too."""

    start_timeout: float = START_TIMEOUT

    @classmethod
    def of(cls, kind: str, app: str, data: Path) -> Server:
        """The server ``kind`` running ``app`` on the store at ``data``."""
        return cls(data, kind=kind, app=app)

    def load(self, seconds: float, script: str, env: dict[str, str]) -> LoadResult:
        """Drive it with wrk for ``seconds``, measuring its CPU time per request too."""
        return run_wrk_on(self.process.pid, self.url, seconds, script, env)

    def stop(self, timeout: float = 60.0) -> None:
        """SIGTERM (a clean shutdown folds a million-key journal), SIGKILL if it hangs."""
        super().stop(timeout)
