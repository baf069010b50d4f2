"""The watch socket in-process, through ``channels.testing.WebsocketCommunicator``.

Each test gets a fresh in-memory channel layer (a settings override resets Channels' layer
manager), a temp pickle store, and the application composed exactly as the server does it
(Origin check in front of the URL router).
"""

from __future__ import annotations

import asyncio
import base64
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any
from unittest.mock import ANY

import pytest
from channels.exceptions import ChannelFull
from channels.layers import InMemoryChannelLayer, get_channel_layer
from channels.testing import WebsocketCommunicator

from kvapp.backend import set_store
from kvapp.server.application import build_application
from kvapp.store.errors import StoreUnavailable
from kvapp.store.pickle.store import PickleStore
from kvapp.watch import consumer as consumers
from kvapp.watch.broadcast import EVENTS_MESSAGE, WATCH_GROUP, publish_events
from kvapp.watch.protocol import CloseCode
from kvapp.watch.watchers import watcher_count, watchers_of

RECEIVE_TIMEOUT = 2.0  # seconds; generous for a loaded 2-core box
QUIET = 0.2  # seconds of silence that count as "nothing more was sent"
SMALL_HISTORY = 5  # events the compaction tests' store keeps


async def _no_http(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """These tests speak only websocket; the HTTP side is never called."""
    raise AssertionError("unexpected HTTP request")


APPLICATION = build_application(_no_http)


class DroppingLayer(InMemoryChannelLayer):
    """An in-memory layer whose channels are 'full' for the messages listed in ``drop``.

    ``group_send`` swallows ChannelFull exactly as for a really full channel, so this is
    the silent loss a slow watcher meets, made deterministic.
    """

    drop: set[int] = set()  # 1-based numbers of the event messages to drop

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.sends = 0

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Count event messages (not sync markers); drop one (ChannelFull) if its number is listed."""
        if message["type"] == EVENTS_MESSAGE:
            self.sends += 1
            if self.sends in self.drop:
                raise ChannelFull(channel)
        await super().send(channel, message)


class UnreachableLayer(InMemoryChannelLayer):
    """A layer whose backend is down (as a Redis layer with Redis away): joining a group fails."""

    async def group_add(self, group: str, channel: str) -> None:
        """Fail as a network client would."""
        raise ConnectionRefusedError("layer backend unreachable")


class NoChannelLayer(InMemoryChannelLayer):
    """A layer that cannot even create a consumer's channel (Redis away when the socket opens)."""

    async def new_channel(self, prefix: str = "specific.") -> str:
        """Fail the way kvstore's Redis layer reports an outage."""
        raise StoreUnavailable("Redis is unreachable")


class FlakyMarkerLayer(InMemoryChannelLayer):
    """A layer whose backend fails the first few sync-marker sends, then recovers."""

    failures_left = 3

    async def send(self, channel: str, message: dict[str, Any]) -> None:
        """Fail a sync marker as a network client would, while failures are left."""
        if message["type"] == consumers.SYNC_MESSAGE and self.failures_left > 0:
            self.failures_left -= 1
            raise ConnectionResetError("layer backend went away")
        await super().send(channel, message)


@pytest.fixture(autouse=True)
def fresh_layer(settings: Any) -> Iterator[None]:
    """A new in-memory layer per test, so no queue or group outlives its event loop."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    yield


@pytest.fixture
def small_store(tmp_path: Path) -> Iterator[PickleStore]:
    """A store retaining only SMALL_HISTORY events, installed as the process-wide store."""
    opened = PickleStore(tmp_path / "s.pickle", history=SMALL_HISTORY)
    set_store(opened)
    yield opened
    set_store(None)
    opened.close()


@pytest.fixture
async def open_sockets() -> AsyncIterator[list[WebsocketCommunicator]]:
    """Every communicator a test opens, disconnected at the end whatever happened.

    A receive that timed out has already cancelled its application (asgiref does that), and
    disconnecting it would re-raise the CancelledError and break the teardown of the
    fixtures after it, so those are skipped: the test has failed already.
    """
    opened: list[WebsocketCommunicator] = []
    yield opened
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()


async def _watch(
    sockets: list[WebsocketCommunicator],
    query: str = "",
    headers: list[tuple[bytes, bytes]] | None = None,
    application: Any = APPLICATION,
    subprotocols: list[str] | None = None,
) -> WebsocketCommunicator:
    """Open ``/ws/watch?query`` and assert the handshake was accepted."""
    communicator = WebsocketCommunicator(application, f"/ws/watch?{query}", headers=headers, subprotocols=subprotocols)
    sockets.append(communicator)
    connected, communicator.subprotocol = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert connected, "the handshake was refused"
    return communicator


async def _frames(communicator: WebsocketCommunicator, count: int) -> list[dict[str, Any]]:
    """The next ``count`` JSON frames."""
    return [await communicator.receive_json_from(timeout=RECEIVE_TIMEOUT) for _ in range(count)]


async def _closed_with(communicator: WebsocketCommunicator) -> int:
    """Wait for the server's close and return its code."""
    message = await communicator.receive_output(timeout=RECEIVE_TIMEOUT)
    assert message["type"] == "websocket.close", message
    return message["code"]


async def _put_many(store: PickleStore, count: int, prefix: str = "k") -> None:
    """``count`` sequential puts of ``{prefix}{i}`` = ``v{i}``."""
    for i in range(count):
        await store.put(f"{prefix}{i}", f"v{i}")


def _revisions(frames: list[dict[str, Any]]) -> list[int]:
    return [frame["revision"] for frame in frames]


def _behind_a_full_socket(room: asyncio.Event | asyncio.Semaphore) -> Any:
    """The application behind a server whose ``send`` of a frame waits for room, as uvicorn's (and
    daphne's, adapted) does while the client reads nothing: until the event is set, or for one
    permit of the semaphore per frame."""
    wait = room.wait if isinstance(room, asyncio.Event) else room.acquire

    async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
        async def send_when_there_is_room(message: dict[str, Any]) -> None:
            if message["type"] == "websocket.send":
                await wait()
            await send(message)

        await APPLICATION(scope, receive, send_when_there_is_room)

    return application


def _gate_sends(monkeypatch: pytest.MonkeyPatch) -> asyncio.Event:
    """Hold every event frame the consumer sends until the returned event is set: a client not
    reading on a server that applies back-pressure (uvicorn), which keeps the consumer stuck in send()."""
    gate = asyncio.Event()
    original_send = consumers.WatchConsumer._send

    async def send_when_the_client_reads(self: Any, text: str, size: int) -> None:
        await gate.wait()
        await original_send(self, text, size)

    monkeypatch.setattr(consumers.WatchConsumer, "_send", send_when_the_client_reads)
    return gate


# --- live events ---------------------------------------------------------------------------


async def test_put_and_delete_events_have_the_contract_frame_shapes(store, open_sockets):
    ws = await _watch(open_sockets)
    await store.put("a", "1")
    await store.put("a", "2")
    await store.delete("a")
    frames = await _frames(ws, 3)
    assert frames == [
        {"type": "put", "key": "a", "value": "1", "revision": 1, "created": 1, "prev": None, "time": ANY},
        {"type": "put", "key": "a", "value": "2", "revision": 2, "created": 1, "prev": "1", "time": ANY},
        {"type": "delete", "key": "a", "revision": 3, "prev": "2", "time": ANY},
    ]
    assert await ws.receive_nothing(QUIET)


async def test_without_after_only_writes_after_the_connection_are_sent(store, open_sockets):
    await store.put("before", "x")
    ws = await _watch(open_sockets)
    await store.put("after", "y")
    [frame] = await _frames(ws, 1)
    assert (frame["key"], frame["revision"]) == ("after", 2)
    assert await ws.receive_nothing(QUIET)


async def test_prefix_limits_events_to_matching_keys(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=app/")
    for key in ("app/a", "other", "ap", "app/b", "app"):
        await store.put(key, "v")
    await store.delete("app/a")
    frames = await _frames(ws, 3)
    assert [(f["type"], f["key"], f["revision"]) for f in frames] == [
        ("put", "app/a", 1),
        ("put", "app/b", 4),
        ("delete", "app/a", 6),
    ]
    assert await ws.receive_nothing(QUIET)


async def test_prefix_is_percent_decoded_and_may_hold_unicode(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=%C3%A9t%C3%A9%2F")
    await store.put("hiver/x", "no")
    await store.put("été/x", "yes")
    [frame] = await _frames(ws, 1)
    assert frame["key"] == "été/x"


async def test_every_watcher_gets_every_event_of_a_concurrent_burst_in_order(store, open_sockets):
    watchers = [await _watch(open_sockets) for _ in range(5)]
    await asyncio.gather(*(store.put(f"k{i % 7}", str(i)) for i in range(60)))
    for ws in watchers:
        frames = await _frames(ws, 60)
        assert _revisions(frames) == list(range(1, 61))
        assert await ws.receive_nothing(QUIET)


async def test_client_frames_are_ignored_even_when_not_json(store, open_sockets):
    ws = await _watch(open_sockets)
    await ws.send_to(text_data="this is not json")
    await ws.send_to(bytes_data=b"\x00\x01")
    await store.put("a", "1")
    [frame] = await _frames(ws, 1)
    assert frame["revision"] == 1


# --- after=R replay ------------------------------------------------------------------------


async def test_after_replays_retained_events_then_continues_live(store, open_sockets):
    await _put_many(store, 5)
    ws = await _watch(open_sockets, "after=2")
    replay = await _frames(ws, 3)
    assert _revisions(replay) == [3, 4, 5]
    assert replay[0] == {
        "type": "put",
        "key": "k2",
        "value": "v2",
        "revision": 3,
        "created": 3,
        "prev": None,
        "time": ANY,
    }
    await store.put("live", "x")
    [live] = await _frames(ws, 1)
    assert live["revision"] == 6
    assert await ws.receive_nothing(QUIET)


async def test_after_replay_respects_the_prefix(store, open_sockets):
    for key in ("a/1", "b/1", "a/2", "b/2"):
        await store.put(key, "v")
    ws = await _watch(open_sockets, "prefix=b/&after=0")
    assert [f["key"] for f in await _frames(ws, 2)] == ["b/1", "b/2"]
    assert await ws.receive_nothing(QUIET)


async def test_after_seam_has_no_gap_or_duplicate_while_writes_continue(store, open_sockets):
    await _put_many(store, 20, "pre")
    writer = asyncio.create_task(_put_many(store, 200, "during"))
    await asyncio.sleep(0)  # let the writer start, so the seam falls among live writes
    ws = await _watch(open_sockets, "after=10")
    await writer
    end = await store.revision()
    frames = await _frames(ws, end - 10)
    assert _revisions(frames) == list(range(11, end + 1))
    assert await ws.receive_nothing(QUIET)


async def test_after_equal_to_the_current_revision_replays_nothing(store, open_sockets):
    await _put_many(store, 3)
    ws = await _watch(open_sockets, "after=3")
    assert await ws.receive_nothing(QUIET)
    await store.put("x", "y")
    assert _revisions(await _frames(ws, 1)) == [4]


async def test_after_just_inside_the_retained_history_replays_all_of_it(small_store, open_sockets):
    await _put_many(small_store, 12)
    ws = await _watch(open_sockets, f"after={12 - SMALL_HISTORY}")
    assert _revisions(await _frames(ws, SMALL_HISTORY)) == list(range(8, 13))


async def test_after_older_than_the_retained_history_sends_compacted_and_closes_4410(small_store, open_sockets):
    await _put_many(small_store, 12)
    ws = await _watch(open_sockets, "after=1")
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "compacted", "oldest": 8}
    assert await _closed_with(ws) == CloseCode.COMPACTED == 4410


async def test_after_beyond_the_stores_revision_is_compacted_not_a_silent_skip(store, open_sockets):
    # Only a store restored from an older backup (or a Redis failover that lost writes) is
    # behind a client: its next writes reuse revisions the client has seen, and waiting for
    # them to pass R would drop them unannounced. Compacted makes the client list again.
    await _put_many(store, 3)
    ws = await _watch(open_sockets, "after=10")
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "compacted", "oldest": 4}
    assert await _closed_with(ws) == CloseCode.COMPACTED
    up_to_date = await _watch(open_sockets, "after=3")
    await store.put("k", "v")
    assert _revisions(await _frames(up_to_date, 1)) == [4]


@pytest.mark.parametrize("after", ["x", "-1", "1.5", "%C2%B2", "1e3", "0x10", str(2**63), "9" * 5000])
async def test_bad_after_closes_4400(store, open_sockets, after):
    ws = await _watch(open_sockets, f"after={after}")
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert frame["type"] == "error" and "after" in frame["error"]
    assert await _closed_with(ws) == 4400


@pytest.mark.parametrize("query", ["prefix=%FF", "prefix=a%C0%AF", "after=1%FF", "prefix=ok&token=%FF"])
async def test_a_query_that_is_not_utf8_closes_4400_instead_of_watching_a_mangled_prefix(store, open_sockets, query):
    ws = await _watch(open_sockets, query)
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {
        "type": "error",
        "error": "the query string is not valid UTF-8 (check its percent-encoding)",
    }
    assert await _closed_with(ws) == 4400


async def test_a_prefix_holding_the_replacement_character_itself_is_watched(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=%EF%BF%BD")
    await store.put("\ufffd/a", "v")
    await store.put("other", "v")
    assert [frame["key"] for frame in await _frames(ws, 1)] == ["\ufffd/a"]


# --- silent loss in the layer ----------------------------------------------------------------


async def test_messages_dropped_by_a_full_channel_are_filled_from_the_store(store, open_sockets, settings, monkeypatch):
    monkeypatch.setattr(DroppingLayer, "drop", {2, 3, 5})
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.DroppingLayer"}}
    assert isinstance(get_channel_layer(), DroppingLayer)
    ws = await _watch(open_sockets)
    await _put_many(store, 8)  # one batch each: sends 2, 3 and 5 are dropped
    frames = await _frames(ws, 8)
    assert _revisions(frames) == list(range(1, 9))
    assert [f["key"] for f in frames] == [f"k{i}" for i in range(8)]
    assert await ws.receive_nothing(QUIET)


async def test_events_caught_up_from_the_store_are_not_sent_again_when_their_messages_arrive(
    store, open_sockets, settings, monkeypatch
):
    # The consumer is stuck sending revision 1 while 2's message is dropped and 3..6 queue up;
    # 3 reveals the gap, the store supplies 2..6, and the queued 4..6 must then be skipped.
    monkeypatch.setattr(DroppingLayer, "drop", {2})
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.DroppingLayer"}}
    gate = _gate_sends(monkeypatch)
    ws = await _watch(open_sockets)
    await _put_many(store, 6)
    gate.set()
    assert _revisions(await _frames(ws, 6)) == list(range(1, 7))
    assert await ws.receive_nothing(QUIET)


async def test_a_dropped_last_message_is_caught_by_the_periodic_sync(store, open_sockets, monkeypatch):
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 0.05)
    ws = await _watch(open_sockets)
    await store.put("seen", "1")
    store.set_publisher(None)  # as if the layer dropped these, with no later message to reveal it
    await store.put("unseen", "2")
    await store.delete("seen")
    store.set_publisher(publish_events)
    frames = await _frames(ws, 3)
    assert [(f["type"], f["key"], f["revision"]) for f in frames] == [
        ("put", "seen", 1),
        ("put", "unseen", 2),
        ("delete", "seen", 3),
    ]
    assert await ws.receive_nothing(QUIET)


async def test_the_periodic_sync_survives_a_layer_outage(store, open_sockets, monkeypatch, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.FlakyMarkerLayer"}}
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 0.02)
    ws = await _watch(open_sockets)
    store.set_publisher(None)  # a dropped last message, only the sync can reveal it
    await store.put("unseen", "1")
    store.set_publisher(publish_events)
    assert _revisions(await _frames(ws, 1)) == [1]
    assert get_channel_layer().failures_left == 0


async def test_a_watcher_dropped_from_the_group_is_caught_up_and_rejoined(store, open_sockets, monkeypatch):
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 0.05)
    ws = await _watch(open_sockets)
    layer = get_channel_layer()
    [channel] = layer.groups[WATCH_GROUP]
    await layer.group_discard(WATCH_GROUP, channel)  # what message/group expiry does silently
    await store.put("a", "1")
    assert _revisions(await _frames(ws, 1)) == [1]
    assert channel in layer.groups.get(WATCH_GROUP, {})
    await store.put("b", "2")
    assert _revisions(await _frames(ws, 1)) == [2]


