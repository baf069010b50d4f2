"""A real ``redis-server`` for tests: a free port, no persistence unless asked, restartable.

A missing binary is an error, not a skip: the Redis backend is a feature, and a machine that
cannot test it must say so loudly.
"""

from __future__ import annotations

import shutil
import subprocess
import time
from dataclasses import dataclass
from pathlib import Path

import redis
from redis.backoff import NoBackoff
from redis.retry import Retry

from kvapp.testing.ports import free_port

START_TIMEOUT = 10.0  # seconds for redis-server to answer PING
STOP_TIMEOUT = 10.0  # seconds for it to exit after SHUTDOWN / SIGTERM
POLL_INTERVAL = 0.05  # seconds between PINGs


class RedisMissing(RuntimeError):
    """redis-server is not installed, so the Redis backend cannot be tested here."""


@dataclass
class RedisServer:
    """One redis-server process bound to 127.0.0.1 on a port kept across restarts."""

    directory: Path
    port: int = 0
    process: subprocess.Popen | None = None

    def url(self, db: int = 0) -> str:
        """The KV_BACKEND URL for database ``db``."""
        return f"redis://127.0.0.1:{self.port}/{db}"

    def start(self) -> RedisServer:
        """Start on the same port as before (a free one the first time) and wait for PING."""
        binary = shutil.which("redis-server")
        if binary is None:
            raise RedisMissing("redis-server is not on PATH; install it (apt-get install redis-server)")
        self.port = self.port or free_port()
        self.directory.mkdir(parents=True, exist_ok=True)
        command = [binary, "--save", "", "--appendonly", "no", "--port", str(self.port), "--bind", "127.0.0.1"]
        command += ["--dir", str(self.directory), "--logfile", str(self.directory / "redis.log")]
        self.process = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.STDOUT)
        self._wait_for_ping()
        return self

    def stop(self, save: bool = False) -> None:
        """Shut down; with ``save`` the data is written to disk first and loaded on the next start."""
        if self.process is None or self.process.poll() is not None:
            return
        if save:
            with self.client() as client:
                client.save()
        self.process.terminate()  # SIGTERM: a clean shutdown; with no save points it writes nothing
        self.process.wait(timeout=STOP_TIMEOUT)

    def restart(self, pause: float = 0.0, save: bool = True) -> None:
        """Stop, stay away ``pause`` seconds, start again on the same port."""
        self.stop(save=save)
        time.sleep(pause)
        self.start()

    def client(self, db: int = 0) -> redis.Redis:
        """A plain synchronous client that does not retry, for PING, SAVE and test setup."""
        return redis.Redis(
            host="127.0.0.1",
            port=self.port,
            db=db,
            socket_timeout=2,
            socket_connect_timeout=2,
            retry=Retry(NoBackoff(), 0),
        )

    def _wait_for_ping(self) -> None:
        """Poll PING until +PONG, failing with the server's log if it never comes."""
        deadline = time.monotonic() + START_TIMEOUT
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.process.returncode}:\n{self._log()}")
            try:
                with self.client() as client:
                    if client.ping():
                        return
            except redis.RedisError:
                pass
            time.sleep(POLL_INTERVAL)
        raise RuntimeError(f"redis-server did not answer PING within {START_TIMEOUT}s:\n{self._log()}")

    def _log(self) -> str:
        """What redis-server logged so far."""
        path = self.directory / "redis.log"
        return path.read_text(errors="replace") if path.exists() else "(no log)"
