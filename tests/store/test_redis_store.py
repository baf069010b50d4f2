"""What only the Redis backend has to get right: outages, reconnection, exact revisions, layout.

The behaviour it shares with the pickle backend is in ``test_store_contract.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path

import pytest

from kvapp.store.base import Event, Pair
from kvapp.store.errors import KeyNotFound, RevisionConflict, StoreUnavailable
from kvapp.store.redis import scripts as redis_scripts
from kvapp.store.redis import store as redis_store
from kvapp.store.redis.store import RedisStore
from tests.support.redis import RedisMissing, RedisServer

pytestmark = pytest.mark.redis

WRITE_KEYS = ["kv:rev", "kv:pairs", "kv:keys", "kv:events"]  # the write scripts' KEYS before the op ID


@pytest.fixture
async def store(private_redis: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore(private_redis.url(0))
    yield opened
    await opened.aclose()


async def test_a_channel_layer_outage_is_one_warning_per_write_not_a_traceback(
    store: RedisStore, caplog: pytest.LogCaptureFixture
) -> None:
    async def layer_away(events: Sequence[Event]) -> None:
        raise StoreUnavailable("the channel layer cannot reach Redis")  # what the resilient layer raises

    store.set_publisher(layer_away)
    with caplog.at_level(logging.WARNING, logger="kvapp.store.base"):
        pair, _ = await store.put("k", "v")
    assert await store.get("k") == pair
    assert [(record.levelname, record.exc_info) for record in caplog.records] == [("WARNING", None)]
    assert "not broadcast" in caplog.records[0].getMessage()


async def test_every_call_says_store_unavailable_while_redis_is_away(
    store: RedisStore, private_redis: RedisServer
) -> None:
    await store.put("k", "v")
    private_redis.stop()
    calls = [
        store.get("k"),
        store.put("k", "v2"),
        store.delete("k"),
        store.list(),
        store.stats(),
        store.revision(),
        store.events_since(0),
    ]
    for call in calls:
        with pytest.raises(
            StoreUnavailable, match=rf"Redis at redis://127.0.0.1:{private_redis.port}/0 is unreachable"
        ):
            await call


async def test_the_same_store_serves_again_once_redis_is_back(store: RedisStore, private_redis: RedisServer) -> None:
    await store.put("k", "v")
    private_redis.restart(save=True)  # pooled connections are now stale
    assert await store.get("k") == Pair("k", "v", 1, 1)
    pair, prev = await store.put("k", "v2")
    assert (pair.revision, prev) == (2, "v")


async def test_messages_never_show_the_password(private_redis: RedisServer) -> None:
    private_redis.stop()
    store = RedisStore(f"redis://:s3cret@127.0.0.1:{private_redis.port}/0")
    with pytest.raises(StoreUnavailable) as caught:
        await store.get("k")
    assert "s3cret" not in str(caught.value)


def test_a_url_redis_cannot_use_is_refused_when_the_store_is_built() -> None:
    with pytest.raises(StoreUnavailable, match="not a usable Redis URL"):
        RedisStore("redis://127.0.0.1:6379/not-a-db")


async def test_revisions_beyond_fourteen_digits_stay_exact(store: RedisStore, private_redis: RedisServer) -> None:
    with private_redis.client() as client:
        client.set("kv:rev", 10**15 - 1)  # Lua's tostring would print 1e+15 from here on
    pair, _ = await store.put("k", "v")
    assert (pair.revision, pair.created) == (10**15, 10**15)
    assert await store.get("k") == pair
    assert [event.revision for event in await store.events_since(10**15 - 1)] == [10**15]
    with pytest.raises(RevisionConflict) as caught:
        await store.put("k", "v2", if_revision=10**15 + 1)
    assert caught.value.current["revision"] == 10**15


async def test_stores_with_different_namespaces_share_a_database_without_meeting(private_redis: RedisServer) -> None:
    first, second = RedisStore(private_redis.url(), namespace="one"), RedisStore(private_redis.url(), namespace="two")
    try:
        await first.put("k", "from one")
        assert (await second.stats()).keys == 0
        assert (await second.put("k", "from two"))[0].revision == 1
        assert (await first.get("k")).value == "from one"
    finally:
        await first.aclose()
        await second.aclose()


async def test_retained_events_are_trimmed_to_the_history_in_the_same_write(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url(), history=3)
    try:
        for n in range(10):
            await store.put(f"k{n}", "v")
        with private_redis.client() as client:
            assert client.llen("kv:events") == 3
            assert client.zcard("kv:keys") == client.hlen("kv:pairs") == 10
    finally:
        await store.aclose()


def test_a_write_sent_twice_under_one_op_id_takes_one_revision(private_redis: RedisServer) -> None:
    with private_redis.client() as client:
        put, delete = client.register_script(redis_scripts.PUT), client.register_script(redis_scripts.DELETE)
        answers = [put(keys=[*WRITE_KEYS, "kv:op:p"], args=["k", "v", "", 100, 30]) for _ in range(2)]
        assert answers == [[b"ok", b"1", b"1", None]] * 2
        answers = [delete(keys=[*WRITE_KEYS, "kv:op:d"], args=["k", "", 100, 30]) for _ in range(2)]
        assert answers == [[b"ok", b"2", b"v"]] * 2
        assert (client.get("kv:rev"), client.llen("kv:events"), client.hlen("kv:pairs")) == (b"2", 2, 0)


def test_a_replayed_write_whose_event_is_trimmed_still_names_its_revision(private_redis: RedisServer) -> None:
    with private_redis.client() as client:
        put = client.register_script(redis_scripts.PUT)
        put(keys=[*WRITE_KEYS, "kv:op:first"], args=["k", "v", "", 1, 30])
        put(keys=[*WRITE_KEYS, "kv:op:second"], args=["k", "v2", "", 1, 30])
        assert put(keys=[*WRITE_KEYS, "kv:op:first"], args=["k", "v", "", 1, 30]) == [b"applied", b"1"]
        assert client.get("kv:rev") == b"2"


def test_a_missing_redis_server_is_an_error_not_a_skip(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr("tests.support.redis.shutil.which", lambda name: None)
    with pytest.raises(RedisMissing, match="redis-server is not on PATH"):
        RedisServer(tmp_path).start()


@pytest.mark.parametrize("write", ["put", "delete"])
async def test_a_write_redis_stalls_on_says_its_outcome_is_unknown_not_try_again(
    store: RedisStore, private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch, write: str
) -> None:
    # The command reached Redis, which ran it late: "try again shortly" would invite a second
    # write (or a 409 against the caller's own success). Redis gone before the command was
    # sent is the plain "unreachable" of the test above.
    monkeypatch.setattr(redis_store, "COMMAND_TIMEOUT", 0.3)
    await store.put("k", "v")
    with pytest.raises(KeyNotFound):  # loads the delete script: a stalled EVALSHA must not be a NOSCRIPT
        await store.delete("absent")
    os.kill(private_redis.process.pid, signal.SIGSTOP)
    try:
        with pytest.raises(StoreUnavailable) as caught:
            await (store.put("k", "v2") if write == "put" else store.delete("k"))
    finally:
        os.kill(private_redis.process.pid, signal.SIGCONT)
    assert "may or may not have been applied" in str(caught.value)
    assert "try again shortly" not in str(caught.value)
    with private_redis.client() as client:  # Redis, awake, runs the write that reached it
        deadline = time.monotonic() + 5
        while int(client.get("kv:rev")) == 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        assert int(client.get("kv:rev")) == 2
        assert client.hexists("kv:pairs", "k") == (write == "put")
