"""Watchers that stop reading, against real daphne and uvicorn processes (issue #19.1).

Twenty watchers stop reading (small kernel receive buffers, one queued message at most on
the client side) while 200 puts of 200 KB (40 MB of events) are written. Each costs the
server at most KV_WATCH_BUFFER_BYTES and is closed with 4408; it resumes with ``after=``
and loses nothing; a watcher that reads gets every event in order; and the writers are not
held up by the stalled ones. The same writes with only the reading watcher are the baseline
the memory and the latency are compared with: the store keeps the 40 MB itself, so the
server's memory grows by that much either way.
"""

from __future__ import annotations

import asyncio
import json
import socket
import statistics
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kvapp.testing.server import ServerProcess
from kvapp.watch.protocol import CloseCode
from tests.support.server import healthz, wait_for_watchers

MIB = 1024 * 1024
BUFFER = 1 * MIB  # KV_WATCH_BUFFER_BYTES of the servers under test
STALLED = 20  # watchers that stop reading
WRITES = 200
VALUE = "v" * 200_000  # 200 writes of it: 40 MB of events
WRITERS = 4  # threads, each with its own keep-alive session
SERVER_ENV = {"KV_WATCH_BUFFER_BYTES": str(BUFFER), "KV_HISTORY": str(2 * WRITES), "KV_MAX_VALUE_BYTES": "262144"}
TIMEOUT = 60.0  # seconds for any one phase of the scenario
RSS_SAMPLE_INTERVAL = 0.01  # seconds
LATENCY_FACTOR = 3  # the writers' median PUT latency with stalled watchers, at most this many times the baseline's


@dataclass
class Run:
    """What one scenario measured."""

    growth_mib: float = 0.0  # the server's peak RSS minus its RSS before the writes
    latencies: list[float] = field(default_factory=list)  # seconds per PUT

    @property
    def median_ms(self) -> float:
        return statistics.median(self.latencies) * 1000


class PeakRSS(threading.Thread):
    """Samples a server's resident memory until stopped; ``peak`` is the highest seen, in MiB."""

    def __init__(self, server: ServerProcess) -> None:
        super().__init__(daemon=True)
        self.server = server
        self.peak = server.rss_mb()
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(RSS_SAMPLE_INTERVAL):
            self.peak = max(self.peak, self.server.rss_mb())

    def stop(self) -> float:
        self.stopped.set()
        self.join()
        return max(self.peak, self.server.rss_mb())


def stalled_socket(server: ServerProcess) -> socket.socket:
    """A connected socket with a tiny receive buffer, so a client that stops reading pushes back at once."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    return sock


def watch(server: ServerProcess, query: str, **options: Any) -> Any:
    """A watch client that reads only when told, accepting events of any size."""
    return connect(
        f"{server.ws_url}/ws/watch?{query}", max_size=None, ping_interval=None, open_timeout=TIMEOUT, **options
    )


def write_share(base: str, indexes: range, latencies: list[float]) -> None:
    """One writer thread's puts, each timed."""
    with requests.Session() as session:
        for i in indexes:
            started = time.perf_counter()
            response = session.put(f"{base}/api/v1/kv/slow/{i}", json={"value": VALUE}, timeout=TIMEOUT)
            latencies.append(time.perf_counter() - started)
            assert response.status_code == 200, response.text


async def write_all(base: str, latencies: list[float]) -> None:
    """WRITES puts of VALUE from WRITERS threads racing each other."""
    loop = asyncio.get_running_loop()
    shares = [range(i, WRITES, WRITERS) for i in range(WRITERS)]
    await asyncio.gather(*(loop.run_in_executor(None, write_share, base, share, latencies) for share in shares))


async def read_revisions(ws: ClientConnection, last: int) -> list[int]:
    """The revisions of the frames ``ws`` gets until one at ``last``."""
    revisions: list[int] = []
    async with asyncio.timeout(TIMEOUT):
        while not revisions or revisions[-1] < last:
            revisions.append(json.loads(await ws.recv())["revision"])
    return revisions


