"""Publishing committed events to the channel layer, with and without watchers."""

from __future__ import annotations

from typing import Any

import pytest
from channels.layers import BaseChannelLayer, get_channel_layer

from kvapp.store.base import Event
from kvapp.watch import broadcast
from kvapp.watch.broadcast import EVENTS_MESSAGE, WATCH_GROUP, publish_events

EVENTS = [Event(1, "put", "a", "1", 1, None), Event(2, "delete", "a", None, None, "1")]


class RecordingLayer(BaseChannelLayer):
    """A stand-in for a layer shared between processes: it cannot list the group's members."""

    sent: list[tuple[str, dict[str, Any]]] = []

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Remember what would have gone to the shared backend."""
        self.sent.append((group, message))


@pytest.fixture
def in_memory_layer(settings: Any) -> None:
    """A fresh kvstore in-memory layer per test."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "kvapp.watch.layers.SharedMessageChannelLayer"}}


@pytest.mark.usefixtures("in_memory_layer")
async def test_nothing_is_encoded_when_no_watcher_is_in_the_process(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(event: Event) -> broadcast.Frame:
        raise AssertionError("encoded for nobody")

    monkeypatch.setattr(broadcast, "encode_frame", refuse)
    await publish_events(EVENTS)


@pytest.mark.usefixtures("in_memory_layer")
async def test_a_watcher_in_the_process_gets_every_event_as_one_message() -> None:
    layer = get_channel_layer()
    channel = await layer.new_channel()
    await layer.group_add(WATCH_GROUP, channel)
    await publish_events(EVENTS)
    message = await layer.receive(channel)
    assert message["type"] == EVENTS_MESSAGE
    assert [frame[:2] for frame in message["events"]] == [(1, "a"), (2, "a")]


async def test_a_shared_layer_is_always_sent_to(settings: Any) -> None:
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.RecordingLayer"}}
    RecordingLayer.sent = []
    await publish_events(EVENTS)
    assert [(group, len(message["events"])) for group, message in RecordingLayer.sent] == [(WATCH_GROUP, 2)]
