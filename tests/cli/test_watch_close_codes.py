"""kvcli watch and the server's close codes: a watcher dropped for reading too slowly resumes at once."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterator
from contextlib import closing
from itertools import islice
from urllib.parse import parse_qs, urlsplit

import pytest
from websockets.http11 import Request, Response
from websockets.sync.server import Server, ServerConnection, serve

from kvcli.client import KVClient
from kvcli.protocol import CloseCode
from kvcli.watch import RECONNECT_DELAYS, WatchStream

Script = tuple[list[int], int]  # the revisions of the put events one socket gets, then its close code


class ScriptedWatchServer:
    """Stands in for kvstore: the n-th watch socket gets ``scripts[n]`` (the last one repeats).

    Records the ``after`` each socket asked for; listings answer ``revision``, so a resuming
    client finds the store where it left it.
    """

    def __init__(self, scripts: list[Script], revision: int) -> None:
        self.scripts = scripts
        self.revision = revision
        self.afters: list[int] = []
        self._server: Server | None = None

    def __enter__(self) -> ScriptedWatchServer:
        """Serve from a thread until the ``with`` block ends."""
        self._server = serve(self._watch, "127.0.0.1", 0, process_request=self._api)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc_info: object) -> None:
        """Close the listening socket and any open watch."""
        assert self._server is not None
        self._server.shutdown()

    @property
    def url(self) -> str:
        """Base HTTP URL to give KVClient."""
        assert self._server is not None
        return f"http://127.0.0.1:{self._server.socket.getsockname()[1]}"

    def _api(self, connection: ServerConnection, request: Request) -> Response | None:
        """Answer the listing ``client.revision()`` asks for; let the watch handshake through."""
        if not request.path.startswith("/api/"):
            return None
        response = connection.respond(200, json.dumps({"items": [], "next": None, "revision": self.revision}))
        response.headers["Content-Type"] = "application/json"
        return response

    def _watch(self, socket: ServerConnection) -> None:
        """One watch: the script's events, then its close."""
        assert socket.request is not None
        self.afters.append(int(parse_qs(urlsplit(socket.request.path).query)["after"][0]))
        revisions, code = self.scripts[min(len(self.afters), len(self.scripts)) - 1]
        for revision in revisions:
            socket.send(json.dumps({"type": "put", "key": f"k{revision}", "value": "v", "revision": revision}))
        socket.close(code)


class _StopRetrying(Exception):
    """Raised by the fake sleep to end an otherwise endless reconnect loop."""


class RecordedSleeps(list):
    """A ``sleep`` for WatchStream that records each delay and ends the loop after ``limit`` of them."""

    def __init__(self, limit: int = 3) -> None:
        super().__init__()
        self.limit = limit

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if len(self) == self.limit:
            raise _StopRetrying


def revisions(stream: WatchStream, count: int) -> Iterator[int]:
    """The revisions of the first ``count`` events, the stream closed after them."""
    with closing(iter(stream)) as events:
        yield from (event["revision"] for event in islice(events, count))


def test_a_watcher_dropped_as_too_slow_resumes_at_once_from_its_last_revision() -> None:
    notes: list[str] = []
    sleeps = RecordedSleeps()
    with ScriptedWatchServer([([1, 2], CloseCode.TOO_SLOW), ([3], 1000)], revision=3) as server:
        stream = WatchStream(KVClient(server.url), "", 0, notes.append, sleep=sleeps)
        assert list(revisions(stream, 3)) == [1, 2, 3]
    assert server.afters == [0, 2]
    assert sleeps == []  # no backoff: the server is up, it only dropped a watcher that fell behind
    assert notes[1:] == [
        "watch: connection lost (the server dropped this watch for reading too slowly, close code 4408);"
        " reconnecting after rev 2",
        "watch: reconnected, resuming after rev 2",
    ]


def test_a_watcher_too_slow_for_even_one_event_is_backed_off() -> None:
    sleeps = RecordedSleeps()
    with ScriptedWatchServer([([], CloseCode.TOO_SLOW)], revision=0) as server:
        stream = WatchStream(KVClient(server.url), "", 0, lambda note: None, sleep=sleeps)
        with pytest.raises(_StopRetrying):
            list(revisions(stream, 1))
    assert sleeps == list(RECONNECT_DELAYS[1:4])  # the first retry was at once, the next ones wait
    assert len(server.afters) == 4
