"""An in-memory channel layer for fan-out: one message object shared by every receiver.

Channels' ``InMemoryChannelLayer.send`` deep-copies the message for each receiving channel,
and its ``group_send`` creates one task per member to do so: with 1,000 watchers every
committed batch costs 1,000 deep copies and 1,000 tasks. kvstore's messages are immutable
by convention (the broadcaster builds a fresh dict per batch and no consumer mutates what
it receives), so sharing one object is safe and the copies buy nothing.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer


class SharedMessageChannelLayer(InMemoryChannelLayer):
    """InMemoryChannelLayer that enqueues the same message object for every receiver, inline."""

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Called to put ``message`` on one channel; ChannelFull if its queue is at capacity."""
        self._enqueue(channel, message)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Called to put ``message`` on every member's channel; full channels miss it, as upstream."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        self._clean_expired()
        for channel in list(self.groups.get(group, ())):
            # A full channel misses this message; its consumer catches up from the store.
            with contextlib.suppress(ChannelFull):
                self._enqueue(channel, message)

    def _enqueue(self, channel: str, message: dict[str, Any]) -> None:
        """The upstream ``send`` without its deepcopy."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        queue = self.channels.setdefault(channel, asyncio.Queue(maxsize=self.get_capacity(channel)))
        try:
            queue.put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None
