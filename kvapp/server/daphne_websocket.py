"""Daphne's websocket, adapted to the watch: back-pressure on send, and limits on what clients send only.

Used only when daphne is the server (``daphne`` or ``runserver``; ``kvproject.asgi``
checks), since importing daphne's server installs its Twisted reactor. Daphne imports the
ASGI application before it builds its server, so the protocol class swapped in here is the
one its factory builds for every websocket.

**Back-pressure.** Twisted's transport takes every frame it is given, so a client that stops
reading used to make daphne buffer everything sent to it, out of kvstore's sight. Here the
transport tells a producer when its buffer passes 64 KiB and when it has drained (Twisted's
producer/consumer flow control; the HTTP channel that upgraded the connection had registered
itself, only to stop reading while it could not write), and daphne's ``send`` of a
``websocket.send`` waits while it is full, as uvicorn's does. The unsent frames then stay in the watcher's
outbox, which counts and bounds them (``kvapp.watch.outbox``). Close frames do not wait: a
watcher closed for not reading must be able to say so.

**Message limits.** Autobahn has one ``maxMessagePayloadSize`` and applies it to what it
*sends* as well as to what it receives (``maxFramePayloadSize`` only to what it receives).
A watch event can be 12 MiB with the default limits (a put's value and the one it replaced,
each 1 MiB, and six bytes per control character once JSON-escaped), so daphne's 1 MiB default
closed every watch on such a write, over and over on every resume. Here kvstore's sends have
no limit, and what clients send (the watch protocol has no client messages: pings, pongs,
a close) is limited to CLIENT_MESSAGE_LIMIT, whatever ``--websocket-max-message-size`` and
``--websocket-max-frame-size`` say. Past it autobahn used to drop the TCP connection without a
word (``failByDrop``); it now closes with 1009 (message too big) and discards the rest of
the frame unread into memory.

**Closing.** After its close frame autobahn waits ``closeHandshakeTimeout`` for the client's
answer and then drops the connection. A watcher closed for not reading (4408) only gets the
close frame once it reads what was queued before it, so it is given CLOSE_HANDSHAKE_TIMEOUT,
as long as uvicorn and the websockets library wait.
"""

from __future__ import annotations

import asyncio
import functools
from collections.abc import Awaitable, Callable
from typing import Any

from daphne.ws_protocol import WebSocketFactory, WebSocketProtocol
from twisted.internet.interfaces import IPushProducer, ITransport
from zope.interface import implementer

CLIENT_MESSAGE_LIMIT = 64 * 1024  # bytes: the largest frame or message a client may send
CLOSE_HANDSHAKE_TIMEOUT = 10.0  # seconds a closed socket waits for the client to read up to its close
SEND_MESSAGE = "websocket.send"

Reply = Callable[[Any, Any, dict[str, Any]], Awaitable[None]]  # (daphne's Server, protocol, ASGI message)


@implementer(IPushProducer)
class SendWindow:
    """Registered with the Twisted transport as its producer: open while the transport has room."""

    def __init__(self, transport: ITransport) -> None:
        self.transport = transport
        self.room = asyncio.Event()
        self.room.set()

    def pauseProducing(self) -> None:
        """Called by the transport when its buffer is full: sends wait, and nothing more is read meanwhile."""
        self.room.clear()
        self.transport.pauseProducing()  # as Twisted's HTTP channel does: a client that does not read is not served

    def resumeProducing(self) -> None:
        """Called by the transport once its buffer has drained."""
        self.room.set()
        self.transport.resumeProducing()

    def stopProducing(self) -> None:
        """Called when the connection is gone: nothing will drain, so no send may wait for it."""
        self.room.set()


class KVWebSocketProtocol(WebSocketProtocol):
    """Daphne's websocket protocol with a send window, unlimited sends and limited client messages.

    Class attributes win over the factory's options: autobahn copies an option from the
    factory only to a protocol that has no such attribute.
    """

    maxMessagePayloadSize = CLIENT_MESSAGE_LIMIT
    maxFramePayloadSize = CLIENT_MESSAGE_LIMIT
    failByDrop = False  # close with 1009 (or 1002 for a protocol error) instead of dropping the TCP connection
    closeHandshakeTimeout = CLOSE_HANDSHAKE_TIMEOUT

    def connectionMade(self) -> None:
        """Called when daphne hands the upgraded connection over: take the transport's flow control."""
        super().connectionMade()
        self.send_window = SendWindow(self.transport)
        self.unregisterProducer()  # the HTTP channel that upgraded the connection registered itself
        self.registerProducer(self.send_window, True)

    def connectionLost(self, reason: Any) -> None:
        """Called when the connection is gone: release a send waiting for room (autobahn may have unregistered it)."""
        self.send_window.stopProducing()
        super().connectionLost(reason)

    def sendMessage(self, payload: bytes, *args: Any, **kwargs: Any) -> None:
        """Send without autobahn's message limit, which is meant here for what clients send."""
        limit, self.maxMessagePayloadSize = self.maxMessagePayloadSize, 0
        try:
            super().sendMessage(payload, *args, **kwargs)
        finally:
            self.maxMessagePayloadSize = limit


def waiting_for_room(handle_reply: Reply) -> Reply:
    """Daphne's ``Server.handle_reply`` (the ASGI ``send``), made to wait for room before a frame."""

    @functools.wraps(handle_reply)
    async def handle_reply_when_there_is_room(self: Any, protocol: Any, message: dict[str, Any]) -> None:
        if message["type"] == SEND_MESSAGE and isinstance(protocol, KVWebSocketProtocol):
            await protocol.send_window.room.wait()
        await handle_reply(self, protocol, message)

    return handle_reply_when_there_is_room


def adapt_daphne_websockets() -> None:
    """Called once at start-up under daphne: build kvstore's protocol, and make ``send`` wait for room."""
    from daphne.server import Server  # here: importing it installs daphne's Twisted reactor

    WebSocketFactory.protocol = KVWebSocketProtocol
    original = getattr(Server.handle_reply, "__wrapped__", Server.handle_reply)
    Server.handle_reply = waiting_for_room(original)
