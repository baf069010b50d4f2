"""Watcher caps, in total and per client address."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from channels.testing import WebsocketCommunicator

from kvapp.server.application import build_application
from kvapp.watch.protocol import CloseCode
from kvapp.watch.watchers import watcher_count
from tests.support.security import (
    TIMEOUT,
)

REFUSAL_WAIT = 0.3  # seconds a refused watch socket takes at most to be told so in-process


# --- watcher limits ------------------------------------------------------------------------


@pytest.fixture
async def sockets(settings: Any) -> AsyncIterator[Callable[[str], Any]]:
    """Open watch sockets from a given client address; all closed at the end."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    application = build_application(None)
    opened: list[WebsocketCommunicator] = []
    start = watcher_count()

    async def open_from(address: str) -> int | None:
        """Open a watch from ``address``; None if it stays open, else the close code."""
        communicator = WebsocketCommunicator(application, "/ws/watch")
        communicator.scope["client"] = (address, 50000 + len(opened))  # read by the consumer on connect
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        if await communicator.receive_nothing(timeout=REFUSAL_WAIT):  # unlike receive_output, never cancels
            return None
        message = await communicator.receive_output(timeout=TIMEOUT)
        if message["type"] == "websocket.send":  # the error frame before the close
            message = await communicator.receive_output(timeout=TIMEOUT)
        return message["code"]

    yield open_from
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
    assert watcher_count() == start, "closed sockets must give their watcher slots back"


async def test_total_watcher_limit_refuses_with_4429_and_frees_on_close(store, settings, sockets) -> None:
    start = watcher_count()  # relative, in case an earlier test in this process left one open
    settings.KV_MAX_WATCHERS = start + 3
    settings.KV_MAX_WATCHERS_PER_CLIENT = 100
    assert [await sockets(f"10.0.0.{n}") for n in range(3)] == [None, None, None]
    assert await sockets("10.0.0.99") == CloseCode.TOO_MANY
    assert watcher_count() == start + 3, "a refused watcher must not be counted"


async def test_per_client_watcher_limit_refuses_only_that_client(store, settings, sockets) -> None:
    settings.KV_MAX_WATCHERS = 100
    settings.KV_MAX_WATCHERS_PER_CLIENT = 2
    assert [await sockets("10.1.0.1"), await sockets("10.1.0.1")] == [None, None]
    assert await sockets("10.1.0.1") == CloseCode.TOO_MANY
    assert await sockets("10.1.0.2") is None
