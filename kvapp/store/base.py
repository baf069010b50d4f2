"""The store interface every backend implements, and the values it deals in.

Views and consumers talk only to this interface, so a backend (pickle file, Redis) can be
swapped by configuration without touching HTTP or websocket code.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple

from kvapp.store.validation import MAX_REVISION

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000
DEFAULT_HISTORY_PAGE = 100
EXPIRED = "expired"  # a delete event's reason when its lease ran out
REVOKED = "revoked"  # ... and when its lease was revoked


class Event(NamedTuple):
    """One committed write; ``value``/``created`` are None for deletes.

    ``lease`` is the key's lease after a put (0: none), and on a delete the lease whose end
    deleted it (with ``reason``). ``time`` is the commit's wall-clock time in seconds (None
    for events written before times were kept). The ``prev_*`` fields are the pair the
    write replaced (0: absent), so a read at an earlier revision can undo the event; None
    where data written before they were kept does not say. ``commit`` is the revision of the
    first event of the commit this one belongs to (a transaction, a prefix delete, an
    expiry: one step of several events), so a read never lands in the middle of one.
    """

    revision: int
    type: str  # "put" | "delete"
    key: str
    value: str | None
    created: int | None
    prev: str | None
    lease: int = 0
    reason: str | None = None  # delete only: EXPIRED or REVOKED
    time: float | None = None
    prev_revision: int | None = None
    prev_created: int | None = None
    prev_lease: int | None = None
    commit: int | None = None  # None: its own commit (written before commits were recorded)

    def as_message(self) -> dict[str, Any]:
        """The event as the watch socket and the Channels layer carry it."""
        if self.type == "put":
            message: dict[str, Any] = {
                "type": "put",
                "key": self.key,
                "value": self.value,
                "revision": self.revision,
                "created": self.created,
                "prev": self.prev,
            }
            if self.lease:
                message["lease"] = self.lease
        else:
            message = {"type": "delete", "key": self.key, "revision": self.revision, "prev": self.prev}
            if self.reason is not None:
                message["lease"] = self.lease
                message["reason"] = self.reason
        message["time"] = format_time(self.time)
        return message

    def as_history_item(self) -> dict[str, Any]:
        """The event as ``/api/v1/history/<key>`` lists it: the watch frame without the key."""
        item = self.as_message()
        del item["key"]
        return item

    def prev_pair(self) -> Pair | None:
        """The pair this event replaced (None if the key was absent); needs the ``prev_*`` fields."""
        if self.prev is None:
            return None
        assert self.prev_revision is not None and self.prev_created is not None
        return Pair(self.key, self.prev, self.prev_revision, self.prev_created, self.prev_lease or 0)


class Pair(NamedTuple):
    """A stored pair with its revisions (etcd's mod_revision / create_revision) and lease (0: none)."""

    key: str
    value: str
    revision: int
    created: int
    lease: int = 0

    def as_dict(self) -> dict[str, Any]:
        """The pair as the JSON API shows it: ``lease`` only when it has one."""
        shown: dict[str, Any] = {
            "key": self.key,
            "value": self.value,
            "revision": self.revision,
            "created": self.created,
        }
        if self.lease:
            shown["lease"] = self.lease
        return shown


@dataclass(frozen=True)
class Page:
    """One page of a listing: ``next`` is the key to pass as ``after`` for the next page.

    ``count`` is how many pairs are under the prefix at ``revision``, whatever the page size
    (with a search, still all the pairs under the prefix, not the matches).
    """

    items: list[Pair]
    revision: int
    next: str | None
    count: int = 0


@dataclass(frozen=True)
class HistoryPage:
    """A key's retained events, newest first; ``next`` is the ``before`` of the following page."""

    key: str
    items: list[Event]
    oldest: int  # the oldest revision the history still reaches (as a watch's ``compacted``)
    next: int | None


@dataclass(frozen=True)
class PrefixDeleted:
    """What a delete by prefix did: how many pairs, the revision after it, whether any remain."""

    deleted: int
    revision: int
    more: bool


@dataclass(frozen=True)
class Lease:
    """A lease as the API shows it: ``remaining`` seconds left, ``keys`` attached (sorted)."""

    id: int
    ttl: int
    remaining: float
    keys: tuple[str, ...] = ()

    def as_dict(self, *, with_keys: bool = False, key_count: bool = False) -> dict[str, Any]:
        """``{"id","ttl","remaining"}``, plus the keys (or their number) where the route shows them."""
        shown: dict[str, Any] = {"id": self.id, "ttl": self.ttl, "remaining": round(self.remaining, 3)}
        if with_keys:
            shown["keys"] = list(self.keys)
        elif key_count:
            shown["keys"] = len(self.keys)
        return shown


@dataclass(frozen=True)
class LeasePage:
    """A page of live leases by id; ``next`` is the ``after`` of the following page."""

    items: list[Lease]
    next: int | None


@dataclass(frozen=True)
class Revoked:
    """What revoking a lease did: the revision after it and the keys it deleted."""

    id: int
    revision: int
    deleted: list[str]


@dataclass(frozen=True)
class Stats:
    """What /healthz and /metrics report about the data."""

    revision: int
    keys: int
    backend: str
    leases: int = 0
    # The highest lease id ever granted: an export carries it, so that a restore never hands
    # out again an id that a client of the old store may still hold.
    lease_seq: int = 0
    # Why writes are refused right now (the disk is full, say), or None when they are not.
    write_problem: str | None = None


Publisher = Callable[[Sequence[Event]], Awaitable[None]]


def format_time(seconds: float | None) -> str | None:
    """A commit time as ISO 8601 UTC with milliseconds (``2026-12-02T05:40:12.345Z``)."""
    if seconds is None:
        return None
    stamp = datetime.fromtimestamp(seconds, UTC)
    return stamp.strftime("%Y-%m-%dT%H:%M:%S.") + f"{stamp.microsecond // 1000:03d}Z"


class Store(abc.ABC):
    """A revisioned key-value store; every write is durable before its call returns."""

    backend_name: str = ""
    max_revision: int = MAX_REVISION  # the highest revision the backend stores exactly
    # Publishing failures the backend expects (its own service away): a warning, not a traceback.
    expected_publish_errors: tuple[type[Exception], ...] = ()

    def __init__(self) -> None:
        self._publisher: Publisher | None = None

    def set_publisher(self, publisher: Publisher | None) -> None:
        """Called once at start to receive every committed batch of events, in revision order."""
        self._publisher = publisher

    # --- reads ----------------------------------------------------------------------------

    @abc.abstractmethod
    async def get(self, key: str, revision: int | None = None) -> Pair:
        """The pair for ``key`` (as it stood at ``revision``); raises KeyNotFound, Compacted
        when the history no longer reaches ``revision``, FutureRevision beyond the store's."""

    @abc.abstractmethod
    async def list(
        self,
        prefix: str = "",
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        revision: int | None = None,
        search: str | None = None,
    ) -> Page:
        """Pairs whose key starts with ``prefix``, sorted by key, strictly after ``after``.

        At ``revision`` when given (one consistent snapshot across pages). With ``search``
        only pairs whose key or value contains it, ignoring case; such a page may be short
        (even empty) with a ``next`` when the scan stopped to keep one call bounded.
        """

    @abc.abstractmethod
    async def history(self, key: str, before: int | None = None, limit: int = DEFAULT_HISTORY_PAGE) -> HistoryPage:
        """``key``'s retained events with revision < ``before``, newest first."""

    @abc.abstractmethod
    async def stats(self) -> Stats:
        """Current revision and number of keys."""

    async def revision(self) -> int:
        """The current revision (backends override when it is cheaper than full stats)."""
        return (await self.stats()).revision

    @abc.abstractmethod
    async def events_since(self, revision: int) -> list[Event]:
        """Retained events with revision > ``revision``; raises Compacted if some are gone."""

    # --- writes ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def put(
        self,
        key: str,
        value: str,
        if_revision: int | None = None,
        lease: int | None = None,
        ttl: int | None = None,
    ) -> tuple[Pair, str | None]:
        """Write ``value``; returns the new pair and the previous value (None if new).

        With ``if_revision`` it writes only if the key is at that revision (0: absent),
        else raises RevisionConflict. ``lease`` None keeps the key's lease, 0 detaches it,
        an id attaches it (LeaseNotFound if there is no such lease); ``ttl`` grants a new
        lease of that many seconds and attaches it in the same write.
        """

    @abc.abstractmethod
    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Remove ``key``; returns the delete's revision and the removed value."""

    @abc.abstractmethod
    async def delete_prefix(self, prefix: str, limit: int) -> PrefixDeleted:
        """Delete up to ``limit`` pairs under ``prefix``, in key order, as one atomic commit."""

    @abc.abstractmethod
    async def txn(self, txn: Any) -> Any:
        """Run a ``kvapp.store.txn.Txn`` atomically; returns its ``TxnResult``."""

    # --- leases ---------------------------------------------------------------------------

    @abc.abstractmethod
    async def grant(self, ttl: int) -> Lease:
        """A new lease of ``ttl`` seconds (durable before it returns); TooManyLeases at the limit."""

    @abc.abstractmethod
    async def keepalive(self, lease: int) -> Lease:
        """Give ``lease`` its full TTL again (not written to disk); LeaseNotFound if it is gone."""

    @abc.abstractmethod
    async def revoke(self, lease: int) -> Revoked:
        """End ``lease`` now, deleting its keys in one atomic commit; LeaseNotFound if it is gone."""

    @abc.abstractmethod
    async def lease(self, lease: int) -> Lease:
        """One live lease with its attached keys; LeaseNotFound if it is gone."""

    @abc.abstractmethod
    async def leases(self, after: int | None = None, limit: int = DEFAULT_PAGE_SIZE) -> LeasePage:
        """Live leases in id order, strictly after ``after``."""

    # --- backup and restore ----------------------------------------------------------------

    @abc.abstractmethod
    async def restore(
        self, pairs: Iterable[Pair], revision: int, lease_ttls: Mapping[int, int], lease_seq: int = 0
    ) -> int:
        """Called by an import into this empty store: load ``pairs`` all or nothing; returns their number.

        Every pair keeps its revisions; the store's revision becomes the highest of
        ``revision`` and theirs, so no revision is reused after the restore. Each lease in
        ``lease_ttls`` (id: TTL; complete only once ``pairs`` has been read to its end) comes
        back under its id with a full TTL from now, its pairs attached; TooManyLeases past the
        store's limit. New leases get ids above ``lease_seq`` and above every imported one.
        """

    def close(self) -> None:  # noqa: B027 - optional hook
        """Called at shutdown to release files and connections."""

    async def aclose(self) -> None:
        """Called instead of ``close`` from a running event loop (commands, tests)."""
        self.close()

    async def _publish(self, events: Sequence[Event]) -> None:
        """Hand a committed batch to the broadcaster; a failure there never fails the write.

        A watcher that misses the message still gets the events: it sees the revision move
        and reads them back with ``events_since``.
        """
        if not events or self._publisher is None:
            return
        try:
            await self._publisher(events)
        except self.expected_publish_errors as exc:
            logger.warning(
                "events %d..%d not broadcast (%s); watchers catch up from the store",
                events[0].revision,
                events[-1].revision,
                exc,
            )
        except Exception:
            logger.exception("publishing events %d..%d failed", events[0].revision, events[-1].revision)


def search_matcher(search: str | None) -> Callable[[Pair], bool] | None:
    """Whether a pair's key or value contains ``search``, ignoring case (None: no search); the
    one meaning of a listing's ``search`` on every backend."""
    if not search:
        return None
    needle = search.casefold()
    return lambda pair: needle in pair.key.casefold() or needle in pair.value.casefold()
