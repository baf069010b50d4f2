"""Planning a batch: each write, transaction or lease change becomes journal entries.

The committer plans a whole batch before anything is written: every unit (a put, a
transaction, a prefix delete, a grant, a revoke, an expiry) is checked against the state
the batch has reached so far, the ``Overlay``, and gets the next revisions. A unit plans
into a child overlay that is merged only if the unit succeeds, so a unit that fails (a
compare-and-swap conflict, an unknown lease) leaves no trace and takes no revision. Each
successful unit's entries become one journal record, so a torn record drops a whole
transaction, never half of it.
"""

from __future__ import annotations

import asyncio
import heapq
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from kvapp.store.base import EXPIRED, REVOKED, Event, Lease, Pair, PrefixDeleted, Revoked
from kvapp.store.errors import KeyNotFound, LeaseNotFound, RevisionConflict, TooManyLeases
from kvapp.store.pickle.entries import Entry, LeaseEnded, LeaseGranted
from kvapp.store.pickle.index import MemoryIndex, prefix_upper_bound
from kvapp.store.txn import Txn, TxnResult, delete_response, get_response, put_response

_GONE = object()  # an overlay's mark for "absent", distinct from "not looked up here"


class Overlay:
    """The index as an earlier part of the batch has changed it; reads fall through to ``parent``."""

    def __init__(self, index: MemoryIndex, parent: Overlay | None, time: float, max_leases: int) -> None:
        self.index = index
        self.parent = parent
        self.time = time  # the commit time every event of the batch carries
        self.max_leases = max_leases
        self.revision = parent.revision if parent else index.revision
        self.granted = parent.granted if parent else index.leases.granted
        self.live_leases = parent.live_leases if parent else len(index.leases)
        # The first revision of the unit this overlay plans (a child's), else None: each event its own.
        self.commit: int | None = self.revision + 1 if parent else None
        self.pairs: dict[str, Any] = {}  # key -> Pair or _GONE
        self.leases: dict[int, Any] = {}  # lease id -> its TTL or _GONE
        self.attached: dict[int, set[str]] = {}  # lease id -> keys this overlay's puts attached to it
        self.entries: list[Entry] = []

    def child(self) -> Overlay:
        """A scratch overlay for one unit."""
        return Overlay(self.index, self, self.time, self.max_leases)

    def adopt(self, child: Overlay) -> None:
        """Take a successful unit's changes."""
        self.pairs.update(child.pairs)
        self.leases.update(child.leases)
        for lease, keys in child.attached.items():
            self.attached.setdefault(lease, set()).update(keys)
        self.revision, self.granted, self.live_leases = child.revision, child.granted, child.live_leases
        self.entries.extend(child.entries)

    # --- reading ---------------------------------------------------------------------------

    def get(self, key: str) -> Pair | None:
        """The pair as the batch has left it."""
        found = self._written("pairs", key)
        return self.index.get(key) if found is None else None if found is _GONE else found

    def lease_ttl(self, lease: int) -> int | None:
        """The TTL of a live lease as the batch has left it, or None."""
        found = self._written("leases", lease)
        if found is None:
            live = self.index.leases.get(lease)
            return None if live is None else live.ttl
        return None if found is _GONE else found

    def _written(self, table: str, name: Any) -> Any:
        """What this overlay or one it grew from wrote under ``name`` (None: nothing, see the index)."""
        overlay: Overlay | None = self
        while overlay is not None:
            found = getattr(overlay, table).get(name)
            if found is not None:
                return found
            overlay = overlay.parent
        return None

    def keys_of_lease(self, lease: int) -> list[str]:
        """The keys attached to ``lease`` as the batch has left them, sorted.

        The candidates are the index's keys of the lease and those the batch attached to it;
        each is kept if the batch still leaves it on the lease. Walking every key the batch
        touched instead costs the batch's size per lease: quadratic when 10,000 leases end in
        one expiry.
        """
        live = self.index.leases.get(lease)
        candidates = set(live.keys or ()) if live is not None else set()
        overlay: Overlay | None = self
        while overlay is not None:
            candidates.update(overlay.attached.get(lease, ()))
            overlay = overlay.parent
        return sorted(key for key in candidates if (pair := self.get(key)) is not None and pair.lease == lease)

    def keys_under(self, prefix: str, limit: int) -> list[str]:
        """The first ``limit`` keys with ``prefix`` as the batch has left them, in key order."""
        touched = sorted(key for key in self._touched_keys() if key.startswith(prefix))
        found: list[str] = []
        upper = prefix_upper_bound(prefix)
        indexed = self.index.pairs.irange(minimum=prefix, maximum=upper, inclusive=(True, False))
        for key in _merge_unique(indexed, touched):
            if self.get(key) is not None:
                found.append(key)
                if len(found) == limit:
                    break
        return found

    def _touched_keys(self) -> set[str]:
        keys: set[str] = set()
        overlay: Overlay | None = self
        while overlay is not None:
            keys.update(overlay.pairs)
            overlay = overlay.parent
        return keys

    # --- writing ---------------------------------------------------------------------------

    def put(
        self, key: str, value: str, if_revision: int | None, lease: int | None, ttl: int | None
    ) -> tuple[Pair, str | None]:
        """The next revision writes ``value``; RevisionConflict or LeaseNotFound change nothing."""
        current = self.get(key)
        _check_expected(key, if_revision, current)
        if ttl is not None:
            lease = self.grant(ttl).id
        elif lease is None:
            lease = current.lease if current else 0
        elif lease and self.lease_ttl(lease) is None:
            raise LeaseNotFound(lease)
        revision = self.revision + 1
        created = current.created if current else revision
        pair = Pair(key, value, revision, created, lease)
        self._record(Event(revision, "put", key, value, created, *self._prev(current, lease)), key, pair)
        return pair, current.value if current else None

    def delete(self, key: str, if_revision: int | None = None, reason: str | None = None) -> Event | None:
        """The next revision deletes ``key``; None (and no revision taken) when it is absent."""
        current = self.get(key)
        _check_expected(key, if_revision, current)
        if current is None:
            return None
        event = Event(self.revision + 1, "delete", key, None, None, *self._prev(current, current.lease, reason))
        self._record(event, key, _GONE)
        return event

    def grant(self, ttl: int) -> Lease:
        """A new lease (no revision: leases are not pairs); TooManyLeases at the limit."""
        if self.live_leases >= self.max_leases:
            raise TooManyLeases(f"{self.live_leases} leases are live, the limit (KV_MAX_LEASES); revoke some first")
        self.granted += 1
        self.live_leases += 1
        self.leases[self.granted] = ttl
        self.entries.append(LeaseGranted(self.granted, ttl))
        return Lease(self.granted, ttl, float(ttl))

    def end_lease(self, lease: int, reason: str) -> list[str]:
        """Delete every key of ``lease`` (consecutive revisions), then end it; its keys."""
        keys = self.keys_of_lease(lease)
        for key in keys:
            self.delete(key, reason=reason)
        self.leases[lease] = _GONE
        self.live_leases -= 1
        self.entries.append(LeaseEnded(lease))
        return keys

    def _prev(self, current: Pair | None, lease: int, reason: str | None = None) -> tuple[Any, ...]:
        """The Event fields after ``created``: prev value, lease, reason, time, the replaced pair, commit."""
        commit = self.commit or self.revision + 1
        if current is None:
            return (None, lease, reason, self.time, 0, 0, 0, commit)
        return (current.value, lease, reason, self.time, current.revision, current.created, current.lease, commit)

    def _record(self, event: Event, key: str, state: Any) -> None:
        self.revision = event.revision
        self.pairs[key] = state
        self.entries.append(event)
        if event.type == "put" and event.lease:
            self.attached.setdefault(event.lease, set()).add(key)


