"""Watch fan-out: N websocket watchers on one prefix while a writer puts timestamped values.

Run by ``bench/fanout.py``: ``python -m bench.watch WS_URL N`` connects N watchers to WS_URL,
whose ``after=`` the caller sets (so none misses a write made while others connect), prints
``ready``, and prints one JSON line of results once every watcher has seen the end marker
(or the deadline passed). Each value is the writer's ``time.time()`` at the moment it sent
the PUT, so delivery latency = receipt time - value, PUT durability included.
"""

from __future__ import annotations

import asyncio
import sys
import time
from dataclasses import dataclass, field

import orjson
from websockets.asyncio.client import connect

PREFIX = "bench/watch/"
END_KEY = PREFIX + "end"  # its value is the number of timed writes before it
CONNECT_CONCURRENCY = 50  # handshakes in flight at once
DEADLINE = 120.0  # seconds after "ready" before unfinished watchers count their misses as lost


@dataclass
class Watcher:
    """One watch socket's view: the timed writes it got, once each, and how late."""

    latencies: list[float] = field(default_factory=list)  # seconds
    seen: set[int] = field(default_factory=set)
    duplicates: int = 0
    expected: int | None = None  # set by the end marker
    failed: bool = False

    async def run(self, url: str, gate: asyncio.Semaphore, attempts: list[int], all_tried: asyncio.Event) -> None:
        """Connect (a few at a time), then read frames until the end marker."""
        try:
            async with gate:
                socket = await connect(url, compression=None, max_queue=None, open_timeout=60)
        except Exception:  # a refused or timed-out handshake is reported as a count
            self.failed = True
            return
        finally:
            attempts[0] += 1
            if attempts[0] == attempts[1]:
                all_tried.set()
        try:
            async with socket:
                async for frame in socket:
                    self.receive(orjson.loads(frame), time.time())
                    if self.expected is not None:
                        return
        except Exception:  # a dropped socket shows up as lost events
            self.failed = True

    def receive(self, event: dict, received: float) -> None:
        """Count one event frame."""
        if event.get("type") != "put":
            return
        if event["key"] == END_KEY:
            self.expected = int(event["value"])
        elif event["revision"] in self.seen:
            self.duplicates += 1
        else:
            self.seen.add(event["revision"])
            self.latencies.append(received - float(event["value"]))

    def lost(self, announced: int) -> int:
        """Timed writes this watcher never got."""
        return max(0, (self.expected if self.expected is not None else announced) - len(self.seen))


def percentile(sorted_values: list[float], fraction: float) -> float:
    """Nearest-rank percentile of an already sorted list."""
    if not sorted_values:
        return float("nan")
    return sorted_values[min(len(sorted_values) - 1, int(fraction * len(sorted_values)))]


async def main(url: str, watchers: int) -> None:
    """Connect everyone, say ready, read the writer's count from stdin, then report."""
    gate = asyncio.Semaphore(CONNECT_CONCURRENCY)
    all_tried = asyncio.Event()
    attempts = [0, watchers]
    clients = [Watcher() for _ in range(watchers)]
    tasks = [asyncio.create_task(client.run(url, gate, attempts, all_tried)) for client in clients]
    await asyncio.wait_for(all_tried.wait(), timeout=DEADLINE)
    print("ready", flush=True)
    announced = int(await asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline))
    _, pending = await asyncio.wait(tasks, timeout=DEADLINE)
    for task in pending:
        task.cancel()
    await asyncio.gather(*pending, return_exceptions=True)
    latencies = sorted(latency for client in clients for latency in client.latencies)
    result = {
        "watchers": watchers,
        "deliveries": len(latencies),
        "lost": sum(client.lost(announced) for client in clients),
        "duplicates": sum(client.duplicates for client in clients),
        "failed": sum(client.failed for client in clients),
        "p50_ms": percentile(latencies, 0.50) * 1000,
        "p99_ms": percentile(latencies, 0.99) * 1000,
        "max_ms": (latencies[-1] if latencies else float("nan")) * 1000,
    }
    print(orjson.dumps(result).decode(), flush=True)


if __name__ == "__main__":
    try:
        import uvloop

        uvloop.install()
    except ImportError:  # pragma: no cover - uvloop is pinned, but the client works without it
        pass
    asyncio.run(main(sys.argv[1], int(sys.argv[2])))
