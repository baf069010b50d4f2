"""Watch end to end: real server processes, real websockets, writes racing over HTTP.

What is checked is the contract's promise, not a sample of it: every watcher sees exactly
the acknowledged writes, as one contiguous run of revisions in commit order (each event's
``prev`` must be the value the stream itself last showed for that key), across the
``after=R`` seam, through compaction, and for a watcher that read nothing for a while.

Writers are threads with their own ``requests`` sessions (HTTP keep-alive), so the event
loop stays free to read the sockets while the writes race.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import time
from collections.abc import Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any
from urllib.parse import quote

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus
from websockets.frames import Close

from kvapp.testing.server import ServerProcess
from kvapp.watch.protocol import CloseCode
from tests.support.server import healthz

WRITERS = 8  # concurrent writer threads
FRAME_TIMEOUT = 30.0  # seconds to wait for the frames a scenario expects
HTTP_TIMEOUT = 10.0  # seconds per HTTP call
SMALL_HISTORY = 100  # KV_HISTORY of the server used for compaction scenarios

IDLE_TAIL_WRITES = 20  # writes made while the idle watcher finally reads
IDLE_PADDING = "p" * 4096  # 3,000 events of 4 KiB outgrow the kernel socket buffers, so the server feels it


@pytest.fixture(scope="module")
def daphne_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """One daphne server (the recommended one) shared by the scenarios that need no special config."""
    with ServerProcess(tmp_path_factory.mktemp("watch") / "store.pickle") as process:
        yield process


@pytest.fixture(scope="module")
def uvicorn_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A uvicorn server with the default history; unlike daphne it applies websocket back-pressure."""
    with ServerProcess(tmp_path_factory.mktemp("watch-uvicorn") / "store.pickle", kind="uvicorn") as process:
        yield process