async def drain_until_closed(ws: ClientConnection) -> tuple[list[int], int | None]:
    """Everything a stalled watcher was sent before its close, and the close code (None: no close frame)."""
    revisions: list[int] = []
    try:
        async with asyncio.timeout(TIMEOUT):
            while True:
                revisions.append(json.loads(await ws.recv())["revision"])
    except ConnectionClosed as closed:
        return revisions, closed.rcvd.code if closed.rcvd is not None else None


async def scenario(server: ServerProcess, stalled_count: int) -> Run:
    """The writes with one reading watcher and ``stalled_count`` that stop reading; checks what each got."""
    start = healthz(server.url)["revision"]
    end = start + WRITES
    run = Run()
    reader = await watch(server, "prefix=slow/")
    stalled = [
        await watch(server, "prefix=slow/", sock=stalled_socket(server), max_queue=1, compression=None)
        for _ in range(stalled_count)
    ]
    await asyncio.to_thread(wait_for_watchers, server.url, 1 + stalled_count, TIMEOUT)
    rss = PeakRSS(server)
    before = server.rss_mb()
    rss.start()
    reading = asyncio.create_task(read_revisions(reader, end))
    writing = asyncio.create_task(write_all(server.url, run.latencies))
    # The server closes the stalled ones while the writes go on; they read up to the close then.
    await asyncio.to_thread(wait_for_watchers, server.url, 1, TIMEOUT)
    outcomes = await asyncio.gather(*(drain_until_closed(ws) for ws in stalled))
    await writing
    assert await reading == list(range(start + 1, end + 1)), "the reading watcher missed or reordered events"
    run.growth_mib = rss.stop() - before
    for revisions, code in outcomes:
        assert code == CloseCode.TOO_SLOW
        assert revisions == list(range(start + 1, start + 1 + len(revisions)))
    await resume_all(server, [revisions[-1] if revisions else start for revisions, _ in outcomes], end)
    await reader.close()
    return run


async def resume_all(server: ServerProcess, afters: list[int], end: int) -> None:
    """Each closed watcher resumes after the last event it got, and gets exactly the rest."""
    for after in afters:
        async with watch(server, f"prefix=slow/&after={after}") as resumed:
            assert await read_revisions(resumed, end) == list(range(after + 1, end + 1))


@pytest.fixture
def fresh_server(tmp_path: Path) -> Iterator[Any]:
    """Start servers of a kind with SERVER_ENV, each on its own data; all stopped at the end."""
    started: list[ServerProcess] = []

    def start(kind: str, name: str) -> ServerProcess:
        process = ServerProcess(tmp_path / name / "store.pickle", kind=kind, env=SERVER_ENV)
        process.data.parent.mkdir()
        started.append(process.start())
        return process

    yield start
    for process in started:
        process.stop()


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_watchers_that_stop_reading_cost_bounded_memory_are_closed_4408_and_lose_nothing(
    kind: str, fresh_server: Any, record_property: Any
) -> None:
    baseline = await scenario(fresh_server(kind, "baseline"), 0)
    stalled = await scenario(fresh_server(kind, "stalled"), STALLED)
    record_property("rss_growth_mib", {"baseline": round(baseline.growth_mib), "stalled": round(stalled.growth_mib)})
    record_property("put_median_ms", {"baseline": round(baseline.median_ms), "stalled": round(stalled.median_ms)})
    print(  # shown with -s: the figures the README quotes
        f"{kind}: RSS growth {baseline.growth_mib:.0f} MiB without stalled watchers, {stalled.growth_mib:.0f} MiB"
        f" with {STALLED}; PUT median {baseline.median_ms:.0f} ms / {stalled.median_ms:.0f} ms"
    )
    assert stalled.growth_mib - baseline.growth_mib <= STALLED * BUFFER / MIB
    assert stalled.median_ms <= LATENCY_FACTOR * baseline.median_ms
