"""The storage engine: a revisioned key-value store behind one interface, with two backends.

It knows nothing of HTTP, Django or Channels (``tests/test_architecture.py`` holds it to
that): callers pass in its limits and receive its events through a publisher callback.
"""

from __future__ import annotations

from kvapp.store.base import Event, Page, Pair, Stats, Store

__all__ = ["PICKLE", "Event", "Page", "Pair", "Stats", "Store", "uses_redis"]

PICKLE = "pickle"  # the backend name that selects the pickle file explicitly


def uses_redis(backend: str) -> bool:
    """KV_BACKEND names Redis (a URL); unset or "pickle" means the file."""
    return backend not in ("", PICKLE)
