"""Daphne's websocket, adapted (kvapp/server/daphne_websocket.py): the send window and its waits.

The end-to-end proofs run real daphne and runserver processes: 12 MiB events delivered in
tests/e2e/test_watch.py, a 2 MiB client frame closed with 1009 in
tests/e2e/test_watch_protocol.py, watchers that stop reading bounded and closed with 4408 in
tests/e2e/test_watch_slow_clients.py.
"""

from __future__ import annotations

import asyncio
from typing import Any

from kvapp.server.daphne_websocket import KVWebSocketProtocol, SendWindow, waiting_for_room

SETTLE = 0.05  # seconds for a waiting coroutine to show it is still waiting


class FakeTransport:
    """Records what the send window asks of the transport's reading side."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def pauseProducing(self) -> None:
        self.calls.append("pause reading")

    def resumeProducing(self) -> None:
        self.calls.append("resume reading")


def protocol_with_window() -> tuple[KVWebSocketProtocol, SendWindow, FakeTransport]:
    """A protocol with only its send window set up: what ``handle_reply`` looks at."""
    transport = FakeTransport()
    protocol = KVWebSocketProtocol.__new__(KVWebSocketProtocol)
    protocol.send_window = SendWindow(transport)
    return protocol, protocol.send_window, transport


async def test_a_frame_waits_while_the_transport_is_full_and_goes_once_it_has_drained() -> None:
    replies: list[str] = []

    async def handle_reply(server: Any, protocol: Any, message: dict[str, Any]) -> None:
        replies.append(message["text"])

    protocol, window, transport = protocol_with_window()
    send = waiting_for_room(handle_reply)
    await send(None, protocol, {"type": "websocket.send", "text": "first"})
    window.pauseProducing()
    second = asyncio.create_task(send(None, protocol, {"type": "websocket.send", "text": "second"}))
    await asyncio.sleep(SETTLE)
    assert replies == ["first"] and not second.done()
    window.resumeProducing()
    await second
    assert replies == ["first", "second"]
    assert transport.calls == ["pause reading", "resume reading"]


async def test_a_close_does_not_wait_for_room() -> None:
    replies: list[str] = []

    async def handle_reply(server: Any, protocol: Any, message: dict[str, Any]) -> None:
        replies.append(message["type"])

    protocol, window, _ = protocol_with_window()
    window.pauseProducing()
    await asyncio.wait_for(waiting_for_room(handle_reply)(None, protocol, {"type": "websocket.close"}), SETTLE)
    assert replies == ["websocket.close"]


async def test_a_send_waiting_for_a_connection_that_is_lost_goes_on() -> None:
    async def handle_reply(server: Any, protocol: Any, message: dict[str, Any]) -> None:
        pass  # daphne drops a send for a connection it has seen go

    protocol, window, _ = protocol_with_window()
    window.pauseProducing()
    waiting = asyncio.create_task(waiting_for_room(handle_reply)(None, protocol, {"type": "websocket.send"}))
    await asyncio.sleep(SETTLE)
    window.stopProducing()
    await asyncio.wait_for(waiting, SETTLE)


async def test_a_reply_to_any_other_protocol_is_not_held() -> None:
    seen: list[Any] = []

    async def handle_reply(server: Any, protocol: Any, message: dict[str, Any]) -> None:
        seen.append(protocol)

    await waiting_for_room(handle_reply)(None, "an HTTP request", {"type": "websocket.send"})
    assert seen == ["an HTTP request"]