async def test_a_slow_client_is_not_caught_up_past_events_still_queued_for_it(small_store, open_sockets, monkeypatch):
    # A server applying back-pressure (uvicorn) holds the consumer in send() while the client
    # reads nothing; the store meanwhile moves far past its history. The queued messages still
    # hold every event, so the watcher must get them all, not a needless "compacted".
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 0.02)
    gate = _gate_sends(monkeypatch)
    ws = await _watch(open_sockets)
    writes = 4 * SMALL_HISTORY
    await _put_many(small_store, writes)
    await asyncio.sleep(0.2)  # several sync ticks pass while the consumer is stuck
    gate.set()
    assert _revisions(await _frames(ws, writes)) == list(range(1, writes + 1))
    assert await ws.receive_nothing(QUIET)


async def test_a_gap_older_than_the_history_ends_the_watch_with_compacted(small_store, open_sockets, monkeypatch):
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 60.0)  # only the next message may reveal the gap
    ws = await _watch(open_sockets)
    await small_store.put("first", "1")
    assert _revisions(await _frames(ws, 1)) == [1]
    small_store.set_publisher(None)
    await _put_many(small_store, SMALL_HISTORY + 3)
    small_store.set_publisher(publish_events)
    await small_store.put("last", "x")
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "compacted", "oldest": 6}
    assert await _closed_with(ws) == 4410


