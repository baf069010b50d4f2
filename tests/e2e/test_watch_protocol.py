"""The watch socket's protocol beyond events, against real server processes: progress frames
(also across two processes on Redis), the token offered as a subprotocol, and what daphne does
with a client frame over its limit."""

from __future__ import annotations

import asyncio
import base64
import json
from collections.abc import Iterator
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from kvapp.testing.server import ServerProcess
from tests.support.redis import RedisServer

TIMEOUT = 10.0  # seconds for one frame, request or close
TOKEN = "pässword with spaces"  # not ASCII, not URL-safe: the subprotocol must carry it as it is
BUSY_WRITES = 20


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


@pytest.fixture(scope="module")
def redis_pair(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    """Two daphne processes sharing one private redis-server."""
    directory = tmp_path_factory.mktemp("protocol-redis")
    redis = RedisServer(directory / "redis").start()
    pair: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            pair.append(ServerProcess(directory / f"{name}.pickle", env={"KV_BACKEND": redis.url(0)}).start())
        yield pair[0], pair[1]
    finally:
        for server in pair:
            server.stop()
        redis.stop()


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


def revision(server: ServerProcess) -> int:
    response = requests.get(f"{server.url}/healthz", headers=headers(server), timeout=TIMEOUT)
    return response.json()["revision"]


def watch(server: ServerProcess, query: str, **options: Any) -> Any:
    """A watch with the token in the Authorization header (unless the options say otherwise)."""
    options.setdefault("additional_headers", headers(server))
    return connect(f"{server.ws_url}/ws/watch?{query}", open_timeout=TIMEOUT, ping_interval=None, **options)


async def progress_reaching(ws: ClientConnection, target: int) -> list[dict[str, Any]]:
    """Frames until a progress frame at ``target`` or beyond; fails on anything but progress frames."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(3 * TIMEOUT):
        while not frames or frames[-1]["revision"] < target:
            frames.append(json.loads(await ws.recv()))
            assert frames[-1]["type"] == "progress", frames
    return frames


# --- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_quiet_prefix_is_told_how_far_the_store_got_and_resumes_from_there(kind, servers):
    server = servers[kind]
    async with watch(server, "prefix=quiet/&progress=1") as ws:
        for i in range(BUSY_WRITES):
            await asyncio.to_thread(put, server, f"busy/{kind}/{i}")
        end = await asyncio.to_thread(revision, server)
        frames = await progress_reaching(ws, end)
    assert frames[-1] == {"type": "progress", "revision": end}
    async with watch(server, f"prefix=quiet/&after={end}&progress=1") as resumed:
        written = await asyncio.to_thread(put, server, f"quiet/{kind}")
        frame = json.loads(await asyncio.wait_for(resumed.recv(), TIMEOUT))
    assert (frame["type"], frame["key"], frame["revision"]) == ("put", f"quiet/{kind}", written)


@pytest.mark.redis
async def test_progress_on_one_process_reaches_the_writes_another_took_on_redis(redis_pair):
    watched, written = redis_pair
    async with watch(watched, "prefix=quiet/&progress=1") as ws:
        for i in range(BUSY_WRITES):
            await asyncio.to_thread(put, written, f"busy/{i}")
        end = await asyncio.to_thread(revision, written)
        frames = await progress_reaching(ws, end)
    assert frames[-1] == {"type": "progress", "revision": end}


# --- the token as a subprotocol ------------------------------------------------------------


def bearer_subprotocol(token: str) -> str:
    return "kvstore.bearer." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_the_token_as_a_subprotocol_opens_the_watch_and_never_reaches_the_log(kind, servers):
    server = servers[kind]
    offered = ["kvstore", bearer_subprotocol(TOKEN)]
    async with watch(server, "prefix=sub/", additional_headers={}, subprotocols=offered) as ws:
        assert ws.subprotocol == "kvstore"
        written = await asyncio.to_thread(put, server, f"sub/{kind}")
        assert json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))["revision"] == written
    async with watch(
        server, "prefix=sub/", additional_headers={}, subprotocols=["kvstore", "kvstore.bearer.bm8"]
    ) as ws:
        assert ws.subprotocol == "kvstore"
        assert json.loads(await ws.recv())["type"] == "error"
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 4401
    assert TOKEN not in server.log() and bearer_subprotocol(TOKEN) not in server.log()


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
