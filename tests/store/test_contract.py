"""The Store interface's behaviour, run unchanged against every backend (pickle and Redis).

One parametrized suite rather than a copy per backend: a behaviour one backend has and the
other lacks fails here by name.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from unittest.mock import ANY

import pytest

from kvapp.store.base import Event, Pair, Store
from kvapp.store.errors import Compacted, KeyNotFound, RevisionConflict
from tests.store.conftest import SMALL_HISTORY, Recorder
from tests.support.backends import Backend

# --- get / put / delete -------------------------------------------------------------------


async def test_get_of_an_absent_key_raises_key_not_found(any_store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await any_store.get("missing")


async def test_put_creates_a_pair_at_the_next_revision(any_store: Store) -> None:
    pair, prev = await any_store.put("app/db/host", "db1")
    assert (pair, prev) == (Pair("app/db/host", "db1", 1, 1), None)
    assert await any_store.get("app/db/host") == pair


async def test_overwrite_keeps_created_raises_revision_and_returns_the_previous_value(any_store: Store) -> None:
    await any_store.put("other", "x")
    await any_store.put("k", "one")
    pair, prev = await any_store.put("k", "two")
    assert (pair, prev) == (Pair("k", "two", 3, 2), "one")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("empty", ""),
        ("colons:in:key", "1:2:3"),
        ("multi/line", "first\nsecond\r\n\ttab"),
        ("ünïcödé/日本", "snow ☃ and emoji 🎉"),
        ("json-ish", '{"a": [1, null], "b": "\\u0000"}'),
    ],
)
async def test_values_come_back_exactly_as_written(any_store: Store, key: str, value: str) -> None:
    await any_store.put(key, value)
    assert (await any_store.get(key)).value == value
    assert (await any_store.list()).items[0].value == value


async def test_delete_returns_its_revision_and_the_removed_value(any_store: Store) -> None:
    await any_store.put("k", "v")
    assert await any_store.delete("k") == (2, "v")
    with pytest.raises(KeyNotFound):
        await any_store.get("k")
    assert (await any_store.stats()).keys == 0


async def test_deleting_an_absent_key_raises_and_takes_no_revision(any_store: Store) -> None:
    await any_store.put("k", "v")
    with pytest.raises(KeyNotFound):
        await any_store.delete("absent")
    assert await any_store.revision() == 1


async def test_a_key_created_again_after_delete_has_a_new_created_revision(any_store: Store) -> None:
    await any_store.put("k", "v1")
    await any_store.delete("k")
    pair, prev = await any_store.put("k", "v2")
    assert (pair, prev) == (Pair("k", "v2", 3, 3), None)


# --- compare-and-swap -----------------------------------------------------------------------


async def test_put_with_the_current_revision_writes(any_store: Store) -> None:
    await any_store.put("k", "v1")
    pair, prev = await any_store.put("k", "v2", if_revision=1)
    assert (pair.value, pair.revision, prev) == ("v2", 2, "v1")


async def test_put_with_a_stale_revision_conflicts_with_the_current_pair_and_changes_nothing(any_store: Store) -> None:
    await any_store.put("k", "v1")
    await any_store.put("k", "v2")
    with pytest.raises(RevisionConflict) as caught:
        await any_store.put("k", "lost update", if_revision=1)
    assert caught.value.current == {"key": "k", "value": "v2", "revision": 2, "created": 1}
    assert (await any_store.get("k")).value == "v2"
    assert await any_store.revision() == 2


async def test_if_revision_zero_creates_only_when_absent(any_store: Store) -> None:
    pair, _ = await any_store.put("k", "first", if_revision=0)
    assert pair.revision == 1
    with pytest.raises(RevisionConflict) as caught:
        await any_store.put("k", "second", if_revision=0)
    assert caught.value.current == pair.as_dict()


async def test_cas_on_an_absent_key_conflicts_with_no_current_pair(any_store: Store) -> None:
    with pytest.raises(RevisionConflict) as caught:
        await any_store.put("absent", "v", if_revision=4)
    assert caught.value.current is None
    assert await any_store.revision() == 0


async def test_delete_with_a_stale_revision_conflicts_and_keeps_the_pair(any_store: Store) -> None:
    await any_store.put("k", "v1")
    await any_store.put("k", "v2")
    with pytest.raises(RevisionConflict) as caught:
        await any_store.delete("k", if_revision=1)
    assert caught.value.current == {"key": "k", "value": "v2", "revision": 2, "created": 1}
    assert await any_store.delete("k", if_revision=2) == (3, "v2")


async def test_delete_if_absent_of_an_absent_key_is_not_found(any_store: Store) -> None:
    with pytest.raises(KeyNotFound):
        await any_store.delete("absent", if_revision=0)


async def test_concurrent_creates_of_one_key_let_exactly_one_win(any_store: Store) -> None:
    results = await asyncio.gather(
        *(any_store.put("lock", f"owner-{n}", if_revision=0) for n in range(10)), return_exceptions=True
    )
    winners = [result for result in results if not isinstance(result, BaseException)]
    assert len(winners) == 1
    assert all(isinstance(result, RevisionConflict) for result in results if result not in winners)
    assert await any_store.revision() == 1


# --- listing --------------------------------------------------------------------------------

KEYS = ["a", "a/b", "a/c", "a0", "ab", "b", "z", "é", "日本"]  # code point (= UTF-8 byte) order


async def put_all(store: Store, keys: Sequence[str]) -> None:
    """Write ``keys`` (value = key) in reverse order, so sorting is the store's doing."""
    for key in reversed(keys):
        await store.put(key, key)


