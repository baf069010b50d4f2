"""The in-memory index the pickle backend serves reads from: sorted pairs, the retained
history, and the live leases.

Reads at a past revision undo the history: a pair as it stood at R is the ``prev_*`` of its
key's oldest event after R, or the pair as it is now when nothing touched it since. Events
loaded from data written before the ``prev_*`` fields were kept are completed from the
events before them where that is possible; where it is not, a read that needs one is told
its revision is compacted, as it would be once the event itself is gone.
"""

from __future__ import annotations

import heapq
import time
from collections.abc import Callable, Iterator

from sortedcontainers import SortedDict

from kvapp.store.base import Event, Page, Pair, search_matcher
from kvapp.store.errors import Compacted, FutureRevision
from kvapp.store.pickle.entries import Entry, LeaseEnded, LeaseGranted
from kvapp.store.pickle.history import History
from kvapp.store.pickle.leases import LeaseTable
from kvapp.store.pickle.snapshot import PairTuple, SnapshotState

# What one searching request may scan before it answers a short page with a ``next``.
SEARCH_SCAN_PAIRS = 10_000  # pairs
SEARCH_SCAN_CHARS = 32 * 1024 * 1024  # characters of keys and values, 32mb or so
COUNT_CACHE_SIZE = 64  # (prefix, revision) counts remembered: a listing at R asks once per page


