"""The scale-out backend: pairs, revisions and retained events in Redis, shared by many processes.

Every write is one Lua script (see ``kvapp.store.redis.scripts``), so revisions are handed out by Redis
itself and any number of server processes on any number of machines agree on one order.
Each process publishes the events of the writes *it* made; a watcher that receives them out
of order across processes fills the gap from ``events_since``, which reads the same Redis.

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
from collections.abc import Awaitable, Callable, Iterable, Iterator
from typing import Any, TypeVar
from urllib.parse import urlparse

import orjson
from redis import exceptions as redis_errors
from redis.asyncio import ConnectionPool, Redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff

from kvapp.store.base import DEFAULT_PAGE_SIZE, Event, Page, Pair, Stats, Store
from kvapp.store.errors import Compacted, KeyNotFound, RevisionConflict, StoreNotEmpty, StoreUnavailable
from kvapp.store.redis import scripts

logger = logging.getLogger(__name__)

T = TypeVar("T")

CONNECT_TIMEOUT = 2.0  # seconds to open a connection before answering 503
COMMAND_TIMEOUT = 5.0  # seconds for one command; a 10k-pair page of big values takes a while
ATTEMPTS = 2  # per call: the first may meet a connection a Redis restart left stale
OP_TTL = 30  # seconds a write's op ID is remembered: outlasts a timeout, a reconnect and the retry
DEFAULT_NAMESPACE = "kv"
IMPORT_BATCH = 1000  # pairs staged per round trip during an import
LEX_MAX = "+"  # ZRANGEBYLEX's "no upper bound"
PREFIX_END = b"\xff"  # no UTF-8 byte is 0xff, so prefix + 0xff sorts after every key with prefix


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
        self, url: str, history: int = 100_000, namespace: str = DEFAULT_NAMESPACE, max_leases: int = 100_000
    ) -> None:
        super().__init__()
        self.max_leases = max_leases
        self.url = url
        self.history_size = history  # events retained
        self.namespace = namespace
        self.where = _describe(url)
        _check_url(url, self.where)  # now: a bad URL stops the start, not a request
        self._rev, self._pairs, self._keys, self._events = (f"{namespace}:{name}" for name in _LAYOUT)
        self._client: Redis | None = None
        self._loop: asyncio.AbstractEventLoop | None = None
        self._scripts: dict[str, object] = {}

    # --- reads ----------------------------------------------------------------------------

    async def get(self, key: str) -> Pair:
        """The pair for ``key``; raises KeyNotFound."""
        packed = await self._call(lambda: self._redis().hget(self._pairs, key))
        if packed is None:
            raise KeyNotFound(key)
        return _unpack_pair(key, packed)

    async def list(self, prefix: str = "", after: str | None = None, limit: int = DEFAULT_PAGE_SIZE) -> Page:
        """A page in key order, read in one script so its items and revision agree."""
        low, high = _lex_range(prefix, after)
        reply = await self._run("list", [self._rev, self._pairs, self._keys], [low, high, limit + 1])
        keys = [raw.decode() for raw in reply[1::2]]
        items = [_unpack_pair(key, packed) for key, packed in zip(keys, reply[2::2], strict=True)]
        if len(items) > limit:
            return Page(items[:limit], int(reply[0]), items[limit - 1].key)
        return Page(items, int(reply[0]), None)

    async def stats(self) -> Stats:
        """Revision and key count, read in one MULTI so they agree."""
        revision, keys = await self._call(
            lambda: self._redis().pipeline(transaction=True).get(self._rev).hlen(self._pairs).execute()
        )
        return Stats(int(revision or 0), keys, self.backend_name)

    async def revision(self) -> int:
        """The last revision any process committed."""
        return int(await self._call(lambda: self._redis().get(self._rev)) or 0)

    async def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``; Compacted if the first needed one was trimmed."""
        reply = await self._run("events_since", [self._rev, self._events], [revision])
        oldest = int(reply[1])
        if revision + 1 < oldest:  # oldest <= current + 1: a caller already up to date gets []
            raise Compacted(oldest)
        return [_decode_event(raw) for raw in reply[2:]]

    # --- writes ---------------------------------------------------------------------------

    async def put(self, key: str, value: str, if_revision: int | None = None) -> tuple[Pair, str | None]:
        """Write ``value`` in one script: CAS check, next revision, pair and event together."""
        args = [key, value, _expected(if_revision), self.history_size, OP_TTL]
        reply = await self._run("put", self._write_keys(op=True), args, write=True)
        if reply[0] == b"conflict":
            raise _conflict(key, if_revision, reply[1])
        _check_answered(reply)
        revision, created = int(reply[1]), int(reply[2])
        prev = reply[3].decode() if reply[3] is not None else None
        await self._publish([Event(revision, "put", key, value, created, prev)])
        return Pair(key, value, revision, created), prev

    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Remove ``key`` in one script; KeyNotFound or RevisionConflict change nothing."""
        args = [key, _expected(if_revision), self.history_size, OP_TTL]
        reply = await self._run("delete", self._write_keys(op=True), args, write=True)
        if reply[0] == b"conflict":
            raise _conflict(key, if_revision, reply[1])
        if reply[0] == b"missing":
            raise KeyNotFound(key)
        _check_answered(reply)
        revision, prev = int(reply[1]), reply[2].decode()
        await self._publish([Event(revision, "delete", key, None, None, prev)])
        return revision, prev

    # --- backup and restore -----------------------------------------------------------------

    async def restore(self, pairs: Iterable[Pair], revision: int) -> int:
        """Load ``pairs`` with their own revisions into this empty store, all or nothing.

        Pairs are staged under temporary keys and renamed into place by one script that
        first checks the store is still empty, so a failed or raced import changes nothing.
        The store's revision becomes the highest of ``revision`` and the pairs' revisions.
        Returns the number of pairs loaded.
        """
        staging = f"{self.namespace}:import:{uuid.uuid4().hex}"
        staged = [f"{staging}:pairs", f"{staging}:keys"]
        count, top = 0, revision
        try:
            for batch in _batches(pairs, IMPORT_BATCH):
                await self._call(lambda batch=batch: _stage(self._redis(), staged, batch))
                count += len(batch)
                top = max(top, *(pair.revision for pair in batch))
            installed = await self._run("install_import", [*self._write_keys(), *staged], [top])
        finally:
            with contextlib.suppress(redis_errors.RedisError):
                await self._redis().delete(*staged)
        if not installed:
            raise StoreNotEmpty(f"the Redis store at {self.where} was written to during the import; nothing was loaded")
        return count

    # --- not yet on this backend (being written: transactions, leases, history) ----------------

    async def delete_prefix(self, prefix: str, limit: int) -> Any:
        raise NotImplementedError

    async def txn(self, txn: Any) -> Any:
        raise NotImplementedError

    async def history(self, key: str, before: int | None = None, limit: int = 100) -> Any:
        raise NotImplementedError

    async def grant(self, ttl: int) -> Any:
        raise NotImplementedError

    async def keepalive(self, lease: int) -> Any:
        raise NotImplementedError

    async def revoke(self, lease: int) -> Any:
        raise NotImplementedError

    async def lease(self, lease: int) -> Any:
        raise NotImplementedError

    async def leases(self, after: int | None = None, limit: int = 1000) -> Any:
        raise NotImplementedError

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

    async def _run(self, name: str, keys: list[str], args: list[object], *, write: bool = False) -> list:
        """Run one of the scripts (EVALSHA, loading it again after a Redis restart)."""
        return await self._call(lambda: self._script(name)(keys=keys, args=args), write=write)

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

    def _write_keys(self, op: bool = False) -> list[str]:
        """KEYS for the write scripts, in the order they expect; ``op`` adds a new op ID."""
        keys = [self._rev, self._pairs, self._keys, self._events]
        return [*keys, f"{self.namespace}:op:{uuid.uuid4().hex}"] if op else keys

    async def aclose(self) -> None:
        """Close the connections of the current loop's client (tests, commands)."""
        client, self._client = self._client, None
        if client is not None:
            await client.aclose()

    def close(self) -> None:
        """Forget the client; its sockets close with the process (no loop to await on here)."""
        self._client = None