async def test_list_returns_every_pair_sorted_by_key_with_the_revision(any_store: Store) -> None:
    await put_all(any_store, KEYS)
    page = await any_store.list()
    assert [pair.key for pair in page.items] == KEYS
    assert page.items[0] == Pair("a", "a", len(KEYS), len(KEYS))
    assert (page.revision, page.next) == (len(KEYS), None)


@pytest.mark.parametrize(
    ("prefix", "after", "expected"),
    [
        ("a", None, ["a", "a/b", "a/c", "a0", "ab"]),
        ("a/", None, ["a/b", "a/c"]),
        ("a/", "a/b", ["a/c"]),
        ("a", "0", ["a", "a/b", "a/c", "a0", "ab"]),  # after sorts before the prefix
        ("a", "a0", ["ab"]),
        ("a", "b", []),  # after sorts past the prefix
        ("", "b", ["z", "é", "日本"]),
        ("é", None, ["é"]),
        ("nothing", None, []),
    ],
)
async def test_list_filters_by_prefix_and_continues_strictly_after(
    any_store: Store, prefix: str, after: str | None, expected: list[str]
) -> None:
    await put_all(any_store, KEYS)
    page = await any_store.list(prefix=prefix, after=after)
    assert [pair.key for pair in page.items] == expected
    assert page.next is None


async def test_paging_with_next_visits_every_key_once(any_store: Store) -> None:
    await put_all(any_store, KEYS)
    seen: list[str] = []
    pages = 0
    after = None
    while True:
        page = await any_store.list(after=after, limit=2)
        seen += [pair.key for pair in page.items]
        pages += 1
        if page.next is None:
            break
        assert page.next == page.items[-1].key
        after = page.next
    assert seen == KEYS
    assert pages == 5  # 9 keys by 2: the last page is short and says there is no next


async def test_a_full_last_page_has_no_next(any_store: Store) -> None:
    await put_all(any_store, ["k1", "k2", "k3", "k4"])
    first = await any_store.list(limit=2)
    assert first.next == "k2"
    second = await any_store.list(after=first.next, limit=2)
    assert ([pair.key for pair in second.items], second.next) == (["k3", "k4"], None)


async def test_list_of_an_empty_store_is_empty_at_revision_zero(any_store: Store) -> None:
    page = await any_store.list(prefix="x")
    assert (page.items, page.revision, page.next) == ([], 0, None)


