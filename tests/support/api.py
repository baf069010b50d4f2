"""What the JSON API tests share: a PUT helper, a pickle store's whole state, a fake clock."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from django.test import AsyncClient

from kvapp.backend import set_store
from kvapp.store.pickle.store import PickleStore

JSON = "application/json"


async def put(client: AsyncClient, key: str, body: Any, **extra: Any) -> Any:
    """``PUT /api/v1/kv/<key>`` with a JSON body."""
    return await client.put(f"/api/v1/kv/{key}", data=body, content_type=JSON, **extra)


def state(store: PickleStore) -> tuple[int, dict, dict]:
    """Everything a refused request must leave untouched: revision, pairs and leases."""
    return store.index.revision, dict(store.index.pairs), store.index.leases.ttls()


class FakeClock:
    """A monotonic clock a test moves by hand, for a store whose leases expire on demand."""

    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


@contextmanager
def installed_store(path: Path, **options: Any) -> Iterator[PickleStore]:
    """A pickle store at ``path`` with ``options`` (history, max_leases, clock...), installed as
    the process-wide store while the block runs."""
    opened = PickleStore(path, **options)
    set_store(opened)
    try:
        yield opened
    finally:
        set_store(None)
        opened.close()
