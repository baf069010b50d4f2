"""The scale-out backend: pairs, revisions, retained events and leases in Redis, shared by many processes.

Every write is one Lua script (see ``kvapp.store.redis.scripts``), so revisions are handed out by Redis
itself and any number of server processes on any number of machines agree on one order.
Each process publishes the events of the writes *it* made; a watcher that receives them out
of order across processes fills the gap from ``events_since``, which reads the same Redis.
Transactions, prefix deletes, lease grants, revokes and expiries are one script each too.

Leases live in Redis with deadlines on Redis's clock, so a server restart changes nothing
and processes never disagree about whether a lease ran out. Each store runs a reaper task
on its event loop (started by its first call) that runs the expiry script every
``reap_interval`` seconds; any number of processes may race it: the script deletes each
expired lease's keys once, and the process whose run deleted them publishes the events.

Reads at a past revision undo the retained events after it, found through a per-key index
of event revisions, so they cost the events of the keys read, not the whole history.

Connection failures become ``StoreUnavailable`` (HTTP 503). Every call is tried once more
on a fresh connection first: after a Redis restart the pooled connections are stale and the
first command on one fails although Redis is back. That is safe for writes too, because each
write carries an op ID its script remembers (see ``kvapp.store.redis.scripts``): redis-py's own retries
are off, since they would run a write whose reply was lost a second time.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import uuid
from collections.abc import Awaitable, Callable, Iterable, Iterator, Mapping
from typing import Any, TypeVar
from urllib.parse import urlparse

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kvapp.store.base import (
    DEFAULT_HISTORY_PAGE,
    DEFAULT_PAGE_SIZE,
    EXPIRED,
    REVOKED,
    Event,
    HistoryPage,
    Lease,
    LeasePage,
    Page,
    Pair,
    PrefixDeleted,
    Revoked,
    Stats,
    Store,
    search_matcher,
)
from kvapp.store.errors import (
    Compacted,
    FutureRevision,
    KeyNotFound,
    KVError,
    LeaseNotFound,
    RevisionConflict,
    StoreNotEmpty,
    StoreUnavailable,
    TooManyLeases,
)
from kvapp.store.redis import scripts
from kvapp.store.redis.codec import (
    MS,
    decode_event,
    encode_txn,
    lex_range,
    optional,
    pack_pair,
    pair_of,
    strings,
    unpack_pair,
)
from kvapp.store.txn import Op, Txn, TxnResult, delete_response, get_response, put_response

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 2.0  # seconds to open a connection before answering 503
COMMAND_TIMEOUT = 5.0  # seconds for one command; a 10k-pair page of big values takes a while
ATTEMPTS = 2  # per call: the first may meet a connection a Redis restart left stale
OP_TTL = 30  # seconds a write's op ID is remembered: outlasts a timeout, a reconnect and the retry
DEFAULT_NAMESPACE = "kv"
DEFAULT_HISTORY = 100_000  # events retained
DEFAULT_MAX_LEASES = 100_000  # live leases (KV_MAX_LEASES)
IMPORT_BATCH = 1000  # pairs staged per round trip during an import
REAP_INTERVAL = 0.25  # seconds between expiry runs: a lease ends this late at most (plus a round trip)
REAP_RETRY = 1.0  # seconds the reaper waits after Redis refused or was away
EXPIRE_BATCH = 100  # leases one expiry script ends; the rest go in the next script, right after
LIST_SCAN_SKIPS = 10_000  # keys a listing at a past revision may pass over (absent then) per call
SEARCH_SCAN_PAIRS = 1_000  # pairs a search reads per call before it answers a short page with ``next``
SEARCH_SCAN_BYTES = 4 * 1024 * 1024  # ... or this many bytes of keys and values (4mb), whichever comes first
COUNT_CACHE_SIZE = 64  # (prefix, revision) counts remembered: the count at a past revision never changes


class RedisStore(Store):
    """A store kept in one Redis database, safe to share between server processes."""

    backend_name = "redis"
    # The scripts take each new revision from INCR, whose reply is a Lua number: a double,
    # exact up to 2^53. At a million writes a second that is 285 years away; only an import
    # could start beyond it.
    max_revision = 2**53 - 1
    # The channel layer's Redis is usually this one: its outage is already reported, so a warning
    # (the resilient layer reports it as StoreUnavailable once its retries are spent).
    expected_publish_errors = (redis_errors.RedisError, StoreUnavailable)

    def __init__(
        self,
        url: str,
        history: int = DEFAULT_HISTORY,
        namespace: str = DEFAULT_NAMESPACE,
        max_leases: int = DEFAULT_MAX_LEASES,
        reap_interval: float | None = REAP_INTERVAL,
    ) -> None:
        super().__init__()
        self.max_leases = max_leases
        self.reap_interval = reap_interval  # None: no reaper task (tests call expire_due)
        self.url = url
        self.history_size = history  # events retained
        self.namespace = namespace
        self.where = _describe(url)
        _check_url(url, self.where)  # now: a bad URL stops the start, not a request
        names = (f"{namespace}:{name}" for name in _LAYOUT)
        self._rev, self._pairs, self._keys, self._events, self._lease_ttls, self._lease_seq = names
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, object] = {}
        self._reaper: asyncio.Task | None = None
        self._counts: dict[tuple[str, int], int] = {}

    # --- reads ----------------------------------------------------------------------------

    async def get(self, key: str, revision: int | None = None) -> Pair:
        """The pair for ``key`` (as it stood at ``revision``); raises KeyNotFound."""
        self._ensure_reaper()
        if revision is None:
            packed = await self._call(lambda: self._redis().hget(self._pairs, key))
        else:
            packed = _reachable(await self._run("get_at", key, revision), revision)[1]
        if packed is None:
            raise KeyNotFound(key)
        return unpack_pair(key, packed)

    async def list(
        self,
        prefix: str = "",
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        revision: int | None = None,
        search: str | None = None,
    ) -> Page:
        """A page in key order, read in one script so its items, count and revision agree.

        At a past revision the script undoes the events after it, key by key. A search reads
        a bounded run of pairs per call and filters them here (Python's casefold, as on the
        pickle backend), so its page may be short with a ``next``.
        """
        self._ensure_reaper()
        low, high = lex_range(prefix, after)
        cached = None if revision is None else self._counts.get((prefix, revision))
        counted = lex_range(prefix) if cached is None else (b"", b"")
        want, scan, budget = (
            (SEARCH_SCAN_PAIRS, SEARCH_SCAN_PAIRS, SEARCH_SCAN_BYTES)
            if search
            else (limit + 1, limit + 1 + LIST_SCAN_SKIPS, 0)
        )
        args = [low, high, optional(revision), want, scan, budget, prefix, *counted]
        reply = _reachable(await self._run("list", *args), revision)
        at, exhausted, last = int(reply[1]), reply[3] == 1, reply[4]
        count = cached if cached is not None else int(reply[2])
        if revision is not None:
            self._remember_count(prefix, revision, count)
        pairs = [unpack_pair(key, packed) for key, packed in zip(strings(reply[5::2]), reply[6::2], strict=True)]
        resume = None if exhausted or last is None else last.decode()
        if search:
            return _search_page(pairs, search, limit, at, count, resume)
        if len(pairs) > limit:
            return Page(pairs[:limit], at, pairs[limit - 1].key, count)
        return Page(pairs, at, resume, count)

    async def history(self, key: str, before: int | None = None, limit: int = DEFAULT_HISTORY_PAGE) -> HistoryPage:
        """``key``'s retained events before ``before``, newest first, from its index."""
        self._ensure_reaper()
        reply = await self._run("history", key, optional(before), limit + 1)
        oldest, items = int(reply[0]), [decode_event(raw) for raw in reply[1:]]
        if len(items) > limit:
            return HistoryPage(key, items[:limit], oldest, items[limit - 1].revision)
        return HistoryPage(key, items, oldest, None)

    async def stats(self) -> Stats:
        """Revision, key and lease counts, read in one MULTI so they agree."""
        self._ensure_reaper()
        revision, keys, leases, lease_seq = await self._call(
            lambda: (
                self._redis()
                .pipeline(transaction=True)
                .get(self._rev)
                .hlen(self._pairs)
                .hlen(self._lease_ttls)
                .get(self._lease_seq)
                .execute()
            )
        )
        return Stats(int(revision or 0), keys, self.backend_name, leases, int(lease_seq or 0))

    async def revision(self) -> int:
        """The last revision any process committed."""
        self._ensure_reaper()
        return int(await self._call(lambda: self._redis().get(self._rev)) or 0)

    async def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``; Compacted if the first needed one was trimmed."""
        reply = await self._run("events_since", revision)
        oldest = int(reply[1])
        if revision + 1 < oldest:  # oldest <= current + 1: a caller already up to date gets []
            raise Compacted(oldest)
        return [decode_event(raw) for raw in reply[2:]]

    # --- writes ---------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        value: str,
        if_revision: int | None = None,
        lease: int | None = None,
        ttl: int | None = None,
    ) -> tuple[Pair, str | None]:
        """Write ``value`` in one script: CAS check, lease, next revision, pair and event together."""
        reply = await self._write("put", key, value, optional(if_revision), optional(lease), optional(ttl))
        if reply[0] == b"conflict":
            raise _conflict(key, if_revision, reply[1])
        _, [event] = await self._committed(reply)
        return pair_of(event), event.prev

    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Remove ``key`` in one script; KeyNotFound or RevisionConflict change nothing."""
        reply = await self._write("delete", key, optional(if_revision))
        if reply[0] == b"conflict":
            raise _conflict(key, if_revision, reply[1])
        if reply[0] == b"missing":
            raise KeyNotFound(key)
        _, [event] = await self._committed(reply)
        assert event.prev is not None
        return event.revision, event.prev

    async def delete_prefix(self, prefix: str, limit: int) -> PrefixDeleted:
        """Delete up to ``limit`` pairs under ``prefix`` in key order, in one script."""
        reply = await self._write("delete_prefix", *lex_range(prefix), limit)
        extra, events = await self._committed(reply)
        return PrefixDeleted(len(events), int(extra["revision"]), extra["more"])

    async def txn(self, txn: Txn) -> TxnResult:
        """Run the compares and the branch they choose in one script."""
        reply = await self._write("txn", encode_txn(txn))
        extra, events = await self._committed(reply)
        succeeded = extra["succeeded"]
        responses = _responses(txn.branch(succeeded), extra["results"] or [], events)
        return TxnResult(succeeded, int(extra["revision"]), responses)

    # --- leases ---------------------------------------------------------------------------

    async def grant(self, ttl: int) -> Lease:
        """A new lease with an id from Redis's counter; TooManyLeases at the limit."""
        extra, _ = await self._committed(await self._write("grant", ttl))
        return Lease(int(extra["id"]), int(extra["ttl"]), float(extra["ttl"]))

    async def keepalive(self, lease: int) -> Lease:
        """A full TTL from now on Redis's clock; not recorded, as running it twice only renews twice."""
        self._ensure_reaper()
        reply = await self._run("keepalive", lease)
        if reply[0] == b"no_lease":
            raise LeaseNotFound(lease)
        ttl = int(reply[1])
        return Lease(lease, ttl, float(ttl))

    async def revoke(self, lease: int) -> Revoked:
        """End ``lease`` and delete its keys in one script."""
        extra, events = await self._committed(await self._write("revoke", lease, REVOKED))
        return Revoked(lease, int(extra["revision"]), [event.key for event in events])

    async def lease(self, lease: int) -> Lease:
        """A live lease with its keys; one past its deadline is gone, reaped or not."""
        self._ensure_reaper()
        reply = await self._run("lease", lease)
        if reply[0] == b"no_lease":
            raise LeaseNotFound(lease)
        ttl, deadline, now = int(reply[1]), float(reply[2]), int(reply[3])
        return Lease(lease, ttl, (deadline - now) / MS, tuple(strings(reply[4:])))

    async def leases(self, after: int | None = None, limit: int = DEFAULT_PAGE_SIZE) -> LeasePage:
        """Live leases by id (those past their deadline but not yet reaped show 0 remaining)."""
        self._ensure_reaper()
        reply = await self._run("leases", after or 0, limit + 1)
        now = int(reply[0])
        items = [
            Lease(int(id), int(ttl), max((float(deadline) - now) / MS, 0.0), tuple(strings(keys)))
            for id, ttl, deadline, *keys in reply[1:]
        ]
        if len(items) > limit:
            return LeasePage(items[:limit], items[limit - 1].id)
        return LeasePage(items, None)

    async def expire_due(self) -> list[int]:
        """End every lease past its deadline on Redis's clock (the reaper's step; tests call it).

        Returns the leases this call ended: a lease another process expired first is not among them.
        """
        ended: list[int] = []
        while True:
            extra, _ = await self._committed(await self._write("expire", EXPIRE_BATCH, EXPIRED))
            ended += [int(lease) for lease in extra["ended"] or []]
            if not extra["more"]:
                return ended

    def _ensure_reaper(self) -> None:
        """Start the reaper on this loop (any call may be the first; tests run several loops)."""
        if self.reap_interval is None:
            return
        loop = asyncio.get_running_loop()
        if self._reaper is None or self._reaper.done() or self._reaper.get_loop() is not loop:
            self._reaper = loop.create_task(self._reap_forever(self.reap_interval), name="kv-lease-reaper")

    async def _reap_forever(self, interval: float) -> None:
        """Run the expiry script every ``interval`` seconds, for the leases of every process.

        Every process does, because any of them may be the only one left; a run that finds
        nothing due costs Redis one ZRANGEBYSCORE. While Redis is away it says so once.
        """
        # redis-py can swallow a cancellation that lands mid-command (its connection clean-up
        # catches it), so the loop also ends once it is no longer the store's reaper or a
        # cancellation is pending, rather than trusting the CancelledError to arrive.
        task = asyncio.current_task()
        failing = False
        while self._reaper is task and task is not None and not task.cancelling():
            await asyncio.sleep(interval)
            try:
                await self.expire_due()
            except KVError as exc:
                if not failing:
                    logger.warning("leases could not be expired (%s); retrying every %.0f s", exc, REAP_RETRY)
                failing = True
                await asyncio.sleep(REAP_RETRY)
                continue
            if failing:
                logger.info("leases are being expired again")
                failing = False

    # --- backup and restore -----------------------------------------------------------------

    async def restore(
        self, pairs: Iterable[Pair], revision: int, lease_ttls: Mapping[int, int], lease_seq: int = 0
    ) -> int:
        """Load ``pairs`` with their own revisions into this empty store, all or nothing.

        Pairs (and each lease's keys) are staged under temporary keys and renamed into place
        by one script that first checks the store is still empty, so a failed or raced
        import changes nothing. The store's revision becomes the highest of ``revision`` and
        the pairs' revisions. Returns the number of pairs loaded.
        """
        staging = f"{self.namespace}:import:{uuid.uuid4().hex}"
        staged = [f"{staging}:pairs", f"{staging}:keys", f"{staging}:lease_ttls"]
        count, top = 0, revision
        try:
            for batch in _batches(pairs, IMPORT_BATCH):
                await self._call(lambda batch=batch: _stage(self._redis(), staging, staged, batch))
                count += len(batch)
                top = max(top, *(pair.revision for pair in batch))
            if len(lease_ttls) > self.max_leases:
                raise TooManyLeases(f"the export has {len(lease_ttls)} leases, over this store's limit (KV_MAX_LEASES)")
            if lease_ttls:
                await self._call(lambda: self._redis().hset(staged[2], mapping=dict(lease_ttls)))
            keys = [self._rev, self._pairs, self._keys, self._events, *staged]
            args = [top, self.namespace, staging, lease_seq]
            installed = await self._call(lambda: self._script("install_import")(keys=keys, args=args))
        finally:
            with contextlib.suppress(redis_errors.RedisError):
                await self._redis().delete(*staged, *(f"{staging}:lease:{lease}" for lease in lease_ttls))
        if not installed:
            raise StoreNotEmpty(f"the Redis store at {self.where} was written to during the import; nothing was loaded")
        return count

    # --- plumbing ---------------------------------------------------------------------------

    def _redis(self) -> Redis:
        """The client for the running event loop (tests run several loops one after another)."""
        loop = asyncio.get_running_loop()
        if self._client is None or self._loop is not loop:
            self._client = Redis.from_url(
                self.url,
                socket_connect_timeout=CONNECT_TIMEOUT,
                socket_timeout=COMMAND_TIMEOUT,
                retry=Retry(NoBackoff(), 0),  # never re-run a write that may have happened
            )
            self._loop = loop
            self._scripts = {}
        return self._client

    async def _run(self, name: str, *args: object, write: bool = False) -> list:
        """Run script ``name`` with the namespace first (EVALSHA, loading it again after a Redis restart)."""
        return await self._call(lambda: self._script(name)(keys=[], args=[self.namespace, *args]), write=write)

    async def _write(self, name: str, *args: object) -> list:
        """Run write script ``name`` under a new op ID; the refusals every write shares become errors.

        The op ID is chosen once, outside the retry, so a second attempt is the same write.
        """
        self._ensure_reaper()
        op = uuid.uuid4().hex
        reply = await self._run(name, op, self.history_size, OP_TTL, self.max_leases, *args, write=True)
        status = reply[0]
        if status == b"no_lease":
            raise LeaseNotFound(int(reply[1]))
        if status == b"too_many":
            raise TooManyLeases(f"{int(reply[1])} leases are live, the limit (KV_MAX_LEASES); revoke some first")
        if status == b"applied":
            raise StoreUnavailable(
                f"the write took revisions {reply[1].decode() or '(none)'}..{reply[2].decode()} but its answer "
                "was lost; read the keys to see their state"
            )
        return reply

    async def _committed(self, reply: list) -> tuple[dict[str, Any], list[Event]]:
        """The answer of a write that went through, and its events, published by this process."""
        extra = orjson.loads(reply[1])
        events = [decode_event(raw) for raw in reply[2:]]
        await self._publish(events)
        return extra, events

    def _script(self, name: str) -> Any:
        """The registered script ``name`` for the current client."""
        script = self._scripts.get(name)
        if script is None:
            script = self._scripts[name] = self._redis().register_script(_SOURCES[name])
        return script

    async def _call(self, operation: Callable[[], Awaitable[T]], *, write: bool = False) -> T:
        """Await ``operation()``, once more on a connection error; Redis failures become StoreUnavailable.

        A ``write`` whose command may have reached Redis (it stalled, or the connection broke
        after sending) may have been applied: that caller is told the outcome is unknown,
        not to try again, which would write twice or meet its own write as a conflict.
        """
        maybe_applied = False
        for attempt in range(1, ATTEMPTS + 1):
            try:
                return await operation()
            except (redis_errors.ConnectionError, redis_errors.TimeoutError) as exc:
                # The failed connection is dropped, so the next attempt connects afresh.
                maybe_applied = maybe_applied or (write and not _never_connected(exc))
                if attempt < ATTEMPTS:
                    continue
                if maybe_applied:
                    raise StoreUnavailable(
                        f"Redis at {self.where} did not answer in time ({exc}); the write may or may not have been "
                        "applied: read the key to see its state before writing again"
                    ) from None
                raise StoreUnavailable(f"Redis at {self.where} is unreachable ({exc}); try again shortly") from None
            except redis_errors.RedisError as exc:
                raise StoreUnavailable(f"Redis at {self.where} refused the command ({exc})") from None
        raise AssertionError("the loop returns or raises")

    def _remember_count(self, prefix: str, revision: int, count: int) -> None:
        """Keep the count at ``revision``: the past does not change, so every page after the first skips it."""
        if (prefix, revision) not in self._counts and len(self._counts) >= COUNT_CACHE_SIZE:
            self._counts.pop(next(iter(self._counts)))
        self._counts[(prefix, revision)] = count

    async def aclose(self) -> None:
        """Stop the reaper and close the connections of the current loop's client (tests, commands)."""
        reaper, self._reaper = self._reaper, None
        if reaper is not None and not reaper.done():
            reaper.cancel()
            if reaper.get_loop() is asyncio.get_running_loop():
                with contextlib.suppress(asyncio.CancelledError):
                    await reaper
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Stop the reaper and forget the client; its sockets close with the process (no loop to await on)."""
        reaper, self._reaper = self._reaper, None
        if reaper is not None and not reaper.done() and not reaper.get_loop().is_closed():
            reaper.get_loop().call_soon_threadsafe(reaper.cancel)
        self._client = None


_LAYOUT = ("rev", "pairs", "keys", "events", "lease_ttls", "lease_seq")

_SOURCES = {
    "put": scripts.PUT,
    "delete": scripts.DELETE,
    "delete_prefix": scripts.DELETE_PREFIX,
    "txn": scripts.TXN,
    "grant": scripts.GRANT,
    "keepalive": scripts.KEEPALIVE,
    "revoke": scripts.REVOKE,
    "expire": scripts.EXPIRE,
    "lease": scripts.LEASE,
    "leases": scripts.LEASES,
    "get_at": scripts.GET_AT,
    "list": scripts.LIST,
    "history": scripts.HISTORY,
    "events_since": scripts.EVENTS_SINCE,
    "install_import": scripts.INSTALL_IMPORT,
}


def _describe(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return f"unix://{parsed.path}"
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 6379}{parsed.path}"


def _check_url(url: str, where: str) -> None:
    """Refuse a URL redis-py would misread (it ignores a database that is not a number)."""
    parsed = urlparse(url)
    try:
        parsed.port  # noqa: B018 - raises ValueError for a port that is not a number
        ConnectionPool.from_url(url)
    except ValueError as exc:
        raise StoreUnavailable(f"KV_BACKEND={where!r} is not a usable Redis URL ({exc})") from None
    database = parsed.path.strip("/")
    if parsed.scheme != "unix" and database and not database.isdigit():
        raise StoreUnavailable(f"KV_BACKEND={where!r} is not a usable Redis URL: the database must be a number")


def _never_connected(exc: redis_errors.RedisError) -> bool:
    """Whether the failure was opening the connection, so no command went out on it.

    redis-py says so only in its messages ("Timeout connecting to server", "Error 111
    connecting to HOST:PORT."); anything else may have failed after the command was sent.
    """
    return "connecting to" in str(exc)


def _reachable(reply: list, revision: int | None) -> list:
    """``reply`` of a read at ``revision``, unless the script refused it as future or compacted."""
    if reply[0] == b"future":
        raise FutureRevision(revision or 0, int(reply[1]))
    if reply[0] == b"compacted":
        raise Compacted(int(reply[1]))
    return reply


def _search_page(pairs: list[Pair], search: str, limit: int, at: int, count: int, resume: str | None) -> Page:
    """The matches among the scanned ``pairs``; ``resume`` is where the scan stopped (None: at the end)."""
    matches = search_matcher(search)
    assert matches is not None  # only called with a search
    items: list[Pair] = []
    for pair in pairs:
        if not matches(pair):
            continue
        if len(items) == limit:
            return Page(items, at, items[-1].key, count)
        items.append(pair)
    return Page(items, at, resume, count)


def _responses(ops: tuple[Op, ...], results: list[Any], events: list[Event]) -> list[dict[str, Any]]:
    """One response per op: a get's pair from ``results``, a write's from its event, in order."""
    written = iter(events)
    responses: list[dict[str, Any]] = []
    for op, result in zip(ops, results, strict=True):
        if op.kind == "get":
            responses.append(get_response(op.key, unpack_pair(op.key, result) if result else None))
        elif op.kind == "put":
            event = next(written)
            responses.append(put_response(pair_of(event), event.prev))
        elif result:
            event = next(written)
            responses.append(delete_response(op.key, event.revision, event.prev))
        else:
            responses.append(delete_response(op.key, None, None))
    return responses


async def _stage(client: Redis, staging: str, staged: list[str], batch: list[Pair]) -> None:
    """Write one batch of an import under the staging keys (repeatable: HSET/ZADD overwrite)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(staged[0], mapping={pair.key: pack_pair(pair) for pair in batch})
        pipe.zadd(staged[1], dict.fromkeys((pair.key for pair in batch), 0))
        for pair in batch:
            if pair.lease:
                pipe.zadd(f"{staging}:lease:{pair.lease}", {pair.key: 0})
        await pipe.execute()


def _conflict(key: str, expected: int | None, packed: bytes | None) -> RevisionConflict:
    """The CAS failure, carrying the pair as it is now (None when absent)."""
    current = unpack_pair(key, packed).as_dict() if packed is not None else None
    return RevisionConflict(key, expected if expected is not None else 0, current)


def _batches(pairs: Iterable[Pair], size: int) -> Iterator[list[Pair]]:
    """``pairs`` in lists of at most ``size``."""
    batch: list[Pair] = []
    for pair in pairs:
        batch.append(pair)
        if len(batch) == size:
            yield batch
            batch = []
    if batch:
        yield batch
