"""Fan committed events out through the Channels layer to every watch socket.

One group message per committed batch (not per event) keeps the layer's work per write
small; watchers filter by prefix themselves.
"""

from __future__ import annotations

from collections.abc import Sequence

from channels.layers import get_channel_layer

from kvapp.store.base import Event

WATCH_GROUP = "kv.watch"
EVENTS_MESSAGE = "kv.events"  # dispatched to WatchConsumer.kv_events


async def publish_events(events: Sequence[Event]) -> None:
    """Called by the store after each committed batch, in revision order."""
    layer = get_channel_layer()
    if layer is None:
        return
    await layer.group_send(WATCH_GROUP, {"type": EVENTS_MESSAGE, "events": [event.as_message() for event in events]})
