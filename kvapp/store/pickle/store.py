"""The default backend: an in-memory index made durable by a journal and snapshots.

Write path (group commit)::

    put()/delete()/txn()/grant()/... --> pending units --> committer task: plan the batch
        (compares, revisions, leases; ``kvapp.store.pickle.plan``)
        --> I/O thread: append one record per unit to the journal + fdatasync
        --> apply to index --> answer every caller in the batch --> publish events

One committer task per store means revisions are assigned, made durable, made visible and
published in one order, so watchers never see revision 7 before 6. Ops that arrive while a
batch is being fsynced wait for the next batch, so N concurrent writers share one fsync
instead of queueing behind N of them. Changes become visible to readers only after their
fsync: a reader never sees a value that a crash could take back.

Leases expire through the same path: a reaper task finds the leases past their deadline
(at most REAP_INTERVAL late) and submits one unit that deletes their keys, so expiry takes
revisions, is journaled and is watched like any write. Keepalives only move a deadline in
memory.
"""

from __future__ import annotations

import asyncio
import atexit
import logging
import time
from collections.abc import Callable, Iterable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

from kvapp.store.base import (
    DEFAULT_HISTORY_PAGE,
    DEFAULT_PAGE_SIZE,
    Event,
    HistoryPage,
    Lease,
    LeasePage,
    Page,
    Pair,
    PrefixDeleted,
    Revoked,
    Stats,
    Store,
)
from kvapp.store.errors import (
    CorruptStore,
    KeyNotFound,
    KVError,
    LeaseNotFound,
    StoreFull,
    StoreUnavailable,
    TooManyLeases,
)
from kvapp.store.pickle import journal, snapshot
from kvapp.store.pickle.entries import Entry
from kvapp.store.pickle.files import FileLock, fsync_directory, is_disk_full, temp_path
from kvapp.store.pickle.index import MemoryIndex
from kvapp.store.pickle.io_thread import IOThread, IOThreadStopped
from kvapp.store.pickle.plan import (
    DeleteUnit,
    ExpireUnit,
    GrantUnit,
    Overlay,
    PrefixDeleteUnit,
    PutUnit,
    RevokeUnit,
    TxnUnit,
    Unit,
)
from kvapp.store.txn import Txn, TxnResult

logger = logging.getLogger(__name__)

DEFAULT_JOURNAL_MAX_BYTES = 64 * 1024 * 1024  # 64mb before folding into a snapshot
DEFAULT_HISTORY = 100_000  # events retained for watch resume and reads at a past revision
DEFAULT_MAX_LEASES = 100_000  # live leases (KV_MAX_LEASES)
REAP_INTERVAL = 0.25  # seconds the reaper sleeps at most: a lease ends this late at most
REAP_RETRY = 1.0  # seconds before the reaper tries again after an expiry could not be committed


