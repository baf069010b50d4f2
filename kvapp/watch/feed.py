"""A Channels websocket consumer whose layer messages cost no task each: Channels' loop, made lean.

Every layer message is handled by the consumer's one feed loop, started after ``connect``
and stopped before ``disconnect``. The feed awaits the layer directly: Channels' own loop
starts a task and an ``asyncio.wait`` per message, which with every committed batch going to
every watcher was a sixth of a daphne server's time at 200 watchers.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from channels.consumer import get_handler_name
from channels.exceptions import StopConsumer
from channels.generic.websocket import AsyncJsonWebsocketConsumer
from channels.layers import get_channel_layer

from kvapp.store.errors import KVError, StoreUnavailable

DISCONNECT_MESSAGE = "websocket.disconnect"

Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class LayerFeedConsumer(AsyncJsonWebsocketConsumer):
    """A websocket consumer whose layer messages cost no task each: Channels' loop, made lean.

    Channels' ``AsyncConsumer`` waits on the client and the layer at once with a new task
    and an ``asyncio.wait`` for every message. Here one long-lived feed task awaits the
    layer and runs the handlers, and the consumer's own task waits on the client, which
    speaks rarely; the wait on both is paid per client message only.
    """

    async def __call__(self, scope: dict[str, Any], receive: Receive, send: Send) -> None:
        """Called per connection: Channels' ``AsyncConsumer.__call__`` with the loops below."""
        self.scope = scope
        self.base_send = send  # first: a consumer the layer gives no channel still answers
        self.channel_layer = get_channel_layer(self.channel_layer_alias)
        try:
            self.channel_name = await self.channel_layer.new_channel()
        except StoreUnavailable as exc:  # e.g. Redis away: a clean refusal, not a handshake ending in HTTP 500
            await receive()  # websocket.connect
            await self.refuse(exc)
            return
        self.channel_receive = functools.partial(self.channel_layer.receive, self.channel_name)
        self.feed_parked = False  # the feed is waiting on the layer, between two handlers
        self.feed_stopping = False
        try:
            with contextlib.suppress(StopConsumer):
                await self.dispatch(await receive())  # websocket.connect (or an early disconnect)
                await self._dispatch_until_disconnect(receive)
        finally:
            # disconnect() runs only for a websocket.disconnect message; a server that cancels
            # the application (daphne, once the connection is gone) skips it, so release here too.
            await self.release()

    async def refuse(self, exc: KVError) -> None:
        """Called when the socket must close because of ``exc``, before or after the handshake."""
        raise NotImplementedError

    async def release(self) -> None:
        """Called when the consumer ends, however it ends; must be safe to call twice."""

    async def dispatch(self, message: dict[str, Any]) -> None:
        """Run the handler for ``message`` directly.

        Channels' own dispatch first closes stale database connections in a worker thread,
        a thread hop per message; kvstore has no database, and every committed batch is a
        message to every watcher, so that hop would be paid watchers x batches times.
        """
        handler = getattr(self, get_handler_name(message), None)
        if handler is None:
            raise ValueError(f"no handler for message type {message['type']}")
        await handler(message)

    async def _dispatch_until_disconnect(self, receive: Receive) -> None:
        """Run the feed beside the client's messages until the client leaves or a handler fails.

        Client frames are dispatched here, beside the feed, so a ``receive`` must not touch
        what the layer handlers use (the watch protocol ignores client frames). A disconnect
        waits for the feed to finish the handler it is in, as Channels' one loop would.
        """
        feed = asyncio.ensure_future(self._feed())
        client = asyncio.ensure_future(receive())
        try:
            while True:
                await asyncio.wait((feed, client), return_when=asyncio.FIRST_COMPLETED)
                if feed.done():
                    feed.result()  # a handler raised: end the consumer with it, as Channels would
                    return
                message = client.result()
                if message["type"] == DISCONNECT_MESSAGE:
                    await self._stop_feed(feed)
                await self.dispatch(message)
                client = asyncio.ensure_future(receive())
        finally:
            for task in (client, feed):
                task.cancel()
                await asyncio.wait((task,))  # let the layer clean up after a cancelled receive

    async def _feed(self) -> None:
        """Handle this channel's layer messages one at a time, awaiting the layer directly."""
        while not self.feed_stopping:
            self.feed_parked = True
            try:
                message = await self.channel_receive()
            finally:
                self.feed_parked = False
            await self.dispatch(message)

    async def _stop_feed(self, feed: asyncio.Future[None]) -> None:
        """Stop the feed between two handlers: at once if it is waiting, else after its handler."""
        self.feed_stopping = True
        if self.feed_parked:
            feed.cancel()
        await asyncio.wait((feed,))
        if not feed.cancelled():
            feed.result()
