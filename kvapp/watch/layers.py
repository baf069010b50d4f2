"""An in-memory channel layer for fan-out: one message object shared by every receiver.

Channels' ``InMemoryChannelLayer`` does per-receiver work that grows with the number of
watchers, which the profile of a 200-watcher run showed as most of the server's time:

- ``send`` deep-copies the message for each receiving channel, and ``group_send`` creates
  one task per member to do so. kvstore's messages are immutable by convention (the
  broadcaster builds a fresh dict per batch and no consumer mutates what it receives),
  so sharing one object is safe and the copies buy nothing.
- every ``receive`` and ``group_send`` sweeps *all* channels and group members for expired
  messages, so one event delivered to N watchers costs N sweeps of N entries: quadratic.
  Expiry is measured in minutes (60 s messages, a day for memberships), so sweeping at
  most once a second changes nothing observable.
- ``group_send`` validates every member's name and the message again for each member, on
  every message; members were validated when they joined, and the message is checked once.
- ``receive`` drops a channel's queue whenever it runs empty, so the next message (the
  usual case: a watcher keeps up) builds a new ``asyncio.Queue``; ``send`` and ``receive``
  also build one on every call only to throw it away. Here a queue lives while its
  consumer waits on it and is dropped when the consumer leaves (its receive is cancelled)
  or, failing that, by the sweep once it is empty and nobody waits on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections import Counter
from typing import Any

from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer

SWEEP_INTERVAL = 1.0  # seconds between sweeps for expired messages and group memberships


class SharedMessageChannelLayer(InMemoryChannelLayer):
    """InMemoryChannelLayer that enqueues the same message object for every receiver, inline."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self._next_sweep = 0.0  # time.monotonic() at which the next sweep is due
        self._waiting: Counter[str] = Counter()  # channel -> receive() calls waiting on it

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Called to put ``message`` on one channel (upstream, minus its deepcopy); ChannelFull if it is full."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_channel_name(channel)
        assert "__asgi_channel__" not in message
        try:
            self._queue(channel).put_nowait((time.time() + self.expiry, message))
        except asyncio.QueueFull:
            raise ChannelFull(channel) from None

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Called to put ``message`` on every member's channel; full channels miss it, as upstream."""
        assert isinstance(message, dict), "message is not a dict"
        self.require_valid_group_name(group)
        assert "__asgi_channel__" not in message
        self._clean_expired()
        item = (time.time() + self.expiry, message)
        for channel in list(self.groups.get(group, ())):
            # A full channel misses this message; its consumer catches up from the store.
            with contextlib.suppress(asyncio.QueueFull):
                self._queue(channel).put_nowait(item)

    async def receive(self, channel: str) -> dict[str, Any]:
        """Called by each consumer to wait for its next message (upstream, minus the waste)."""
        self.require_valid_channel_name(channel)
        self._clean_expired()
        queue = self._queue(channel)
        if not queue.empty():  # a consumer that is behind: no need to register as waiting
            return queue.get_nowait()[1]
        self._waiting[channel] += 1
        try:
            _, message = await queue.get()
        except asyncio.CancelledError:
            if queue.empty():
                self.channels.pop(channel, None)  # the consumer is leaving
            raise
        finally:
            self._waiting[channel] -= 1
            if not self._waiting[channel]:
                del self._waiting[channel]
        return message

    def _clean_expired(self) -> None:
        """Upstream's sweep, at most once per SWEEP_INTERVAL."""
        now = time.monotonic()
        if now < self._next_sweep:
            return
        self._next_sweep = now + SWEEP_INTERVAL
        super()._clean_expired()
        for channel, queue in list(self.channels.items()):
            if queue.empty() and channel not in self._waiting:
                del self.channels[channel]

    def _queue(self, channel: str) -> asyncio.Queue:
        """The channel's queue, made on first use."""
        queue = self.channels.get(channel)
        if queue is None:
            queue = self.channels[channel] = asyncio.Queue(maxsize=self.get_capacity(channel))
        return queue
