"""The process-wide store: chosen by settings, opened once at start, shared by views and consumers.

The store is told where its events go (``set_publisher``) rather than importing the watch:
``kvapp.apps`` connects the broadcaster once at start, so the engine knows no Channels.
"""

from __future__ import annotations

from kvapp.conf import kv_settings
from kvapp.store import Store, uses_redis
from kvapp.store.base import Publisher

_store: Store | None = None
_publisher: Publisher | None = None


def open_store(backend: str | None = None, data: str | None = None) -> Store:
    """Build a backend; raises StoreLocked/CorruptStore so start-up can report them.

    ``backend`` is "pickle" (or "") for the file at ``data``, else a Redis URL; either left
    out (None) is taken from the settings, as the server takes both.
    """
    settings = kv_settings()
    backend = settings.backend if backend is None else backend
    if uses_redis(backend):
        from kvapp.store.redis.store import RedisStore

        return RedisStore(backend, history=settings.history, max_leases=settings.max_leases)
    from kvapp.store.pickle.store import PickleStore

    return PickleStore(
        data or settings.data,
        history=settings.history,
        journal_max_bytes=settings.journal_max_bytes,
        max_leases=settings.max_leases,
    )


def get_store() -> Store:
    """The shared store, opened on first use (the ASGI entry point opens it eagerly)."""
    if _store is None:
        set_store(open_store())
    assert _store is not None
    return _store


def set_store(store: Store | None) -> None:
    """Install ``store`` as the shared one (start-up and tests), publishing to the current publisher."""
    global _store
    _store = store
    if store is not None:
        store.set_publisher(_publisher)


def set_publisher(publisher: Publisher | None) -> None:
    """Called once at start (``kvapp.apps``): where every store installed from now on sends its events."""
    global _publisher
    _publisher = publisher
    if _store is not None:
        _store.set_publisher(publisher)
