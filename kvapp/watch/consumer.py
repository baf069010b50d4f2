"""The watch socket: every write under a prefix, in revision order, no gaps, no duplicates.

Live events arrive as hints through the Channels layer; the store's retained events are the
truth. The layer may drop messages for a full channel without telling anyone
(``ChannelFull``), and with several server processes batches may arrive out of order, so a
watcher tracks the last revision it has handled and fills any gap from the store.

A dropped *last* message is revealed by no later one, so once a second a watcher that is
behind the store posts a marker carrying the store's revision to its own channel. The
marker queues behind every message already waiting; a batch being published at the very
moment the revision was read may still land behind it, so a marker that finds events
missing is posted once more, and only if they are still missing when that second marker
comes round were they really dropped and are filled from the store. Catching up straight
from the timer instead would jump past messages that are merely queued behind a slow
client, and turn a watcher that is only slow into a compacted one.

Every layer message is handled by the consumer's one feed loop (``kvapp.watch.feed``); the
timer only posts the marker, or closes the watch when the store fails, and never touches
``last``, so ``last`` needs no lock.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qs

import orjson
from channels.exceptions import ChannelFull

from kvapp.auth import check_token
from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.errors import TooManyWatchers
from kvapp.params import parse_whole_number
from kvapp.store.errors import Compacted, InvalidRequest, KVError, StoreUnavailable
from kvapp.store.validation import MAX_REVISION
from kvapp.watch.broadcast import WATCH_GROUP, Frame, encode_frame
from kvapp.watch.feed import LayerFeedConsumer
from kvapp.watch.protocol import close_code_for
from kvapp.watch.revision_poll import revision_poll
from kvapp.watch.watchers import add_watcher, remove_watcher, watcher_count, watchers_of

logger = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0  # seconds between checks for a silently dropped last message
SYNC_MESSAGE = "kv.sync"  # the marker a watcher posts to itself; dispatched to kv_sync


class WatchConsumer(LayerFeedConsumer):
    """``/ws/watch?prefix=P&after=R``: replay after R (if given), then live events."""

    counted = False  # this socket holds a watcher slot and a group membership
    sync_task: asyncio.Task | None = None
    accepted = False
    closing = False  # set once a close is sent: no frame may follow it

    async def connect(self) -> None:
        """Called on the handshake: check the request, then subscribe before reading the revision."""
        self.prefix = ""
        self.last = 0
        self.client = _client_address(self.scope)
        try:
            after = self._parse_request()
        except KVError as exc:
            return await self.refuse(exc)
        add_watcher(self.client)
        self.counted = True  # from here on, release() undoes the count and the subscription
        try:
            await self._start_from(after)
        except KVError as exc:
            return await self.refuse(exc)
        except Exception:  # e.g. the Redis layer unreachable: a clean close, not a crash that leaks the count
            logger.exception("a watch could not start")
            return await self.refuse(StoreUnavailable("the watch could not start; try again later"))
        self.sync_task = asyncio.create_task(self._sync_periodically())

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Complete the handshake (once)."""
        self.accepted = True
        await super().accept(subprotocol, headers)

    async def release(self) -> None:
        """Called when the consumer ends: stop the timer, give back the watcher slot, leave the group."""
        if self.sync_task is not None:
            self.sync_task.cancel()
        if not self.counted:
            return
        self.counted = False
        remove_watcher(self.client)
        try:
            await self.channel_layer.group_discard(WATCH_GROUP, self.channel_name)
        except Exception:  # the layer's backend away: its group expiry drops the membership instead
            logger.warning("a closed watch could not leave its group", exc_info=True)

    async def receive(self, text_data: str | None = None, bytes_data: bytes | None = None, **kwargs: Any) -> None:
        """Called for client frames; the watch protocol has none, so any frame (even non-JSON) is ignored."""

    async def kv_events(self, message: dict[str, Any]) -> None:
        """Called for each committed batch broadcast through the layer."""
        if self.closing:
            return
        try:
            await self._deliver(message["events"])
        except KVError as exc:
            await self.refuse(exc)

    async def kv_sync(self, message: dict[str, Any]) -> None:
        """Called for the sync marker, after every message queued before it.

        Events up to the marker's revision that have not arrived by now were dropped. The
        layer may also have dropped this channel from the group (the in-memory layer does so
        when a message sits unread past its expiry, and after its group expiry), so the
        group is joined again before catching up; joining twice is harmless.
        """
        if self.closing or self.last >= message["revision"]:
            return
        if not message.get("confirm"):
            await self._post_sync_marker(message["revision"], confirm=True)
            return
        try:
            await self.channel_layer.group_add(WATCH_GROUP, self.channel_name)
            await self._catch_up()
        except KVError as exc:
            await self.refuse(exc)
        except Exception:  # the layer's backend away: close cleanly rather than crash the consumer
            logger.exception("a watch could not rejoin its group")
            await self.refuse(StoreUnavailable("the watch lost its event feed; try again later"))

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        """Serialize outgoing frames with orjson (the fan-out hot path)."""
        return orjson.dumps(content).decode()

    # --- internals ---------------------------------------------------------------------

    def _parse_request(self) -> int | None:
        """Read prefix/after/token from the query and enforce auth and watcher limits."""
        try:  # strict: a prefix of mangled bytes would silently watch the wrong keys
            query = parse_qs(self.scope.get("query_string", b"").decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            raise BadWatchRequest("the query string is not valid UTF-8 (check its percent-encoding)") from None
        headers = dict(self.scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        check_token(authorization, (query.get("token") or [None])[0])
        self.prefix = (query.get("prefix") or [""])[0]
        settings = kv_settings()
        if watcher_count() >= settings.max_watchers or watchers_of(self.client) >= settings.max_watchers_per_client:
            raise TooManyWatchers("too many watchers; try again later")
        raw_after = (query.get("after") or [None])[0]
        if raw_after is None or raw_after == "":
            return None
        after = parse_whole_number(raw_after)  # ASCII digits only: "²".isdigit() is True
        if after is None or after > MAX_REVISION:
            raise BadWatchRequest(f"after must be a whole number from 0 to {MAX_REVISION}")
        return after

    async def _start_from(self, after: int | None) -> None:
        """Subscribe, fix the starting revision, accept, then replay (if ``after`` was given).

        The order closes two windows: subscribing before reading the revision means nothing
        committed after the read is missed, and reading it before accepting means a write
        the client makes once its handshake completes is after the start, so it is sent.

        An ``after`` beyond the store's revision means the store went back (restored from an
        older backup, or a Redis failover lost writes): its next writes reuse revisions the
        client has seen, so it is told ``compacted`` and lists again rather than miss them.
        """
        await self.channel_layer.group_add(WATCH_GROUP, self.channel_name)
        current = await get_store().revision()
        if after is not None and after > current:
            raise Compacted(current + 1)
        self.last = current if after is None else after
        await self.accept()
        if after is not None:
            await self._catch_up()

    async def _deliver(self, frames: Iterable[Frame]) -> None:
        """Send frames past ``self.last`` in order; on a gap, refill from the store."""
        for revision, key, text in frames:
            if revision <= self.last:
                continue  # already sent (replay seam, or a late message from another process)
            if revision > self.last + 1:
                await self._catch_up()
                if revision <= self.last:
                    continue
            await self._send_frame(revision, key, text)

    async def _catch_up(self) -> None:
        """Send every retained event after ``self.last``; Compacted if they are gone."""
        for event in await get_store().events_since(self.last):
            await self._send_frame(*encode_frame(event))

    async def _send_frame(self, revision: int, key: str, text: str) -> None:
        """Send one event if its key is watched, and remember its revision either way."""
        self.last = revision
        if key.startswith(self.prefix) and not self.closing:
            try:
                await self.base_send({"type": "websocket.send", "text": text})  # self.send(text) in one await
            except Exception as exc:
                if not _peer_is_gone(exc):
                    raise
                self.closing = True  # its websocket.disconnect is on the way and ends the consumer

    async def _sync_periodically(self) -> None:
        """Once per SYNC_INTERVAL, if the store is ahead, queue a marker behind the pending messages."""
        while not self.closing:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                revision = await revision_poll.latest()
            except KVError as exc:
                await self.refuse(exc)
                return
            if revision > self.last:
                await self._post_sync_marker(revision, confirm=False)

    async def _post_sync_marker(self, revision: int, confirm: bool) -> None:
        """Queue a marker behind this channel's pending messages; if it cannot be queued the next tick retries."""
        try:
            await self.channel_layer.send(
                self.channel_name, {"type": SYNC_MESSAGE, "revision": revision, "confirm": confirm}
            )
        except ChannelFull:
            pass  # messages are waiting; they or the next marker will show what is missing
        except Exception:  # a layer outage must not end the sync loop that would notice it is over
            logger.warning("could not post a watch sync marker", exc_info=True)

    async def refuse(self, exc: KVError) -> None:
        """Tell the client why in one frame, then close with the matching code (once)."""
        if self.closing:
            return
        self.closing = True
        try:
            if not self.accepted:
                await self.accept()  # custom close codes and the reason frame need an open socket
            if isinstance(exc, Compacted):
                await self.send_json({"type": "compacted", "oldest": exc.oldest})
            else:
                await self.send_json({"type": "error", "error": str(exc)})
            await self.close(code=close_code_for(exc))
        except Exception as send_failure:
            if not _peer_is_gone(send_failure):
                raise


class BadWatchRequest(InvalidRequest):
    """The watch URL's parameters are malformed."""


UVICORN_SEND_AFTER_CLOSE = "after sending 'websocket.close'"


def _peer_is_gone(exc: Exception) -> bool:
    """Whether a failed send means the client has closed, before its disconnect reached us.

    The ASGI spec asks servers for an OSError. daphne raises autobahn's Disconnected (that
    module is loaded only when daphne is the server); uvicorn, once it has seen the close
    (the client's, or its own after a missed ping), a RuntimeError saying so.
    """
    if isinstance(exc, OSError):
        return True
    autobahn = sys.modules.get("autobahn.exception")
    if autobahn is not None and isinstance(exc, autobahn.Disconnected):
        return True
    return isinstance(exc, RuntimeError) and UVICORN_SEND_AFTER_CLOSE in str(exc)


def _client_address(scope: dict[str, Any]) -> str:
    """The peer's address, for per-client limits."""
    client = scope.get("client") or ("unknown", 0)
    return str(client[0])
