"""Open, reopen and clean up stores of either backend, so one test body runs against both."""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from pathlib import Path

from kvapp.store.base import Store
from kvapp.store.pickle.store import PickleStore
from kvapp.store.redis.store import RedisStore
from tests.support.redis import RedisServer


class FakeClock:
    """A monotonic clock the test moves by hand (the pickle store's lease deadlines)."""

    def __init__(self, now: float = 1_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


@dataclass
class Backend:
    """One backend under test: a pickle file in ``directory`` or database ``db`` of ``redis``."""

    name: str
    directory: Path
    redis: RedisServer | None = None
    db: int = 0
    opened: list[Store] = field(default_factory=list)
    clock: FakeClock = field(default_factory=FakeClock)

    def wipe(self) -> Backend:
        """Start from an empty store (the pickle directory is fresh per test already)."""
        if self.redis is not None:
            with self.redis.client(self.db) as client:
                client.flushdb()
        return self

    def open(self, history: int = 10_000, max_leases: int = 100_000) -> Store:
        """A store on this backend's data; a pickle store must be closed before it is reopened."""
        if self.name == "pickle":
            path = self.directory / "store.pickle"
            # No reaper: with a fake clock the test drives expiry itself (``expire_due``).
            store: Store = PickleStore(
                path, history=history, max_leases=max_leases, clock=self.clock, reap_interval=None
            )
        else:
            assert self.redis is not None
            # No reaper either: the test's own expire_due() must be the call that ends a lease.
            store = RedisStore(self.redis.url(self.db), history=history, max_leases=max_leases, reap_interval=None)
        self.opened.append(store)
        return store

    async def reopen(self, store: Store, history: int = 10_000) -> Store:
        """Close ``store`` (as a server restart would) and open the same data again."""
        await store.aclose()
        return self.open(history)

    async def advance(self, seconds: float) -> None:
        """Let ``seconds`` pass for lease deadlines: the fake clock for pickle, real time for
        Redis (whose scripts read Redis's own clock)."""
        if self.name == "pickle":
            self.clock.now += seconds
        else:
            await asyncio.sleep(seconds)

    async def close_all(self) -> None:
        """Release every store this backend opened (fixture teardown)."""
        for store in self.opened:
            await store.aclose()
