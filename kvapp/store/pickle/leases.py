"""Live leases in memory: each one's TTL, its deadline and the keys attached to it.

Grants and ends are journaled (the store replays them); deadlines and keepalives are not:
after a restart every lease starts again with its full TTL, as etcd's do. Deadlines are on
the monotonic clock, in a heap; a keepalive pushes a new entry and leaves the old one to be
skipped when it comes up, which is cheaper than finding it (the heap holds at most one stale
entry per keepalive within a TTL).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterator
from dataclasses import dataclass, field

from sortedcontainers import SortedDict


@dataclass(slots=True)
class LiveLease:
    """One lease: its TTL in seconds, when it runs out, and the keys attached (None: none yet)."""

    ttl: int
    deadline: float
    keys: set[str] | None = field(default=None)

    def attached(self) -> list[str]:
        """The attached keys, sorted."""
        return sorted(self.keys or ())


class LeaseTable:
    """Leases by id, the highest id ever granted, and the deadlines to reap."""

    def __init__(self, ttls: dict[int, int], granted: int, now: float) -> None:
        self.live: SortedDict[int, LiveLease] = SortedDict({id: LiveLease(ttl, now + ttl) for id, ttl in ttls.items()})
        self.granted = max([granted, *ttls])  # ids are never reused: the next one is above this
        self._deadlines = [(lease.deadline, id) for id, lease in self.live.items()]
        heapq.heapify(self._deadlines)

    def __len__(self) -> int:
        return len(self.live)

    def get(self, lease: int) -> LiveLease | None:
        """The live lease ``lease``, or None."""
        return self.live.get(lease)

    def grant(self, lease: int, ttl: int, now: float) -> None:
        """Called when a grant is committed (or replayed)."""
        self.live[lease] = LiveLease(ttl, now + ttl)
        self.granted = max(self.granted, lease)
        heapq.heappush(self._deadlines, (now + ttl, lease))

    def end(self, lease: int) -> None:
        """Called when a revoke or an expiry is committed; its keys were deleted in the same record."""
        self.live.pop(lease, None)

    def attach(self, lease: int, key: str) -> None:
        """Called when a put attaches ``key``."""
        live = self.live.get(lease)
        if live is not None:
            if live.keys is None:
                live.keys = set()
            live.keys.add(key)

    def detach(self, lease: int, key: str) -> None:
        """Called when a put moves ``key`` to another lease (or none), or a delete removes it."""
        live = self.live.get(lease)
        if live is not None and live.keys:
            live.keys.discard(key)

    def keepalive(self, lease: int, now: float) -> LiveLease | None:
        """The full TTL again from ``now``; None if the lease is gone or already past its deadline."""
        live = self.live.get(lease)
        if live is None or live.deadline <= now:
            return None
        live.deadline = now + live.ttl
        heapq.heappush(self._deadlines, (live.deadline, lease))
        return live

    def due(self, now: float) -> list[int]:
        """The leases whose deadline has passed, in deadline order (stale heap entries skipped)."""
        found: list[int] = []
        while self._deadlines and self._deadlines[0][0] <= now:
            deadline, lease = heapq.heappop(self._deadlines)
            live = self.live.get(lease)
            if live is not None and live.deadline == deadline:
                found.append(lease)
        return found

    def requeue_due(self, now: float) -> None:
        """Called when an expiry could not be committed: its leases are due again (``due`` took them)."""
        for lease, live in self.live.items():
            if live.deadline <= now:
                heapq.heappush(self._deadlines, (live.deadline, lease))

    def is_due(self, lease: int, now: float) -> bool:
        """Whether ``lease`` is live and past its deadline (a keepalive may have renewed it since)."""
        live = self.live.get(lease)
        return live is not None and live.deadline <= now

    def next_deadline(self) -> float | None:
        """The earliest deadline that may still count, or None without leases."""
        while self._deadlines:
            deadline, lease = self._deadlines[0]
            live = self.live.get(lease)
            if live is not None and live.deadline == deadline:
                return deadline
            heapq.heappop(self._deadlines)
        return None

    def page(self, after: int | None, limit: int) -> Iterator[tuple[int, LiveLease]]:
        """Up to ``limit`` live leases with id > ``after``, by id."""
        start = 0 if after is None else after + 1
        for count, lease in enumerate(self.live.irange(minimum=start)):
            if count == limit:
                return
            yield lease, self.live[lease]

    def ttls(self) -> dict[int, int]:
        """Every live lease's TTL (what a snapshot keeps)."""
        return {lease: live.ttl for lease, live in self.live.items()}
