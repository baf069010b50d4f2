"""The pubsub channel layer across a Redis restart: one retry on stale connections, then StoreUnavailable."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest
from channels_redis.pubsub import RedisPubSubLoopLayer

from kvapp.store.errors import StoreUnavailable
from kvapp.watch.redis_layer import ResilientPubSubChannelLayer
from tests.support.redis import RedisServer

pytestmark = pytest.mark.redis

RECEIVE_TIMEOUT = 5.0  # seconds
GROUP = "kv.watch"


@pytest.fixture
async def layers(private_redis: RedisServer) -> AsyncIterator[tuple[ResilientPubSubChannelLayer, ...]]:
    """Two layers on one Redis, as two server processes would have."""
    pair = tuple(ResilientPubSubChannelLayer(hosts=[private_redis.url()]) for _ in range(2))
    yield pair
    for layer in pair:
        await layer.flush()


async def send_and_receive(sender: ResilientPubSubChannelLayer, receiver: ResilientPubSubChannelLayer) -> None:
    """A group member on ``receiver`` gets what ``sender`` sends to the group."""
    channel = await receiver.new_channel()
    await receiver.group_add(GROUP, channel)
    await sender.group_send(GROUP, {"type": "kv.events", "events": [{"revision": 1}]})
    message = await asyncio.wait_for(receiver.receive(channel), RECEIVE_TIMEOUT)
    assert message == {"type": "kv.events", "events": [{"revision": 1}]}


async def test_a_group_message_from_one_process_reaches_the_other(layers: tuple) -> None:
    await send_and_receive(*layers)


async def test_the_layer_works_again_after_redis_restarts(layers: tuple, private_redis: RedisServer) -> None:
    await send_and_receive(*layers)  # both layers now hold connections
    private_redis.restart()
    await send_and_receive(*layers)


async def test_a_redis_that_is_away_is_store_unavailable_and_leaving_still_works(
    layers: tuple, private_redis: RedisServer
) -> None:
    sender, receiver = layers
    channel = await receiver.new_channel()
    await receiver.group_add(GROUP, channel)
    private_redis.stop()
    with pytest.raises(StoreUnavailable, match="cannot reach Redis"):
        await sender.group_send(GROUP, {"type": "kv.events", "events": []})
    await receiver.group_discard(GROUP, channel)  # no error: the subscription died with Redis


async def test_deployments_on_different_databases_do_not_hear_each_other(private_redis: RedisServer) -> None:
    first, second = (ResilientPubSubChannelLayer(hosts=[private_redis.url(db)]) for db in (0, 1))
    try:
        channel = await second.new_channel()
        await second.group_add(GROUP, channel)
        await first.group_send(GROUP, {"type": "kv.events", "events": [{"revision": 7}]})
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(second.receive(channel), 0.5)
        await send_and_receive(second, second)
    finally:
        await first.flush()
        await second.flush()


CONCURRENT_READ = RuntimeError("read() called while another coroutine is already waiting for incoming data")


def failing_new_channel(monkeypatch: pytest.MonkeyPatch, failures: list[BaseException]) -> list[int]:
    """Make the upstream layer's new_channel raise each of ``failures`` in turn, then work; the calls made."""
    calls: list[int] = []
    real = RedisPubSubLoopLayer.new_channel

    async def new_channel(self: RedisPubSubLoopLayer, prefix: str = "specific.") -> str:
        calls.append(1)
        if len(calls) <= len(failures):
            raise failures[len(calls) - 1]
        return await real(self, prefix)

    monkeypatch.setattr(RedisPubSubLoopLayer, "new_channel", new_channel)
    return calls


async def test_a_subscribe_racing_a_reconnect_is_retried(layers: tuple, monkeypatch: pytest.MonkeyPatch) -> None:
    calls = failing_new_channel(monkeypatch, [CONCURRENT_READ])  # as seen after a Redis restart in CI
    assert (await layers[0].new_channel()).startswith("asgi.db")
    assert len(calls) == 2


async def test_a_race_that_does_not_clear_is_store_unavailable_not_a_500(
    layers: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    failing_new_channel(monkeypatch, [CONCURRENT_READ, CONCURRENT_READ])
    with pytest.raises(StoreUnavailable, match="already waiting"):
        await layers[0].new_channel()


async def test_other_runtime_errors_are_not_mistaken_for_a_reconnect(
    layers: tuple, monkeypatch: pytest.MonkeyPatch
) -> None:
    calls = failing_new_channel(monkeypatch, [RuntimeError("something else")])
    with pytest.raises(RuntimeError, match="something else"):
        await layers[0].new_channel()
    assert len(calls) == 1
