"""A model-based test of the whole Store contract on every backend (hypothesis, stateful).

Random puts, deletes, compare-and-swaps, transactions, prefix deletes, lease grants,
keepalives, revokes and expiries (under a clock the test moves) run against the store and
against a plain-dict reference model. Every answer is checked, so is the revision after
each step and the stream of published events; and after each step, a read at every
revision the history still reaches (pairs, listings, counts) equals the model's state at
that revision, while a read below it is compacted.
"""

from __future__ import annotations

import asyncio
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)

from kvapp.store.base import EXPIRED, REVOKED, Event, Pair, PrefixDeleted, Store
from kvapp.store.errors import Compacted, KeyNotFound, LeaseNotFound, RevisionConflict, TooManyLeases
from kvapp.store.txn import Compare, Op, Txn
from tests.support.backends import Backend

HISTORY = 12  # events retained: small, so reads meet compaction within a run
MAX_LEASES = 3
TTLS = st.sampled_from([1, 2, 5])  # seconds
KEYS = st.sampled_from(["a", "a/b", "a/c", "ab", "b", "ключ"])
VALUES = st.text(st.characters(exclude_categories=["Cs"]), max_size=8)
PREFIXES = st.sampled_from(["", "a", "a/", "b", "z"])
UNKNOWN_LEASE = 10**9


@dataclass
class ModelLease:
    ttl: int
    deadline: float


@dataclass
class Model:
    """What the store must hold: pairs, leases, and the state after every revision."""

    pairs: dict[str, Pair] = field(default_factory=dict)
    leases: dict[int, ModelLease] = field(default_factory=dict)
    granted: int = 0
    revision: int = 0
    states: dict[int, dict[str, Pair]] = field(default_factory=lambda: {0: {}})
    commits: dict[int, int] = field(default_factory=dict)  # revision -> the first revision of its commit
    events: list[tuple[Any, ...]] = field(default_factory=list)  # (revision, type, key, value, lease, reason)

    def write(self, kind: str, key: str, value: str | None, lease: int, reason: str | None = None) -> Pair | None:
        """Apply one write at the next revision; the pair it leaves (None for a delete)."""
        self.revision += 1
        current = self.pairs.get(key)
        pair = None
        if kind == "put":
            pair = Pair(key, value or "", self.revision, current.created if current else self.revision, lease)
            self.pairs[key] = pair
        else:
            del self.pairs[key]
        self.states[self.revision] = dict(self.pairs)
        self.events.append((self.revision, kind, key, value, lease, reason))
        return pair

    def one_commit(self, before: int) -> None:
        """The writes since revision ``before`` were one commit: no read ever sees between them."""
        for revision in range(before + 1, self.revision):
            self.states[revision] = self.states[before]
        for revision in range(before + 1, self.revision + 1):
            self.commits[revision] = before + 1

    def visible(self, revision: int) -> int:
        """What a read at ``revision`` sees: the store before the commit it falls inside."""
        start = self.commits.get(revision + 1, revision + 1)
        return start - 1 if start <= revision else revision

    def keys_of(self, lease: int) -> list[str]:
        return sorted(key for key, pair in self.pairs.items() if pair.lease == lease)

    def end(self, lease: int, reason: str) -> list[str]:
        keys = self.keys_of(lease)
        for key in keys:
            self.write("delete", key, None, lease, reason)
        del self.leases[lease]
        return keys