# --- a watcher that stops reading ------------------------------------------------------------

LIMIT = 2000  # bytes: KV_WATCH_BUFFER_BYTES of these tests
PADDING = "p" * 500  # each event frame is about 560 bytes


async def test_a_watcher_that_stops_reading_is_closed_4408_when_its_unsent_events_pass_the_limit(
    store, open_sockets, settings
):
    settings.KV_WATCH_BUFFER_BYTES = LIMIT
    start = watcher_count()
    gate = asyncio.Event()  # never set: the client reads nothing
    ws = await _watch(open_sockets, application=_behind_a_full_socket(gate))
    for i in range(3):
        await store.put(f"k{i}", PADDING)  # one frame at the server, two queued: about 1700 bytes unsent
    assert await ws.receive_nothing(QUIET)
    assert watcher_count() == start + 1
    await store.put("k3", PADDING)
    assert await _closed_with(ws) == CloseCode.TOO_SLOW == 4408
    assert watcher_count() == start, "the slot is given back at once, not when the client finally leaves"
    await store.put("k4", PADDING)
    gate.set()
    assert await ws.receive_nothing(QUIET), "nothing may follow the close"


async def test_an_event_larger_than_the_limit_reaches_a_watcher_that_keeps_up(store, open_sockets, settings):
    settings.KV_WATCH_BUFFER_BYTES = LIMIT
    ws = await _watch(open_sockets)
    for i in range(3):
        await store.put("big", PADDING * 10 + str(i))  # 5 KB values, 10 KB frames with their prev
        [frame] = await _frames(ws, 1)
        assert frame["revision"] == i + 1
    assert await ws.receive_nothing(QUIET)


