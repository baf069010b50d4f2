"""What a watcher has yet to send, bounded: past ``KV_WATCH_BUFFER_BYTES`` it is closed as too slow.

A watcher that stops reading used to hold its whole backlog in memory until the ping timeout
closed it (about 60 MB per watcher with 200 KB values): the layer's per-channel queue held up
to 1000 batches, daphne's Twisted transport took every frame it was given, and uvicorn's
``send`` waited for room while batches piled up in the layer behind it. The bound has to count
what really sits in memory for that one watcher, wherever it sits, so the design puts it all
in one place that can be counted and thrown away:

- **The server's send waits for room** (``kvapp.server.daphne_websocket`` gives daphne the
  back-pressure uvicorn has), so the server's transport holds at most its own high-water mark
  (64 KiB under both) plus the frame it took last.
- **The feed never waits for the client**: it takes every layer message at once and queues
  the watcher's frames here, so the layer's queues stay short under every layer.
- **One sender** drains this outbox through ``send``. The outbox counts the bytes queued, the
  frame ``send`` is taking and the one it took before (it may still be in the transport: the
  server takes a frame only once its buffer has drained below its mark, so a frame is gone
  once the next one is taken). A frame that would take that sum past the limit closes the
  watch with 4408 instead; the outbox is dropped, and the client resumes with ``after=``,
  losing nothing, since the store retains the events. A frame is always taken when nothing
  else is unsent, so one event larger than the limit still reaches a watcher that keeps up.
- **Catching up is paced, not buffered**: events replayed from the store (``after=``, a gap,
  a dropped message) are encoded and sent one at a time as the client reads, and live frames
  are not queued meanwhile (the store has them too). A resumed watcher is therefore never
  closed again for the backlog it resumes into; only falling out of the history ends it
  (``compacted``).

Frames are shared by every watcher of an event (encoded once per batch), so the sum counts each
watcher's share as if it were its own: an upper bound of what the watcher keeps alive.

Rejected: counting bytes in the channel layer (the Redis pubsub layer's queues are not ours,
and the transport's share would still be missing); reading Twisted's private buffer
(``dataBuffer``, ``_tempDataLen``) after each write (no signal when it drains, so the consumer
would have to poll it, and the frames already given to it could no longer be dropped);
closing a watcher whose send has waited N seconds (that measures time, not memory: a 1 MiB
backlog behind a slow link and a 1 GB one look alike); dropping the outbox and catching up from
the store instead of closing (bounded too, but the contract wants a stalled socket told, and
its slot freed, rather than kept open until the ping timeout); and aborting the connection at
once (the close frame would never arrive, and a client that paused only briefly would see a
reset instead of 4408).
"""

from __future__ import annotations

import asyncio
from collections import deque

from kvapp.watch.broadcast import Frame


class Outbox:
    """A watcher's frames on their way to the server, and the bytes they and the server's share cost."""

    def __init__(self, limit: int) -> None:
        self.limit = limit  # bytes: KV_WATCH_BUFFER_BYTES
        self.frames: deque[Frame] = deque()
        self.queued = 0  # bytes in ``frames``
        self.taking = 0  # bytes of the frame the server's send is taking (it may be waiting for room)
        self.taken = 0  # bytes of the frame it took last, which its transport may still hold
        self._waiter: asyncio.Future[None] | None = None

    @property
    def unsent(self) -> int:
        """Bytes of this watcher's events that have not left the process, as far as it can tell."""
        return self.queued + self.taking + self.taken

    def admit(self, frame: Frame) -> bool:
        """Called by the feed for each live frame: queue it, or False if it does not fit (too slow)."""
        size = frame[3]  # frames come through the Redis layer as plain lists
        if (self.frames or self.taking) and self.unsent + size > self.limit:
            return False
        self.frames.append(frame)
        self.queued += size
        self.wake()
        return True

    def pop(self) -> Frame:
        """Called by the sender: the oldest queued frame, no longer counted as queued."""
        frame = self.frames.popleft()
        self.queued -= frame[3]
        return frame

    def sending(self, size: int) -> None:
        """Called just before the server's send is given a frame of ``size`` bytes."""
        self.taking = size

    def sent(self) -> None:
        """Called once the send returned: the server holds that frame now, and no longer the one before."""
        self.taken, self.taking = self.taking, 0

    def clear(self) -> None:
        """Drop every queued frame (the watch is closing)."""
        self.frames.clear()
        self.queued = 0

    async def wait(self, timeout: float | None) -> None:
        """Called by an idle sender: until ``wake`` or ``timeout`` seconds (None: no limit)."""
        loop = asyncio.get_running_loop()
        self._waiter = waiter = loop.create_future()
        timer = None if timeout is None else loop.call_later(timeout, _resolve, waiter)
        try:
            await waiter
        finally:
            self._waiter = None
            if timer is not None:
                timer.cancel()

    def wake(self) -> None:
        """Called when there is something to send (a frame, a catch-up): an idle sender goes on."""
        if self._waiter is not None:
            _resolve(self._waiter)


def _resolve(waiter: asyncio.Future[None]) -> None:
    """End a wait, once."""
    if not waiter.done():
        waiter.set_result(None)