class MemoryIndex:
    """Pairs sorted by key (for prefix listing), the retained events, and the live leases."""

    def __init__(self, state: SnapshotState, history: int, clock: Callable[[], float] = time.monotonic) -> None:
        self.pairs: SortedDict[str, PairTuple] = SortedDict(state.pairs)
        self.revision = state.revision
        self.history = History(history, state.revision, _completed(state.events))
        self.leases = LeaseTable(state.leases, state.lease_seq, clock())
        self._clock = clock
        self._counts: dict[tuple[str, int], int] = {}
        if state.leases:
            for key, entry in self.pairs.items():
                if len(entry) == 4:
                    self.leases.attach(entry[3], key)

    # --- writes ----------------------------------------------------------------------------

    def apply(self, entry: Entry) -> None:
        """Make a committed entry visible; events must come in revision order."""
        if isinstance(entry, LeaseGranted):
            self.leases.grant(entry.id, entry.ttl, self._clock())
        elif isinstance(entry, LeaseEnded):
            self.leases.end(entry.id)
        else:
            self._apply_event(entry)

    def _apply_event(self, event: Event) -> None:
        if event.revision != self.revision + 1:
            raise ValueError(f"event {event.revision} applied at revision {self.revision}")
        old = self.pairs.get(event.key)
        old_lease = old[3] if old is not None and len(old) == 4 else 0
        if event.prev_revision is None:  # a journal record from before these fields: the index knows
            event = event._replace(
                prev_revision=old[1] if old else 0, prev_created=old[2] if old else 0, prev_lease=old_lease
            )
        if event.type == "put":
            entry = (event.value, event.revision, event.created)
            self.pairs[event.key] = (*entry, event.lease) if event.lease else entry
        else:
            self.pairs.pop(event.key, None)
        if old_lease and old_lease != (event.lease if event.type == "put" else 0):
            self.leases.detach(old_lease, event.key)
        if event.type == "put" and event.lease and event.lease != old_lease:
            self.leases.attach(event.lease, event.key)
        self.revision = event.revision
        self.history.append(event)

    # --- reads -----------------------------------------------------------------------------

    def get(self, key: str, revision: int | None = None) -> Pair | None:
        """The pair for ``key`` (at ``revision``) or None."""
        if revision is None or revision == self.revision:
            entry = self.pairs.get(key)
            return None if entry is None else Pair(key, *entry)
        return self._pair_at(key, self._visible(revision))

    def page(
        self, prefix: str, after: str | None, limit: int, revision: int | None = None, search: str | None = None
    ) -> Page:
        """Up to ``limit`` pairs with ``prefix`` strictly after ``after``, in key order (at ``revision``)."""
        asked = self.revision if revision is None else revision
        at = asked
        if at != self.revision:
            at = self._visible(at)
        items: list[Pair] = []
        matches = search_matcher(search)
        scanned = chars = 0
        for key in self._keys_from(prefix, after, at):
            if len(items) == limit:
                return Page(items, asked, items[-1].key, self.count(prefix, at))
            pair = self._pair_at(key, at) if at != self.revision else Pair(key, *self.pairs[key])
            if pair is None:
                continue  # created after ``at``
            if matches is None:
                items.append(pair)
                continue
            scanned += 1
            chars += len(key) + len(pair.value)
            if matches(pair):
                items.append(pair)
            if scanned >= SEARCH_SCAN_PAIRS or chars >= SEARCH_SCAN_CHARS:
                return Page(items, asked, key, self.count(prefix, at))  # bounded: the client follows next
        return Page(items, asked, None, self.count(prefix, at))

    def count(self, prefix: str, revision: int | None = None) -> int:
        """How many pairs are under ``prefix`` (at ``revision``): two bisections now, an undo at R."""
        now = self._count_now(prefix)
        if revision is None or revision == self.revision:
            return now
        revision = self._visible(revision)
        cached = self._counts.get((prefix, revision))
        if cached is None:
            changed = [key for key in self.history.changed_since(revision) if key.startswith(prefix)]
            then = sum(self._pair_at(key, revision) is not None for key in changed)
            cached = now - sum(key in self.pairs for key in changed) + then
            if len(self._counts) >= COUNT_CACHE_SIZE:
                self._counts.pop(next(iter(self._counts)))
            self._counts[(prefix, revision)] = cached
        return cached

    def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``; Compacted if the first needed one is gone."""
        return self.history.since(revision)

    def snapshot_state(self) -> SnapshotState:
        """A consistent copy to pickle in another thread while writes go on.

        Pair tuples and events are immutable, so shallow copies suffice; copying the dict
        is paid only when the journal is folded.
        """
        return SnapshotState(
            self.revision,
            dict(self.pairs),
            self.history.events(),
            leases=self.leases.ttls(),
            lease_seq=self.leases.granted,
        )

    # --- reading the past ------------------------------------------------------------------

    def oldest_readable(self) -> int:
        """The lowest revision + 1 that reads can still be answered at (a watch's ``compacted``)."""
        return self.history.oldest

    def _visible(self, revision: int) -> int:
        """The revision a read at ``revision`` sees (the start of a commit it falls inside, less
        one), checked to be reachable: FutureRevision, or Compacted when undoing would need an
        event that is gone."""
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        visible = self.history.visible(revision)
        self._check_reachable(visible)
        return visible

    def _check_reachable(self, revision: int) -> None:
        """FutureRevision beyond the store, Compacted when undoing would need an event that is gone."""
        if revision > self.revision:
            raise FutureRevision(revision, self.revision)
        if revision + 1 < self.history.oldest:
            raise Compacted(self.history.oldest)

    def _pair_at(self, key: str, revision: int) -> Pair | None:
        """The pair as it stood at ``revision`` (already checked to be reachable)."""
        latest = self.history.latest.get(key)
        # Not written since: as it is now (the common case when listing a big store at R).
        undo = None if latest is None or latest <= revision else self.history.first_after(key, revision)
        if undo is None:
            entry = self.pairs.get(key)
            return None if entry is None else Pair(key, *entry)
        if undo.prev is not None and undo.prev_revision is None:
            raise Compacted(undo.revision + 1)  # written before the pair it replaced was recorded
        return undo.prev_pair()

    def _keys_from(self, prefix: str, after: str | None, revision: int) -> Iterator[str]:
        """Keys with ``prefix`` after ``after`` in order: today's, and at a past revision also
        those deleted since (their newest retained event is a delete)."""
        inclusive = after is None or after < prefix
        start = prefix if inclusive else after
        current = self.pairs.irange(minimum=start, inclusive=(inclusive, True))
        if revision == self.revision:
            keys: Iterator[str] = iter(current)
        else:
            gone = self.history.absent.irange(minimum=start, inclusive=(inclusive, True))
            keys = heapq.merge(current, gone)  # no key is in both: deleted ones are not current
        for key in keys:
            if not key.startswith(prefix):
                return
            yield key

    def _count_now(self, prefix: str) -> int:
        if not prefix:
            return len(self.pairs)
        low = self.pairs.bisect_left(prefix)
        high = self.pairs.bisect_left(upper) if (upper := prefix_upper_bound(prefix)) else len(self.pairs)
        return high - low


def prefix_upper_bound(prefix: str) -> str | None:
    """The least string above every string starting with ``prefix`` (None: nothing is above)."""
    while prefix and prefix[-1] == "\U0010ffff":
        prefix = prefix[:-1]
    return prefix[:-1] + chr(ord(prefix[-1]) + 1) if prefix else None


def _completed(events: list[Event]) -> Iterator[Event]:
    """Events with their ``prev_*`` filled in from the events before them where they lack them.

    Data written before those fields were kept has 6-field events. Within the retained run
    the previous event of the same key tells what a write replaced; a key written with no
    previous value was absent. Only the first write of a key that existed before the run
    stays unknown (None), and reads needing it are answered ``compacted``.
    """
    seen: dict[str, Event] = {}
    for event in events:
        if event.prev_revision is None:
            event = event._replace(**_prev_fields(event, seen.get(event.key)))
        seen[event.key] = event
        yield event
    del seen


def _prev_fields(event: Event, before: Event | None) -> dict[str, int | None]:
    if event.prev is None:
        return {"prev_revision": 0, "prev_created": 0, "prev_lease": 0}
    if before is not None and before.type == "put":
        return {"prev_revision": before.revision, "prev_created": before.created, "prev_lease": before.lease}
    return {}
