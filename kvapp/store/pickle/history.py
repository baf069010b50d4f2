"""The retained events: the last ``capacity`` of them, contiguous by revision, chained per key.

The watch replays from here (``since``), reads at a past revision undo what came after
(``first_after``: the key's oldest event after R carries the pair it replaced), and a key's
history walks its chain. Every revision has exactly one event, so an event's slot in the
ring is its revision modulo the capacity: no search, no per-key list to trim. Each slot also
holds the revision of the same key's previous event (0 for none), which is all a per-key
chain costs; ``latest`` points at each key's newest retained event, and ``absent`` lists
the keys whose newest retained event deleted them, so a listing at a past revision can
find pairs that exist no more.

Rejected: a deque of events (indexing into its middle walks blocks, and replay at a
revision needs that), and a list of revisions per key (its oldest entry must be removed
from the front when the ring drops an event: a copy of the whole list, per write, for a
hot key).
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator

from sortedcontainers import SortedList

from kvapp.store.base import Event
from kvapp.store.errors import Compacted


class History:
    """The ring of retained events and the per-key chains through it."""

    def __init__(self, capacity: int, revision: int, events: Iterable[Event] = ()) -> None:
        self.capacity = max(capacity, 1)
        self._events: list[Event | None] = [None] * self.capacity
        self._links: list[int] = [0] * self.capacity  # slot -> revision of the key's previous event
        self.last = revision  # the store's revision: the newest event, if any is retained
        self.oldest = revision + 1  # the oldest retained revision (last + 1 when none is)
        self.latest: dict[str, int] = {}
        self.absent: SortedList = SortedList()
        kept = list(events)[-self.capacity :]
        if kept:
            self.last = kept[0].revision - 1
            self.oldest = kept[0].revision
            for event in kept:
                self.append(event)
            if self.last != revision:
                raise ValueError(f"the events end at revision {self.last}, not at the store's revision {revision}")

    def __len__(self) -> int:
        return self.last - self.oldest + 1

    def append(self, event: Event) -> None:
        """Keep ``event``, the next revision, dropping the oldest one when the ring is full."""
        if event.revision != self.last + 1:
            raise ValueError(f"event {event.revision} appended at revision {self.last}")
        slot = event.revision % self.capacity
        if len(self) == self.capacity:
            self._forget(self._events[slot])
            self.oldest += 1
        self._events[slot] = event
        self._links[slot] = self.latest.get(event.key, 0)
        self.latest[event.key] = event.revision
        self.last = event.revision
        if event.type == "delete":
            self.absent.add(event.key)
        elif self._links[slot] and self._event(self._links[slot]).type == "delete":
            self.absent.discard(event.key)

    def since(self, revision: int) -> list[Event]:
        """Events after ``revision``; Compacted if the first one needed is gone."""
        if revision >= self.last:
            return []
        if revision + 1 < self.oldest:
            raise Compacted(self.oldest)
        return [self._event(rev) for rev in range(revision + 1, self.last + 1)]

    def get(self, revision: int) -> Event | None:
        """The retained event of ``revision``, or None."""
        if not self.oldest <= revision <= self.last:
            return None
        return self._event(revision)

    def chain(self, key: str, before: int | None = None) -> Iterator[Event]:
        """``key``'s retained events newest first, only those with revision < ``before``."""
        revision = self.latest.get(key, 0)
        while revision >= self.oldest:
            event = self._event(revision)
            if before is None or revision < before:
                yield event
            revision = self._links[revision % self.capacity]

    def first_after(self, key: str, revision: int) -> Event | None:
        """``key``'s oldest event after ``revision`` (its ``prev_*`` are the pair at ``revision``)."""
        found = None
        for event in self.chain(key):
            if event.revision <= revision:
                break
            found = event
        return found

    def visible(self, revision: int) -> int:
        """``revision``, or the revision before the commit it falls inside (a transaction is one
        step: the store was never seen between two of its events)."""
        following = self.get(revision + 1)
        if following is not None and following.commit is not None and following.commit <= revision:
            return following.commit - 1
        return revision

    def changed_since(self, revision: int) -> set[str]:
        """The keys written after ``revision`` (the caller made sure those events are retained)."""
        return {self._event(rev).key for rev in range(max(revision + 1, self.oldest), self.last + 1)}

    def _event(self, revision: int) -> Event:
        event = self._events[revision % self.capacity]
        assert event is not None and event.revision == revision
        return event

    def _forget(self, event: Event | None) -> None:
        """The ring drops ``event``: if it was its key's newest, the key has no history left."""
        if event is not None and self.latest.get(event.key) == event.revision:
            del self.latest[event.key]
            if event.type == "delete":
                self.absent.discard(event.key)

    def events(self) -> list[Event]:
        """Every retained event, oldest first (for a snapshot)."""
        return self.since(self.oldest - 1) if len(self) else []
