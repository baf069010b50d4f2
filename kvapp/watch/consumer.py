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
comes round were they really dropped and are filled from the store.

Two tasks do the work, and only one of them ever waits for the client. The feed
(``kvapp.watch.feed``) handles every layer message at once: a live event right after ``last``
goes into the watcher's outbox (``kvapp.watch.outbox``, which bounds what a watcher that
stops reading may hold, and closes it with 4408 past that); a gap or a confirmed loss
switches the watcher to catching up. The sender is the only task that sends: it drains the
outbox through the server's ``send``, which waits while the client's socket is full; when
catching up it replays the store's events after ``last`` at the client's pace (the feed drops
live events meanwhile: the store has them); and when it has sent nothing for ``progress``
seconds it says how far the watcher has got. ``last`` moves in the feed while the watcher is
live and in the sender while it catches up, never in both, so it needs no lock; and a
progress frame, sent only when nothing is queued, never runs ahead of an unsent event.
"""

from __future__ import annotations

import asyncio
import logging
import sys
from dataclasses import dataclass
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
from kvapp.watch.outbox import Outbox
from kvapp.watch.protocol import CloseCode, accepted_subprotocol, close_code_for, offered_token
from kvapp.watch.revision_poll import revision_poll
from kvapp.watch.watchers import add_watcher, remove_watcher, watcher_count, watchers_of

logger = logging.getLogger(__name__)

SYNC_INTERVAL = 1.0  # seconds between checks for a silently dropped last message
SYNC_MESSAGE = "kv.sync"  # the marker a watcher posts to itself; dispatched to kv_sync
PROGRESS_MIN, PROGRESS_MAX = 1, 3600  # seconds a client may ask for between progress frames


@dataclass(frozen=True)
class WatchRequest:
    """What the watch URL asks for."""

    prefix: str
    after: int | None  # replay the events after it; None: only writes from now on
    progress: int | None  # seconds of silence after which a progress frame is sent; None: never


class WatchConsumer(LayerFeedConsumer):
    """``/ws/watch?prefix=P&after=R&progress=S``: replay after R (if given), then live events."""

    counted = False  # this socket holds a watcher slot and a group membership
    sync_task: asyncio.Task | None = None
    send_task: asyncio.Task | None = None
    accepted = False
    closing = False  # set once a close is decided: no frame may follow it
    catching_up = False  # the sender is replaying the store's events; the feed drops live ones meanwhile
    behind = 0  # while catching up: the newest revision known to exist, which the catch-up must reach

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.outbox = Outbox(kv_settings().watch_buffer_bytes)

    async def connect(self) -> None:
        """Called on the handshake: check the request, then subscribe before reading the revision."""
        self.prefix, self.progress, self.last = "", None, 0
        self.client = _client_address(self.scope)
        try:
            request = self._parse_request()
        except KVError as exc:
            return await self.refuse(exc)
        self.prefix, self.progress = request.prefix, request.progress
        add_watcher(self.client)
        self.counted = True  # from here on, release() undoes the count and the subscription
        try:
            await self._start_from(request.after)
        except KVError as exc:
            return await self.refuse(exc)
        except Exception:  # e.g. the Redis layer unreachable: a clean close, not a crash that leaks the count
            logger.exception("a watch could not start")
            return await self.refuse(StoreUnavailable("the watch could not start; try again later"))
        self.sync_task = asyncio.create_task(self._sync_periodically())
        self.send_task = asyncio.create_task(self._send_until_closed())

    async def accept(self, subprotocol: str | None = None, headers: Any = None) -> None:
        """Complete the handshake (once), with the ``kvstore`` subprotocol if the client offered it."""
        self.accepted = True
        self.sent_at = asyncio.get_running_loop().time()
        await super().accept(subprotocol or accepted_subprotocol(self.scope.get("subprotocols") or ()), headers)

    async def release(self) -> None:
        """Called when the consumer ends or is closed: stop its tasks, give back the slot, leave the group."""
        for task in (self.sync_task, self.send_task):
            if task is not None and task is not asyncio.current_task():
                task.cancel()
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
        """Called for each committed batch broadcast through the layer: queue what is new, at once."""
        if self.closing:
            return
        for frame in message["events"]:
            if not self._take(frame):
                return await self.drop_too_slow()

    async def kv_sync(self, message: dict[str, Any]) -> None:
        """Called for the sync marker, after every message queued before it.

        Events up to the marker's revision that have not arrived by now were dropped. The
        layer may also have dropped this channel from the group (the in-memory layer does so
        when a message sits unread past its expiry, and after its group expiry), so the
        group is joined again before catching up; joining twice is harmless.
        """
        if self.closing or self.catching_up or self.last >= message["revision"]:
            return
        if not message.get("confirm"):
            await self._post_sync_marker(message["revision"], confirm=True)
            return
        try:
            await self.channel_layer.group_add(WATCH_GROUP, self.channel_name)
        except Exception:  # the layer's backend away: close cleanly rather than crash the consumer
            logger.exception("a watch could not rejoin its group")
            return await self.refuse(StoreUnavailable("the watch lost its event feed; try again later"))
        self._fall_behind(message["revision"])

    @classmethod
    async def encode_json(cls, content: Any) -> str:
        """Serialize outgoing frames with orjson (the fan-out hot path)."""
        return orjson.dumps(content).decode()

    async def refuse(self, exc: KVError) -> None:
        """Tell the client why in one frame, then close with the matching code (once)."""
        if self.closing:
            return
        await self._stop_sending()
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

    async def drop_too_slow(self) -> None:
        """Called when a live event does not fit in the outbox: send nothing more and close with 4408.

        The slot and the subscription are given back first: under uvicorn the close itself
        waits until the client reads up to it, which a stalled client may never do.
        """
        unsent, limit = self.outbox.unsent, self.outbox.limit
        logger.info("closing a watch that does not read (4408): %d bytes unsent, limit %d", unsent, limit)
        await self._stop_sending()
        await self.release()
        try:
            await self.close(code=int(CloseCode.TOO_SLOW))
        except Exception as send_failure:
            if not _peer_is_gone(send_failure):
                raise

    # --- the request and the start -------------------------------------------------------

    def _parse_request(self) -> WatchRequest:
        """Read the query and the token (header, subprotocol or query), and enforce the watcher limits."""
        try:  # strict: a prefix of mangled bytes would silently watch the wrong keys
            query = parse_qs(self.scope.get("query_string", b"").decode("utf-8"), errors="strict")
        except UnicodeDecodeError:
            raise BadWatchRequest("the query string is not valid UTF-8 (check its percent-encoding)") from None
        headers = dict(self.scope.get("headers", []))
        authorization = headers.get(b"authorization", b"").decode("latin-1") or None
        token = offered_token(self.scope.get("subprotocols") or ())
        check_token(authorization, _first(query, "token") if token is None else token)
        settings = kv_settings()
        if watcher_count() >= settings.max_watchers or watchers_of(self.client) >= settings.max_watchers_per_client:
            raise TooManyWatchers("too many watchers; try again later")
        after = _whole_number(query, "after", 0, MAX_REVISION, "after must be a whole number from 0 to {maximum}")
        progress = _whole_number(
            query, "progress", PROGRESS_MIN, PROGRESS_MAX, "progress must be whole seconds from {minimum} to {maximum}"
        )
        return WatchRequest(_first(query, "prefix") or "", after, progress)

    async def _start_from(self, after: int | None) -> None:
        """Subscribe, fix the starting revision, accept, then have the sender replay (if ``after`` was given).

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
        if self.last < current:
            self._fall_behind(current)

    # --- the feed's side -----------------------------------------------------------------

    def _take(self, frame: Frame) -> bool:
        """Handle one live event; False if it is the next one but the outbox has no room for it."""
        revision, key = frame[0], frame[1]
        if revision <= self.last:
            return True  # already handled (replay seam, or a late message from another process)
        if self.catching_up or revision > self.last + 1:
            self._fall_behind(revision)
            return True
        self.last = revision
        return not key.startswith(self.prefix) or self.outbox.admit(frame)

    def _fall_behind(self, revision: int) -> None:
        """Events up to ``revision`` exist that the feed will not queue: the sender fetches them from the store."""
        self.catching_up = True
        self.behind = max(self.behind, revision)
        self.outbox.wake()

    # --- the sender ----------------------------------------------------------------------

    async def _send_until_closed(self) -> None:
        """The one task that sends events: the outbox first, then any catch-up, then progress when quiet."""
        try:
            while not self.closing:
                if self.outbox.frames:
                    frame = self.outbox.pop()
                    await self._send(frame[2], frame[3])
                elif self.catching_up:
                    await self._catch_up()
                else:
                    await self._idle()
        except KVError as exc:
            await self.refuse(exc)
        except Exception:  # a fault here must not leave the socket open and silent
            logger.exception("a watch could not send")
            await self.refuse(StoreUnavailable("the watch failed; try again later"))

    async def _catch_up(self) -> None:
        """Send the retained events after ``last`` at the client's pace; live again once ``behind`` is reached.

        A pass that finds nothing ends it too, whatever ``behind`` says (a revision read before
        the store went back, or a cached one): the sync timer looks again, and the sender must
        not spin on a store that returns at once.
        """
        events = await get_store().events_since(self.last)
        for event in events:
            if self.closing:
                return
            self.last = event.revision
            if event.key.startswith(self.prefix):
                _, _, text, size = encode_frame(event)
                await self._send(text, size)
        if not events or self.last >= self.behind:
            self.catching_up = False

    async def _idle(self) -> None:
        """Nothing to send: a progress frame if one is due, else wait for work (or until one is due)."""
        quiet = self._quiet_for()
        if quiet == 0.0:
            await self._send_progress()
        else:
            await self.outbox.wait(quiet)

    def _quiet_for(self) -> float | None:
        """Seconds until a progress frame is due (0.0: now), or None when the client asked for none."""
        if self.progress is None:
            return None
        return max(0.0, self.sent_at + self.progress - asyncio.get_running_loop().time())

    async def _send_progress(self) -> None:
        """Say that every matching event up to ``last`` has been sent: the client may resume after it."""
        encoded = orjson.dumps({"type": "progress", "revision": self.last})
        await self._send(encoded.decode(), len(encoded))

    async def _send(self, text: str, size: int) -> None:
        """Hand one text frame to the server, which may wait for room; a client that has left ends the sending."""
        self.outbox.sending(size)
        try:
            await self.base_send({"type": "websocket.send", "text": text})  # self.send(text) in one await
        except Exception as exc:
            if not _peer_is_gone(exc):
                raise
            self.closing = True  # its websocket.disconnect is on the way and ends the consumer
        finally:
            self.outbox.sent()
        self.sent_at = asyncio.get_running_loop().time()

    async def _stop_sending(self) -> None:
        """From here on only the close is sent: stop the sender (unless it is the caller), drop the outbox."""
        self.closing = True
        task = self.send_task
        if task is not None and task is not asyncio.current_task():
            task.cancel()
            await asyncio.wait((task,))
        self.outbox.clear()

    # --- the sync timer ------------------------------------------------------------------

    async def _sync_periodically(self) -> None:
        """Once per SYNC_INTERVAL, if the store is ahead, queue a marker behind the pending messages."""
        while not self.closing:
            await asyncio.sleep(SYNC_INTERVAL)
            try:
                revision = await revision_poll.latest()
            except KVError as exc:
                await self.refuse(exc)
                return
            if revision > self.last and not self.catching_up:
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


class BadWatchRequest(InvalidRequest):
    """The watch URL's parameters are malformed."""


def _first(query: dict[str, list[str]], name: str) -> str | None:
    """The first value of a query parameter, None when it is absent."""
    return (query.get(name) or [None])[0]


def _whole_number(query: dict[str, list[str]], name: str, minimum: int, maximum: int, problem: str) -> int | None:
    """A query parameter that is a whole number within bounds; None when absent or empty."""
    raw = _first(query, name)
    if raw is None or raw == "":
        return None
    number = parse_whole_number(raw)  # ASCII digits only: "²".isdigit() is True
    if number is None or not minimum <= number <= maximum:
        raise BadWatchRequest(problem.format(minimum=minimum, maximum=maximum))
    return number


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
