"""The benchmark's one-off scenarios: prefix deletes, lease expiry storms, consistent listings,
history reads and memory, each against a real server and timed from outside.

wrk measures sustained rates (``bench/load.py``); these measure how long a bounded job takes
to be seen done by a client, so each one writes through the HTTP API and watches the result
arrive over a real watch socket or a real listing.
"""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from urllib.parse import quote

import orjson
import requests
from websockets.sync.client import ClientConnection, connect

from bench.load import LoadResult
from bench.seeding import VALUE, bench_key
from bench.servers import Server

TXN_OPS = 100  # puts per transaction when filling (the server allows 128)
TIMEOUT = 120.0  # seconds for any one request or wait


@dataclass(frozen=True)
class Watched:
    """A bounded job: how long its own calls took, and until a watcher had all its events."""

    events: int
    call_seconds: float
    watched_seconds: float


@dataclass(frozen=True)
class ExpiryStorm:
    """Leases all running out at once: when the watcher had every delete, and puts meanwhile."""

    leases: int
    watched_seconds: float  # from the first lease's deadline to the last delete received
    puts_during: LoadResult
    puts_before: LoadResult


@dataclass(frozen=True)
class Listing:
    """A whole store listed page by page at one revision, with and without a writer beside it."""

    keys: int
    quiet_seconds: float
    busy_seconds: float
    writes_per_second: float  # what the writer beside the busy listing achieved


@dataclass(frozen=True)
class Latency:
    """Request latency percentiles, in milliseconds."""

    p50_ms: float
    p99_ms: float


class EventCollector:
    """A watch socket read in a thread until ``wanted`` matching events arrived (or a timeout)."""

    def __init__(self, ws_url: str, prefix: str, after: int, wanted: int, match: Callable[[dict], bool]) -> None:
        self.wanted = wanted
        self.match = match
        self.seen = 0
        self.done_at: float | None = None
        self._socket: ClientConnection = connect(
            f"{ws_url}/ws/watch?prefix={quote(prefix)}&after={after}", max_size=None, open_timeout=30
        )
        self._thread = threading.Thread(target=self._read, daemon=True)
        self._thread.start()

    def _read(self) -> None:
        try:
            for frame in self._socket:
                if self.match(orjson.loads(frame)):
                    self.seen += 1
                    if self.seen == self.wanted:
                        self.done_at = time.perf_counter()
                        return
        except Exception:  # the wait below reports what was missing
            return

    def wait(self) -> float:
        """When the last wanted event arrived (perf_counter); raises if it never did."""
        self._thread.join(TIMEOUT)
        self._socket.close()
        if self.done_at is None:
            raise RuntimeError(f"the watcher saw {self.seen} of {self.wanted} events")
        return self.done_at


def revision_of(session: requests.Session, url: str) -> int:
    """The store's revision now."""
    return int(session.get(f"{url}/healthz", timeout=TIMEOUT).json()["revision"])


def write_in_transactions(session: requests.Session, url: str, keys: list[str], **put: object) -> None:
    """PUT every key (with ``put``'s extra fields, e.g. a ttl) in transactions of TXN_OPS ops."""
    for start in range(0, len(keys), TXN_OPS):
        ops = [{"op": "put", "key": key, "value": VALUE, **put} for key in keys[start : start + TXN_OPS]]
        answer = session.post(f"{url}/api/v1/txn", json={"success": ops}, timeout=TIMEOUT)
        answer.raise_for_status()


def prefix_delete(server: Server, keys: int) -> Watched:
    """Delete ``keys`` pairs under one prefix; until a watcher has every delete event."""
    session, prefix = requests.Session(), "bench/pfx/"
    write_in_transactions(session, server.url, [f"{prefix}{n:06d}" for n in range(keys)])
    watcher = EventCollector(
        server.ws_url, prefix, revision_of(session, server.url), keys, lambda e: e.get("type") == "delete"
    )
    started = time.perf_counter()
    more = True
    while more:
        answer = session.delete(f"{server.url}/api/v1/kv", params={"prefix": prefix, "limit": 10_000}, timeout=TIMEOUT)
        answer.raise_for_status()
        more = answer.json()["more"]
    called = time.perf_counter()
    return Watched(keys, called - started, watcher.wait() - started)


