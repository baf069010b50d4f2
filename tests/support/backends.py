"""Open, reopen and clean up stores of either backend, so one test body runs against both."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from kvapp.store.base import Store
from kvapp.store.pickle.store import PickleStore
from kvapp.store.redis.store import RedisStore
from tests.support.redis import RedisServer


@dataclass
class Backend:
    """One backend under test: a pickle file in ``directory`` or database ``db`` of ``redis``."""

    name: str
    directory: Path
    redis: RedisServer | None = None
    db: int = 0
    opened: list[Store] = field(default_factory=list)

    def wipe(self) -> Backend:
        """Start from an empty store (the pickle directory is fresh per test already)."""
        if self.redis is not None:
            with self.redis.client(self.db) as client:
                client.flushdb()
        return self

    def open(self, history: int = 10_000) -> Store:
        """A store on this backend's data; a pickle store must be closed before it is reopened."""
        if self.name == "pickle":
            store: Store = PickleStore(self.directory / "store.pickle", history=history)
        else:
            assert self.redis is not None
            store = RedisStore(self.redis.url(self.db), history=history)
        self.opened.append(store)
        return store

    async def reopen(self, store: Store, history: int = 10_000) -> Store:
        """Close ``store`` (as a server restart would) and open the same data again."""
        await store.aclose()
        return self.open(history)

    async def close_all(self) -> None:
        """Release every store this backend opened (fixture teardown)."""
        for store in self.opened:
            await store.aclose()