class StoreModelMachine(RuleBasedStateMachine):
    """One store of the backend under test, next to a Model."""

    backend_name = "pickle"
    redis: Any = None
    # Seconds per TTL unit. Redis's scripts read Redis's clock, which the test cannot move:
    # there leases are long enough never to run out during a run, and time does not pass.
    ttl_unit = 1

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.directory = Path(tempfile.mkdtemp(prefix="kv-model-"))
        self.backend = Backend(self.backend_name, self.directory, self.redis).wipe()
        self.store: Store = self.backend.open(history=HISTORY, max_leases=MAX_LEASES)
        self.published: list[Event] = []
        self.store.set_publisher(self._record)
        self.model = Model()

    async def _record(self, events: Any) -> None:
        self.published.extend(events)

    def _run(self, coroutine: Any) -> Any:
        return self.loop.run_until_complete(coroutine)

    def _now(self) -> float:
        return self.backend.clock.now

    # --- writes ---------------------------------------------------------------------------

    @initialize()
    def start(self) -> None:
        """Nothing yet: the store starts empty, like the model."""

    @rule(key=KEYS, value=VALUES, guess=st.sampled_from([None, 0, 1, "current"]), lease=st.data())
    def put(self, key: str, value: str, guess: Any, lease: st.DataObject) -> None:
        current = self.model.pairs.get(key)
        if_revision = (current.revision if current else 0) if guess == "current" else guess
        choice = lease.draw(st.sampled_from([None, 0, "live", UNKNOWN_LEASE]))
        attach = choice
        if choice == "live":
            attach = min(self.model.leases) if self.model.leases else UNKNOWN_LEASE
        try:
            pair, prev = self._run(self.store.put(key, value, if_revision=if_revision, lease=attach))
        except RevisionConflict:
            assert if_revision is not None and if_revision != (current.revision if current else 0)
            return
        except LeaseNotFound:
            assert attach not in self.model.leases and attach not in (None, 0)
            return
        assert if_revision is None or if_revision == (current.revision if current else 0)
        kept = current.lease if current else 0
        expected = self.model.write("put", key, value, kept if attach is None else attach)
        assert (pair, prev) == (expected, current.value if current else None)

    @rule(key=KEYS, value=VALUES, ttl=TTLS)
    def put_with_ttl(self, key: str, value: str, ttl: int) -> None:
        ttl *= self.ttl_unit
        try:
            pair, _ = self._run(self.store.put(key, value, ttl=ttl))
        except TooManyLeases:
            assert len(self.model.leases) == MAX_LEASES
            return
        lease = self._grant_in_model(ttl)
        assert pair == self.model.write("put", key, value, lease)

    @rule(key=KEYS, conditional=st.booleans())
    def delete(self, key: str, conditional: bool) -> None:
        current = self.model.pairs.get(key)
        guess = (current.revision if current else 0) if conditional else None
        try:
            revision, prev = self._run(self.store.delete(key, if_revision=guess))
        except KeyNotFound:
            assert current is None
            return
        assert current is not None
        self.model.write("delete", key, None, current.lease)
        assert (revision, prev) == (self.model.revision, current.value)

    @rule(prefix=PREFIXES, limit=st.integers(1, 4))
    def delete_prefix(self, prefix: str, limit: int) -> None:
        done = self._run(self.store.delete_prefix(prefix, limit))
        keys = sorted(key for key in self.model.pairs if key.startswith(prefix))
        before = self.model.revision
        for key in keys[:limit]:
            self.model.write("delete", key, None, self.model.pairs[key].lease)
        self.model.one_commit(before)
        assert done == PrefixDeleted(min(len(keys), limit), self.model.revision, len(keys) > limit)

    @rule(data=st.data())
    def txn(self, data: st.DataObject) -> None:
        compares = data.draw(st.lists(_compares(self.model), max_size=3))
        success = data.draw(_branch())
        failure = data.draw(_branch())
        txn = Txn(tuple(compares), success, failure)
        holds = all(compare.holds(self.model.pairs.get(compare.key)) for compare in compares)
        ops = txn.branch(holds)
        if any(op.lease == UNKNOWN_LEASE for op in ops if op.kind == "put"):
            with pytest.raises(LeaseNotFound):
                self._run(self.store.txn(txn))
            return
        result = self._run(self.store.txn(txn))
        before = self.model.revision
        expected = [self._model_op(op) for op in ops]
        self.model.one_commit(before)
        assert (result.succeeded, result.revision, result.responses) == (holds, self.model.revision, expected)

    def _model_op(self, op: Op) -> dict[str, Any]:
        current = self.model.pairs.get(op.key)
        if op.kind == "get":
            if current is None:
                return {"op": "get", "key": op.key, "value": None, "revision": 0, "created": 0}
            return {"op": "get", **current.as_dict()}
        if op.kind == "delete":
            if current is None:
                return {"op": "delete", "key": op.key, "revision": None, "prev": None}
            self.model.write("delete", op.key, None, current.lease)
            return {"op": "delete", "key": op.key, "revision": self.model.revision, "prev": current.value}
        # A put that names no lease keeps the key's.
        lease = (current.lease if current else 0) if op.lease is None else op.lease
        pair = self.model.write("put", op.key, op.value, lease)
        assert pair is not None
        return {"op": "put", **pair.as_dict(), "prev": current.value if current else None}

    # --- leases -----------------------------------------------------------------------------

    def _grant_in_model(self, ttl: int) -> int:
        self.model.granted += 1
        self.model.leases[self.model.granted] = ModelLease(ttl, self._now() + ttl)
        return self.model.granted

    @rule(ttl=TTLS)
    def grant(self, ttl: int) -> None:
        ttl *= self.ttl_unit
        try:
            lease = self._run(self.store.grant(ttl))
        except TooManyLeases:
            assert len(self.model.leases) == MAX_LEASES
            return
        assert (lease.id, lease.ttl) == (self._grant_in_model(ttl), ttl)

    @precondition(lambda self: self.model.leases)
    @rule(data=st.data())
    def keepalive(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(sorted(self.model.leases)))
        model = self.model.leases[lease]
        if model.deadline <= self._now():
            with pytest.raises(LeaseNotFound):
                self._run(self.store.keepalive(lease))
            return
        self._run(self.store.keepalive(lease))
        model.deadline = self._now() + model.ttl

    @precondition(lambda self: self.model.leases)
    @rule(data=st.data())
    def revoke(self, data: st.DataObject) -> None:
        lease = data.draw(st.sampled_from(sorted(self.model.leases)))
        revoked = self._run(self.store.revoke(lease))
        before = self.model.revision
        assert revoked.deleted == self.model.end(lease, REVOKED)
        self.model.one_commit(before)
        assert revoked.revision == self.model.revision

    @precondition(lambda self: self.backend_name == "pickle")
    @rule(seconds=st.sampled_from([0.4, 0.7, 1.0, 2.5]))
    def time_passes(self, seconds: float) -> None:
        """The clock moves and the reaper runs: every lease past its deadline ends, keys and all."""
        self.backend.clock.now += seconds
        ended = self._run(self.store.expire_due())
        due = sorted(
            (lease for lease, model in self.model.leases.items() if model.deadline <= self._now()),
            key=lambda lease: (self.model.leases[lease].deadline, lease),
        )
        assert sorted(ended) == sorted(due)
        before = self.model.revision
        for lease in ended:
            self.model.end(lease, EXPIRED)
        self.model.one_commit(before)  # every lease due at once ends in the reaper's one commit

    # --- invariants ---------------------------------------------------------------------

    @invariant()
    def revision_and_events_match(self) -> None:
        assert self._run(self.store.revision()) == self.model.revision
        published = [(e.revision, e.type, e.key, e.value, e.lease, e.reason) for e in self.published]
        assert published == self.model.events

    @invariant()
    def reads_at_every_retained_revision_match(self) -> None:
        oldest = max(self.model.revision - HISTORY + 1, 1)
        for revision in range(max(oldest - 1, 0), self.model.revision + 1):
            expected = self.model.states[revision]
            if self.model.visible(revision) < oldest - 1:  # inside a commit whose start is gone
                with pytest.raises(Compacted):
                    self._run(self.store.list(revision=revision))
                continue
            page = self._run(self.store.list(limit=100, revision=revision))
            assert page.items == [expected[key] for key in sorted(expected)], (revision, page.items, expected)
            assert page.count == len(expected)
            assert self._run(self.store.list("a", limit=100, revision=revision)).count == sum(
                key.startswith("a") for key in expected
            )
            for key in ("a", "a/b"):
                try:
                    got = self._run(self.store.get(key, revision=revision))
                except KeyNotFound:
                    got = None
                assert got == expected.get(key), (key, revision)
        if oldest >= 2:
            with pytest.raises(Compacted):
                self._run(self.store.list(revision=oldest - 2))

    @invariant()
    def leases_match(self) -> None:
        listed = self._run(self.store.leases(limit=100))
        assert [lease.id for lease in listed.items] == sorted(self.model.leases)
        for lease in listed.items:
            assert sorted(lease.keys) == self.model.keys_of(lease.id)

    def teardown(self) -> None:
        self._run(self.backend.close_all())
        self.loop.close()
        shutil.rmtree(self.directory, ignore_errors=True)


