"""The shared-message channel layer: upstream's delivery rules, without per-receiver copies."""

from __future__ import annotations

import asyncio

import pytest
from channels.exceptions import ChannelFull

from kvapp.watch.layers import SharedMessageChannelLayer


@pytest.fixture
def layer() -> SharedMessageChannelLayer:
    return SharedMessageChannelLayer(capacity=2)


async def test_group_send_hands_every_member_the_same_message_in_order(layer: SharedMessageChannelLayer) -> None:
    channels = [await layer.new_channel() for _ in range(3)]
    for channel in channels:
        await layer.group_add("g", channel)
    first, second = {"type": "kv.events", "n": 1}, {"type": "kv.events", "n": 2}
    await layer.group_send("g", first)
    await layer.group_send("g", second)
    for channel in channels:
        assert await layer.receive(channel) is first
        assert await layer.receive(channel) is second


async def test_a_full_channel_misses_the_message_and_the_others_get_it(layer: SharedMessageChannelLayer) -> None:
    slow, fast = await layer.new_channel(), await layer.new_channel()
    await layer.group_add("g", slow)
    await layer.group_add("g", fast)
    await layer.send(slow, {"type": "x", "n": 0})
    await layer.send(slow, {"type": "x", "n": 0})
    with pytest.raises(ChannelFull):
        await layer.send(slow, {"type": "x", "n": 0})
    await layer.group_send("g", {"type": "x", "n": 1})
    assert (await layer.receive(fast))["n"] == 1
    assert [(await layer.receive(slow))["n"] for _ in range(2)] == [0, 0]


async def test_a_waiting_receiver_keeps_its_queue_through_a_sweep(layer: SharedMessageChannelLayer) -> None:
    channel = await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(channel))
    await asyncio.sleep(0)
    layer._next_sweep = 0.0
    layer._clean_expired()
    await layer.send(channel, {"type": "x"})
    assert await asyncio.wait_for(waiting, 1) == {"type": "x"}


async def test_queues_of_departed_receivers_are_dropped(layer: SharedMessageChannelLayer) -> None:
    cancelled, idle = await layer.new_channel(), await layer.new_channel()
    waiting = asyncio.create_task(layer.receive(cancelled))
    await asyncio.sleep(0)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    assert cancelled not in layer.channels
    await layer.send(idle, {"type": "x"})
    await layer.receive(idle)  # returns normally: the queue stays for the next receive
    assert idle in layer.channels
    layer._next_sweep = 0.0
    layer._clean_expired()
    assert idle not in layer.channels


async def test_expired_messages_are_still_swept() -> None:
    layer = SharedMessageChannelLayer(expiry=0)
    channel = await layer.new_channel()
    await layer.group_add("g", channel)
    await layer.send(channel, {"type": "x"})
    await asyncio.sleep(0.01)
    layer._clean_expired()
    assert channel not in layer.channels
    assert channel not in layer.groups.get("g", {})
