"""kvcli watch: replay, live events, auth and compaction, and resuming across a server crash."""

from __future__ import annotations

import json
import queue
import re
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from itertools import islice
from pathlib import Path
from typing import IO

import pytest
import requests

from kvapp.testing.ports import free_port
from kvapp.testing.server import PROJECT_ROOT, ServerProcess
from kvcli.client import KVClient
from kvcli.errors import AuthRequired, BadResponse, WatchCompacted
from kvcli.output import format_event
from kvcli.watch import RECONNECT_DELAYS, WatchStream
from tests.cli.fake_watch import FakeWatchServer

TOKEN = "s3cret"
LINE_TIMEOUT = 15.0  # seconds; a restarted server on a busy 2-core box takes a few
MIB = 1024 * 1024  # bytes; the server's default value limit


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A server of the test's own (not the module's shared one): these tests stop, kill or restart it."""
    with ServerProcess(tmp_path / "store.pickle") as process:
        yield process


def write(server: ServerProcess, method: str, key: str, value: str | None = None, token: str | None = None) -> int:
    """One write through the API directly; returns its revision."""
    headers = {"Authorization": f"Bearer {token}"} if token else {}
    body = {"json": {"value": value}} if value is not None else {}
    response = requests.request(method, f"{server.url}/api/v1/kv/{key}", headers=headers, timeout=5, **body)
    response.raise_for_status()
    return response.json()["revision"]


def take(stream: WatchStream, count: int) -> list[str]:
    """The first ``count`` events of ``stream``, formatted as the CLI prints them."""
    lines: list[str] = []
    for event in stream:
        lines.append(format_event(event))
        if len(lines) == count:
            break
    return lines


def test_watch_replays_after_a_revision_and_filters_by_prefix(server: ServerProcess) -> None:
    start = write(server, "PUT", "unrelated", "x")
    write(server, "PUT", "app/a", "1")
    write(server, "PUT", "zzz", "not watched")
    write(server, "PUT", "app/b", "two words")
    write(server, "DELETE", "app/a")
    notes: list[str] = []
    lines = take(WatchStream(KVClient(server.url), "app/", start, notes.append), 3)
    assert lines == [
        f'put app/a = "1" (rev {start + 1})',
        f'put app/b = "two words" (rev {start + 3})',
        f"delete app/a (rev {start + 4})",
    ]
    assert notes == [f"watching prefix 'app/' after rev {start} (Ctrl+C to stop)"]


def test_watch_delivers_writes_made_after_it_connected(server: ServerProcess) -> None:
    client = KVClient(server.url)
    writer = threading.Thread(target=lambda: [write(server, "PUT", f"live/{i}", str(i)) for i in range(3)])

    def on_connected(note: str) -> None:
        writer.start()  # write only once the socket is open, so these are live events, not replay

    lines = take(WatchStream(client, "live/", client.revision(), on_connected), 3)
    writer.join()
    assert [re.sub(r" \(rev \d+\)$", "", line) for line in lines] == [f'put live/{i} = "{i}"' for i in range(3)]


def fail_on_reconnect(note: str) -> None:
    """A WatchStream ``notify`` that ends the test instead of letting the stream reconnect."""
    if note.startswith("watch: connection lost"):
        raise AssertionError(note)


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_watch_receives_an_event_carrying_two_values_near_the_limit(tmp_path: Path, kind: str) -> None:
    # Each value is just under the 1 MiB limit and the quotes double when JSON-escaped, so the
    # second event's frame (value + prev) is about 3 MiB.
    first, second = "a" * (MIB - 1), '"' * (MIB - 1)
    with ServerProcess(tmp_path / "store.pickle", kind=kind) as server:
        start = write(server, "PUT", "big", first)
        write(server, "PUT", "big", second)
        stream = WatchStream(KVClient(server.url), "", start - 1, fail_on_reconnect)
        events = list(islice(stream, 2))
    # Compared as flags: pytest's diff of two 1 MiB strings would bury the failure.
    assert [
        (event["value"] == value, event["prev"] == prev)
        for event, value, prev in zip(events, (first, second), (None, first), strict=True)
    ] == [(True, True), (True, True)]


class _StopRetrying(Exception):
    """Raised by the fake sleep to end an otherwise endless reconnect loop."""


class _RecordedSleeps(list):
    """A ``sleep`` for WatchStream that records each delay and stops the loop after a few past the backoff's end."""

    def __call__(self, seconds: float) -> None:
        self.append(seconds)
        if len(self) == len(RECONNECT_DELAYS) + 2:
            raise _StopRetrying


