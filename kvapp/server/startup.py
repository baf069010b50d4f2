"""What a server process does once at start: open the store (failures told in one clear line), tune the collector."""

from __future__ import annotations

import errno
import gc
from pathlib import Path

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.server.exposure import warn_if_exposed
from kvapp.server.refusal import cannot_start
from kvapp.store.errors import CorruptStore, StoreLocked, StoreUnavailable

YOUNG_COLLECTION_THRESHOLD = 50_000  # net new container objects between young collections


def open_store_or_exit() -> None:
    """Open the configured store now, so a locked, damaged or unwritable store stops the start, not a request."""
    settings = kv_settings()
    warn_if_exposed(settings.token)
    try:
        get_store()
    except (StoreLocked, CorruptStore, StoreUnavailable) as exc:
        cannot_start(str(exc))
    except OSError as exc:  # the pickle store's files: the lock, the snapshot, the journal
        cannot_start(unusable_data_file(Path(settings.data), exc))


def unusable_data_file(data: Path, exc: OSError) -> str:
    """What to tell the operator when the data file or its directory cannot be opened or written.

    A missing directory is not created: it is far more often a typo in KV_DATA or a volume
    that is not mounted than a wish for a new, empty store, and starting one would hand out
    revisions clients have already seen.
    """
    directory = data.absolute().parent
    where = f"(KV_DATA={data})"
    if exc.errno == errno.ENOENT and not directory.exists():
        return f"the data directory {directory} does not exist {where}; create it, or mount its volume"
    if exc.errno == errno.ENOTDIR:
        blocker = next((path for path in (directory, *directory.parents) if path.exists()), directory)
        if blocker == directory:
            return f"the data directory {directory} is a file, not a directory {where}"
        return f"the data directory {directory} cannot exist: {blocker} is a file, not a directory {where}"
    if exc.errno == errno.EROFS:
        return f"the data directory {directory} is on a read-only file system {where}"
    if exc.errno in (errno.EACCES, errno.EPERM):
        return f"no permission to use {exc.filename or directory} {where}; let this user write {directory}"
    return f"cannot use {exc.filename or data}: {exc.strerror or exc} {where}"


def freeze_startup_objects() -> None:
    """Take what start-up loaded (Django, the apps, the store's index) out of the collector's sight.

    Those objects live as long as the process, yet every full collection walks them all:
    a pause of tens of milliseconds for every request and watcher in flight, which was the tail of the
    watch latency under daphne. Start-up garbage is collected first, so none is kept.
    """
    gc.collect()
    gc.freeze()


def relax_young_collections() -> None:
    """Collect the young generation every 50,000 net allocations instead of Python's 700.

    Writes wait for their group commit with their request, frames and futures alive: 32
    writers in flight hold more than 700 young objects, so the default threshold ran a young
    collection every few writes, and each walked every request in flight and promoted it
    to be walked again. Measured with perf under wrk (32 connections, uvicorn): the
    collector's share of a PUT went from 2.3% to 0.3%. Objects that die young are freed by
    reference counting anyway; only cycles wait longer, and 50,000 of them is a few MB.
    """
    _, middle, oldest = gc.get_threshold()
    gc.set_threshold(YOUNG_COLLECTION_THRESHOLD, middle, oldest)
