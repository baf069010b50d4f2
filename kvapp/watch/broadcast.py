"""Fan committed events out through the Channels layer to every watch socket.

One group message per committed batch (not per event) keeps the layer's work per write
small, and each event travels as the JSON text watchers send, encoded once per batch rather
than once per watcher; watchers filter by prefix themselves.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import NamedTuple

import orjson
from channels.layers import InMemoryChannelLayer, get_channel_layer

from kvapp.store.base import Event

WATCH_GROUP = "kv.watch"
EVENTS_MESSAGE = "kv.events"  # dispatched to WatchConsumer.kv_events


class Frame(NamedTuple):
    """An event as watchers send it. Through the Redis layer it arrives as a plain list of the same four."""

    revision: int
    key: str
    text: str  # the event's JSON, as watchers receive it
    size: int  # bytes of ``text`` in UTF-8, what sending it costs (``kvapp.watch.outbox``)


def encode_frame(event: Event) -> Frame:
    """An event ready to send: the JSON is encoded once here, not once per watcher."""
    encoded = orjson.dumps(event.as_message())
    return Frame(event.revision, event.key, encoded.decode(), len(encoded))


async def publish_events(events: Sequence[Event]) -> None:
    """Called by the store after each committed batch, in revision order."""
    layer = get_channel_layer()
    if layer is None or _nobody_watching(layer):
        return
    await layer.group_send(WATCH_GROUP, {"type": EVENTS_MESSAGE, "events": [encode_frame(event) for event in events]})


def _nobody_watching(layer: object) -> bool:
    """Whether a send would reach no one, so encoding the batch would be wasted work.

    Only an in-process layer can tell: its group lists every watcher there is, and joining
    it happens on this event loop, so no watcher can slip in between this check and the
    send. A layer shared between processes (Redis) may have members elsewhere: always send.
    """
    return isinstance(layer, InMemoryChannelLayer) and not layer.groups.get(WATCH_GROUP)