def test_watch_backs_off_and_reports_a_lost_connection_once() -> None:
    notes: list[str] = []
    delays = _RecordedSleeps()

    stream = WatchStream(KVClient(f"http://127.0.0.1:{free_port()}"), "", 7, notes.append, sleep=delays)
    with pytest.raises(_StopRetrying):
        take(stream, 1)
    assert delays == [*RECONNECT_DELAYS, RECONNECT_DELAYS[-1], RECONNECT_DELAYS[-1]]
    assert len(notes) == 1
    assert notes[0].startswith("watch: connection lost (")
    assert notes[0].endswith("reconnecting after rev 7")


def test_a_server_that_keeps_refusing_with_an_error_frame_is_retried_with_backoff() -> None:
    # An error frame is not progress: only an event may reset the backoff, or a server that
    # accepts each socket and then refuses the watch would be hammered about 12 times a second.
    notes: list[str] = []
    delays = _RecordedSleeps()

    refusal = json.dumps({"type": "error", "error": "try again later"})
    with FakeWatchServer([([refusal], 4503)]) as server:
        stream = WatchStream(KVClient(server.url), "", 0, notes.append, sleep=delays)
        with pytest.raises(_StopRetrying):
            take(stream, 1)
    assert delays == [*RECONNECT_DELAYS, RECONNECT_DELAYS[-1], RECONNECT_DELAYS[-1]]
    assert server.connections == len(delays)
    lost = [note for note in notes if note.startswith("watch: connection lost")]
    assert lost == ["watch: connection lost (close code 4503: try again later); reconnecting after rev 0"]