@pytest.fixture(scope="module")
def small_history_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A uvicorn server keeping only SMALL_HISTORY events; uvicorn applies websocket back-pressure."""
    data = tmp_path_factory.mktemp("watch-small") / "store.pickle"
    with ServerProcess(data, kind="uvicorn", env={"KV_HISTORY": str(SMALL_HISTORY)}) as process:
        yield process


# --- writing -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Op:
    """One write: ``put`` / ``delete`` through the JSON API, ``add`` through the seed route."""

    kind: str
    key: str
    value: str | None = None


@dataclass(frozen=True)
class Done:
    """A write the server acknowledged; ``revision`` is None for seed writes (they don't say)."""

    op: Op
    revision: int | None
    prev: str | None


def _write(session: requests.Session, base: str, op: Op) -> Done | None:
    """Perform ``op``; None for a delete of an absent key (404: no write, no event)."""
    url = f"{base}/api/v1/kv/{quote(op.key, safe='')}"
    if op.kind == "put":
        response = session.put(url, json={"value": op.value}, timeout=HTTP_TIMEOUT)
    elif op.kind == "delete":
        response = session.delete(url, timeout=HTTP_TIMEOUT)
        if response.status_code == 404:
            return None
    else:
        response = session.post(f"{base}/add", params={"key": op.key, "value": op.value}, timeout=HTTP_TIMEOUT)
        assert response.status_code == 200, response.text
        return Done(op, None, None)
    assert response.status_code == 200, response.text
    body = response.json()
    return Done(op, body["revision"], body["prev"])


def _write_all(base: str, ops: Sequence[Op]) -> list[Done]:
    """One writer thread's share, in order, on one keep-alive session."""
    with requests.Session() as session:
        return [done for op in ops if (done := _write(session, base, op)) is not None]


async def write_concurrently(base: str, ops: Sequence[Op], writers: int = WRITERS) -> list[Done]:
    """Spread ``ops`` round-robin over ``writers`` threads racing each other; every acknowledged write."""
    loop = asyncio.get_running_loop()
    with ThreadPoolExecutor(max_workers=writers, thread_name_prefix="writer") as pool:
        shares = [loop.run_in_executor(pool, _write_all, base, ops[i::writers]) for i in range(writers)]
        results = await asyncio.gather(*shares)
    return [done for share in results for done in share]


def current_revision(base: str) -> int:
    """The server's revision, from /healthz."""
    return healthz(base, HTTP_TIMEOUT)["revision"]


# --- watching ------------------------------------------------------------------------------------


def watch(server: ServerProcess, query: str = "", **options: Any) -> Any:
    """A websocket client for ``/ws/watch?query`` (no Origin header, like a CLI)."""
    options.setdefault("ping_interval", None)  # a deliberately idle client must not be timed out by pings
    options.setdefault("max_queue", None)
    return connect(f"{server.ws_url}/ws/watch?{query}", open_timeout=FRAME_TIMEOUT, **options)


async def read_frames(ws: ClientConnection, count: int) -> list[dict[str, Any]]:
    """The next ``count`` frames, failing with what arrived if they don't come in time."""
    frames: list[dict[str, Any]] = []
    try:
        async with asyncio.timeout(FRAME_TIMEOUT):
            while len(frames) < count:
                frames.append(json.loads(await ws.recv()))
    except TimeoutError:
        pytest.fail(f"only {len(frames)} of {count} frames arrived; last: {frames[-1:]}")
    return frames


async def read_until(ws: ClientConnection, revision: int, frames: list[dict[str, Any]]) -> None:
    """Append frames to ``frames`` until one at ``revision`` or later arrives."""
    while not frames or frames[-1]["revision"] < revision:
        frames.append(json.loads(await ws.recv()))


async def assert_silent(ws: ClientConnection, seconds: float = 0.3) -> None:
    """Nothing more arrives (no duplicate, no stray event)."""
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(seconds):
            extra = await ws.recv()
            pytest.fail(f"unexpected extra frame {extra}")


def assert_stream_matches(frames: list[dict[str, Any]], done: list[Done], first: int, last: int) -> None:
    """``frames`` are exactly revisions first..last, each the acknowledged write with that revision."""
    assert [frame["revision"] for frame in frames] == list(range(first, last + 1))
    by_revision = {d.revision: d for d in done if d.revision is not None}
    for frame in frames:
        expected = by_revision.get(frame["revision"])
        if expected is None:
            continue  # a seed write: the seed route reports no revision, so only its place is checked here
        assert (frame["type"], frame["key"], frame["prev"]) == (expected.op.kind, expected.op.key, expected.prev)
        if frame["type"] == "put":
            assert frame["value"] == expected.op.value


def assert_commit_order(frames: list[dict[str, Any]]) -> dict[str, str]:
    """Replay the stream: every ``prev`` is what the stream last said for that key; the final state."""
    state: dict[str, str] = {}
    for frame in frames:
        assert frame["prev"] == state.get(frame["key"]), f"out of commit order at {frame}"
        if frame["type"] == "put":
            if frame["key"] not in state:
                assert frame["created"] == frame["revision"]
            state[frame["key"]] = frame["value"]
        else:
            del state[frame["key"]]
    return state


def listing(base: str, prefix: str) -> dict[str, str]:
    """Every pair under ``prefix`` from the JSON API."""
    response = requests.get(f"{base}/api/v1/kv", params={"prefix": prefix, "limit": 10_000}, timeout=HTTP_TIMEOUT)
    assert response.status_code == 200, response.text
    return {item["key"]: item["value"] for item in response.json()["items"]}


async def _until_watchers(base: str, count: int) -> None:
    """Poll /healthz until it counts ``count`` watchers (closes are processed asynchronously)."""
    deadline = time.monotonic() + FRAME_TIMEOUT
    while (seen := healthz(base, HTTP_TIMEOUT)["watchers"]) != count:
        assert time.monotonic() < deadline, f"/healthz still counts {seen} watchers, expected {count}"
        await asyncio.sleep(0.05)


# --- scenarios -----------------------------------------------------------------------------------


async def test_fifty_watchers_each_get_all_two_hundred_racing_writes(daphne_server):
    base = daphne_server.url
    ops = [Op("put", f"{'a' if i % 2 else 'b'}/fifty/{i % 40}", f"v{i}") for i in range(200)]
    start = current_revision(base)
    sockets = await asyncio.gather(*(watch(daphne_server, "prefix=a/" if i < 10 else "") for i in range(50)))
    try:
        await _until_watchers(base, 50)
        expected_a = sum(op.key.startswith("a/") for op in ops)
        readers = [asyncio.create_task(read_frames(ws, expected_a if i < 10 else 200)) for i, ws in enumerate(sockets)]
        done = await write_concurrently(base, ops)
        streams = await asyncio.gather(*readers)
        assert len(done) == 200
        for stream in streams[10:]:
            assert_stream_matches(stream, done, start + 1, start + 200)
        for stream in streams[:10]:
            assert all(frame["key"].startswith("a/") for frame in stream)
            assert [f["revision"] for f in stream] == sorted(d.revision for d in done if d.op.key.startswith("a/"))
        await asyncio.gather(*(assert_silent(ws) for ws in sockets))
    finally:
        await asyncio.gather(*(ws.close() for ws in sockets))
    await _until_watchers(base, 0)


async def test_concurrent_writers_on_shared_keys_are_published_in_commit_order(daphne_server):
    base = daphne_server.url
    keys = [f"order/{i}" for i in range(6)]
    ops = [Op("delete" if i % 5 == 4 else "put", keys[i % len(keys)], f"w{i}") for i in range(400)]
    start = current_revision(base)
    async with watch(daphne_server, "prefix=order/") as ws:
        frames: list[dict[str, Any]] = []
        reader = asyncio.create_task(read_until(ws, 2**62, frames))
        done = await write_concurrently(base, ops)
        end = start + len(done)
        assert sorted(d.revision for d in done) == list(range(start + 1, end + 1))
        async with asyncio.timeout(FRAME_TIMEOUT):
            while not frames or frames[-1]["revision"] < end:
                await asyncio.sleep(0.01)
        reader.cancel()
        assert_stream_matches(frames, done, start + 1, end)
        assert assert_commit_order(frames) == listing(base, "order/")


async def test_seed_add_writes_reach_watchers_like_json_writes(daphne_server):
    base = daphne_server.url
    start = current_revision(base)
    async with watch(daphne_server, "prefix=seed/") as ws:
        done = await write_concurrently(base, [Op("add", "seed/a", "1"), Op("put", "seed/b", "2")], writers=1)
        done += await write_concurrently(base, [Op("add", "seed/a", "3 with spaces & symbols")], writers=1)
        frames = await read_frames(ws, 3)
    assert_stream_matches(frames, done, start + 1, start + 3)
    assert [(f["type"], f["key"], f["value"], f["prev"]) for f in frames] == [
        ("put", "seed/a", "1", None),
        ("put", "seed/b", "2", None),
        ("put", "seed/a", "3 with spaces & symbols", "1"),
    ]


async def test_after_seam_has_no_gap_or_duplicate_under_continuous_writes(daphne_server):
    base = daphne_server.url
    ops = [Op("put", f"seam/{i % 50}", f"s{i}") for i in range(800)]
    start = current_revision(base)
    writing = asyncio.create_task(write_concurrently(base, ops, writers=4))
    watchers: list[tuple[int, Any, list[dict[str, Any]], asyncio.Task]] = []
    try:
        for i in range(10):
            await asyncio.sleep(0.05)
            now = await asyncio.to_thread(current_revision, base)
            after = max(start, now - 3 * i)  # some at the tip, some replaying a little history
            ws = await watch(daphne_server, f"after={after}")
            frames: list[dict[str, Any]] = []
            watchers.append((after, ws, frames, asyncio.create_task(read_until(ws, 2**62, frames))))
        done = await writing
        end = start + len(done)
        async with asyncio.timeout(FRAME_TIMEOUT):
            while any(not frames or frames[-1]["revision"] < end for _, _, frames, _ in watchers):
                await asyncio.sleep(0.01)
        await asyncio.sleep(0.3)  # a duplicate or stray frame would arrive now
        for after, _, frames, _ in watchers:
            assert_stream_matches(frames, done, after + 1, end)
    finally:
        for _, ws, _, reader in watchers:
            reader.cancel()
            await ws.close()


async def test_after_older_than_history_is_compacted_and_recent_after_replays(small_history_server):
    base = small_history_server.url
    start = current_revision(base)
    done = await write_concurrently(base, [Op("put", f"compact/{i}", str(i)) for i in range(SMALL_HISTORY + 30)])
    end = start + len(done)
    oldest = end - SMALL_HISTORY + 1
    async with watch(small_history_server, f"after={oldest - 2}") as ws:
        assert json.loads(await ws.recv()) == {"type": "compacted", "oldest": oldest}
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        assert closed.value.rcvd.code == CloseCode.COMPACTED
    async with watch(small_history_server, f"after={oldest - 1}") as ws:
        replay = await read_frames(ws, SMALL_HISTORY)
        assert_stream_matches(replay, done, oldest, end)
        more = await write_concurrently(base, [Op("put", "compact/live", "x")], writers=1)
        assert_stream_matches(await read_frames(ws, 1), more, end + 1, end + 1)


def _idle_socket(server: ServerProcess) -> socket.socket:
    """A connected TCP socket with a tiny receive buffer, so unread frames push back on the server."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, 4096)
    sock.connect(("127.0.0.1", server.port))
    return sock


async def _idle_watcher_then_read_all(
    server: ServerProcess, writes: int
) -> tuple[list[dict], list[Done], int, Any, int]:
    """Open a watcher that reads nothing while ``writes`` racing writes finish, then read what it gets.

    A few more writes go on while it reads, so a hole left by dropped messages would be
    followed by live events (the case a gap check must catch, not only a dropped tail).
    A watcher the server dropped for falling behind resumes after the last event it got, as
    every client must: closed with 4408, or reset if it read only after the server stopped
    waiting for it to reach that close. Returns the frames of every connection in order, the
    acknowledged writes, the revision before them, the last close frame (None if the socket
    stayed open), and how many times it was dropped. The writes completing at all while the
    watcher reads nothing is the check that a slow watcher does not hold writers up.
    """
    base = server.url
    start = current_revision(base)
    ops = [Op("put", f"idle/{i % 100}", f"i{i}" + IDLE_PADDING) for i in range(writes)]
    tail = [Op("put", f"idle/tail/{i}", f"t{i}") for i in range(IDLE_TAIL_WRITES)]
    end = start + writes + IDLE_TAIL_WRITES  # all puts: every op is one revision
    frames: list[dict[str, Any]] = []
    dropped = 0
    async with watch(server, "prefix=idle/", sock=_idle_socket(server), max_queue=1, compression=None) as ws:
        async with asyncio.timeout(60):
            done = await write_concurrently(base, ops)
        tail_writing = asyncio.create_task(write_concurrently(base, tail, writers=1))
        close = await _read_until(ws, frames, end)
    while close is not None and close.code in (CloseCode.TOO_SLOW, ABNORMAL_CLOSURE):
        dropped += 1
        after = frames[-1]["revision"] if frames else start
        async with watch(server, f"prefix=idle/&after={after}") as resumed:
            close = await _read_until(resumed, frames, end)
    done += await tail_writing
    assert len(done) == writes + IDLE_TAIL_WRITES
    return frames, done, start, close, dropped


ABNORMAL_CLOSURE = 1006  # what a client reports for a connection that ended without a close frame


async def _read_until(ws: ClientConnection, frames: list[dict[str, Any]], end: int) -> Close | None:
    """Append frames until one at ``end`` or a ``compacted`` one; the close frame if the socket closed."""
    try:
        async with asyncio.timeout(FRAME_TIMEOUT):
            while not frames or (frames[-1].get("revision", 0) < end and frames[-1]["type"] != "compacted"):
                frames.append(json.loads(await ws.recv()))
    except ConnectionClosed as exc:
        return exc.rcvd or Close(ABNORMAL_CLOSURE, "no close frame")
    if frames[-1]["type"] == "compacted":
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
        return closed.value.rcvd
    return None


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_a_watcher_that_read_nothing_during_3000_writes_then_gets_all_in_order(
    kind, daphne_server, uvicorn_server
):
    # 12 MB of events: the server holds at most KV_WATCH_BUFFER_BYTES (8 MiB) of them for a
    # watcher that does not read, then closes it with 4408, and the resumed watch replays the
    # rest from the store's retained events.
    server = daphne_server if kind == "daphne" else uvicorn_server
    frames, done, start, close, dropped = await _idle_watcher_then_read_all(server, 3000)
    assert close is None, f"closed with {close}: {frames[-1:]}"
    assert dropped == 1
    assert_stream_matches(frames, done, start + 1, start + 3000 + IDLE_TAIL_WRITES)
    assert_commit_order(frames)


async def test_an_idle_watcher_past_a_small_history_gets_everything_or_compacted_never_a_hole(small_history_server):
    frames, done, start, close, _ = await _idle_watcher_then_read_all(small_history_server, 3000)
    end = start + len(done)
    if frames and frames[-1]["type"] == "compacted":
        events = frames[:-1]
        assert close is not None and close.code == CloseCode.COMPACTED
        last_sent = events[-1]["revision"] if events else start
        assert last_sent + 1 < frames[-1]["oldest"] <= end, "compacted although the next event was retained"
        assert_stream_matches(events, done, start + 1, last_sent)
    else:
        assert close is None
        assert_stream_matches(frames, done, start + 1, end)


async def test_origin_checked_on_the_real_server(daphne_server):
    with pytest.raises(InvalidStatus) as refused:
        async with watch(daphne_server, origin="http://evil.example"):
            pass
    assert refused.value.response.status_code == 403
    async with watch(daphne_server, origin=f"http://127.0.0.1:{daphne_server.port}") as ws:
        await ws.ping()
    async with watch(daphne_server) as ws:  # no Origin header at all
        await ws.ping()


@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "runserver"])
async def test_events_for_the_largest_values_reach_watchers_on_every_server(
    kind, daphne_server, uvicorn_server, tmp_path
):
    # A put's event carries its value and the value it replaced, each up to the 1 MiB value
    # limit and six times that once JSON escapes control characters: a 12 MiB frame, far
    # over daphne's default 1 MiB websocket message size. Events this large are larger than
    # the default KV_WATCH_BUFFER_BYTES too, so a live watcher with one of them unsent when the
    # next arrives is closed as too slow (4408) and resumes; the replay is sent at its pace.
    largest = 1024 * 1024
    values = ["\x01" * largest, "\x02" * largest, "small"]
    servers = {"daphne": daphne_server, "uvicorn": uvicorn_server}
    with contextlib.ExitStack() as stack:
        server = servers.get(kind) or stack.enter_context(ServerProcess(tmp_path / "store.pickle", kind=kind))
        start = current_revision(server.url)
        reading = asyncio.create_task(_frames_resuming(server, "prefix=largest/", start, len(values)))
        await _until_watchers(server.url, 1)
        await asyncio.to_thread(_put_values, server, f"largest/{kind}", values)
        frames = await reading
        assert [(frame["value"], frame["prev"]) for frame in frames] == list(
            zip(values, [None, *values[:-1]], strict=True)
        )
        async with watch(server, f"prefix=largest/&after={start}", max_size=None) as resumed:
            assert [frame["value"] for frame in await read_frames(resumed, len(values))] == values
        assert "Traceback" not in server.log()


def _put_values(server: ServerProcess, key: str, values: list[str]) -> None:
    """Put each value in turn on one keep-alive session."""
    with requests.Session() as session:
        for value in values:
            response = session.put(f"{server.url}/api/v1/kv/{key}", json={"value": value}, timeout=30)
            assert response.status_code == 200, response.text


async def _frames_resuming(server: ServerProcess, query: str, after: int, count: int) -> list[dict[str, Any]]:
    """The next ``count`` events after ``after``, resuming after the last one seen when closed as too slow."""
    frames: list[dict[str, Any]] = []
    while len(frames) < count:
        last = frames[-1]["revision"] if frames else after
        async with watch(server, f"{query}&after={last}", max_size=None) as ws:
            try:
                async with asyncio.timeout(FRAME_TIMEOUT):
                    while len(frames) < count:
                        frames.append(json.loads(await ws.recv()))
            except ConnectionClosed as closed:
                assert closed.rcvd is not None and closed.rcvd.code == CloseCode.TOO_SLOW, closed
    return frames


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
async def test_an_unknown_websocket_path_closes_with_4404_and_no_traceback(kind, daphne_server, uvicorn_server):
    server = daphne_server if kind == "daphne" else uvicorn_server
    async with connect(f"{server.ws_url}/ws/watch/", open_timeout=FRAME_TIMEOUT) as ws:
        assert json.loads(await ws.recv()) == {"type": "error", "error": "no such path: /ws/watch/"}
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd.code == 4404
    assert "Traceback" not in server.log()
