"""The append-only journal of events beside the snapshot: reading it at start, appending to it.

Each committed batch is one ``write`` + ``fdatasync`` of framed records (``records``); the
batch's callers are answered only after that returns, which is what makes a 200 durable.

**When an append fails.** The writer knows ``size``, the offset up to which every byte was
written and fdatasynced successfully. After a failed ``fdatasync`` nothing past it can be
trusted: Linux may have dropped the dirty pages and marked them clean, so the page cache
can show bytes the disk never got, and a retried fsync reports success (PostgreSQL's
"fsyncgate", 2018). Retrying the fsync, or re-reading the file to see what landed, would
both trust that cache. So the writer never does either:

- A full disk (ENOSPC, EDQUOT) is a condition that passes. The writer closes its file,
  reopens it, truncates it to ``size`` and fsyncs, so the failed batch is gone from the
  file before its callers hear of it; the batch is refused with ``StoreFull`` (HTTP 507)
  and the index never sees it. Later batches are framed anew from the process's own copy
  of their events and appended at ``size``: the first that finds room succeeds, with no
  restart. Everything before ``size`` was fsynced before the failure, so nothing
  acknowledged depends on the pages that failed.
- Any other failure (EIO, ...) means the disk itself may be failing. The error propagates
  and the store refuses every later write (503) until a restart, which replays the journal
  from what the disk really holds. So does a failure of the truncation itself.

Rejected: retrying the fsync (it can "succeed" after the data was dropped); keeping the
failed bytes and overwriting them with ``pwrite`` (the same trust in the page cache);
probing free space with ``statvfs`` before each batch (a race, and a syscall per write for
a rare event). A batch is simply attempted: a disk that has room again takes it.
"""

from __future__ import annotations

import contextlib
import logging
import os
import pickle
from pathlib import Path

from kvapp.store.errors import CorruptStore, StoreFull, StoreUnavailable
from kvapp.store.pickle import entries, records, safe_pickle
from kvapp.store.pickle.entries import Entry, Record
from kvapp.store.pickle.files import fsync_directory, is_disk_full, write_all, write_aside

logger = logging.getLogger(__name__)


def encode(time: float, units: list[list[Entry]]) -> bytes:
    """One framed record per unit, each its entries and the commit time as plain tuples
    (no classes, so the safe loader reads them; ``kvapp.store.pickle.entries``)."""
    return b"".join(records.frame(pickle.dumps(entries.payload(time, unit), protocol=5)) for unit in units)


