"""channels_redis's pubsub layer, made to survive a Redis restart and to fail in kvstore's terms.

After Redis restarts, the layer's pooled connections are stale: the first command on one
fails although Redis is back (the failed connection reconnects, and re-subscribes its
channels, as it fails). One retry covers that. While such a reconnect is under way, a
subscribe on the same pubsub connection can meet the shard's receive task mid-read (redis-py's
connect-time health check racing it) and fail with ``RuntimeError: read() called while
another coroutine is already waiting for incoming data``; that is transient too, so it is
retried after a short pause instead of ending a watch handshake in HTTP 500. Every call here
is safe to repeat: a (un)subscribe is idempotent, and a message published twice is a duplicate hint that
watchers drop by revision. A Redis that is really away becomes ``StoreUnavailable``, which
the watch consumer turns into close code 4503 ("try again later") instead of a traceback.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlparse

from channels_redis.pubsub import RedisPubSubChannelLayer
from redis import exceptions as redis_errors

from kvapp.store.errors import StoreUnavailable

logger = logging.getLogger(__name__)

ATTEMPTS = 2  # the first may meet a connection left stale by a Redis restart
RETRY_PAUSE = 0.05  # seconds before the retry: lets a reconnect in flight finish its read


class ResilientPubSubChannelLayer(RedisPubSubChannelLayer):
    """The pubsub layer with one retry on a dead connection and StoreUnavailable after that."""

    def __init__(self, *args: Any, hosts: list[Any] | None = None, prefix: str | None = None, **kwargs: Any) -> None:
        """Called by Channels with CONFIG; the default prefix is per database (see ``channel_prefix``)."""
        super().__init__(*args, hosts=hosts, prefix=prefix or channel_prefix(hosts), **kwargs)

    async def new_channel(self, prefix: str = "specific.") -> str:
        """Called when a consumer starts: a channel name subscribed in this process."""
        return await self._retry("new_channel", prefix)

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Called to post to one channel (the watch consumer's sync marker)."""
        await self._retry("send", channel, message)

    async def group_add(self, group: str, channel: str) -> None:
        """Called when a watcher subscribes."""
        await self._retry("group_add", group, channel)

    async def group_send(self, group: str, message: dict[str, Any]) -> None:
        """Called by the broadcaster for each committed write."""
        await self._retry("group_send", group, message)

    async def group_discard(self, group: str, channel: str) -> None:
        """Called when a watcher leaves; a Redis that is away has dropped the subscription anyway."""
        try:
            await self._retry("group_discard", group, channel)
        except StoreUnavailable as exc:
            logger.warning("could not unsubscribe %s from %s: %s", channel, group, exc)

    async def _retry(self, name: str, *args: Any) -> Any:
        """Run the upstream method, again once on a connection error, then give up in our terms."""
        upstream: Callable[..., Awaitable[Any]] = RedisPubSubChannelLayer.__getattr__(self, name)
        failure: Exception | None = None
        for attempt in range(ATTEMPTS):
            if attempt:
                await asyncio.sleep(RETRY_PAUSE)
            try:
                return await upstream(*args)
            except Exception as exc:
                if not _is_transient(exc):
                    raise
                failure = exc
        raise StoreUnavailable(f"the channel layer cannot reach Redis ({failure}); try again shortly")


_CONNECTION_ERRORS = (redis_errors.ConnectionError, redis_errors.TimeoutError)
_CONCURRENT_READ = "already waiting for incoming data"  # asyncio's StreamReader, two readers at once


def _is_transient(exc: BaseException) -> bool:
    """A dead or reconnecting connection: worth one retry, then StoreUnavailable."""
    return isinstance(exc, _CONNECTION_ERRORS) or (isinstance(exc, RuntimeError) and _CONCURRENT_READ in str(exc))


def channel_prefix(hosts: list[Any] | None) -> str:
    """``asgi.db<N>.`` for the database in the first host's URL.

    Redis pubsub channels ignore the database number, so two kvstore deployments on one
    Redis server (databases 0 and 1, say) would otherwise hear each other's events.
    """
    first = (hosts or [""])[0]
    url = first.get("address", "") if isinstance(first, dict) else str(first)
    database = urlparse(url).path.strip("/") or "0"
    return f"asgi.db{database}."
