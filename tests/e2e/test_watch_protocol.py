"""The watch socket's protocol beyond events, against real server processes: what daphne does
with a client frame over its limit."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from kvapp.testing.server import ServerProcess

TIMEOUT = 10.0  # seconds for one frame, request or close
TOKEN = "pässword with spaces"  # not ASCII, not URL-safe


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, ServerProcess]]:
    """A daphne and a uvicorn server, each with its own data and the token set."""
    directory = tmp_path_factory.mktemp("protocol")
    started: dict[str, ServerProcess] = {}
    try:
        for kind in ("daphne", "uvicorn"):
            started[kind] = ServerProcess(directory / f"{kind}.pickle", kind=kind, env={"KV_TOKEN": TOKEN}).start()
        yield started
    finally:
        for server in started.values():
            server.stop()


def headers(server: ServerProcess) -> dict[str, str]:
    """The Authorization header for the server's token, if it has one (its UTF-8, as clients send it)."""
    token = server.env.get("KV_TOKEN")
    return {"Authorization": "Bearer " + token.encode().decode("latin-1")} if token else {}


def put(server: ServerProcess, key: str, value: str = "v") -> int:
    """One write over HTTP; its revision."""
    response = requests.put(
        f"{server.url}/api/v1/kv/{key}", json={"value": value}, headers=headers(server), timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    return response.json()["revision"]


def watch(server: ServerProcess, query: str, **options: Any) -> Any:
    """A watch with the token in the Authorization header (unless the options say otherwise)."""
    options.setdefault("additional_headers", headers(server))
    return connect(f"{server.ws_url}/ws/watch?{query}", open_timeout=TIMEOUT, ping_interval=None, **options)


# --- client frames -------------------------------------------------------------------------


async def test_daphne_closes_a_client_frame_over_its_limit_with_1009_and_ignores_small_ones(servers):
    # The watch protocol has no client messages: a small one is ignored, a 2 MiB one is refused
    # with "message too big" (autobahn used to drop the TCP connection without a close frame).
    server = servers["daphne"]
    async with watch(server, "prefix=client-frames/") as ws:
        await ws.send("hello")
        await ws.send("x" * (2 * 1024 * 1024))
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1009
    async with watch(server, "prefix=client-frames/") as ws:
        await ws.send("x" * 1024)
        written = await asyncio.to_thread(put, server, "client-frames/k")
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["revision"] == written
    assert "Traceback" not in server.log()
