"""The process-wide store: chosen by settings, opened once at start, shared by views and consumers."""

from __future__ import annotations

from kvapp.conf import kv_settings
from kvapp.store.base import Event, Page, Pair, Stats, Store

__all__ = ["PICKLE", "Event", "Page", "Pair", "Stats", "Store", "get_store", "open_store", "set_store", "uses_redis"]

PICKLE = "pickle"  # the backend name that selects the pickle file explicitly


def uses_redis(backend: str) -> bool:
    """KV_BACKEND names Redis (a URL); unset or "pickle" means the file (settings.py says so too)."""
    return backend not in ("", PICKLE)


_store: Store | None = None


def open_store(backend: str | None = None, data: str | None = None) -> Store:
    """Build a backend; raises StoreLocked/CorruptStore so start-up can report them.

    ``backend`` is "pickle" (or "") for the file at ``data``, else a Redis URL; either left
    out (None) is taken from the settings, as the server takes both.
    """
    settings = kv_settings()
    backend = settings.backend if backend is None else backend
    if uses_redis(backend):
        from kvapp.store.redis_store import RedisStore

        return RedisStore(backend, history=settings.history)
    from kvapp.store.pickle_store import PickleStore

    return PickleStore(data or settings.data, history=settings.history, journal_max_bytes=settings.journal_max_bytes)


def get_store() -> Store:
    """The shared store, opened on first use (the ASGI entry point opens it eagerly)."""
    global _store
    if _store is None:
        set_store(open_store())
    assert _store is not None
    return _store


def set_store(store: Store | None) -> None:
    """Install ``store`` as the shared one (start-up and tests) and wire it to the broadcaster."""
    global _store
    _store = store
    if store is not None:
        from kvapp.broadcast import publish_events

        store.set_publisher(publish_events)