def lease_expiry(server: Server, leases: int, ttl: int, load_seconds: float) -> ExpiryStorm:
    """``leases`` leases of one key each, all due within about a second; puts by others meanwhile."""
    session, prefix = requests.Session(), "bench/lease/"
    before = server.load(load_seconds, "put.lua", {"KV_BENCH_PREFIX": "bench/expiry-before/"})
    watcher = EventCollector(
        server.ws_url, prefix, revision_of(session, server.url), leases, lambda e: e.get("reason") == "expired"
    )
    created = time.perf_counter()
    write_in_transactions(session, server.url, [f"{prefix}{n:06d}" for n in range(leases)], ttl=ttl)
    first_deadline = created + ttl
    time.sleep(max(first_deadline - load_seconds / 2 - time.perf_counter(), 0.0))
    during = server.load(load_seconds, "put.lua", {"KV_BENCH_PREFIX": "bench/expiry-during/"})
    return ExpiryStorm(leases, watcher.wait() - first_deadline, during, before)


def grant_leases(url: str, count: int, ttl: int = 3600) -> list[int]:
    """Grant ``count`` leases (with 32 clients at once); their ids."""
    ids: list[int] = []
    lock = threading.Lock()

    def grant(share: int) -> None:
        session = requests.Session()
        for _ in range(share):
            answer = session.post(f"{url}/api/v1/leases", json={"ttl": ttl}, timeout=TIMEOUT)
            answer.raise_for_status()
            with lock:
                ids.append(answer.json()["id"])

    clients = 32
    threads = [threading.Thread(target=grant, args=(count // clients + (n < count % clients),)) for n in range(clients)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return sorted(ids)


def consistent_listing(server: Server, page_size: int, writes_per_second: float) -> Listing:
    """Every pair, page by page at the first page's revision: alone, then beside a paced writer
    (``bench/writer.py``, a process of its own)."""
    quiet_seconds, keys = _list_everything(server.url, page_size)
    writer = subprocess.Popen(
        [sys.executable, "-m", "bench.writer", server.url, str(writes_per_second)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        if writer.stdout.readline().strip() != "ready":
            raise RuntimeError("the paced writer did not start")
        time.sleep(1)  # let it reach its pace before the listing starts
        busy_seconds, _ = _list_everything(server.url, page_size)
        written, seconds = writer.communicate("", timeout=TIMEOUT)[0].split()
    finally:
        writer.kill()
    return Listing(keys, quiet_seconds, busy_seconds, int(written) / float(seconds))


def _list_everything(url: str, page_size: int) -> tuple[float, int]:
    session = requests.Session()
    started = time.perf_counter()
    params: dict[str, object] = {"limit": page_size}
    keys = 0
    while True:
        page = session.get(f"{url}/api/v1/kv", params=params, timeout=TIMEOUT)
        page.raise_for_status()
        body = page.json()
        keys += len(body["items"])
        if body["next"] is None:
            return time.perf_counter() - started, keys
        params = {"limit": page_size, "after": body["next"], "revision": body["revision"]}


def prepare_reads_at_a_revision(url: str, keys: int, later_writes: int = 100) -> int:
    """Overwrite every seeded key, then ``later_writes`` others: a revision at which each seeded
    key reads as it was before its last change, which is at least that many revisions old."""
    session = requests.Session()
    revision = revision_of(session, url)
    write_in_transactions(session, url, [bench_key(n) for n in range(keys)])
    write_in_transactions(session, url, [f"bench/later/{n}" for n in range(later_writes)])
    return revision


def history_latency(url: str, events: int, reads: int) -> Latency:
    """First-page latency of a key's history with ``events`` retained events."""
    session, key = requests.Session(), "bench/history-key"
    for n in range(events):
        session.put(f"{url}/api/v1/kv/{key}", json={"value": f"v{n}"}, timeout=TIMEOUT).raise_for_status()
    took: list[float] = []
    for _ in range(reads):
        started = time.perf_counter()
        session.get(f"{url}/api/v1/history/{key}", timeout=TIMEOUT).raise_for_status()
        took.append((time.perf_counter() - started) * 1000)
    took.sort()
    return Latency(took[len(took) // 2], took[min(len(took) - 1, int(len(took) * 0.99))])


def fill_history(url: str, keys: int, events: int) -> None:
    """Overwrite existing seeded keys until the store has written ``events`` more events."""
    session = requests.Session()
    write_in_transactions(session, url, [bench_key(n % keys) for n in range(events)])
