"""Soak: writers, readers and watchers on one real server for about a minute.

Writers put, delete and compare-and-swap at a steady rate (including deliberately stale
swaps, the only refusals expected); readers list and get; twenty watchers follow all keys or
one writer's prefix. At the end every watcher must have received exactly the acknowledged
writes for its prefix, in revision order, and the server's memory and open files must have
stayed flat: RSS after warm-up grows by less than a bound, and the descriptor count returns
to its baseline once the clients are gone. KV_SOAK_SECONDS sets the duration.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import connect

from kvapp.testing.server import ServerProcess
from tests.support.server import healthz, wait_for_watchers

pytestmark = pytest.mark.soak

DURATION = float(os.environ.get("KV_SOAK_SECONDS", "60"))  # seconds of load
WARM_UP = max(5.0, DURATION * 0.2)  # seconds before the memory baseline is taken
WRITERS = 4
WRITES_PER_SECOND = 50  # per writer: steady load the clients can also read back in time
KEYS_PER_WRITER = 50  # bounded key space, so the data itself does not grow
READERS = 2
READS_PER_SECOND = 20  # per reader
ALL_KEY_WATCHERS = 14
PREFIX_WATCHERS = 6  # watching writer 0..2's prefixes, two each
RSS_GROWTH_LIMIT = 30 * 1024 * 1024  # 30mb after warm-up
FD_SLACK = 4  # descriptors a fold or a log may hold open for a moment
SAMPLE_INTERVAL = 1.0  # seconds
DRAIN_TIMEOUT = 30.0  # seconds for watchers to receive the last events
TIMEOUT = 10.0  # seconds for one request


@dataclass
class Ledger:
    """Every acknowledged write by revision, and every answer no one intended."""

    writes: dict[int, tuple[str, str, str | None]] = field(default_factory=dict)  # rev -> (type, key, value)
    unexpected: list[str] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def acknowledge(self, revision: int, kind: str, key: str, value: str | None) -> None:
        """Record a write the server answered 200 (an assert here would only warn: writers are threads)."""
        with self.lock:
            if revision in self.writes:
                self.unexpected.append(f"revision {revision} acknowledged twice")
                return
            self.writes[revision] = (kind, key, value)

    def refuse(self, what: str) -> None:
        """Record an answer that should not have happened."""
        with self.lock:
            self.unexpected.append(what)


def _paced(stop: threading.Event, per_second: float) -> Iterator[int]:
    """Yield 0, 1, 2, ... at ``per_second`` until ``stop`` is set."""
    started, count = time.monotonic(), 0
    while not stop.is_set():
        yield count
        count += 1
        delay = started + count / per_second - time.monotonic()
        if delay > 0:
            stop.wait(delay)


def _writer(url: str, number: int, stop: threading.Event, ledger: Ledger) -> None:
    """Puts (plain and CAS), deletes and one deliberately stale CAS in every ten writes."""
    revisions: dict[str, int] = {}  # this writer's keys and their revision; no one else writes them
    with requests.Session() as http:
        for count in _paced(stop, WRITES_PER_SECOND):
            key = f"soak/w{number}/k{count % KEYS_PER_WRITER}"
            value = f"{number}-{count}"
            step = count % 10
            if step == 7 and key in revisions:
                answer = http.delete(f"{url}/api/v1/kv/{key}", timeout=TIMEOUT)
                if answer.status_code == 200:
                    ledger.acknowledge(answer.json()["revision"], "delete", key, None)
                    del revisions[key]
                else:
                    ledger.refuse(f"DELETE {key}: {answer.status_code}")
                continue
            body: dict[str, object] = {"value": value}
            if step == 8:
                body["if_revision"] = revisions.get(key, 0)
            elif step == 9:
                body["if_revision"] = revisions.get(key, 0) + 1_000_000  # stale on purpose: must be 409
            answer = http.put(f"{url}/api/v1/kv/{key}", json=body, timeout=TIMEOUT)
            if step == 9:
                if answer.status_code != 409:
                    ledger.refuse(f"stale CAS on {key}: {answer.status_code}")
            elif answer.status_code == 200:
                revisions[key] = answer.json()["revision"]
                ledger.acknowledge(revisions[key], "put", key, value)
            else:
                ledger.refuse(f"PUT {key}: {answer.status_code} {answer.text[:100]}")


def _reader(url: str, number: int, stop: threading.Event, ledger: Ledger) -> None:
    """Pages through listings and reads single keys; a 404 is fine for a key just deleted."""
    with requests.Session() as http:
        for count in _paced(stop, READS_PER_SECOND):
            if count % 2:
                answer = http.get(f"{url}/api/v1/kv", params={"prefix": "soak/", "limit": 37}, timeout=TIMEOUT)
                ok = answer.status_code == 200 and len(answer.json()["items"]) <= 37
            else:
                answer = http.get(f"{url}/api/v1/kv/soak/w{count % WRITERS}/k{count % 7}", timeout=TIMEOUT)
                ok = answer.status_code in (200, 404)
            if not ok:
                ledger.refuse(f"reader {number}: {answer.status_code}")


@dataclass
class Watcher:
    """One watch socket read in its own thread."""

    prefix: str
    events: list[dict] = field(default_factory=list)
    error: str | None = None

    def run(self, ws_url: str, ready: threading.Barrier, stop: threading.Event) -> None:
        """Connect, wait for the others, then record every frame until told to stop."""
        try:
            with connect(f"{ws_url}/ws/watch?prefix={self.prefix}", open_timeout=TIMEOUT) as socket:
                ready.wait(TIMEOUT)
                while not stop.is_set():
                    try:
                        self.events.append(json.loads(socket.recv(timeout=0.5)))
                    except TimeoutError:
                        continue
        except (ConnectionClosed, OSError, threading.BrokenBarrierError) as exc:
            self.error = repr(exc)


@dataclass
class Sampler:
    """The server's resident memory and open descriptors, once a second."""

    pid: int
    samples: list[tuple[float, int, int]] = field(default_factory=list)  # (time, rss bytes, fds)

    def take(self) -> tuple[int, int]:
        """One sample now."""
        rss = 0
        for line in Path(f"/proc/{self.pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                rss = int(line.split()[1]) * 1024
        fds = len(os.listdir(f"/proc/{self.pid}/fd"))
        self.samples.append((time.monotonic(), rss, fds))
        return rss, fds

    def run(self, stop: threading.Event) -> None:
        """Sample until stopped."""
        while not stop.wait(SAMPLE_INTERVAL):
            self.take()


@pytest.fixture
def soak_server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real daphne server of its own (a soak must not share a process with other tests)."""
    with ServerProcess(tmp_path / "store.pickle") as process:
        yield process


def _start(target, *args) -> threading.Thread:  # type: ignore[no-untyped-def]
    """A daemon thread already running ``target(*args)``."""
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def test_soak_writers_readers_and_watchers(soak_server: ServerProcess) -> None:
    url, ledger = soak_server.url, Ledger()
    sampler = Sampler(soak_server.process.pid)
    _, fds_before = sampler.take()

    watchers = [Watcher("") for _ in range(ALL_KEY_WATCHERS)]
    watchers += [Watcher(f"soak/w{n % 3}/") for n in range(PREFIX_WATCHERS)]
    ready, stop_watching = threading.Barrier(len(watchers) + 1), threading.Event()
    watch_threads = [_start(w.run, soak_server.ws_url, ready, stop_watching) for w in watchers]
    ready.wait(TIMEOUT)
    wait_for_watchers(url, len(watchers), TIMEOUT)
    start_revision = healthz(url, TIMEOUT)["revision"]

    stop_load, stop_sampling = threading.Event(), threading.Event()
    load = [_start(_writer, url, n, stop_load, ledger) for n in range(WRITERS)]
    load += [_start(_reader, url, n, stop_load, ledger) for n in range(READERS)]
    sampling = _start(sampler.run, stop_sampling)
    began = time.monotonic()
    time.sleep(DURATION)
    stop_load.set()
    for thread in load:
        thread.join(TIMEOUT)

    final_revision = healthz(url, TIMEOUT)["revision"]
    assert ledger.unexpected == []
    assert sorted(ledger.writes) == list(range(start_revision + 1, final_revision + 1)), "a write went missing"
    expected = {
        prefix: [rev for rev, (_, key, _) in sorted(ledger.writes.items()) if key.startswith(prefix)]
        for prefix in {w.prefix for w in watchers}
    }
    deadline = time.monotonic() + DRAIN_TIMEOUT
    while any(len(w.events) < len(expected[w.prefix]) for w in watchers) and time.monotonic() < deadline:
        time.sleep(0.1)
    stop_watching.set()
    for thread in watch_threads:
        thread.join(TIMEOUT)
    stop_sampling.set()
    sampling.join(TIMEOUT)

    for watcher in watchers:
        assert watcher.error is None, watcher.error
        assert [e["revision"] for e in watcher.events] == expected[watcher.prefix], f"watcher {watcher.prefix!r}"
        for event in watcher.events:
            assert (event["type"], event["key"], event.get("value")) == ledger.writes[event["revision"]]

    warm = [rss for at, rss, _ in sampler.samples if at >= began + WARM_UP]
    print(  # shown with -s or on failure: what the run did
        f"soak: {len(ledger.writes)} writes, {sum(len(w.events) for w in watchers)} events delivered, "
        f"rss {[rss // 1024**2 for _, rss, _ in sampler.samples]} MiB, fds {[fd for *_, fd in sampler.samples]}"
    )
    assert len(warm) >= 3, "too few samples after warm-up"
    assert max(warm) - warm[0] < RSS_GROWTH_LIMIT, f"RSS grew from {warm[0]} to {max(warm)} bytes"
    wait_for_watchers(url, 0, TIMEOUT)
    assert _settled_fds(sampler, fds_before) <= fds_before + FD_SLACK, "descriptors leaked"
    assert "Traceback" not in soak_server.log()
    assert len(ledger.writes) > DURATION * WRITERS * WRITES_PER_SECOND * 0.5, "the load ran far below its rate"


def _settled_fds(sampler: Sampler, baseline: int) -> int:
    """The descriptor count once it has come back down (closing sockets takes a moment)."""
    deadline = time.monotonic() + TIMEOUT
    while True:
        _, fds = sampler.take()
        if fds <= baseline + FD_SLACK or time.monotonic() > deadline:
            return fds
        time.sleep(0.2)
