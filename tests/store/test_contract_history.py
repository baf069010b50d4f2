"""History and reads at a past revision, the same on every backend: pairs, listings, counts,
search, a key's retained events, and commit times."""

from __future__ import annotations

import time

import pytest

from kvapp.store.base import Pair, Store, format_time
from kvapp.store.errors import Compacted, FutureRevision, KeyNotFound
from tests.store.conftest import SMALL_HISTORY
from tests.support.backends import Backend


async def _write_some(store: Store) -> None:
    """Revisions 1..6: a/b/c created, a changed, b deleted, d created."""
    await store.put("a", "a1")  # 1
    await store.put("b", "b1")  # 2
    await store.put("c", "c1")  # 3
    await store.put("a", "a2")  # 4
    await store.delete("b")  # 5
    await store.put("d", "d1")  # 6


async def test_a_pair_reads_as_it_stood_at_a_past_revision(backend: Backend) -> None:
    store = backend.open(history=100)
    await _write_some(store)
    assert await store.get("a", revision=3) == Pair("a", "a1", 1, 1)
    assert await store.get("a", revision=4) == Pair("a", "a2", 4, 1)
    assert await store.get("b", revision=4) == Pair("b", "b1", 2, 2)
    assert await store.get("c", revision=6) == Pair("c", "c1", 3, 3)
    for key, revision in (("b", 5), ("d", 5), ("a", 0)):
        with pytest.raises(KeyNotFound):  # it did not exist then
            await store.get(key, revision=revision)


async def test_a_listing_at_a_past_revision_is_that_snapshot_with_its_count(backend: Backend) -> None:
    store = backend.open(history=100)
    await _write_some(store)
    page = await store.list(revision=4)
    assert [(pair.key, pair.value) for pair in page.items] == [("a", "a2"), ("b", "b1"), ("c", "c1")]
    assert (page.revision, page.count, page.next) == (4, 3, None)
    now = await store.list()
    assert [(pair.key, pair.value) for pair in now.items] == [("a", "a2"), ("c", "c1"), ("d", "d1")]
    assert (now.revision, now.count) == (6, 3)


async def test_paging_at_a_fixed_revision_is_one_snapshot_while_others_write(backend: Backend) -> None:
    store = backend.open(history=1000)
    for n in range(10):
        await store.put(f"k{n}", f"v{n}")
    first = await store.list(limit=4)
    assert first.count == 10
    # Writes between pages: deletes, changes and new keys on both sides of the cursor.
    await store.delete("k0")
    await store.delete("k7")
    await store.put("k5", "changed")
    await store.put("k55", "new")
    await store.put("a-new", "new")
    seen = [pair.key for pair in first.items]
    after = first.next
    while after is not None:
        page = await store.list(after=after, limit=4, revision=first.revision)
        assert page.revision == first.revision and page.count == 10
        seen += [pair.key for pair in page.items]
        assert all(pair.value.startswith("v") for pair in page.items)
        after = page.next
    assert seen == [f"k{n}" for n in range(10)]


async def test_a_listing_counts_pairs_under_the_prefix_whatever_the_page_size(any_store: Store) -> None:
    for key in ("app/a", "app/b", "app/c", "apple", "b"):
        await any_store.put(key, "v")
    page = await any_store.list("app/", limit=1)
    assert (len(page.items), page.count, page.next) == (1, 3, "app/a")
    assert (await any_store.list("", limit=1)).count == 5
    assert (await any_store.list("zzz")).count == 0


async def test_search_keeps_pairs_whose_key_or_value_contains_the_text_ignoring_case(any_store: Store) -> None:
    await any_store.put("app/db/host", "DB1.internal")
    await any_store.put("app/name", "Shop")
    await any_store.put("app/cache", "redis")
    await any_store.put("other/db", "x")
    page = await any_store.list("app/", search="db")
    assert [pair.key for pair in page.items] == ["app/db/host"]
    assert page.count == 3, "the count is the pairs under the prefix, not the matches"
    assert [pair.key for pair in (await any_store.list(search="SHOP")).items] == ["app/name"]
    assert [pair.key for pair in (await any_store.list(search="DB")).items] == ["app/db/host", "other/db"]


