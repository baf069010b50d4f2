"""The shared revision poll: one store read serves every watcher asking at once."""

from __future__ import annotations

import asyncio

import pytest

from kvapp.backend import set_store
from kvapp.store.errors import StoreUnavailable
from kvapp.store.pickle.store import PickleStore
from kvapp.watch.revision_poll import RevisionPoll


class CountingStore(PickleStore):
    """A pickle store that counts revision reads and makes each take a moment."""

    reads = 0
    broken = False

    async def revision(self) -> int:
        self.reads += 1
        await asyncio.sleep(0.01)
        if self.broken:
            raise StoreUnavailable("backend away")
        return await super().revision()


@pytest.fixture
def counting_store(tmp_path):
    opened = CountingStore(tmp_path / "store.pickle")
    set_store(opened)
    yield opened
    set_store(None)
    opened.close()


async def test_many_concurrent_askers_share_one_read(counting_store: CountingStore) -> None:
    await counting_store.put("a", "1")
    poll = RevisionPoll()
    answers = await asyncio.gather(*(poll.latest() for _ in range(500)))
    assert set(answers) == {1}
    assert counting_store.reads == 1


async def test_a_fresh_answer_is_reused_then_read_again_once_stale(
    counting_store: CountingStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    poll = RevisionPoll()
    assert await poll.latest() == 0
    await counting_store.put("a", "1")
    assert await poll.latest() == 0  # still fresh
    monkeypatch.setattr("kvapp.watch.revision_poll.FRESH_FOR", 0.0)
    assert await poll.latest() == 1
    assert counting_store.reads == 2


async def test_a_failed_read_reaches_every_waiter_and_is_not_cached(counting_store: CountingStore) -> None:
    poll = RevisionPoll()
    counting_store.broken = True
    results = await asyncio.gather(poll.latest(), poll.latest(), return_exceptions=True)
    assert all(isinstance(result, StoreUnavailable) for result in results)
    await counting_store.put("a", "1")
    counting_store.broken = False
    assert await poll.latest() == 1  # read afresh: a cached answer would still say 0
    assert counting_store.reads == 2