class PickleStore(Store):
    """Pairs in memory, every write journaled and fsynced before it is answered."""

    backend_name = "pickle"

    def __init__(
        self,
        path: str | Path,
        history: int = DEFAULT_HISTORY,
        journal_max_bytes: int = DEFAULT_JOURNAL_MAX_BYTES,
        max_leases: int = DEFAULT_MAX_LEASES,
        clock: Callable[[], float] = time.monotonic,
        wall_clock: Callable[[], float] = time.time,
        reap_interval: float | None = REAP_INTERVAL,
    ) -> None:
        super().__init__()
        self.reap_interval = reap_interval  # None: no reaper task (tests with a fake clock call expire_due)
        self.max_leases = max_leases
        self._clock = clock  # lease deadlines: monotonic, unaffected by the wall clock's jumps
        self._wall_clock = wall_clock  # the time events carry
        self.path = Path(path).resolve()
        self.journal_path = self.path.with_name(self.path.name + ".journal")
        self.folding_path = self.path.with_name(self.path.name + ".journal.folding")
        self.journal_max_bytes = journal_max_bytes
        self.history_size = history  # events retained
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
        self._pending: list[Unit] = []
        self._wakeup: asyncio.Event | None = None
        self._committer: asyncio.Task | None = None
        self._reaper: asyncio.Task | None = None
        self._failure: BaseException | None = None
        self._disk_full: StoreFull | None = None  # the last batch found no room: writes get 507 until one does
        self._appending = False  # a batch is handed to the I/O thread and not yet in the index
        self._closed = False
        atexit.register(self.close)

    # --- recovery -------------------------------------------------------------------------

    def _recover(self) -> MemoryIndex:
        """Snapshot, then the journal being folded (if a fold was cut short), then the journal."""
        state = snapshot.load(self.path)
        index = MemoryIndex(state, self.history_size, self._clock)
        replayed = 0
        for path in (self.folding_path, self.journal_path):
            is_last = path == self.journal_path or not self.journal_path.exists()
            for record in journal.read(path, is_last=is_last):
                replayed += _replay(index, record.entries, path)
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

    async def get(self, key: str, revision: int | None = None) -> Pair:
        """The pair for ``key`` (at ``revision``); raises KeyNotFound."""
        self._ensure_reaper()
        pair = self.index.get(key, revision)
        if pair is None:
            raise KeyNotFound(key)
        return pair

    async def list(
        self,
        prefix: str = "",
        after: str | None = None,
        limit: int = DEFAULT_PAGE_SIZE,
        revision: int | None = None,
        search: str | None = None,
    ) -> Page:
        """A page of pairs in key order (at ``revision``, filtered by ``search``)."""
        self._ensure_reaper()
        return self.index.page(prefix, after, limit, revision, search)

    async def history(self, key: str, before: int | None = None, limit: int = DEFAULT_HISTORY_PAGE) -> HistoryPage:
        """``key``'s retained events before ``before``, newest first."""
        items: list[Event] = []
        for event in self.index.history.chain(key, before):
            if len(items) == limit:
                return HistoryPage(key, items, self.index.oldest_readable(), items[-1].revision)
            items.append(event)
        return HistoryPage(key, items, self.index.oldest_readable(), None)

    async def stats(self) -> Stats:
        """Revision, key and lease counts straight from memory."""
        self._ensure_reaper()
        index = self.index
        leases, granted = len(index.leases), index.leases.granted
        return Stats(index.revision, len(index.pairs), self.backend_name, leases, granted, self._write_problem())

    def _write_problem(self) -> str | None:
        """Why writes are refused right now, for /healthz: a full disk, or a failed journal."""
        if self._failure is not None:
            return f"the journal could not be written ({self._failure}); writes are refused until a restart"
        return None if self._disk_full is None else str(self._disk_full)

    async def revision(self) -> int:
        """The last committed revision."""
        self._ensure_reaper()
        return self.index.revision

    async def events_since(self, revision: int) -> list[Event]:
        """Retained events after ``revision``."""
        return self.index.events_since(revision)

    # --- writes ---------------------------------------------------------------------------

    async def put(
        self,
        key: str,
        value: str,
        if_revision: int | None = None,
        lease: int | None = None,
        ttl: int | None = None,
    ) -> tuple[Pair, str | None]:
        """Queue a put and wait until it is durable."""
        return await self._submit(PutUnit, key=key, value=value, if_revision=if_revision, lease=lease, ttl=ttl)

    async def delete(self, key: str, if_revision: int | None = None) -> tuple[int, str]:
        """Queue a delete and wait until it is durable."""
        return await self._submit(DeleteUnit, key=key, if_revision=if_revision)

    async def delete_prefix(self, prefix: str, limit: int) -> PrefixDeleted:
        """Queue a delete of up to ``limit`` pairs under ``prefix`` (one unit, one record)."""
        return await self._submit(PrefixDeleteUnit, prefix=prefix, limit=limit)

    async def txn(self, txn: Txn) -> TxnResult:
        """Queue a transaction: one unit of the batch, one journal record."""
        return await self._submit(TxnUnit, txn=txn)

    # --- leases ---------------------------------------------------------------------------

    async def grant(self, ttl: int) -> Lease:
        """Queue a grant; the lease exists once its record is durable."""
        return await self._submit(GrantUnit, ttl=ttl)

    async def keepalive(self, lease: int) -> Lease:
        """Renew in memory only (nothing to journal: a restart renews every lease anyway)."""
        self._ensure_reaper()
        live = self.index.leases.keepalive(lease, self._clock())
        if live is None:
            raise LeaseNotFound(lease)
        return Lease(lease, live.ttl, float(live.ttl))

    async def revoke(self, lease: int) -> Revoked:
        """Queue a revoke: its keys are deleted in the same record."""
        return await self._submit(RevokeUnit, lease=lease)

    async def lease(self, lease: int) -> Lease:
        """A live lease and its keys; one past its deadline counts as gone, reaped or not."""
        self._ensure_reaper()
        live = self.index.leases.get(lease)
        remaining = 0.0 if live is None else live.deadline - self._clock()
        if live is None or remaining <= 0:
            raise LeaseNotFound(lease)
        return Lease(lease, live.ttl, remaining, tuple(live.attached()))

    async def leases(self, after: int | None = None, limit: int = DEFAULT_PAGE_SIZE) -> LeasePage:
        """Live leases by id, each with its number of keys."""
        self._ensure_reaper()
        now = self._clock()
        items = [
            Lease(lease, live.ttl, max(live.deadline - now, 0.0), tuple(live.keys or ()))
            for lease, live in self.index.leases.page(after, limit + 1)
        ]
        if len(items) > limit:
            return LeasePage(items[:limit], items[limit - 1].id)
        return LeasePage(items, None)

    async def expire_due(self) -> list[int]:
        """End every lease past its deadline now (the reaper's step; tests call it with a fake clock)."""
        due = self.index.leases.due(self._clock())
        if not due:
            return []
        return await self._submit(ExpireUnit, leases=due, still_due=self._still_due)

    def _still_due(self, lease: int) -> bool:
        return self.index.leases.is_due(lease, self._clock())

    def _ensure_reaper(self) -> None:
        """Start the reaper on this loop once there are leases (any call may be the first one)."""
        if not self.index.leases.live or self._closed or self.reap_interval is None:
            return
        loop = asyncio.get_running_loop()
        if self._reaper is None or self._reaper.done() or self._reaper.get_loop() is not loop:
            self._reaper = loop.create_task(self._reap_forever(), name="kv-lease-reaper")

    async def _reap_forever(self) -> None:
        """End leases as their deadlines pass, at most REAP_INTERVAL late, while any exist."""
        while not self._closed and self.index.leases.live:
            deadline = self.index.leases.next_deadline()
            interval = self.reap_interval or REAP_INTERVAL
            delay = interval if deadline is None else deadline - self._clock()
            await asyncio.sleep(min(max(delay, 0.0), interval))
            try:
                await self.expire_due()
            except KVError as exc:
                logger.warning("leases could not be expired (%s); retrying in %.0f s", exc, REAP_RETRY)
                self.index.leases.requeue_due(self._clock())
                await asyncio.sleep(REAP_RETRY)

    # --- the group commit -------------------------------------------------------------------

    async def _submit(self, kind: type[Unit], **fields: Any) -> Any:
        """Add a unit to the next batch, wake the committer, and wait for its answer."""
        if self._failure is not None:
            raise StoreUnavailable(f"the journal could not be written ({self._failure}); restart the server")
        if self._closed:
            raise StoreUnavailable("the store is shutting down")
        loop = asyncio.get_running_loop()
        unit = kind(loop.create_future(), **fields)
        self._pending.append(unit)
        self._ensure_committer(loop)
        self._wakeup.set()
        try:
            return await unit.future
        finally:
            self._ensure_reaper()  # a grant may have made the first lease

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

    async def _commit(self, batch: list[Unit]) -> None:
        """Plan, persist, apply, answer, publish: in that order (see the module docstring)."""
        now, records, outcomes = self._plan(batch)
        events: list[Event] = []
        if records:
            self._appending = True
            try:
                await self._io.run(self._journal.append_durably, journal.encode(now, records))
            except IOThreadStopped:
                # close() ran while this batch waited: it was never written, so it is refused
                # like any write that arrives after close, without a traceback per batch.
                outcomes = [StoreUnavailable("the store is shutting down")] * len(batch)
                records = []
            except StoreFull as exc:
                # The writer cut the file back to its durable end: the batch is gone, nothing changed.
                self._note_disk_full(exc)
                outcomes = [StoreFull(str(exc)) for _ in batch]
                records = []
            except OSError as exc:
                # After a failed fsync the file's state is unknown (fsyncgate): stop writing.
                logger.critical("journal write failed, refusing further writes: %s", exc)
                self._failure = exc
                outcomes = [StoreUnavailable(f"the journal could not be written ({exc})")] * len(batch)
                records = []
            else:
                self._note_disk_has_room()
            finally:
                self._appending = False
            for entries in records:
                for entry in entries:
                    self.index.apply(entry)
                    if isinstance(entry, Event):
                        events.append(entry)
        for unit, outcome in zip(batch, outcomes, strict=True):
            if unit.future.done():
                continue  # the caller went away; its write still happened
            if isinstance(outcome, BaseException):
                unit.future.set_exception(outcome)
            else:
                unit.future.set_result(outcome)
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

    def _plan(self, batch: list[Unit]) -> tuple[float, list[list[Entry]], list[Any]]:
        """The batch's commit time, each unit's journal entries (one record per unit that
        wrote) and what each unit is answered."""
        now = self._wall_clock()
        overlay = Overlay(self.index, None, now, self.max_leases)
        records: list[list[Entry]] = []
        outcomes: list[Any] = []
        for unit in batch:
            scratch, start = (overlay, len(overlay.entries)) if unit.fails_before_writing else (overlay.child(), 0)
            try:
                outcome = unit.plan(scratch)
            except KVError as exc:
                outcomes.append(exc)
                continue
            entries = scratch.entries[start:]
            if scratch is not overlay:
                overlay.adopt(scratch)
            if entries:
                records.append(entries)
            outcomes.append(outcome)
        return now, records, outcomes

    # --- backup and restore -----------------------------------------------------------------

    async def restore(
        self, pairs: Iterable[Pair], revision: int, lease_ttls: Mapping[int, int], lease_seq: int = 0
    ) -> int:
        """Write ``pairs`` as the snapshot, atomically, while this process holds the lock.

        The store is empty, so its journal is too: the snapshot alone is the whole new state.
        A bad pair stops the import before the snapshot is written, so nothing is loaded.
        Leases come back as a restart brings them: their ids and TTLs, deadlines from now.
        """
        table = {pair.key: _entry(pair) for pair in pairs}
        if len(lease_ttls) > self.max_leases:
            raise TooManyLeases(f"the export has {len(lease_ttls)} leases, over this store's limit (KV_MAX_LEASES)")
        top = max([revision, *(entry[1] for entry in table.values())])
        lease_seq = max([self.index.leases.granted, lease_seq, *lease_ttls])
        state = snapshot.SnapshotState(top, table, [], leases=dict(lease_ttls), lease_seq=lease_seq)
        self._snapshot_bytes = await self._io.run(snapshot.dump, self.path, state)  # data-file writes: one thread
        self.index = MemoryIndex(state, self.history_size, self._clock)
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


