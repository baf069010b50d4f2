"""kvcli watch and what the server says besides events: close codes (a watcher dropped for reading too
slowly resumes at once) and progress frames."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import closing
from itertools import islice

import pytest

from kvcli.client import KVClient
from kvcli.errors import BadResponse
from kvcli.protocol import CloseCode
from kvcli.watch import PROGRESS_INTERVAL, RECONNECT_DELAYS, WatchStream
from tests.cli.fake_watch import FakeWatchServer, progress_frame, put_frames


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
    with FakeWatchServer([(put_frames(1, 2), CloseCode.TOO_SLOW), (put_frames(3), 1000)], revision=3) as server:
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
    with FakeWatchServer([([], CloseCode.TOO_SLOW)], revision=0) as server:
        stream = WatchStream(KVClient(server.url), "", 0, lambda note: None, sleep=sleeps)
        with pytest.raises(_StopRetrying):
            list(revisions(stream, 1))
    assert sleeps == list(RECONNECT_DELAYS[1:4])  # the first retry was at once, the next ones wait
    assert len(server.afters) == 4


def test_a_progress_frame_moves_the_resume_point_and_prints_nothing() -> None:
    # A quiet prefix on a busy store: the server says how far it has got, so the watch resumes
    # from there rather than from its last event, which the history may no longer reach.
    notes: list[str] = []
    scripts = [([*put_frames(2), progress_frame(40)], 1001), ([progress_frame(30), *put_frames(41)], 1000)]
    with FakeWatchServer(scripts, revision=41) as server:
        stream = WatchStream(KVClient(server.url), "", 0, notes.append, sleep=lambda seconds: None)
        assert list(revisions(stream, 2)) == [2, 41]
    assert server.afters == [0, 40]  # and a progress behind the last one seen changes nothing
    assert [query["progress"] for query in server.queries] == [[str(PROGRESS_INTERVAL)]] * 2
    assert notes == [  # the progress frames themselves print nothing
        "watching all keys after rev 0 (Ctrl+C to stop)",
        "watch: connection lost (the server closed the connection); reconnecting after rev 40",
        "watch: reconnected, resuming after rev 40",
    ]


def test_a_progress_frame_without_a_revision_is_a_bad_response() -> None:
    with FakeWatchServer([(['{"type": "progress", "revision": "40"}'], 1000)]) as server:
        stream = WatchStream(KVClient(server.url), "", 0, lambda note: None)
        with pytest.raises(BadResponse, match=r"progress frame"):
            list(revisions(stream, 1))
