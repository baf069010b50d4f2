"""What only the Redis backend has to get right: outages, reconnection, exact revisions, layout,
replayed writes, racing expiries, data written by older code, and bounded scripts.

The behaviour it shares with the pickle backend is in ``test_contract*.py``.
"""

from __future__ import annotations

import asyncio
import logging
import os
import signal
import time
from collections.abc import AsyncIterator, Sequence
from pathlib import Path
from typing import Any

import orjson
import pytest
from redis import exceptions as redis_errors

from kvapp.store.base import EXPIRED, Event, Pair
from kvapp.store.errors import Compacted, KeyNotFound, LeaseNotFound, RevisionConflict, StoreUnavailable
from kvapp.store.redis import scripts as redis_scripts
from kvapp.store.redis import store as redis_store
from kvapp.store.redis.store import RedisStore
from kvapp.store.txn import Compare, Op, Txn
from tests.store.conftest import Recorder
from tests.support.redis import RedisMissing, RedisServer

pytestmark = pytest.mark.redis

WRITE_ARGS = ["kv", 100, 30, 100_000]  # what every write script takes after the op ID: ns, history, op ttl, leases


@pytest.fixture
async def store(private_redis: RedisServer) -> AsyncIterator[RedisStore]:
    opened = RedisStore(private_redis.url(0))  # with its reaper, as a server runs it
    yield opened
    await opened.aclose()


def run_write(client: Any, script: str, op: str, *args: object, history: int = 100) -> list:
    """Run a write script straight on Redis under op ID ``op``, as the store would."""
    return client.register_script(script)(keys=[], args=[WRITE_ARGS[0], op, history, *WRITE_ARGS[2:], *args])


def lose_first_reply(store: RedisStore, monkeypatch: pytest.MonkeyPatch, name: str) -> list[int]:
    """Make script ``name`` run on Redis but its first reply be lost, as a broken connection loses it.

    Returns a list that grows by one for every run Redis gets, so a test can count them.
    """
    real = store._script
    runs: list[int] = []

    def script(which: str) -> Any:
        run = real(which)
        if which != name:
            return run

        async def flaky(**kwargs: Any) -> Any:
            reply = await run(**kwargs)
            runs.append(1)
            if len(runs) == 1:
                raise redis_errors.ConnectionError("Connection closed by server.")
            return reply

        return flaky

    monkeypatch.setattr(store, "_script", script)
    return runs


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
        store.get("k", revision=1),
        store.put("k", "v2"),
        store.delete("k"),
        store.delete_prefix("k", 10),
        store.txn(Txn(success=(Op("get", "k"),))),
        store.list(),
        store.list(revision=1, search="v"),
        store.history("k"),
        store.stats(),
        store.revision(),
        store.events_since(0),
        store.grant(5),
        store.keepalive(1),
        store.revoke(1),
        store.lease(1),
        store.leases(),
        store.expire_due(),
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
        answers = [run_write(client, redis_scripts.PUT, "p", "k", "v", "", "", "") for _ in range(2)]
        assert answers[0] == answers[1] and answers[0][0] == b"ok"
        assert [orjson.loads(event)[:6] for event in answers[0][2:]] == [["1", "put", "k", "v", "1", None]]
        answers = [run_write(client, redis_scripts.DELETE, "d", "k", "") for _ in range(2)]
        assert answers[0] == answers[1]
        assert [orjson.loads(event)[:6] for event in answers[0][2:]] == [["2", "delete", "k", None, None, "v"]]
        assert (client.get("kv:rev"), client.llen("kv:events"), client.hlen("kv:pairs")) == (b"2", 2, 0)


def test_a_replayed_write_whose_event_is_trimmed_still_names_its_revision(private_redis: RedisServer) -> None:
    with private_redis.client() as client:
        run_write(client, redis_scripts.PUT, "first", "k", "v", "", "", "", history=1)
        run_write(client, redis_scripts.PUT, "second", "k", "v2", "", "", "", history=1)
        replayed = run_write(client, redis_scripts.PUT, "first", "k", "v", "", "", "", history=1)
        assert replayed == [b"applied", b"1", b"1"]
        assert client.get("kv:rev") == b"2"


# --- replays: a write whose reply was lost is answered on the retry, not run again ------------