def _replay(index: MemoryIndex, entries: list[Entry], path: Path) -> int:
    """Apply a journaled record at start; how many of its entries were new.

    Events the snapshot already holds (a fold cut short leaves its journal behind) are
    skipped by revision; lease grants and ends are the same whether applied once or twice.
    A gap in the revisions is damage, not a bug to crash on.
    """
    applied = 0
    for entry in entries:
        if isinstance(entry, Event) and entry.revision <= index.revision:
            continue
        try:
            index.apply(entry)
        except ValueError:
            raise CorruptStore(
                f"journal {path} continues at revision {entry.revision} but the store is at revision "
                f"{index.revision}: writes in between are missing; refusing to start rather than lose them"
            ) from None
        applied += 1
    return applied


def _report_fold_failure(folding: Future) -> None:
    """Called (in the fold thread) when a background fold ends: log a failure; the journal is kept."""
    if folding.cancelled() or folding.exception() is None:
        return
    logger.error(
        "could not write the snapshot (%s); the journal is kept and folding will be retried", folding.exception()
    )


def _fail(batch: list[Unit], error: BaseException) -> None:
    """Answer every still-waiting unit in ``batch`` with ``error``."""
    for unit in batch:
        if not unit.future.done():
            unit.future.set_exception(error)


def _entry(pair: Pair) -> tuple:
    """A pair as the snapshot keeps it: its lease only when it has one."""
    if pair.lease:
        return (pair.value, pair.revision, pair.created, pair.lease)
    return (pair.value, pair.revision, pair.created)
