"""The append-only journal of events beside the snapshot.

Each committed batch is one ``write`` + ``fdatasync`` of framed records; the batch's
callers are answered only after that returns, which is what makes a 200 durable.
"""

from __future__ import annotations

import logging
import os
import pickle
from pathlib import Path

from kvapp.store.errors import CorruptStore
from kvapp.store.pickle import entries, records, safe_pickle
from kvapp.store.pickle.entries import Entry, Record
from kvapp.store.pickle.files import fsync_directory, write_all

logger = logging.getLogger(__name__)


def encode(time: float, units: list[list[Entry]]) -> bytes:
    """One framed record per unit, each its entries and the commit time as plain tuples
    (no classes, so the safe loader reads them; ``kvapp.store.pickle.entries``)."""
    return b"".join(records.frame(pickle.dumps(entries.payload(time, unit), protocol=5)) for unit in units)


def read(path: Path, *, is_last: bool) -> list[Record]:
    """Events in ``path``; a torn tail is cut off (only in the last journal), damage refused."""
    try:
        data = path.read_bytes()
    except FileNotFoundError:
        return []
    scan = records.scan(data)
    if scan.damaged_at is not None or (scan.torn and not is_last):
        raise CorruptStore(
            f"journal {path} is damaged at byte {scan.good_end} of {len(data)}; refusing to "
            "start rather than lose data silently. Restore from a backup, or truncate the "
            f"file to {scan.good_end} bytes to keep everything before the damage"
        )
    if scan.torn:
        logger.warning(
            "journal %s ends with an unfinished record (%d bytes, a crash mid-write); "
            "dropping it: it was never acknowledged",
            path,
            len(data) - scan.good_end,
        )
        _truncate(path, scan.good_end)
    return [_decode(payload, path) for payload in scan.payloads]


def _decode(payload: bytes, path: Path) -> Record:
    """One payload back into a Record, refusing anything that is not the expected tuples."""
    try:
        return entries.from_payload(safe_pickle.loads(payload))
    except (pickle.UnpicklingError, TypeError, ValueError, EOFError) as exc:
        raise CorruptStore(f"journal {path} holds a record that is not a kvstore event: {exc}") from None


def _truncate(path: Path, size: int) -> None:
    """Cut a torn tail off so new records are not appended after garbage."""
    fd = os.open(path, os.O_WRONLY)
    try:
        os.ftruncate(fd, size)
        os.fsync(fd)
    finally:
        os.close(fd)


class JournalWriter:
    """An open journal file taking durable appends."""

    def __init__(self, path: Path) -> None:
        self.path = path
        existed = path.exists()
        self._fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
        self.size = os.fstat(self._fd).st_size
        if not existed:
            fsync_directory(path.parent)

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