async def test_a_transaction_whose_reply_was_lost_is_answered_on_the_retry_not_run_again(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("a", "1")
    recorder = Recorder()
    store.set_publisher(recorder)
    runs = lose_first_reply(store, monkeypatch, "txn")
    txn = Txn(
        compare=(Compare("a", "revision", "==", 1),),
        success=(Op("put", "a", "2"), Op("put", "b", "new"), Op("get", "a")),
        failure=(Op("get", "a"),),
    )
    result = await store.txn(txn)
    assert len(runs) == 2, "the retry reached Redis"
    assert result.succeeded is True, "a second run would have failed its compare"
    assert [response.get("revision") for response in result.responses] == [2, 3, 2]
    assert result.revision == await store.revision() == 3
    assert [[event.revision for event in batch] for batch in recorder.batches] == [[2, 3]]


async def test_a_grant_whose_reply_was_lost_answers_the_same_lease_not_a_second_one(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    runs = lose_first_reply(store, monkeypatch, "grant")
    lease = await store.grant(30)
    assert len(runs) == 2
    assert [item.id for item in (await store.leases()).items] == [lease.id]


async def test_a_revoke_whose_reply_was_lost_answers_its_deletes(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    lease = await store.grant(30)
    await store.put("svc/a", "up", lease=lease.id)
    await store.put("svc/b", "up", lease=lease.id)
    recorder = Recorder()
    store.set_publisher(recorder)
    runs = lose_first_reply(store, monkeypatch, "revoke")
    revoked = await store.revoke(lease.id)
    assert len(runs) == 2, "a second run would have been told LeaseNotFound"
    assert (revoked.revision, revoked.deleted) == (4, ["svc/a", "svc/b"])
    assert [(event.key, event.reason) for event in recorder.events] == [("svc/a", "revoked"), ("svc/b", "revoked")]


async def test_a_replayed_transaction_too_big_to_record_only_names_its_revisions(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    await store.put("big", "x" * (redis_scripts.OP_RECORD_MAX + 1))
    lose_first_reply(store, monkeypatch, "txn")
    with pytest.raises(StoreUnavailable, match=r"took revisions 2\.\.2 but its answer was lost"):
        await store.txn(Txn(success=(Op("put", "a", "1"), Op("get", "big"))))
    assert await store.revision() == 2, "it ran once"


# --- leases across stores ------------------------------------------------------------------------


async def test_stores_racing_to_expire_delete_each_key_exactly_once(
    private_redis: RedisServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "EXPIRE_BATCH", 3)  # several scripts share the work, interleaved
    stores = [RedisStore(private_redis.url(), reap_interval=None) for _ in range(2)]
    recorders = [Recorder(), Recorder()]
    try:
        leases = [await stores[n % 2].grant(1) for n in range(12)]
        keys = [f"svc/{n}/{side}" for n in range(12) for side in ("a", "b")]
        for key in keys:
            await stores[0].put(key, "up", lease=leases[int(key.split("/")[1])].id)
        start = await stores[0].revision()
        for store, recorder in zip(stores, recorders, strict=True):
            store.set_publisher(recorder)
        await asyncio.sleep(1.2)
        ended = await asyncio.gather(*(store.expire_due() for store in stores for _ in range(3)))
        assert sorted(lease for run in ended for lease in run) == [lease.id for lease in leases]
        events = [event for recorder in recorders for event in recorder.events]
        assert sorted(event.key for event in events) == sorted(keys), "each key deleted once, by one store"
        assert {(event.type, event.reason) for event in events} == {("delete", EXPIRED)}
        assert sorted(event.revision for event in events) == list(range(start + 1, start + 1 + len(keys)))
        assert await stores[1].revision() == start + len(keys)
    finally:
        for store in stores:
            await store.aclose()


async def test_the_reaper_ends_a_lease_without_being_asked_and_stops_with_the_store(
    private_redis: RedisServer,
) -> None:
    store = RedisStore(private_redis.url(), reap_interval=0.05)
    recorder = Recorder()
    store.set_publisher(recorder)
    try:
        pair, _ = await store.put("k", "v", ttl=1)
        deadline = time.monotonic() + 5
        while len(recorder.events) < 2 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        expired = [(event.type, event.key, event.lease, event.reason) for event in recorder.events[1:]]
        assert expired == [("delete", "k", pair.lease, EXPIRED)]
        reaper = store._reaper
    finally:
        await store.aclose()
    assert reaper is not None and reaper.done()


async def test_a_keepalive_through_another_store_keeps_the_lease_on_redis_s_clock(private_redis: RedisServer) -> None:
    granting, renewing = (RedisStore(private_redis.url(), reap_interval=None) for _ in range(2))
    try:
        lease = await granting.grant(1)
        await granting.put("k", "v", lease=lease.id)
        for _ in range(3):
            await asyncio.sleep(0.6)
            assert (await renewing.keepalive(lease.id)).remaining == 1
            assert await granting.expire_due() == []
        assert (await granting.lease(lease.id)).keys == ("k",)
        await asyncio.sleep(1.2)
        with pytest.raises(LeaseNotFound):
            await renewing.keepalive(lease.id)
        assert await renewing.expire_due() == [lease.id]
    finally:
        await granting.aclose()
        await renewing.aclose()


# --- data written by the code before leases and history ------------------------------------------


def _write_old_format(client: Any) -> None:
    """What the previous code left: pairs without a lease field, events of six fields, no index."""
    events = [
        ["1", "put", "a", "a1", "1", None],
        ["2", "put", "b", "b1", "2", None],
        ["3", "put", "a", "a2", "1", "a1"],
    ]
    client.set("kv:rev", 3)
    client.hset("kv:pairs", mapping={"a": "3:1:a2", "b": "2:2:b1"})
    client.zadd("kv:keys", {"a": 0, "b": 0})
    client.rpush("kv:events", *(orjson.dumps(event) for event in events))


async def test_pairs_and_events_written_by_older_code_still_read(store: RedisStore, private_redis: RedisServer) -> None:
    with private_redis.client() as client:
        _write_old_format(client)
    assert await store.get("a") == Pair("a", "a2", 3, 1)
    assert [pair.key for pair in (await store.list()).items] == ["a", "b"]
    old = await store.events_since(0)
    assert old[2] == Event(3, "put", "a", "a2", 1, "a1")  # lease 0; time and prev_* unknown
    assert old[2].as_message()["time"] is None
    with pytest.raises(Compacted) as gone:  # undoing needs what the old events do not say
        await store.get("a", revision=2)
    assert gone.value.oldest == 4
    assert (await store.history("a")).items == []
    await store.put("c", "c1")  # the first write of the new code starts the index
    assert await store.get("a", revision=3) == Pair("a", "a2", 3, 1)
    with pytest.raises(KeyNotFound):
        await store.get("c", revision=3)
    assert [(pair.key, pair.value) for pair in (await store.list(revision=3)).items] == [("a", "a2"), ("b", "b1")]
    assert (await store.list(revision=3)).count == 2
    assert [event.revision for event in await store.events_since(0)] == [1, 2, 3, 4]


async def test_an_event_written_without_the_index_makes_earlier_reads_compacted_until_reindexed(
    store: RedisStore, private_redis: RedisServer
) -> None:
    for n in range(3):
        await store.put("x", str(n))
    with private_redis.client() as client:  # an old process, still running, writes revision 4
        client.incr("kv:rev")
        client.hset("kv:pairs", "x", "4:1:old")
        client.rpush("kv:events", orjson.dumps(["4", "put", "x", "old", "1", "2"]))
    with pytest.raises(Compacted) as gone:  # revision 4 is not in x's index: undoing from it would be wrong
        await store.get("x", revision=2)
    assert gone.value.oldest == 5
    assert (await store.get("x", revision=4)).value == "old"
    await store.put("x", "new")  # 5: the index restarts here, and its stale entries go
    assert (await store.get("x", revision=4)).value == "old"
    assert [event.revision for event in (await store.history("x")).items] == [5]
    with private_redis.client() as client:
        assert client.zrange("kv:history:x", 0, -1) == [b"5"]
        assert client.lrange("kv:event_keys", 0, -1) == [b"=x"]


async def test_leased_pairs_are_stored_in_a_form_older_readers_of_unleased_pairs_share(
    store: RedisStore, private_redis: RedisServer
) -> None:
    lease = await store.grant(30)
    await store.put("plain", "a:b/c")
    await store.put("leased", "a:b/c", lease=lease.id)
    with private_redis.client() as client:
        assert client.hget("kv:pairs", "plain") == b"1:1:a:b/c"
        assert client.hget("kv:pairs", "leased") == f"2:2/{lease.id}:a:b/c".encode()
    assert await store.get("leased") == Pair("leased", "a:b/c", 2, 2, lease.id)


# --- the index of retained events ---------------------------------------------------------------


async def test_the_per_key_index_is_trimmed_with_the_events_in_the_same_write(private_redis: RedisServer) -> None:
    store = RedisStore(private_redis.url(), history=3, reap_interval=None)
    try:
        for n in range(5):
            await store.put(f"k{n}", "v")
        await store.delete("k0")  # 6
        with private_redis.client() as client:
            assert client.zrange("kv:gone", 0, -1) == [b"k0"]
            assert sorted(client.scan_iter("kv:history:*")) == [b"kv:history:k0", b"kv:history:k3", b"kv:history:k4"]
        for n in range(5, 8):
            await store.put(f"k{n}", "v")  # 7..9: the delete of k0 is trimmed
        with private_redis.client() as client:
            assert client.zcard("kv:gone") == 0
            assert sorted(client.scan_iter("kv:history:*")) == [b"kv:history:k5", b"kv:history:k6", b"kv:history:k7"]
            assert client.llen("kv:events") == client.llen("kv:event_keys") == 3
        assert [pair.key for pair in (await store.list(revision=6)).items] == ["k1", "k2", "k3", "k4"]
    finally:
        await store.aclose()


# --- the scripts' own rules: byte order, bounded work ---------------------------------------------


@pytest.mark.parametrize(
    ("value", "op", "wanted", "holds"),
    [
        ("x" * 300 + "a", "<", "x" * 300 + "b", True),  # the difference lies past the first block of 256
        ("x" * 300 + "b", "<", "x" * 300 + "a", False),
        ("x" * 300, "<", "x" * 300 + "a", True),  # a prefix sorts first
        ("é", ">", "z", True),  # code point order, whatever Redis's locale collates
        ("Z", "<", "a", True),
    ],
)
async def test_value_compares_are_by_code_point(
    store: RedisStore, value: str, op: str, wanted: str, holds: bool
) -> None:
    await store.put("k", value)
    result = await store.txn(Txn(compare=(Compare("k", "value", op, wanted),)))
    assert result.succeeded is holds


async def test_number_compares_are_numeric_not_textual(store: RedisStore) -> None:
    for n in range(10):
        await store.put("k", str(n))  # revision 10: "10" < "9" as text
    compares = [Compare("k", "revision", ">", 9), Compare("k", "revision", "<", 11), Compare("k", "created", "<", 10)]
    assert (await store.txn(Txn(compare=tuple(compares)))).succeeded is True
    assert (await store.txn(Txn(compare=(Compare("k", "revision", "<", 2**63 - 1),)))).succeeded is True


async def test_a_search_reads_a_bounded_run_per_call_and_continues_from_next(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "SEARCH_SCAN_PAIRS", 4)
    for n in range(10):
        await store.put(f"k{n}", "needle" if n in (1, 8) else "hay")
    first = await store.list(search="NEEDLE", limit=10)
    assert ([pair.key for pair in first.items], first.next, first.count) == (["k1"], "k3", 10)
    second = await store.list(search="needle", after=first.next, limit=10)
    assert ([pair.key for pair in second.items], second.next) == ([], "k7")
    third = await store.list(search="needle", after=second.next, limit=10)
    assert ([pair.key for pair in third.items], third.next) == (["k8"], None)


async def test_a_listing_at_a_past_revision_passes_over_a_bounded_number_of_absent_keys(
    store: RedisStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(redis_store, "LIST_SCAN_SKIPS", 2)
    await store.put("a", "1")
    for key in "bcdefghij":
        await store.put(key, "later")
    first = await store.list(revision=1, limit=5)  # scans a..h: 5 + 1 + 2 keys, finds only a
    assert ([pair.key for pair in first.items], first.next, first.count) == (["a"], "h", 1)
    rest = await store.list(revision=1, after=first.next, limit=5)
    assert (rest.items, rest.next, rest.count) == ([], None, 1)


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