_LAYOUT = ("rev", "pairs", "keys", "events")

_SOURCES = {
    "put": scripts.PUT,
    "delete": scripts.DELETE,
    "list": scripts.LIST,
    "events_since": scripts.EVENTS_SINCE,
    "install_import": scripts.INSTALL_IMPORT,
}


def _describe(url: str) -> str:
    """The URL without credentials, for messages and logs."""
    parsed = urlparse(url)
    if parsed.scheme == "unix":
        return f"unix://{parsed.path}"
    return f"{parsed.scheme}://{parsed.hostname}:{parsed.port or 6379}{parsed.path}"


def _lex_range(prefix: str, after: str | None) -> tuple[bytes | str, bytes | str]:
    """ZRANGEBYLEX bounds for keys starting with ``prefix`` and strictly after ``after``.

    Redis compares bytes and UTF-8 keeps code point order, so this is Python's str order.
    """
    low = b"[" + prefix.encode() if after is None or after < prefix else b"(" + after.encode()
    high = b"(" + prefix.encode() + PREFIX_END if prefix else LEX_MAX
    return low, high


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


def _check_answered(reply: list) -> None:
    """A replayed write whose event is already trimmed can only say which revision it took."""
    if reply[0] == b"applied":
        raise StoreUnavailable(
            f"the write took revision {int(reply[1])} but its answer was lost; read the key to see its state"
        )


async def _stage(client: Redis, staged: list[str], batch: list[Pair]) -> None:
    """Write one batch of an import under the staging keys (repeatable: HSET/ZADD overwrite)."""
    async with client.pipeline(transaction=False) as pipe:
        pipe.hset(staged[0], mapping={pair.key: _pack_pair(pair) for pair in batch})
        pipe.zadd(staged[1], dict.fromkeys((pair.key for pair in batch), 0))
        await pipe.execute()


def _expected(if_revision: int | None) -> str:
    """The CAS argument as the scripts take it: the revision as text, "" for none."""
    return "" if if_revision is None else str(if_revision)


def _pack_pair(pair: Pair) -> str:
    """A pair as ``NS:pairs`` stores it (the same form the scripts write)."""
    return f"{pair.revision}:{pair.created}:{pair.value}"


def _unpack_pair(key: str, packed: bytes) -> Pair:
    """Read ``REVISION:CREATED:VALUE`` back into a Pair."""
    revision, created, value = packed.split(b":", 2)
    return Pair(key, value.decode(), int(revision), int(created))


def _decode_event(raw: bytes) -> Event:
    """An event as the scripts push it: ``[revision, type, key, value, created, prev]``."""
    revision, kind, key, value, created, prev = orjson.loads(raw)
    return Event(int(revision), kind, key, value, int(created) if created is not None else None, prev)


def _conflict(key: str, expected: int | None, packed: bytes | None) -> RevisionConflict:
    """The CAS failure, carrying the pair as it is now (None when absent)."""
    current = _unpack_pair(key, packed).as_dict() if packed is not None else None
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