# --- stats, revisions -----------------------------------------------------------------------


async def test_stats_report_revision_keys_and_backend(any_store: Store, backend: Backend) -> None:
    assert (await any_store.stats()).revision == 0
    await any_store.put("a", "1")
    await any_store.put("b", "2")
    await any_store.delete("a")
    stats = await any_store.stats()
    assert (stats.revision, stats.keys, stats.backend) == (3, 1, backend.name)
    assert await any_store.revision() == 3


async def test_revisions_rise_by_one_per_successful_write_only(any_store: Store) -> None:
    revisions = [(await any_store.put("a", "1"))[0].revision]
    with pytest.raises(RevisionConflict):
        await any_store.put("a", "x", if_revision=0)
    revisions.append((await any_store.put("b", "2"))[0].revision)
    with pytest.raises(KeyNotFound):
        await any_store.delete("c")
    revisions.append((await any_store.delete("a"))[0])
    assert revisions == [1, 2, 3]


async def test_concurrent_writes_get_distinct_consecutive_revisions(backend: Backend) -> None:
    store = backend.open(history=100)
    pairs = await asyncio.gather(*(store.put(f"k{n % 7}", str(n)) for n in range(50)))
    assert sorted(pair.revision for pair, _ in pairs) == list(range(1, 51))
    assert [event.revision for event in await store.events_since(0)] == list(range(1, 51))


async def test_the_revision_survives_reopening_and_is_never_reused(backend: Backend) -> None:
    store = backend.open()
    await store.put("a", "1")
    await store.put("b", "2")
    await store.delete("b")
    store = await backend.reopen(store)
    assert await store.revision() == 3
    pair, _ = await store.put("b", "again")
    assert (pair.revision, pair.created) == (4, 4)
    assert await store.get("a") == Pair("a", "1", 1, 1)


# --- events -------------------------------------------------------------------------------


async def test_events_since_returns_the_writes_after_a_revision_in_order(any_store: Store) -> None:
    await any_store.put("k", "v1")
    await any_store.put("k", "v2")
    await any_store.delete("k")
    assert await any_store.events_since(1) == [
        Event(2, "put", "k", "v2", 1, "v1", time=ANY, prev_revision=1, prev_created=1, prev_lease=0, commit=2),
        Event(3, "delete", "k", None, None, "v2", time=ANY, prev_revision=2, prev_created=1, prev_lease=0, commit=3),
    ]
    assert await any_store.events_since(3) == []
    assert await any_store.events_since(99) == []


async def test_events_older_than_the_history_are_compacted(any_store: Store) -> None:
    for n in range(8):
        await any_store.put("k", str(n))
    oldest = 8 - SMALL_HISTORY + 1
    with pytest.raises(Compacted) as caught:
        await any_store.events_since(oldest - 2)
    assert caught.value.oldest == oldest
    retained = await any_store.events_since(oldest - 1)
    assert [event.revision for event in retained] == list(range(oldest, 9))


async def test_each_committed_write_is_published_once_in_revision_order(any_store: Store) -> None:
    recorder = Recorder()
    any_store.set_publisher(recorder)
    await any_store.put("a", "1")
    await any_store.put("a", "2", if_revision=1)
    await any_store.delete("a")
    assert recorder.events == await any_store.events_since(0)
    assert [event.revision for event in recorder.events] == [1, 2, 3]


async def test_refused_writes_publish_nothing(any_store: Store) -> None:
    recorder = Recorder()
    any_store.set_publisher(recorder)
    with pytest.raises(KeyNotFound):
        await any_store.delete("absent")
    with pytest.raises(RevisionConflict):
        await any_store.put("absent", "v", if_revision=3)
    assert recorder.batches == []


async def test_a_failing_publisher_does_not_fail_the_write(any_store: Store) -> None:
    async def broken(events: Sequence[Event]) -> None:
        raise RuntimeError("layer down")

    any_store.set_publisher(broken)
    pair, _ = await any_store.put("k", "v")
    assert await any_store.get("k") == pair
