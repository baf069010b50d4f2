"""Fixtures of the store tests: each backend in turn, and a publisher that records."""

from __future__ import annotations

from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from kvapp.store.base import Event, Store
from tests.support.backends import Backend

SMALL_HISTORY = 5  # events retained by ``any_store``, so compaction is reached in a few writes


@pytest.fixture(params=["pickle", pytest.param("redis", marks=pytest.mark.redis)])
async def backend(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Backend]:
    """Each backend in turn, empty; Redis ones share the session's redis-server (flushed)."""
    redis = request.getfixturevalue("redis_server") if request.param == "redis" else None
    under_test = Backend(request.param, tmp_path, redis).wipe()
    yield under_test
    await under_test.close_all()


@pytest.fixture
def any_store(backend: Backend) -> Store:
    """A fresh, empty store of each backend, keeping only SMALL_HISTORY events."""
    return backend.open(history=SMALL_HISTORY)


class Recorder:
    """A publisher that remembers every batch it was given."""

    def __init__(self) -> None:
        self.batches: list[list[Event]] = []

    async def __call__(self, events: Sequence[Event]) -> None:
        self.batches.append(list(events))

    @property
    def events(self) -> list[Event]:
        return [event for batch in self.batches for event in batch]