def _compares(model: Model) -> st.SearchStrategy[Compare]:
    numbers = st.integers(0, max(model.revision, 1) + 1)
    return st.one_of(
        st.builds(Compare, KEYS, st.just("value"), st.sampled_from(["==", "!=", "<", ">"]), st.none() | VALUES),
        st.builds(
            Compare,
            KEYS,
            st.sampled_from(["revision", "created", "lease"]),
            st.sampled_from(["==", "!=", "<", ">"]),
            numbers,
        ),
    )


def _branch() -> st.SearchStrategy[tuple[Op, ...]]:
    """Up to four ops, each key written at most once (as parse_txn requires)."""
    op = st.one_of(
        st.builds(Op, st.just("get"), KEYS),
        st.builds(Op, st.just("delete"), KEYS),
        st.builds(Op, st.just("put"), KEYS, VALUES, st.sampled_from([None, 0, UNKNOWN_LEASE])),
    )

    def once(ops: list[Op]) -> tuple[Op, ...]:
        written: set[str] = set()
        kept = []
        for item in ops:
            if item.kind != "get" and item.key in written:
                continue
            if item.kind != "get":
                written.add(item.key)
            kept.append(item)
        return tuple(kept)

    return st.lists(op, max_size=4).map(once)


MODEL_SETTINGS = settings(
    max_examples=100,
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    phases=[Phase.explicit, Phase.reuse, Phase.generate],  # unshrunk steps print readably; shrinking is slow
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

StoreModelMachine.TestCase.settings = MODEL_SETTINGS
test_pickle_store_matches_the_model = StoreModelMachine.TestCase


class RedisStoreModelMachine(StoreModelMachine):
    """The same machine on a Redis store (its leases far from running out)."""

    backend_name = "redis"
    ttl_unit = 3600


@pytest.mark.redis
def test_redis_store_matches_the_model(redis_server: Any) -> None:
    RedisStoreModelMachine.redis = redis_server
    run_state_machine_as_test(RedisStoreModelMachine, settings=settings(MODEL_SETTINGS, max_examples=25))