async def test_search_pages_through_next_until_null(any_store: Store) -> None:
    for n in range(30):
        await any_store.put(f"k{n:02}", "needle" if n % 3 == 0 else "hay")
    found, after = [], None
    while True:
        page = await any_store.list(search="needle", after=after, limit=4)
        found += [pair.key for pair in page.items]
        if page.next is None:
            break
        after = page.next
    assert found == [f"k{n:02}" for n in range(0, 30, 3)]


async def test_a_revision_older_than_the_history_is_compacted_and_one_ahead_is_refused(any_store: Store) -> None:
    for n in range(SMALL_HISTORY + 3):
        await any_store.put("k", str(n))
    current = await any_store.revision()
    oldest = current - SMALL_HISTORY + 1
    assert (await any_store.get("k", revision=oldest - 1)).value == str(oldest - 2)
    for read in (lambda: any_store.get("k", revision=oldest - 2), lambda: any_store.list(revision=oldest - 2)):
        with pytest.raises(Compacted) as gone:
            await read()
        assert gone.value.oldest == oldest
    with pytest.raises(FutureRevision):
        await any_store.get("k", revision=current + 1)
    with pytest.raises(FutureRevision):
        await any_store.list(revision=current + 1)


async def test_a_key_s_history_is_newest_first_and_pages_by_before(backend: Backend) -> None:
    store = backend.open(history=100)
    await _write_some(store)
    await store.put("b", "b2")  # 7
    history = await store.history("b")
    assert [(event.revision, event.type, event.value, event.prev) for event in history.items] == [
        (7, "put", "b2", None),
        (5, "delete", None, "b1"),
        (2, "put", "b1", None),
    ]
    assert (history.key, history.oldest, history.next) == ("b", 1, None)
    first = await store.history("b", limit=2)
    assert [event.revision for event in first.items] == [7, 5] and first.next == 5
    rest = await store.history("b", before=first.next, limit=2)
    assert [event.revision for event in rest.items] == [2] and rest.next is None
    assert (await store.history("never")).items == []
    item = history.items[1].as_history_item()
    assert item == {"type": "delete", "revision": 5, "prev": "b1", "time": format_time(history.items[1].time)}


async def test_events_carry_their_commit_time(any_store: Store) -> None:
    before = time.time()
    await any_store.put("k", "v")
    [event] = await any_store.events_since(0)
    assert event.time is not None and before - 1 <= event.time <= time.time() + 1
    stamp = event.as_message()["time"]
    assert len(stamp) == 24 and stamp.endswith("Z") and stamp[10] == "T"


async def test_history_and_times_survive_a_restart(backend: Backend) -> None:
    store = backend.open(history=100)
    await _write_some(store)
    times = [event.time for event in await store.events_since(0)]
    store = await backend.reopen(store, history=100)
    assert [event.time for event in await store.events_since(0)] == times
    assert await store.get("b", revision=4) == Pair("b", "b1", 2, 2)
    assert [event.revision for event in (await store.history("a")).items] == [4, 1]


async def test_a_revision_inside_a_transaction_reads_as_the_store_before_it(any_store: Store) -> None:
    from kvapp.store.txn import Op, Txn

    await any_store.put("a", "10")
    await any_store.put("b", "10")
    moved = await any_store.txn(Txn(success=(Op("put", "a", "5"), Op("put", "b", "15"))))
    assert moved.revision == 4
    # Revision 3 is the transaction's first write: the store was never seen with only it done.
    assert await any_store.get("a", revision=3) == Pair("a", "10", 1, 1)
    page = await any_store.list(revision=3)
    assert [(pair.key, pair.value) for pair in page.items] == [("a", "10"), ("b", "10")]
    assert page.revision == 3
    assert [(pair.key, pair.value) for pair in (await any_store.list(revision=4)).items] == [("a", "5"), ("b", "15")]
    events = await any_store.events_since(2)
    assert [event.commit for event in events] == [3, 3]
