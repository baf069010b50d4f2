"""What the tests of several server processes on one Redis share: timeouts, reads, watch sockets."""

from __future__ import annotations

import json
from typing import Any

import pytest
import requests
from websockets.sync.client import ClientConnection, connect

from kvapp.testing.server import ServerProcess

REQUEST_TIMEOUT = 10  # seconds per HTTP call
EVENT_TIMEOUT = 5.0  # seconds to wait for one watch event (a lease ends within one second of its TTL)
QUIET_PERIOD = 1.5  # seconds of silence that prove no duplicate follows (the watch's sync check runs every 1 s)


def get(server: ServerProcess, key: str) -> requests.Response:
    return requests.get(f"{server.url}/api/v1/kv/{key}", timeout=REQUEST_TIMEOUT)


def health(server: ServerProcess) -> requests.Response:
    return requests.get(f"{server.url}/healthz", timeout=REQUEST_TIMEOUT)


def revision(server: ServerProcess) -> int:
    return health(server).json()["revision"]


def watch(server: ServerProcess, prefix: str, after: int) -> ClientConnection:
    """A watch socket replaying from ``after``, so no write after ``after`` can fall before it."""
    return connect(f"{server.ws_url}/ws/watch?prefix={prefix}&after={after}", open_timeout=EVENT_TIMEOUT)


def receive(socket: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events, then proof that nothing else arrives."""
    events = [json.loads(socket.recv(timeout=EVENT_TIMEOUT)) for _ in range(count)]
    with pytest.raises(TimeoutError):
        extra = socket.recv(timeout=QUIET_PERIOD)
        pytest.fail(f"unexpected extra event: {extra}")
    return events