async def test_a_resumed_watcher_gets_a_backlog_larger_than_the_limit_at_its_own_pace(store, open_sockets, settings):
    # Catching up is not buffered: replayed events go one at a time as the client reads, and
    # live ones wait in the store meanwhile, so resuming after a 4408 never meets another.
    settings.KV_WATCH_BUFFER_BYTES = LIMIT
    await _put_many(store, 30, "old")
    gate = asyncio.Event()
    ws = await _watch(open_sockets, "after=0", application=_behind_a_full_socket(gate))
    for i in range(30):
        await store.put(f"live{i}", PADDING)  # 17 KB more while the client reads nothing
    await asyncio.sleep(QUIET)
    gate.set()
    assert _revisions(await _frames(ws, 60)) == list(range(1, 61))
    await store.put("after", "x")
    assert _revisions(await _frames(ws, 1)) == [61]
    assert await ws.receive_nothing(QUIET)


# --- progress ------------------------------------------------------------------------------


@pytest.mark.parametrize("progress", ["0", "3601", "x", "-1", "1.5", "%C2%B2", "9" * 100])
async def test_bad_progress_closes_4400(store, open_sockets, progress):
    ws = await _watch(open_sockets, f"progress={progress}")
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert frame == {"type": "error", "error": "progress must be whole seconds from 1 to 3600"}
    assert await _closed_with(ws) == 4400