def test_watch_of_compacted_history_stops_with_a_clear_error(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle", env={"KV_HISTORY": "2"}) as server:
        for i in range(5):
            write(server, "PUT", f"k{i}", "v")
        with pytest.raises(WatchCompacted, match=r"events after rev 0 are no longer kept \(oldest kept is rev 4\)"):
            take(WatchStream(KVClient(server.url), "", 0, lambda note: None), 1)


def test_watch_needs_the_token_on_the_handshake(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle", env={"KV_TOKEN": TOKEN}) as server:
        with pytest.raises(AuthRequired, match="token"):
            take(WatchStream(KVClient(server.url), "", 0, lambda note: None), 1)
        revision = write(server, "PUT", "secret/a", "1", token=TOKEN)
        stream = WatchStream(KVClient(server.url, token=TOKEN), "secret/", revision - 1, lambda note: None)
        assert take(stream, 1) == [f'put secret/a = "1" (rev {revision})']


DEEP = 100_000  # levels of nesting; far past the recursion limit of Python's JSON decoder


@pytest.mark.parametrize(
    "frame",
    [
        '{"type": "put", "key": null, "value": {"a": 1}, "revision": 1}',
        '{"type": "put", "key": "k", "value": "v", "revision": "2"}',
        '{"type": "delete", "revision": 1}',
        '{"type": "put", "x": ' * DEEP + "1" + "}" * DEEP,
    ],
)
def test_a_watch_frame_that_is_not_a_kvstore_event_is_a_bad_response(frame: str) -> None:
    with FakeWatchServer([([frame], 1000)]) as server:
        stream = WatchStream(KVClient(server.url), "", 0, fail_on_reconnect)
        with pytest.raises(BadResponse, match=r"\(is --url a kvstore server\?\)"):
            take(stream, 1)


class LineReader:
    """Collects a child's output lines in a thread so a test can wait for one with a timeout."""

    def __init__(self, stream: IO[str]) -> None:
        self.seen: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._pump_thread = threading.Thread(target=self._pump, args=(stream,), daemon=True)
        self._pump_thread.start()

    def _pump(self, stream: IO[str]) -> None:
        for line in stream:
            self._lines.put(line.rstrip("\n"))

    def expect(self, pattern: str) -> str:
        """The next line matching ``pattern``; fails after LINE_TIMEOUT with everything seen."""
        deadline = time.monotonic() + LINE_TIMEOUT
        while time.monotonic() < deadline:
            try:
                line = self._lines.get(timeout=0.1)
            except queue.Empty:
                continue
            self.seen.append(line)
            if re.search(pattern, line):
                return line
        raise AssertionError(f"no line matching {pattern!r}; saw {self.seen}")

    def rest(self) -> list[str]:
        """Every line seen, after the child has exited."""
        self._pump_thread.join(LINE_TIMEOUT)  # the child may be gone before its last lines are read
        while not self._lines.empty():
            self.seen.append(self._lines.get())
        return self.seen


@pytest.fixture
def watcher_factory() -> Iterator[list[subprocess.Popen]]:
    """Children started by a test, killed if the test did not end them."""
    children: list[subprocess.Popen] = []
    yield children
    for child in children:
        if child.poll() is None:
            child.kill()
            child.wait(timeout=10)


def start_watch(children: list[subprocess.Popen], url: str, prefix: str) -> subprocess.Popen:
    """``python -m kvcli --url URL watch PREFIX`` with piped output (the CLI must flush each line)."""
    child = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "--url", url, "watch", prefix],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    children.append(child)
    return child


def test_watch_resumes_after_a_server_crash_without_gaps_or_duplicates(
    server: ServerProcess, watcher_factory: list[subprocess.Popen]
) -> None:
    child = start_watch(watcher_factory, server.url, "app/")
    out, err = LineReader(child.stdout), LineReader(child.stderr)
    err.expect(r"^watching prefix 'app/' after rev \d+")
    first = write(server, "PUT", "app/before", "1")
    out.expect(rf'^put app/before = "1" \(rev {first}\)$')

    server.kill()
    err.expect(r"^watch: connection lost .*reconnecting after rev \d+")
    with ServerProcess(server.data, port=server.port) as restarted:
        second = write(restarted, "PUT", "app/after", "2")
        write(restarted, "PUT", "elsewhere", "not watched")
        third = write(restarted, "DELETE", "app/before")
        out.expect(rf"^delete app/before \(rev {third}\)$")
        err.expect(r"^watch: reconnected, resuming after rev \d+")

        child.send_signal(signal.SIGINT)
        assert child.wait(timeout=10) == 0
    assert out.rest() == [
        f'put app/before = "1" (rev {first})',
        f'put app/after = "2" (rev {second})',
        f"delete app/before (rev {third})",
    ]
    assert "watch stopped" in err.rest()
    assert not any("Traceback" in line for line in err.seen)


def test_watch_stops_when_the_restarted_server_has_lost_its_history(
    server: ServerProcess, watcher_factory: list[subprocess.Popen], tmp_path: Path
) -> None:
    for i in range(3):
        write(server, "PUT", f"old/{i}", "v")
    child = start_watch(watcher_factory, server.url, "")
    err = LineReader(child.stderr)
    err.expect(r"^watching all keys after rev 3")
    server.kill()
    err.expect(r"^watch: connection lost")
    replaced = ServerProcess(tmp_path / "other" / "store.pickle", port=server.port)
    replaced.data.parent.mkdir()
    with replaced:
        line = err.expect(r"^error: ")
        assert child.wait(timeout=10) == 2
    assert line == (
        "error: the server's revision went back from 3 to 0 (was its data replaced?); run getall, then watch again"
    )
