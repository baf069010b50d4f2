"""Property tests of the pickle store: random writes, restarts and crashes against a model.

Hypothesis drives a random sequence of puts, deletes, compare-and-swaps, clean restarts and
crashes. A crash is simulated by copying the data files exactly as they are right after an
acknowledged write into a fresh directory and opening the copy there (the copy also
sidesteps the original's flock, which is per open file). Variants add what a kill -9 can
leave behind: a torn last record, or a whole record written but never acknowledged (killed
between write and fsync), and a crash in the middle of folding the journal. After every
reopen the store must hold exactly the model's state: every acknowledged write, nothing
invented, revisions never reused.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, Phase, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from kvapp.store.base import Event, Pair
from kvapp.store.errors import KeyNotFound, RevisionConflict
from kvapp.store.pickle import journal, snapshot
from kvapp.store.pickle.store import PickleStore

DATA_NAME = "store.pickle"
JOURNAL_MAX_BYTES = 512  # 512 bytes: small, so journal folds happen within a run
HISTORY = 20  # events kept; small, so snapshots stay small and folds frequent
LOG_TAIL = HISTORY  # events compared after each reopen: all that are retained
SETTLE_ROUNDS = 2
SETTLE_SECONDS = 0.002  # 2ms: a few loop iterations for thread results to land
PAGE_ALL = 10_000  # listing limit above the number of keys

KEYS = st.sampled_from(["a", "b", "a/b", "a/c", "ключ", "k é y", "x" * 40])
VALUES = st.text(st.characters(exclude_categories=["Cs"]), max_size=120)


class StoreMachine(RuleBasedStateMachine):
    """A PickleStore in a temp dir next to a dict model of what was acknowledged."""

    def __init__(self) -> None:
        super().__init__()
        self.loop = asyncio.new_event_loop()
        self.dirs: list[Path] = []
        self.disk_full = False
        self.real_dump = snapshot.dump
        snapshot.dump = self._dump  # the store calls snapshot.dump through the module
        self.store = self._open(self._new_dir())
        self.model: dict[str, Pair] = {}
        self.log: list[Event] = []
        self.revision = 0

    # --- helpers -----------------------------------------------------------------------

    def _new_dir(self) -> Path:
        """A fresh data directory, removed at teardown."""
        directory = Path(tempfile.mkdtemp(prefix="kv-props-"))
        self.dirs.append(directory)
        return directory

    def _open(self, directory: Path) -> PickleStore:
        """Open (and recover) the store in ``directory``."""
        return PickleStore(directory / DATA_NAME, history=HISTORY, journal_max_bytes=JOURNAL_MAX_BYTES)

    def _dump(self, path: Path, state: snapshot.SnapshotState) -> int:
        """snapshot.dump, failing like a full disk while ``disk_full`` is set."""
        if self.disk_full:
            raise OSError(errno.ENOSPC, "No space left on device (simulated)")
        return self.real_dump(path, state)

    def _run(self, coroutine):  # type: ignore[no-untyped-def]
        """Run one store call on the machine's loop."""
        return self.loop.run_until_complete(coroutine)

    def _settle(self) -> None:
        """Let journal rotation and any background fold finish, so a copy sees one moment, as a kill would.

        After a write is answered the committer may still be rotating the journal (in the I/O
        thread) or writing a snapshot (in the store's fold pool); copying files one by one in the
        middle of that would make states no real crash can produce.
        """
        for _ in range(SETTLE_ROUNDS):
            self._run(self.store._io.run(lambda: None))  # one I/O thread: runs after queued appends
            self._run(asyncio.sleep(SETTLE_SECONDS))  # the committer resumes and records its fold
            folding = self.store._fold_job
            if folding is not None:
                concurrent.futures.wait([folding])  # a failed fold is the store's to report, not ours

    def _acknowledge(self, event: Event) -> None:
        """Record an acknowledged write in the model."""
        assert event.revision == self.revision + 1, "revisions must be consecutive and never reused"
        current = self.model.get(event.key)
        assert event.prev == (current.value if current else None)
        if event.type == "put":
            assert event.created == (current.created if current else event.revision)
        self.revision = event.revision
        self.log.append(event)
        if event.type == "put":
            self.model[event.key] = Pair(event.key, event.value, event.revision, event.created)
        else:
            del self.model[event.key]

    def _next_event(self, key: str, value: str) -> Event:
        """The event a put of ``key`` would commit next (for writes that were never acknowledged)."""
        current = self.model.get(key)
        created = current.created if current else self.revision + 1
        replaced = (
            (current.value, 0, None, 1.0, current.revision, current.created, 0)
            if current
            else (None, 0, None, 1.0, 0, 0, 0)
        )
        return Event(self.revision + 1, "put", key, value, created, *replaced)

    def _copy_files(self, mid_fold: bool = False) -> Path:
        """Copy the data files as a kill -9 would leave them; ``mid_fold``: as if folding had begun."""
        self._settle()
        source = self.store.path.parent
        target = self._new_dir()
        for name in (DATA_NAME, f"{DATA_NAME}.journal", f"{DATA_NAME}.journal.folding"):
            if (source / name).exists():
                shutil.copy2(source / name, target / name)
        journal_copy, folding_copy = target / f"{DATA_NAME}.journal", target / f"{DATA_NAME}.journal.folding"
        if mid_fold and journal_copy.exists() and not folding_copy.exists():  # else a failed fold left one
            journal_copy.rename(folding_copy)
        return target

    def _reopen_from(self, directory: Path) -> None:
        """Drop the old store (its files no longer matter) and recover from ``directory``."""
        old = self.store
        old.close()
        self.store = self._open(directory)
        self._check_recovered()

    def _check_recovered(self) -> None:
        """After a reopen: same pairs, same revision, same retained events as the model."""
        assert self._run(self.store.revision()) == self.revision
        page = self._run(self.store.list("", None, PAGE_ALL))
        assert {pair.key: pair for pair in page.items} == self.model
        since = max(0, self.revision - LOG_TAIL)
        # The fields the model knows (the store adds lease, reason, time and the replaced pair).
        assert [event[:6] for event in self._run(self.store.events_since(since))] == [e[:6] for e in self.log[since:]]

    # --- writes ------------------------------------------------------------------------

    @rule(key=KEYS, value=VALUES)
    def put(self, key: str, value: str) -> None:
        """An unconditional put is always acknowledged."""
        pair, prev = self._run(self.store.put(key, value))
        self._acknowledge(Event(pair.revision, "put", key, value, pair.created, prev))

    @rule(writes=st.lists(st.tuples(KEYS, VALUES), min_size=2, max_size=12))
    def put_concurrently(self, writes: list[tuple[str, str]]) -> None:
        """Concurrent puts share group commits; each gets its own revision, all are acknowledged."""

        async def put_all() -> list[tuple[Pair, str | None]]:
            return await asyncio.gather(*(self.store.put(key, value) for key, value in writes))

        results = sorted(self._run(put_all()), key=lambda result: result[0].revision)
        for pair, prev in results:
            self._acknowledge(Event(pair.revision, "put", pair.key, pair.value, pair.created, prev))

    @rule(key=KEYS, value=VALUES, guess=st.one_of(st.none(), st.integers(0, 40)))
    def put_if_revision(self, key: str, value: str, guess: int | None) -> None:
        """CAS put: the key's own revision (guess None) succeeds, any other is a conflict."""
        current = self.model.get(key)
        actual = current.revision if current else 0
        expected = actual if guess is None else guess
        if expected != actual:
            with pytest.raises(RevisionConflict):
                self._run(self.store.put(key, value, expected))
            return
        pair, prev = self._run(self.store.put(key, value, expected))
        self._acknowledge(Event(pair.revision, "put", key, value, pair.created, prev))

    @rule(key=KEYS, conditional=st.booleans())
    def delete(self, key: str, conditional: bool) -> None:
        """A delete of an absent key is KeyNotFound (or a conflict when conditional) and changes nothing."""
        current = self.model.get(key)
        if_revision = (current.revision if current else 1) if conditional else None
        if current is None:
            with pytest.raises(RevisionConflict if conditional else KeyNotFound):
                self._run(self.store.delete(key, if_revision))
            return
        revision, prev = self._run(self.store.delete(key, if_revision))
        assert prev == current.value
        self._acknowledge(Event(revision, "delete", key, None, None, prev))

    @rule(writes=st.lists(st.tuples(KEYS, VALUES), min_size=20, max_size=80))
    def put_while_snapshots_fail(self, writes: list[tuple[str, str]]) -> None:
        """Writes go on while every snapshot write fails (disk full): the journals must keep them all."""
        self.disk_full = True
        try:
            for key, value in writes:
                self.put(key, value)
                self._settle()
        finally:
            self.disk_full = False

    # --- restarts and crashes ----------------------------------------------------------

    @rule()
    def restart(self) -> None:
        """Clean shutdown (folds the journal) and start in the same directory."""
        directory = self.store.path.parent
        self.store.close()
        self.store = self._open(directory)
        self._check_recovered()

    @rule()
    def crash(self) -> None:
        """kill -9 right after an acknowledged write: nothing acknowledged may be lost."""
        self._reopen_from(self._copy_files())

    @rule(key=KEYS, value=VALUES, cut=st.floats(0.0, 1.0))
    def crash_mid_append(self, key: str, value: str, cut: float) -> None:
        """Killed while appending an unacknowledged record: a torn tail is dropped, a whole one kept."""
        directory = self._copy_files()
        event = self._next_event(key, value)
        record = journal.encode(1.0, [[event]])
        length = int(cut * len(record))
        with (directory / f"{DATA_NAME}.journal").open("ab") as handle:
            handle.write(record[:length])
        if length == len(record):
            # Written but not fsynced: a kill -9 keeps the page cache, so the write survives.
            self._acknowledge(event)
        self._reopen_from(directory)

    @rule(snapshot_written=st.booleans())
    def crash_mid_fold(self, snapshot_written: bool) -> None:
        """Killed after the journal was set aside for folding, before or after the new snapshot landed."""
        directory = self._copy_files(mid_fold=True)
        if snapshot_written:
            snapshot.dump(directory / DATA_NAME, self.store.index.snapshot_state())
        self._reopen_from(directory)

    # --- invariants and cleanup --------------------------------------------------------

    @invariant()
    def reads_match_the_model(self) -> None:
        """Between reopens too, reads show exactly the acknowledged writes."""
        page = self._run(self.store.list("", None, PAGE_ALL))
        assert {pair.key: pair for pair in page.items} == self.model

    def teardown(self) -> None:
        """Close the store, stop the loop's leftover committer tasks, remove every directory."""
        snapshot.dump = self.real_dump
        self._settle()
        self.store.close()
        for task in asyncio.all_tasks(self.loop):
            task.cancel()
        self.loop.run_until_complete(asyncio.sleep(0))
        self.loop.close()
        for directory in self.dirs:
            shutil.rmtree(directory, ignore_errors=True)


StoreMachine.TestCase.settings = settings(
    max_examples=50,
    # No shrinking: on a failure it can run for minutes; the unshrunk steps are printed and readable.
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
    stateful_step_count=30,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.too_slow],
)
test_store_recovers_every_acknowledged_write = StoreMachine.TestCase