async def test_a_quiet_watch_is_told_how_far_the_store_has_got_every_progress_seconds(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=quiet/&progress=1")
    await store.put("busy/a", "1")
    await store.put("busy/b", "2")
    assert await ws.receive_nothing(0.5)
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "progress", "revision": 2}
    await store.put("quiet/x", "3")
    assert _revisions(await _frames(ws, 1)) == [3]  # an event restarts the quiet time
    assert await ws.receive_nothing(0.5)
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "progress", "revision": 3}


async def test_without_progress_a_quiet_watch_gets_nothing(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=quiet/")
    await store.put("busy/a", "1")
    assert await ws.receive_nothing(1.5)


async def test_progress_never_passes_an_event_that_has_not_been_sent(store, open_sockets):
    room = asyncio.Semaphore(0)  # the client reads one frame per permit
    ws = await _watch(open_sockets, "progress=1", application=_behind_a_full_socket(room))
    await store.put("k", "1")
    await store.put("k", "2")
    await asyncio.sleep(1.5)  # quiet for longer than progress while both events wait for the client
    frames = []
    for _ in range(3):
        room.release()
        frames.append(await ws.receive_json_from(timeout=RECEIVE_TIMEOUT))
    assert [(frame["type"], frame["revision"]) for frame in frames] == [("put", 1), ("put", 2), ("progress", 2)]


async def test_progress_waits_for_a_dropped_event_to_be_filled_from_the_store(
    store, open_sockets, settings, monkeypatch
):
    # What the Redis layer may do: lose the last message. The store is at 2, but the watcher
    # has sent only 1, so that is what progress may say until the sync fills the gap.
    monkeypatch.setattr(consumers, "SYNC_INTERVAL", 60.0)
    monkeypatch.setattr(DroppingLayer, "drop", {2})
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.DroppingLayer"}}
    ws = await _watch(open_sockets, "progress=1")
    await store.put("k", "1")
    await store.put("k", "2")
    assert _revisions(await _frames(ws, 1)) == [1]
    assert await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) == {"type": "progress", "revision": 1}
    await store.put("k", "3")  # reveals the gap: 2 comes from the store, then 3, then progress 3
    frames = [await ws.receive_json_from(timeout=RECEIVE_TIMEOUT) for _ in range(3)]
    assert [(frame["type"], frame["revision"]) for frame in frames] == [("put", 2), ("put", 3), ("progress", 3)]


