"""Opening the store when a server process starts, with failures told in one clear line."""

from __future__ import annotations

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
