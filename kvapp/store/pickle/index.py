"""The in-memory index the pickle backend serves reads from: sorted pairs plus recent events."""

from __future__ import annotations

from collections import deque
from itertools import islice

from sortedcontainers import SortedDict

from kvapp.store.base import Event, Page, Pair
from kvapp.store.errors import Compacted
from kvapp.store.pickle.snapshot import PairTuple, SnapshotState


class MemoryIndex:
    """Pairs sorted by key (for prefix listing) and a bounded, contiguous run of events."""

    def __init__(self, state: SnapshotState, history: int) -> None:
        self.pairs: SortedDict[str, PairTuple] = SortedDict(state.pairs)
        self.revision = state.revision
        self.events: deque[Event] = deque(state.events, maxlen=history)

    def get(self, key: str) -> Pair | None:
        """The pair for ``key`` or None."""
        entry = self.pairs.get(key)
        return None if entry is None else Pair(key, *entry)

    def apply(self, event: Event) -> None:
        """Make a committed event visible; events must come in revision order."""
        if event.revision != self.revision + 1:
            raise ValueError(f"event {event.revision} applied at revision {self.revision}")
        if event.type == "put":
            self.pairs[event.key] = (event.value, event.revision, event.created)
        else:
            self.pairs.pop(event.key, None)
        self.revision = event.revision
        self.events.append(event)

    def page(self, prefix: str, after: str | None, limit: int) -> Page:
        """Up to ``limit`` pairs with ``prefix`` strictly after ``after``, in key order."""
        start = prefix if after is None or after < prefix else after
        keys = self.pairs.irange(minimum=start, inclusive=(after is None or after < prefix, True))
        items: list[Pair] = []
        for key in keys:
            if not key.startswith(prefix):
                break
            if len(items) == limit:
                return Page(items, self.revision, items[-1].key)
            items.append(Pair(key, *self.pairs[key]))
        return Page(items, self.revision, None)

    def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``; Compacted if the first needed one is gone."""
        if revision >= self.revision:
            return []
        oldest = self.events[0].revision if self.events else self.revision + 1
        if revision + 1 < oldest:
            raise Compacted(oldest)
        return list(islice(self.events, revision + 1 - oldest, None))

    def snapshot_state(self) -> SnapshotState:
        """A consistent copy to pickle in another thread while writes go on.

        Pair tuples and events are immutable, so shallow copies suffice; copying the dict
        costs tens of milliseconds at a million keys, paid only when the journal is folded.
        """
        return SnapshotState(self.revision, dict(self.pairs), list(self.events))