# --- the receive loop ----------------------------------------------------------------------------


async def test_a_disconnect_ends_the_consumer_and_leaves_the_group(store, open_sockets):
    ws = await _watch(open_sockets)
    layer = get_channel_layer()
    [channel] = layer.groups[WATCH_GROUP]
    await ws.disconnect()
    open_sockets.clear()
    assert ws.future.done() and ws.future.exception() is None
    assert channel not in layer.groups.get(WATCH_GROUP, {})


async def test_a_disconnect_while_a_send_waits_for_the_client_ends_the_consumer_at_once(
    store, open_sockets, monkeypatch
):
    gate = _gate_sends(monkeypatch)  # never opened: the client reads nothing before it leaves
    start = watcher_count()
    ws = await _watch(open_sockets)
    await store.put("a", "1")
    await asyncio.sleep(QUIET)  # the sender is now held inside the send of revision 1
    assert _tasks("_send_until_closed")
    await ws.send_input({"type": "websocket.disconnect", "code": 1000})
    await ws.wait(RECEIVE_TIMEOUT)
    open_sockets.clear()
    await asyncio.sleep(0)  # let the cancelled sender finish
    assert not gate.is_set()
    assert not _tasks("_send_until_closed")
    assert watcher_count() == start


async def test_client_frames_during_a_delivery_do_not_stop_the_feed(store, open_sockets, monkeypatch):
    gate = _gate_sends(monkeypatch)
    ws = await _watch(open_sockets)
    await store.put("a", "1")
    await asyncio.sleep(QUIET)
    await ws.send_to(text_data="hello")
    await store.put("b", "2")
    gate.set()
    assert _revisions(await _frames(ws, 2)) == [1, 2]
    await ws.send_to(text_data="again")
    await store.put("c", "3")
    assert _revisions(await _frames(ws, 1)) == [3]


async def test_a_failing_layer_handler_ends_the_consumer_with_its_error(store, open_sockets):
    ws = await _watch(open_sockets)
    layer = get_channel_layer()
    [channel] = layer.groups[WATCH_GROUP]
    await layer.send(channel, {"type": "kv.unknown"})
    with pytest.raises(ValueError, match="no handler"):
        await ws.wait(RECEIVE_TIMEOUT)
    open_sockets.clear()


async def test_a_cancelled_consumer_gives_its_channel_back_to_the_layer(store, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "kvapp.watch.layers.SharedMessageChannelLayer"}}
    start = watcher_count()
    ws = WebsocketCommunicator(APPLICATION, "/ws/watch")
    assert (await ws.connect(timeout=RECEIVE_TIMEOUT))[0]
    layer = get_channel_layer()
    [channel] = layer.groups[WATCH_GROUP]
    await asyncio.sleep(QUIET)
    assert channel in layer.channels  # the feed waits on it
    assert watcher_count() == start + 1
    assert _tasks("_sync_periodically")
    ws.future.cancel()  # what daphne does to an application that outlives its connection
    with pytest.raises(asyncio.CancelledError):
        await ws.future
    await asyncio.sleep(0)  # let the cancelled sync task finish
    assert channel not in layer.channels
    assert watcher_count() == start, "a cancelled watch must give its watcher slot back"
    assert not _tasks("_sync_periodically"), "a cancelled watch must stop its sync timer"
    assert not _tasks("_send_until_closed"), "a cancelled watch must stop its sender"
    assert channel not in layer.groups.get(WATCH_GROUP, ())