def _merge_unique(indexed: Any, touched: list[str]) -> Any:
    """Two sorted key streams (the index's under a prefix, the batch's touched ones) in order, each once."""
    last = None
    for key in heapq.merge(indexed, touched):
        if key != last:
            yield key
            last = key


def _check_expected(key: str, if_revision: int | None, current: Pair | None) -> None:
    """RevisionConflict unless ``if_revision`` is None or the key's revision (0: absent)."""
    if if_revision is not None and (current.revision if current else 0) != if_revision:
        raise RevisionConflict(key, if_revision, current.as_dict() if current else None)


# --- units: what one caller asked for, planned into an overlay -----------------------------------


@dataclass
class Unit:
    """One caller's request waiting for its batch; ``plan`` returns what the caller is answered."""

    future: asyncio.Future = field(repr=False)
    # Its plan raises before it changes anything, so it needs no scratch overlay of its own.
    fails_before_writing = False

    def plan(self, overlay: Overlay) -> Any:
        """Called by the committer: check against ``overlay``, write into it, return the answer."""
        raise NotImplementedError


@dataclass
class PutUnit(Unit):
    fails_before_writing = True
    key: str = ""
    value: str = ""
    if_revision: int | None = None
    lease: int | None = None
    ttl: int | None = None

    def plan(self, overlay: Overlay) -> tuple[Pair, str | None]:
        return overlay.put(self.key, self.value, self.if_revision, self.lease, self.ttl)


