"""One store revision read per interval for the whole process, however many watchers ask.

Each watcher checks once a second whether the store moved on without telling it. With the
Redis backend every check is a round trip, so ten thousand watchers would make ten thousand
reads a second; sharing one recent answer (and one read in flight) makes it one.
"""

from __future__ import annotations

import asyncio
import time

from kvapp.backend import get_store

FRESH_FOR = 0.5  # seconds an answer is reused; below the watchers' 1 s sync interval


class RevisionPoll:
    """A single-flight, short-lived cache of ``store.revision()``."""

    def __init__(self) -> None:
        self._value = 0
        self._read_at = float("-inf")
        self._inflight: asyncio.Future[int] | None = None

    async def latest(self) -> int:
        """The store's revision as of at most FRESH_FOR seconds ago."""
        if time.monotonic() - self._read_at < FRESH_FOR:
            return self._value
        if self._inflight is None or self._inflight.get_loop() is not asyncio.get_running_loop():
            self._inflight = asyncio.ensure_future(self._read())
        return await asyncio.shield(self._inflight)

    async def _read(self) -> int:
        """Read the revision once; errors reach every waiter, and nothing stale is cached."""
        try:
            self._value = await get_store().revision()
            self._read_at = time.monotonic()
            return self._value
        finally:
            self._inflight = None


revision_poll = RevisionPoll()
