"""The default backend: an in-memory index made durable by a journal and snapshots.

Write path (group commit)::

    put()/delete() --> pending ops --> committer task: plan batch (CAS, revisions)
        --> I/O thread: append batch to journal + fdatasync
        --> apply to index --> answer every caller in the batch --> publish events

One committer task per store means revisions are assigned, made durable, made visible and
published in one order, so watchers never see revision 7 before 6. Ops that arrive while a
batch is being fsynced wait for the next batch, so N concurrent writers share one fsync
instead of queueing behind N of them. Changes become visible to readers only after their
fsync: a reader never sees a value that a crash could take back.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
from collections.abc import Iterable
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

from kvapp.store.base import DEFAULT_PAGE_SIZE, Event, Page, Pair, Stats, Store
from kvapp.store.errors import CorruptStore, KeyNotFound, RevisionConflict, StoreFull, StoreUnavailable
from kvapp.store.pickle import journal, snapshot
from kvapp.store.pickle.files import FileLock, fsync_directory, is_disk_full, temp_path
from kvapp.store.pickle.index import MemoryIndex
from kvapp.store.pickle.io_thread import IOThread, IOThreadStopped

logger = logging.getLogger(__name__)

DEFAULT_JOURNAL_MAX_BYTES = 64 * 1024 * 1024  # 64mb before folding into a snapshot


@dataclass
class _Op:
    """One write waiting for its batch."""

    kind: str  # "put" | "delete"
    key: str
    value: str | None
    if_revision: int | None
    future: asyncio.Future = field(repr=False)


class PickleStore(Store):
    """Pairs in memory, every write journaled and fsynced before it is answered."""

    backend_name = "pickle"

    def __init__(
        self, path: str | Path, history: int = 10_000, journal_max_bytes: int = DEFAULT_JOURNAL_MAX_BYTES
    ) -> None:
        super().__init__()
        self.path = Path(path).resolve()
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.folding_path = self.path.with_name(self.path.name + ".journal.folding")
        self.journal_max_bytes = journal_max_bytes
        self.history = history
        self._lock = FileLock(self.path.with_name(self.path.name + ".lock"))
        self._lock.acquire(self.path)
        try:
            # A fold killed mid-write leaves its temp file; on a full disk it holds the space needed.
            temp_path(self.path).unlink(missing_ok=True)
            self.index = self._recover()
            self._journal = journal.JournalWriter(self.journal_path)
            self._journal.open()
        except BaseException:
            self._lock.release()
            raise
        # _recover wrote it, unless the disk was full.
        self._snapshot_bytes = self.path.stat().st_size if self.path.exists() else 0
        self._next_fold_at = 0  # journal bytes to wait for after a failed fold (0: the last one worked)
        # One thread: journal appends must hit the disk in batch order.
        self._io = IOThread("kv-journal")
        # Its own thread, not self._io: a long pickle must not hold up journal appends.
        self._fold_pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="kv-fold")
        self._fold_job: Future | None = None  # the background fold; close() waits for it
        self._pending: list[_Op] = []
        self._wakeup: asyncio.Event | None = None
        self._committer: asyncio.Task | None = None
        self._failure: BaseException | None = None
        self._disk_full: StoreFull | None = None  # the last batch found no room: writes get 507 until one does
        self._appending = False  # a batch is handed to the I/O thread and not yet in the index
        self._closed = False
        atexit.register(self.close)

    # --- recovery -------------------------------------------------------------------------

    def _recover(self) -> MemoryIndex:
        """Snapshot, then the journal being folded (if a fold was cut short), then the journal."""
        state = snapshot.load(self.path)
        index = MemoryIndex(state, self.history)
        replayed = 0
        for path in (self.folding_path, self.journal_path):
            is_last = path == self.journal_path or not self.journal_path.exists()
            for event in journal.read(path, is_last=is_last):
                if event.revision > index.revision:
                    _replay(index, event, path)
                    replayed += 1
        # Also on first start, so the data file exists (and its directory is proven writable)
        # before the first request rather than only after the first fold.
        # A format-1 journal is folded too: new records go to a new journal, in format 2.
        if (
            state.upgraded_from_seed
            or replayed
            or self.folding_path.exists()
            or not self.path.exists()
            or journal.is_legacy(self.journal_path)
        ):
            self._fold_at_start(index)
        logger.info("opened %s at revision %d with %d keys", self.path, index.revision, len(index.pairs))
        return index

    def _fold_at_start(self, index: MemoryIndex) -> None:
        """Fold what recovery replayed; on a full disk keep the journals (they replay) and go on."""
        try:
            snapshot.dump(self.path, index.snapshot_state())
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            logger.warning("could not fold the journal at start (%s); it is kept and replays at the next start", exc)
            self._set_legacy_journal_aside()
            return
        self.folding_path.unlink(missing_ok=True)
        self.journal_path.unlink(missing_ok=True)

    def _set_legacy_journal_aside(self) -> None:
        """Make room for a format-2 journal when a format-1 one could not be folded away."""
        if not journal.is_legacy(self.journal_path):
            return
        if self.folding_path.exists():
            raise StoreFull(
                f"the disk is full: {self.journal_path} (an old-format journal) and {self.folding_path} could not "
                "be folded into the snapshot; free some space and start again"
            )
        self.journal_path.replace(self.folding_path)  # replayed first at the next start; no new data needed
        fsync_directory(self.path.parent)

    # --- reads ----------------------------------------------------------------------------

    async def get(self, key: str) -> Pair:
        """The pair for ``key``; raises KeyNotFound."""
        pair = self.index.get(key)
        if pair is None:
            raise KeyNotFound(key)
        return pair

    async def list(self, prefix: str = "", after: str | None = None, limit: int = DEFAULT_PAGE_SIZE) -> Page:
        """A page of pairs in key order."""
        return self.index.page(prefix, after, limit)

    async def stats(self) -> Stats:
        """Revision and key count straight from memory."""
        return Stats(self.index.revision, len(self.index.pairs), self.backend_name, write_problem=self._write_problem())

    def _write_problem(self) -> str | None:
        """Why writes are refused right now, for /healthz: a full disk, or a failed journal."""
        if self._failure is not None:
            return f"the journal could not be written ({self._failure}); writes are refused until a restart"
        return None if self._disk_full is None else str(self._disk_full)

    async def revision(self) -> int:
        """The last committed revision."""
        return self.index.revision

    async def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``."""
        return self.index.events_since(revision)

    # --- writes ---------------------------------------------------------------------------

    async def put(self, key: str, value: str, if_revision: int | None = None) -> tuple[Pair, str | None]:
        """Queue a put and wait until it is durable."""
        event: Event = await self._submit("put", key, value, if_revision)
        return Pair(key, value, event.revision, event.created), event.prev

    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Queue a delete and wait until it is durable."""
        event: Event = await self._submit("delete", key, None, if_revision)
        return event.revision, event.prev

    async def _submit(self, kind: str, key: str, value: str | None, if_revision: int | None) -> Event:
        """Add an op to the next batch and wake the committer."""
        if self._failure is not None:
            raise StoreUnavailable(f"the journal could not be written ({self._failure}); restart the server")
        if self._closed:
            raise StoreUnavailable("the store is shutting down")
        loop = asyncio.get_running_loop()
        op = _Op(kind, key, value, if_revision, loop.create_future())
        self._pending.append(op)
        self._ensure_committer(loop)
        self._wakeup.set()
        return await op.future

    def _ensure_committer(self, loop: asyncio.AbstractEventLoop) -> None:
        """Start the committer on this loop (tests may run several loops one after another)."""
        if self._committer is None or self._committer.done() or self._committer.get_loop() is not loop:
            self._wakeup = asyncio.Event()
            self._committer = loop.create_task(self._commit_forever(), name="kv-committer")

    async def _commit_forever(self) -> None:
        """Commit whatever is pending, one batch at a time, forever."""
        while True:
            await self._wakeup.wait()
            self._wakeup.clear()
            while self._pending:
                batch, self._pending = self._pending, []
                try:
                    await self._commit(batch)
                except Exception as exc:  # a bug must fail its batch, not hang every writer
                    logger.exception("commit failed")
                    _fail(batch, StoreUnavailable(f"the write could not be committed ({exc})"))
                try:
                    await self._maybe_fold()
                except Exception:  # the journal is kept either way; the committer must live on
                    logger.exception("could not start folding the journal")

    async def _commit(self, batch: list[_Op]) -> None:
        """Plan, persist, apply, answer, publish: in that order (see the module docstring)."""
        events, outcomes = self._plan(batch)
        if events:
            self._appending = True
            try:
                await self._io.run(self._journal.append_durably, journal.encode(events))
            except IOThreadStopped:
                # close() ran while this batch waited: it was never written, so it is refused
                # like any write that arrives after close, without a traceback per batch.
                outcomes = [StoreUnavailable("the store is shutting down")] * len(batch)
                events = []
            except StoreFull as exc:
                # The writer cut the file back to its durable end: the batch is gone, nothing changed.
                self._note_disk_full(exc)
                outcomes = [StoreFull(str(exc)) for _ in batch]
                events = []
            except OSError as exc:
                # After a failed fsync the file's state is unknown (fsyncgate): stop writing.
                logger.critical("journal write failed, refusing further writes: %s", exc)
                self._failure = exc
                outcomes = [StoreUnavailable(f"the journal could not be written ({exc})")] * len(batch)
                events = []
            else:
                self._note_disk_has_room()
            finally:
                self._appending = False
            for event in events:
                self.index.apply(event)
        for op, outcome in zip(batch, outcomes, strict=True):
            if op.future.done():
                continue  # the caller went away; its write still happened
            if isinstance(outcome, BaseException):
                op.future.set_exception(outcome)
            else:
                op.future.set_result(outcome)
        # Published by the single committer, so batches reach the layer in revision order.
        await self._publish(events)

    def _note_disk_full(self, exc: StoreFull) -> None:
        """A batch found no room: say so once, not per batch, until one fits again."""
        if self._disk_full is None:
            logger.error("writes are refused (507) until the disk has room: %s", exc)
        self._disk_full = exc

    def _note_disk_has_room(self) -> None:
        """A batch was appended: if the disk was full, it no longer is."""
        if self._disk_full is not None:
            logger.warning("the journal %s takes writes again: the disk has room", self.journal_path)
            self._disk_full = None

    def _plan(self, batch: list[_Op]) -> tuple[list[Event], list[Event | BaseException]]:
        """Turn ops into events with consecutive revisions, checking CAS against earlier ops."""
        overlay: dict[str, Pair | None] = {}
        events: list[Event] = []
        outcomes: list[Event | BaseException] = []
        revision = self.index.revision
        for op in batch:
            current = overlay[op.key] if op.key in overlay else self.index.get(op.key)
            failure = _check(op, current)
            if failure is not None:
                outcomes.append(failure)
                continue
            revision += 1
            prev = current.value if current else None
            if op.kind == "put":
                created = current.created if current else revision
                event = Event(revision, "put", op.key, op.value, created, prev)
                overlay[op.key] = Pair(op.key, op.value, revision, created)
            else:
                event = Event(revision, "delete", op.key, None, None, prev)
                overlay[op.key] = None
            events.append(event)
            outcomes.append(event)
        return events, outcomes

    # --- backup and restore -----------------------------------------------------------------

    async def restore(self, pairs: Iterable[Pair], revision: int) -> int:
        """Write ``pairs`` as the snapshot, atomically, while this process holds the lock.

        The store is empty, so its journal is too: the snapshot alone is the whole new state.
        A bad pair stops the import before the snapshot is written, so nothing is loaded.
        """
        table = {pair.key: (pair.value, pair.revision, pair.created) for pair in pairs}
        top = max([revision, *(entry[1] for entry in table.values())])
        state = snapshot.SnapshotState(top, table, [])
        self._snapshot_bytes = await self._io.run(snapshot.dump, self.path, state)  # data-file writes: one thread
        self.index = MemoryIndex(state, self.history)
        return len(table)

    # --- folding the journal into a snapshot ----------------------------------------------

    async def _maybe_fold(self) -> None:
        """Start a fold when the journal outgrows max(limit, snapshot size); one at a time.

        Scaling the threshold with the snapshot keeps the cost per write constant: a store
        of a million keys folds rarely, a small one often. The committer calls this between
        batches, so no append is in flight while the journal is swapped.
        """
        if self._closed or self._failure is not None or (self._fold_job is not None and not self._fold_job.done()):
            return  # closed: close() folds (or the journal replays at start); its pools are gone
        threshold = max(self.journal_max_bytes, self._snapshot_bytes)
        if self._journal.size < max(threshold, self._next_fold_at):
            return
        state = self.index.snapshot_state()
        await self._io.run(self._rotate_journal)
        if self._closed:
            return  # closed meanwhile: close() found the new journal empty; the set-aside one replays at start
        retry_at = self._journal.size + threshold
        self._fold_job = self._fold_pool.submit(self._write_snapshot, state, retry_at)
        self._fold_job.add_done_callback(_report_fold_failure)

    def _rotate_journal(self) -> None:
        """Set the full journal aside for folding and start an empty one (in the I/O thread).

        A fold that failed (disk full, I/O error) left its journal behind: rotating over it
        would drop its events from disk, so the journal stays and the retried snapshot,
        which covers both, replaces them.
        """
        if self.folding_path.exists():
            return
        self._journal.close()
        self.journal_path.replace(self.folding_path)
        self._journal = journal.JournalWriter(self.journal_path)
        self._journal.open()  # a full disk leaves it to the first append

    def _write_snapshot(self, state: snapshot.SnapshotState, retry_at: int) -> None:
        """Write the snapshot, then drop the journal it replaces (a crash between is harmless).

        After a failure the journal is not rotated, so it stays over the threshold: without
        ``retry_at`` every later batch would copy the index and pickle the store again. The
        retry waits until another threshold's worth of writes has been journaled.
        """
        try:
            self._snapshot_bytes = snapshot.dump(self.path, state)
        except BaseException:
            self._next_fold_at = retry_at
            raise
        self._next_fold_at = 0
        self.folding_path.unlink(missing_ok=True)

    def fold_now(self) -> None:
        """Fold synchronously; called by close() once no write and no background fold is in flight."""
        self._snapshot_bytes = snapshot.dump(self.path, self.index.snapshot_state())
        self.folding_path.unlink(missing_ok=True)
        self.journal_path.unlink(missing_ok=True)

    def close(self) -> None:
        """Fold the journal and release the lock; safe to call twice."""
        if self._closed:
            return
        self._closed = True
        atexit.unregister(self.close)
        try:
            # A background fold still writing must finish before the lock is released: a new
            # server taking over would otherwise have its fresh snapshot replaced by this older
            # one, and its journal deleted.
            self._fold_pool.shutdown(wait=True)
            self._io.shutdown()  # an append in flight finishes before its file is folded and closed
            # A batch appended while close() ran (aclose() on the loop, between the append and
            # its apply) is in the journal but not yet in the index, and its writers are about
            # to be told it succeeded: folding the index would delete it. The journal replays.
            if self._failure is None and self._journal.has_records and not self._appending:
                self.fold_now()
        except OSError as exc:
            if not is_disk_full(exc):
                logger.exception("could not fold the journal at shutdown; it will be replayed at start")
            else:
                logger.warning("could not fold the journal at shutdown (%s); it will be replayed at start", exc)
        finally:
            self._journal.close()
            self._lock.release()


def _replay(index: MemoryIndex, event: Event, path: Path) -> None:
    """Apply a journaled event at start; a gap in the revisions is damage, not a bug to crash on."""
    try:
        index.apply(event)
    except ValueError:
        raise CorruptStore(
            f"journal {path} continues at revision {event.revision} but the store is at revision "
            f"{index.revision}: writes in between are missing; refusing to start rather than lose them"
        ) from None


def _report_fold_failure(folding: Future) -> None:
    """Called (in the fold thread) when a background fold ends: log a failure; the journal is kept."""
    if folding.cancelled() or folding.exception() is None:
        return
    logger.error(
        "could not write the snapshot (%s); the journal is kept and folding will be retried", folding.exception()
    )


def _fail(batch: list[_Op], error: BaseException) -> None:
    """Answer every still-waiting op in ``batch`` with ``error``."""
    for op in batch:
        if not op.future.done():
            op.future.set_exception(error)


def _check(op: _Op, current: Pair | None) -> BaseException | None:
    """Why ``op`` cannot apply to ``current``, or None."""
    if op.if_revision is not None:
        actual = current.revision if current else 0
        if actual != op.if_revision:
            return RevisionConflict(op.key, op.if_revision, current.as_dict() if current else None)
    if op.kind == "delete" and current is None:
        return KeyNotFound(op.key)
    return None
