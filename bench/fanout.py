"""The writer side of the watch benchmark: start the watchers, write at a fixed rate, collect."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass

import orjson
import requests

from bench.watch import END_KEY, PREFIX

WRITES_PER_SECOND = 50


@dataclass(frozen=True)
class FanoutResult:
    """Delivery latency over all (watcher, write) pairs, and what went missing."""

    watchers: int
    writes: int
    p50_ms: float
    p99_ms: float
    max_ms: float
    lost: int
    duplicates: int
    failed: int


def run_fanout(base_url: str, watchers: int, seconds: float) -> FanoutResult:
    """``watchers`` sockets on PREFIX while this process PUTs 50 timestamped values a second."""
    session = requests.Session()
    after = session.get(f"{base_url}/healthz", timeout=10).json()["revision"]
    ws_url = base_url.replace("http://", "ws://") + f"/ws/watch?prefix={PREFIX}&after={after}"
    client = subprocess.Popen(
        [sys.executable, "-m", "bench.watch", ws_url, str(watchers)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if client.stdout.readline().strip() != "ready":
            raise RuntimeError("watch client did not get ready")
        writes = _write_paced(session, base_url, seconds)
        session.put(f"{base_url}/api/v1/kv/{END_KEY}", json={"value": str(writes)}, timeout=30).raise_for_status()
        client.stdin.write(f"{writes}\n")
        client.stdin.flush()
        report = orjson.loads(client.stdout.readline())
    finally:
        client.kill()
        client.wait()
    return FanoutResult(
        watchers,
        writes,
        report["p50_ms"],
        report["p99_ms"],
        report["max_ms"],
        report["lost"],
        report["duplicates"],
        report["failed"],
    )


def _write_paced(session: requests.Session, base_url: str, seconds: float) -> int:
    """PUT one value every 1/50 s on a fixed schedule (a slow PUT does not shift later ones)."""
    count = int(seconds * WRITES_PER_SECOND)
    started = time.perf_counter()
    for n in range(count):
        delay = started + n / WRITES_PER_SECOND - time.perf_counter()
        if delay > 0:
            time.sleep(delay)
        value = f"{time.time():.6f}"
        session.put(f"{base_url}/api/v1/kv/{PREFIX}{n}", json={"value": value}, timeout=30).raise_for_status()
    return count
