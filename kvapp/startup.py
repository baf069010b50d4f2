"""Opening the store when a server process starts, with failures told in one clear line."""

from __future__ import annotations

import gc
import sys

from kvapp.conf import kv_settings
from kvapp.errors import CorruptStore, StoreLocked, StoreUnavailable
from kvapp.listen_check import warn_if_exposed
from kvapp.store import get_store

EXIT_STORE_UNUSABLE = 2  # not 3: runserver's reloader treats 3 as "restart me"


def open_store_or_exit() -> None:
    """Open the configured store now, so a locked or damaged file stops the start, not a request."""
    warn_if_exposed(kv_settings().token)
    try:
        get_store()
    except (StoreLocked, CorruptStore, StoreUnavailable) as exc:
        print(f"kvstore: cannot start: {exc}", file=sys.stderr, flush=True)
        raise SystemExit(EXIT_STORE_UNUSABLE) from None
    freeze_startup_objects()


def freeze_startup_objects() -> None:
    """Take what start-up loaded (Django, the apps, the store's index) out of the collector's sight.

    Those objects live as long as the process, yet every full collection walks them all:
    a 30-60 ms pause for every request and watcher in flight, which was the tail of the
    watch latency under daphne. Start-up garbage is collected first, so none is kept.
    """
    gc.collect()
    gc.freeze()
