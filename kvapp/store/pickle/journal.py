"""The append-only journal of events beside the snapshot: reading it at start, appending to it.

Each committed batch is one ``write`` + ``fdatasync`` of framed records (``records``); the
batch's callers are answered only after that returns, which is what makes a 200 durable.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

from kvapp.store.base import Event
from kvapp.store.errors import CorruptStore, StoreUnavailable
from kvapp.store.pickle import records, safe_pickle
from kvapp.store.pickle.files import fsync_directory, write_all, write_aside

logger = logging.getLogger(__name__)


def encode(events: list[Event]) -> bytes:
    """Frame each event as a pickled plain tuple (no classes, so the safe loader reads it)."""
    return b"".join(records.frame(pickle.dumps(tuple(event), protocol=5)) for event in events)


def read(path: Path, *, is_last: bool) -> list[Event]:
    """Events in ``path``; a torn tail is set aside and cut off (only in the last journal), damage refused."""
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
    events = [_decode(payload, path) for payload in scan.payloads]  # a bad record refuses before anything is cut
    if scan.torn:
        _set_aside_torn_tail(path, data, scan.good_end)
    return events


def is_legacy(path: Path) -> bool:
    """Whether ``path`` holds format-1 records, which are replayed but never appended to."""
    try:
        with path.open("rb") as handle:
            start = handle.read(len(records.FILE_HEADER))
    except FileNotFoundError:
        return False
    return bool(start) and start != records.FILE_HEADER


def _decode(payload: bytes, path: Path) -> Event:
    """One payload back into an Event, refusing anything that is not the expected tuple."""
    try:
        fields = safe_pickle.loads(payload)
        return Event(*fields)
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
        raise StoreUnavailable(
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
    """An open journal file taking durable appends; a new one starts with the file header."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size  # recovery left it holding only good records
        if self.size == 0:
            write_all(self._fd, records.FILE_HEADER)
            os.fsync(self._fd)
            fsync_directory(path.parent)
            self.size = len(records.FILE_HEADER)

    @property
    def has_records(self) -> bool:
        """Whether anything but the file header was ever appended (something to fold)."""
        return self.size > len(records.FILE_HEADER)

    def append_durably(self, data: bytes) -> None:
        """Append and fdatasync; runs in the store's I/O thread, never on the event loop."""
        write_all(self._fd, data)
        os.fdatasync(self._fd)
        self.size += len(data)

    def close(self) -> None:
        """Close the file descriptor."""
        if self._fd >= 0:
            os.close(self._fd)
            self._fd = -1