@dataclass
class DeleteUnit(Unit):
    fails_before_writing = True
    key: str = ""
    if_revision: int | None = None

    def plan(self, overlay: Overlay) -> tuple[int, str]:
        event = overlay.delete(self.key, self.if_revision)
        if event is None:
            raise KeyNotFound(self.key)
        return event.revision, event.prev


@dataclass
class PrefixDeleteUnit(Unit):
    prefix: str = ""
    limit: int = 0

    def plan(self, overlay: Overlay) -> PrefixDeleted:
        keys = overlay.keys_under(self.prefix, self.limit + 1)
        for key in keys[: self.limit]:
            overlay.delete(key)
        return PrefixDeleted(min(len(keys), self.limit), overlay.revision, len(keys) > self.limit)


@dataclass
class TxnUnit(Unit):
    txn: Txn = field(default_factory=Txn)

    def plan(self, overlay: Overlay) -> TxnResult:
        succeeded = all(compare.holds(overlay.get(compare.key)) for compare in self.txn.compare)
        responses: list[dict[str, Any]] = []
        for op in self.txn.branch(succeeded):
            if op.kind == "get":
                responses.append(get_response(op.key, overlay.get(op.key)))
            elif op.kind == "put":
                responses.append(put_response(*overlay.put(op.key, op.value or "", None, op.lease, op.ttl)))
            else:
                event = overlay.delete(op.key)
                revision, prev = (event.revision, event.prev) if event else (None, None)
                responses.append(delete_response(op.key, revision, prev))
        return TxnResult(succeeded, overlay.revision, responses)


@dataclass
class GrantUnit(Unit):
    ttl: int = 0

    def plan(self, overlay: Overlay) -> Lease:
        return overlay.grant(self.ttl)


@dataclass
class RevokeUnit(Unit):
    lease: int = 0

    def plan(self, overlay: Overlay) -> Revoked:
        if overlay.lease_ttl(self.lease) is None:
            raise LeaseNotFound(self.lease)
        deleted = overlay.end_lease(self.lease, REVOKED)
        return Revoked(self.lease, overlay.revision, deleted)


@dataclass
class ExpireUnit(Unit):
    """The reaper's: end each lease still past its deadline when the batch is planned."""

    leases: list[int] = field(default_factory=list)
    still_due: Callable[[int], bool] = field(default=lambda lease: True, repr=False)

    def plan(self, overlay: Overlay) -> list[int]:
        ended = []
        for lease in self.leases:
            if overlay.lease_ttl(lease) is not None and self.still_due(lease):  # a keepalive may have come
                overlay.end_lease(lease, EXPIRED)
                ended.append(lease)
        return ended
