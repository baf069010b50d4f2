"""The store interface every backend implements, and the values it deals in.

Views and consumers talk only to this interface, so a backend (pickle file, Redis) can be
swapped by configuration without touching HTTP or websocket code.
"""

from __future__ import annotations

import abc
import logging
from collections.abc import Awaitable, Callable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

from kvapp.store.validation import MAX_REVISION

logger = logging.getLogger(__name__)

DEFAULT_PAGE_SIZE = 1000
MAX_PAGE_SIZE = 10_000


class Event(NamedTuple):
    """One committed write; ``value``/``created`` are None for deletes."""

    revision: int
    type: str  # "put" | "delete"
    key: str
    value: str | None
    created: int | None
    prev: str | None

    def as_message(self) -> dict[str, Any]:
        """The event as the watch socket and the Channels layer carry it."""
        if self.type == "put":
            return {
                "type": "put",
                "key": self.key,
                "value": self.value,
                "revision": self.revision,
                "created": self.created,
                "prev": self.prev,
            }
        return {"type": "delete", "key": self.key, "revision": self.revision, "prev": self.prev}


class Pair(NamedTuple):
    """A stored pair with its revisions (etcd's mod_revision / create_revision)."""

    key: str
    value: str
    revision: int
    created: int

    def as_dict(self) -> dict[str, Any]:
        """The pair as the JSON API shows it."""
        return {
            "key": self.key,
            "value": self.value,
            "revision": self.revision,
            "created": self.created,
        }


@dataclass(frozen=True)
class Page:
    """One page of a listing: ``next`` is the key to pass as ``after`` for the next page."""

    items: list[Pair]
    revision: int
    next: str | None


@dataclass(frozen=True)
class Stats:
    """What /healthz and /metrics report about the data."""

    revision: int
    keys: int
    backend: str
    # Why writes are refused right now (the disk is full, say), or None when they are not.
    write_problem: str | None = None


Publisher = Callable[[Sequence[Event]], Awaitable[None]]


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

    @abc.abstractmethod
    async def get(self, key: str) -> Pair:
        """The pair for ``key``; raises KeyNotFound."""

    @abc.abstractmethod
    async def put(self, key: str, value: str, if_revision: int | None = None) -> tuple[Pair, str | None]:
        """Write ``value``; returns the new pair and the previous value (None if new).

        With ``if_revision`` it writes only if the key is at that revision (0: absent),
        else raises RevisionConflict.
        """

    @abc.abstractmethod
    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Remove ``key``; returns the delete's revision and the removed value."""

    @abc.abstractmethod
    async def list(self, prefix: str = "", after: str | None = None, limit: int = DEFAULT_PAGE_SIZE) -> Page:
        """Pairs whose key starts with ``prefix``, sorted by key, strictly after ``after``."""

    @abc.abstractmethod
    async def stats(self) -> Stats:
        """Current revision and number of keys."""

    async def revision(self) -> int:
        """The current revision (backends override when it is cheaper than full stats)."""
        return (await self.stats()).revision

    @abc.abstractmethod
    async def events_since(self, revision: int) -> list[Event]:
        """Retained events with revision > ``revision``; raises Compacted if some are gone."""

    @abc.abstractmethod
    async def restore(self, pairs: Iterable[Pair], revision: int) -> int:
        """Called by an import into this empty store: load ``pairs`` all or nothing; returns their number.

        Every pair keeps its revisions; the store's revision becomes the highest of
        ``revision`` and theirs, so no revision is reused after the restore.
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
