"""Data written by earlier versions loads unchanged and keeps working (``tests/fixtures``)."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from kvapp.store.base import Pair
from kvapp.store.pickle.store import PickleStore
from kvapp.store.redis.store import RedisStore
from kvapp.store.txn import Compare, Op, Txn
from tests.support.redis import RedisServer

FIXTURES = Path(__file__).resolve().parents[1] / "fixtures"

# What the v1 fixture holds: its README has the script that wrote it.
V1_PAIRS = {
    "app/db/host": Pair("app/db/host", "db2.internal", 4, 1),
    "app/db/port": Pair("app/db/port", "6432", 12, 12),
    "app/name": Pair("app/name", "shop-v2", 9, 3),
    "empty": Pair("empty", "", 8, 8),
    "multi/line": Pair("multi/line", "first\nsecond\n", 11, 11),
    "unicode/ключ": Pair("unicode/ключ", "значение ✓", 7, 7),
}
V1_EVENT_TYPES = ["put", "put", "put", "put", "put", "delete", "put", "put", "put", "delete", "put", "put"]


@pytest.fixture
def v1_data(tmp_path: Path) -> Path:
    """A copy of the v1 data directory (opening a store may rewrite it)."""
    shutil.copytree(FIXTURES / "data-v1", tmp_path / "data")
    return tmp_path / "data" / "store.pickle"


async def _all_pairs(store: PickleStore) -> dict[str, Pair]:
    return {pair.key: pair for pair in (await store.list(limit=100)).items}


async def test_a_v1_snapshot_and_journal_load_unchanged(v1_data: Path) -> None:
    store = PickleStore(v1_data)
    try:
        assert await store.revision() == 12
        assert await _all_pairs(store) == V1_PAIRS
        events = await store.events_since(0)
        assert [event.revision for event in events] == list(range(1, 13))
        assert [event.type for event in events] == V1_EVENT_TYPES
        assert events[3].prev == "db1.internal" and events[5].prev == "soon"
    finally:
        await store.aclose()


async def test_a_v1_store_keeps_working_across_restarts(v1_data: Path) -> None:
    store = PickleStore(v1_data)
    pair, prev = await store.put("app/name", "shop-v3", if_revision=9)
    assert (pair.revision, pair.created, prev) == (13, 3, "shop-v2")
    await store.delete("empty")
    await store.aclose()
    reopened = PickleStore(v1_data)
    try:
        expected = {**V1_PAIRS, "app/name": Pair("app/name", "shop-v3", 13, 3)}
        del expected["empty"]
        assert await _all_pairs(reopened) == expected
        assert [event.revision for event in await reopened.events_since(0)] == list(range(1, 15))
    finally:
        await reopened.aclose()


async def test_reads_at_past_revisions_reach_into_v1_history(v1_data: Path) -> None:
    store = PickleStore(v1_data)
    try:
        assert await store.get("app/db/host", revision=3) == Pair("app/db/host", "db1.internal", 1, 1)
        assert await store.get("app/name", revision=8) == Pair("app/name", "shop", 3, 3)  # undoes a journal record
        assert await store.get("gone", revision=5) == Pair("gone", "soon", 5, 5)
        assert [pair.key for pair in (await store.list(revision=6)).items] == ["app/db/host", "app/db/port", "app/name"]
        assert [event.revision for event in (await store.history("app/db/port")).items] == [12, 10, 2]
        assert all(event.time is None for event in await store.events_since(0)), "v1 kept no times"
    finally:
        await store.aclose()


# --- a Redis store written by the code before leases, history and transactions --------------------

REDIS_V1_PAIRS = [
    Pair("app/db/host", "db2.internal", 3, 1),
    Pair("app/db/port", "5432", 2, 2),
    Pair("empty", "", 7, 7),
    Pair("unicode/ключ", "значение ✓", 6, 6),
]


@pytest.fixture
def redis_v1(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server started on a copy of the v1 ``dump.rdb`` (it loads the file at start)."""
    shutil.copytree(FIXTURES / "redis-v1", tmp_path / "redis")
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.mark.redis
async def test_a_redis_store_written_by_the_old_code_reads_and_keeps_working(redis_v1: RedisServer) -> None:
    store = RedisStore(redis_v1.url(0))
    try:
        assert (await store.list()).items == REDIS_V1_PAIRS
        assert await store.revision() == 7
        events = await store.events_since(0)
        assert [(event.revision, event.type, event.key) for event in events] == [
            (1, "put", "app/db/host"),
            (2, "put", "app/db/port"),
            (3, "put", "app/db/host"),
            (4, "put", "gone"),
            (5, "delete", "gone"),
            (6, "put", "unicode/ключ"),
            (7, "put", "empty"),
        ]
        assert events[2].prev == "db1.internal" and events[2].lease == 0
        pair, _ = await store.put("svc/a", "up", ttl=30)  # the new code's features on the old data
        assert (pair.revision, pair.lease) == (8, 1)
        result = await store.txn(
            Txn(compare=(Compare("app/db/host", "revision", "==", 3),), success=(Op("put", "app/db/host", "db3"),))
        )
        assert result.succeeded and result.revision == 9
        assert (await store.get("app/db/host", revision=8)).value == "db2.internal"
        assert [event.revision for event in (await store.history("app/db/host")).items] == [9]
        leased = Pair("svc/a", "up", 8, 8, 1)
        assert (await store.list(revision=8)).items == [*REDIS_V1_PAIRS[:3], leased, REDIS_V1_PAIRS[3]]
    finally:
        await store.aclose()