def _tasks(method: str) -> list[asyncio.Task]:
    """The watchers' tasks running ``WatchConsumer.<method>`` still alive on this loop."""
    return [
        task
        for task in asyncio.all_tasks()
        if not task.done() and task.get_coro().__qualname__ == f"WatchConsumer.{method}"
    ]


# --- auth and origin ---------------------------------------------------------------------------


async def test_token_required_closes_4401_without_it(store, open_sockets, settings):
    settings.KV_TOKEN = "t"
    ws = await _watch(open_sockets)
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert frame["type"] == "error"
    assert await _closed_with(ws) == 4401


async def test_wrong_token_closes_4401(store, open_sockets, settings):
    settings.KV_TOKEN = "t"
    ws = await _watch(open_sockets, "token=nope", headers=[(b"authorization", b"Bearer wrong")])
    await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert await _closed_with(ws) == 4401


@pytest.mark.parametrize(
    ("query", "headers"),
    [("token=t", None), ("", [(b"authorization", b"Bearer t")])],
    ids=["query-token", "authorization-header"],
)
async def test_token_accepted_from_query_or_header(store, open_sockets, settings, query, headers):
    settings.KV_TOKEN = "t"
    ws = await _watch(open_sockets, query, headers=headers)
    await store.put("a", "1")
    assert _revisions(await _frames(ws, 1)) == [1]


def _bearer(token: str) -> str:
    """The subprotocol the page offers its token in: base64url of its UTF-8, unpadded."""
    return "kvstore.bearer." + base64.urlsafe_b64encode(token.encode()).decode().rstrip("=")


@pytest.mark.parametrize("token", ["t", "a longer token, with spaces!", "tökén ✓"])
async def test_a_token_offered_as_a_subprotocol_is_accepted_with_kvstore_alone(store, open_sockets, settings, token):
    settings.KV_TOKEN = token
    ws = await _watch(open_sockets, subprotocols=["kvstore", _bearer(token)])
    assert ws.subprotocol == "kvstore"  # never the one carrying the token
    await store.put("a", "1")
    assert _revisions(await _frames(ws, 1)) == [1]


@pytest.mark.parametrize("bearer", ["kvstore.bearer.d3Jvbmc", "kvstore.bearer.%%%", "kvstore.bearer.é"])
async def test_a_wrong_subprotocol_token_is_told_4401_on_a_socket_the_browser_keeps(
    store, open_sockets, settings, bearer
):
    settings.KV_TOKEN = "t"
    ws = await _watch(open_sockets, "token=t", subprotocols=["kvstore", bearer])
    assert ws.subprotocol == "kvstore"  # a browser fails a handshake without it, and would never see 4401
    assert (await ws.receive_json_from(timeout=RECEIVE_TIMEOUT))["type"] == "error"
    assert await _closed_with(ws) == 4401


async def test_a_client_offering_no_subprotocol_is_accepted_without_one(store, open_sockets):
    ws = await _watch(open_sockets)
    assert ws.subprotocol is None


@pytest.mark.parametrize("origin", [b"http://evil.example", b"null", b"http://127.0.0.1.evil.example"])
async def test_foreign_origin_is_refused(store, open_sockets, origin):
    communicator = WebsocketCommunicator(APPLICATION, "/ws/watch", headers=[(b"origin", origin)])
    open_sockets.append(communicator)
    connected, _ = await communicator.connect(timeout=RECEIVE_TIMEOUT)
    assert not connected


@pytest.mark.parametrize("origin", [b"http://127.0.0.1:8000", b"http://localhost", b"https://localhost:8443"])
async def test_allowed_host_origin_is_accepted(store, open_sockets, origin):
    ws = await _watch(open_sockets, headers=[(b"origin", origin), (b"host", b"127.0.0.1:8000")])
    await store.put("a", "1")
    assert _revisions(await _frames(ws, 1)) == [1]


async def test_missing_origin_is_accepted(store, open_sockets):
    ws = await _watch(open_sockets, headers=[(b"host", b"127.0.0.1:8000")])
    await store.put("a", "1")
    assert _revisions(await _frames(ws, 1)) == [1]


# --- watcher count -------------------------------------------------------------------------------


async def _healthz_watchers(async_client: Any) -> int:
    response = await async_client.get("/healthz")
    assert response.status_code == 200
    return response.json()["watchers"]


async def test_healthz_counts_watchers_up_and_down(store, open_sockets, async_client):
    before = await _healthz_watchers(async_client)
    first = await _watch(open_sockets)
    second = await _watch(open_sockets, "prefix=a")
    assert await _healthz_watchers(async_client) == before + 2
    metrics = (await async_client.get("/metrics")).content.decode()
    assert f"kv_watchers {float(before + 2)}" in metrics.splitlines()
    await first.disconnect()
    await second.disconnect()
    open_sockets.clear()
    assert await _healthz_watchers(async_client) == before