def read(path: Path, *, is_last: bool) -> list[Record]:
    """The records in ``path``; a torn tail is set aside and cut off (only in the last journal),
    damage refused."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    scan = records.scan(data)
    if scan.damaged_at is not None:
        raise CorruptStore(
            f"journal {path} is damaged at byte {scan.damaged_at} of {len(data)} ({scan.damage}); refusing to "
            "start rather than lose data silently. Restore from a backup, or copy the file aside and truncate "
            f"it to {scan.damaged_at} bytes to keep everything before the damage and lose what follows"
        )
    if scan.torn and not is_last:
        raise CorruptStore(
            f"journal {path} ends with an unfinished record at byte {scan.good_end} of {len(data)}, yet a newer "
            "journal follows it, so it was not the last write; refusing to start. Restore from a backup, or copy "
            f"the file aside and truncate it to {scan.good_end} bytes"
        )
    found = [_decode(payload, path) for payload in scan.payloads]  # a bad record refuses before anything is cut
    if scan.torn:
        _set_aside_torn_tail(path, data, scan.good_end)
    return found


def is_legacy(path: Path) -> bool:
    """Whether ``path`` holds format-1 records, which are replayed but never appended to."""
    try:
        with path.open("rb") as handle:
            start = handle.read(len(records.FILE_HEADER))
    except FileNotFoundError:
        return False
    return bool(start) and start != records.FILE_HEADER


def _decode(payload: bytes, path: Path) -> Record:
    """One payload back into a Record, refusing anything that is not the expected tuples."""
    try:
        return entries.from_payload(safe_pickle.loads(payload))
    except (pickle.UnpicklingError, TypeError, ValueError, EOFError) as exc:
        raise CorruptStore(f"journal {path} holds a record that is not a kvstore event: {exc}") from None


def _set_aside_torn_tail(path: Path, data: bytes, good_end: int) -> None:
    """Copy the unfinished last record beside the journal, then cut it off so appends follow good data.

    If the copy cannot be made the start is refused: the bytes are never dropped unseen.
    """
    tail = data[good_end:]
    try:
        saved = write_aside(path, tail)
    except OSError as exc:
        refusal = StoreFull if is_disk_full(exc) else StoreUnavailable
        raise refusal(
            f"journal {path} ends with an unfinished record ({len(tail)} bytes at byte {good_end}), which must be "
            f"saved before it is cut off, and saving it failed ({exc}); free some space (or fix the directory's "
            "permissions) and start again"
        ) from None
    logger.warning(
        "journal %s ends with an unfinished record at byte %d (%d bytes, a crash mid-write: it was never "
        "acknowledged); saved it to %s and dropped it",
        path,
        good_end,
        len(tail),
        saved,
    )
    _truncate(path, good_end)


def _truncate(path: Path, size: int) -> None:
    """Cut a torn tail off so new records are not appended after garbage."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriter:
    """A journal file taking durable appends; see the module docstring for what a failure does.

    ``size`` is the durable end: every byte before it was written and fsynced. The file is
    opened by :meth:`open` (at start, after a rotation), or by the first append if a full
    disk stopped that.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = -1
        try:
            self.size = path.stat().st_size  # recovery left it holding only good records
        except FileNotFoundError:
            self.size = 0

    @property
    def has_records(self) -> bool:
        """Whether anything but the file header was ever appended (something to fold)."""
        return self.size > len(records.FILE_HEADER)

    def open(self) -> None:
        """Called at start and after a rotation: create or reopen the file now, unless the disk is full."""
        try:
            self._open_at_durable_end()
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            logger.warning("journal %s cannot be opened now (%s); the first write will try again", self.path, exc)

    def append_durably(self, data: bytes) -> None:
        """Append and fdatasync; runs in the store's I/O thread, never on the event loop.

        Raises StoreFull (nothing of ``data`` is left in the file) or, for any other
        failure, the OSError (the store stops writing).
        """
        if self._fd < 0:
            try:
                self._open_at_durable_end()
            except OSError as exc:
                if not is_disk_full(exc):
                    raise
                raise self._full(exc) from None
        try:
            write_all(self._fd, data)
            os.fdatasync(self._fd)
        except OSError as exc:
            if not is_disk_full(exc):
                raise
            self._cut_back()
            raise self._full(exc) from None
        self.size += len(data)

    def close(self) -> None:
        """Close the file descriptor."""
        if self._fd >= 0:
            with contextlib.suppress(OSError):  # nothing unsynced is relied on; close errors mean nothing more
                os.close(self._fd)
            self._fd = -1

    def _full(self, exc: OSError) -> StoreFull:
        """The refusal a batch gets when the disk has no room for it."""
        return StoreFull(
            f"the disk is full: the journal {self.path} could not be written ({exc.strerror}), so nothing was "
            "changed; writes succeed again once space is freed"
        )

    def _cut_back(self) -> None:
        """After a failed append: a new descriptor, the file cut to ``size`` and fsynced (never the cache's word)."""
        self.close()
        self._open_at_durable_end()  # its failure propagates: the store stops writing

    def _open_at_durable_end(self) -> None:
        """Open the file and make it exactly ``size`` bytes (a new one gets its header), fsynced.

        The directory is fsynced whenever the header is written, not only when this call
        created the file: an earlier attempt may have created it and then failed.
        """
        fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        try:
            if os.fstat(fd).st_size < self.size:
                raise OSError(f"journal {self.path} is shorter than the {self.size} bytes already fsynced to it")
            os.ftruncate(fd, self.size)
            if self.size == 0:
                write_all(fd, records.FILE_HEADER)
            os.fsync(fd)
            if self.size == 0:
                fsync_directory(self.path.parent)
        except BaseException:
            if self.size == 0:  # leave no partial header behind
                with contextlib.suppress(OSError):
                    os.ftruncate(fd, 0)
            os.close(fd)
            raise
        self._fd = fd
        self.size = max(self.size, len(records.FILE_HEADER))
