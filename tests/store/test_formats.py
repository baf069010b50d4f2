"""Data written by earlier versions loads unchanged and keeps working (``tests/fixtures``)."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

from kvapp.store.base import Pair
from kvapp.store.pickle.store import PickleStore

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