async def test_refused_sockets_are_not_counted(store, open_sockets, async_client):
    before = await _healthz_watchers(async_client)
    bad = await _watch(open_sockets, "after=x")
    assert (await bad.receive_json_from(timeout=RECEIVE_TIMEOUT))["type"] == "error"
    assert await _closed_with(bad) == 4400
    assert await _healthz_watchers(async_client) == before


async def test_watchers_over_the_per_client_limit_are_closed_4429(store, open_sockets, settings):
    settings.KV_MAX_WATCHERS_PER_CLIENT = watchers_of("unknown") + 1  # the communicator has no client address
    first = await _watch(open_sockets)
    second = await _watch(open_sockets)
    assert (await second.receive_json_from(timeout=RECEIVE_TIMEOUT))["type"] == "error"
    assert await _closed_with(second) == CloseCode.TOO_MANY == 4429
    await store.put("a", "1")
    assert _revisions(await _frames(first, 1)) == [1]


async def test_an_unreachable_layer_closes_the_watch_cleanly_and_uncounted(store, open_sockets, settings, async_client):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.UnreachableLayer"}}
    before = await _healthz_watchers(async_client)
    ws = await _watch(open_sockets)
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert frame["type"] == "error"
    assert await _closed_with(ws) == CloseCode.UNAVAILABLE
    await ws.disconnect()
    open_sockets.clear()
    assert await _healthz_watchers(async_client) == before


async def test_a_layer_that_cannot_make_a_channel_refuses_the_watch_with_4503_not_a_500(store, settings):
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": f"{__name__}.NoChannelLayer"}}
    ws = WebsocketCommunicator(APPLICATION, "/ws/watch")
    connected, _ = await ws.connect(timeout=RECEIVE_TIMEOUT)
    assert connected
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert frame["type"] == "error"
    assert "unreachable" in frame["error"]
    assert await _closed_with(ws) == CloseCode.UNAVAILABLE


async def test_a_write_right_after_the_handshake_is_delivered_without_after(store, open_sockets):
    ws = await _watch(open_sockets, "prefix=race/")
    await store.put("race/k", "v")
    frame = await ws.receive_json_from(timeout=RECEIVE_TIMEOUT)
    assert (frame["key"], frame["revision"]) == ("race/k", 1)


@pytest.mark.parametrize("path", ["/ws/nothing", "/ws/watch/", "/", "/ws/watch/extra"])
async def test_an_unknown_websocket_path_is_told_404_and_closed_like_a_refused_watch(path):
    communicator = WebsocketCommunicator(APPLICATION, path)
    connected, _ = await communicator.connect()
    assert connected
    assert await communicator.receive_json_from() == {"type": "error", "error": f"no such path: {path}"}
    assert (await communicator.receive_output())["code"] == 4404
    await communicator.wait()


def _peer_gone_errors() -> list[Exception]:
    from autobahn.exception import Disconnected  # what daphne raises; ASGI servers should raise OSError

    return [
        Disconnected("Attempt to send on a closed protocol"),
        ConnectionResetError("gone"),
        RuntimeError(  # uvicorn, once it has seen the close
            "Unexpected ASGI message 'websocket.send', after sending 'websocket.close' or response already completed."
        ),
    ]


def _consumer_whose_peer(raises: Exception) -> consumers.WatchConsumer:
    consumer = consumers.WatchConsumer()
    consumer.prefix, consumer.last, consumer.accepted = "", 0, True

    async def send(message: dict[str, Any]) -> None:
        raise raises

    consumer.base_send = send
    return consumer


@pytest.mark.parametrize("error", _peer_gone_errors(), ids=type)
async def test_a_frame_for_a_client_that_just_left_is_dropped_quietly(error):
    # The client closed while events were flowing: the disconnect message is on its way and
    # ends the consumer; the frame in between must not end it with a traceback first.
    consumer = _consumer_whose_peer(error)
    await consumer._send("{}", 2)
    assert consumer.closing
    await consumer.refuse(StoreUnavailable("try again later"))


@pytest.mark.parametrize("error", [ValueError("a bug"), RuntimeError("another bug")], ids=type)
async def test_any_other_send_failure_still_propagates(error):
    consumer = _consumer_whose_peer(error)
    with pytest.raises(type(error)):
        await consumer._send("{}", 2)
