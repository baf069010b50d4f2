"""Small durable-file primitives: fsync a directory, write a file atomically or aside, lock a file."""

from __future__ import annotations

import contextlib
import errno
import fcntl
import itertools
import os
from pathlib import Path

from kvapp.store.errors import StoreLocked


def fsync_directory(directory: Path) -> None:
    """Make a create/rename/unlink in ``directory`` survive a power cut."""
    fd = os.open(directory, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


DISK_FULL = frozenset({errno.ENOSPC, errno.EDQUOT})  # no room, or no quota left: space may come back


def is_disk_full(exc: OSError) -> bool:
    """The write failed for lack of space (a condition that passes), not because the disk failed."""
    return exc.errno in DISK_FULL


def temp_path(path: Path) -> Path:
    """Where :func:`write_atomically` writes ``path``'s new contents before the rename."""
    return path.with_name(path.name + ".tmp")


def write_atomically(path: Path, data: bytes) -> None:
    """Replace ``path`` with ``data`` so a crash leaves the old file or the new, never half.

    A failed write (a full disk, most likely) removes the temp file: left behind, it would
    hold on to the very space the next attempt needs.
    """
    tmp = temp_path(path)
    fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        _write_and_close(fd, data)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    fsync_directory(path.parent)


def write_aside(path: Path, data: bytes) -> Path:
    """Write ``data`` durably to ``<path>.<n>.broken``, a name no earlier call used; returns it.

    Called before bytes are cut off a file, so what was dropped can still be looked at.
    O_EXCL makes the name new even if another process picks numbers at the same time.
    """
    for number in itertools.count(1):
        target = path.with_name(f"{path.name}.{number}.broken")
        try:
            fd = os.open(target, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        except FileExistsError:
            continue
        break
    try:
        _write_and_close(fd, data)
        fsync_directory(path.parent)
    except BaseException:
        target.unlink(missing_ok=True)
        raise
    return target


def _write_and_close(fd: int, data: bytes) -> None:
    """Write ``data`` to a new file's descriptor, fsync it, and close it whatever happens."""
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)


def write_all(fd: int, data: bytes | memoryview) -> None:
    """os.write until every byte is written (it may write less than asked)."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


class FileLock:
    """An exclusive, non-blocking flock held for the life of the process.

    flock is released by the kernel when the process dies, even by kill -9, so a crashed
    server never leaves a stale lock behind (unlike a pid file).
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self._fd: int | None = None

    def acquire(self, owner: Path) -> None:
        """Take the lock or raise StoreLocked naming the data file."""
        fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o600)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StoreLocked(
                f"another kvstore server is already using {owner} (lock {self.path} is held); "
                "stop it first, or point KV_DATA at another file"
            ) from None
        # The pid is only a hint for operators: a full disk must not stop the start over it.
        with contextlib.suppress(OSError):
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        self._fd = fd

    def release(self) -> None:
        """Drop the lock (also happens implicitly at process exit)."""
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None
