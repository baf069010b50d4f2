"""A real server on a real full disk: a small tmpfs mounted for the test (CI runs as root).

Writes get 507 and change nothing, reads and watches go on, /healthz says degraded, writes
come back by themselves once the filler is deleted, and a kill -9 while the disk is full
loses nothing acknowledged and leaves nothing torn.
"""

from __future__ import annotations

import asyncio
import contextlib
import errno
import json
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.asyncio.client import ClientConnection, connect

from kvapp.testing.server import ServerProcess
from tests.support.server import healthz

DISK_SIZE = "2m"  # the tmpfs: room for the store, and quick to fill
FILLER_CHUNKS = (1 << 20, 1 << 16, 1 << 12, 1)  # bytes per write: fill fast, then to the last byte
WRITES_TO_FILL = 400  # small PUTs that may still fit in the journal's last page before one is refused
PADDING = "p" * 300  # a value this long makes a record larger than any room the small ones left
HTTP_TIMEOUT = 10.0  # seconds per request
FRAME_TIMEOUT = 30.0  # seconds to wait for watch frames


@pytest.fixture
def small_disk(tmp_path: Path) -> Iterator[Path]:
    """A tmpfs of DISK_SIZE, unmounted at the end; a mount that fails fails the test, it is never skipped."""
    mount_point = tmp_path / "disk"
    mount_point.mkdir()
    mounted = subprocess.run(
        ["mount", "-t", "tmpfs", "-o", f"size={DISK_SIZE}", "tmpfs", str(mount_point)], capture_output=True, text=True
    )
    if mounted.returncode != 0:
        pytest.fail(f"cannot mount a tmpfs at {mount_point} (needs root, as in CI): {mounted.stderr.strip()}")
    try:
        yield mount_point
    finally:
        subprocess.run(["umount", str(mount_point)], check=True)


def server_on(disk: Path, logs: Path) -> ServerProcess:
    """A daphne server keeping its data on ``disk`` and its log in ``logs`` (a full disk must not eat the log)."""
    return ServerProcess(logs / "store.pickle", env={"KV_DATA": str(disk / "store.pickle")})


def fill(disk: Path) -> Path:
    """Write a file until the disk refuses another byte."""
    filler = disk / "filler"
    with filler.open("wb", buffering=0) as handle:
        for chunk in FILLER_CHUNKS:
            with contextlib.suppress(OSError):
                while True:
                    handle.write(b"\xff" * chunk)
    probe = disk / "probe"
    with pytest.raises(OSError) as refused, probe.open("wb", buffering=0) as handle:
        handle.write(b"x")
    probe.unlink()
    assert refused.value.errno == errno.ENOSPC
    return filler


def put(server: ServerProcess, key: str, value: str) -> requests.Response:
    """PUT one pair."""
    return requests.put(f"{server.url}/api/v1/kv/{key}", json={"value": value}, timeout=HTTP_TIMEOUT)


def put_until_refused(
    server: ServerProcess, acknowledged: dict[str, tuple[str, int]], prefix: str
) -> tuple[str, requests.Response]:
    """PUT small new pairs until one is refused; returns its key and the refusal.

    The journal's last page is already the file's, so it takes records until it is full.
    """
    for number in range(WRITES_TO_FILL):
        key, value = f"{prefix}/{number}", str(number)
        response = put(server, key, value)
        if response.status_code != 200:
            return key, response
        acknowledged[key] = (value, response.json()["revision"])
    pytest.fail(f"{WRITES_TO_FILL} writes on a full disk were all accepted")


def assert_all_present(server: ServerProcess, acknowledged: dict[str, tuple[str, int]]) -> None:
    """Every acknowledged write reads back with its value and revision."""
    session = requests.Session()
    for key, (value, revision) in acknowledged.items():
        got = session.get(f"{server.url}/api/v1/kv/{key}", timeout=HTTP_TIMEOUT).json()
        assert (got["value"], got["revision"]) == (value, revision), key


async def read_events(ws: ClientConnection, until: int) -> list[dict[str, Any]]:
    """Watch events up to revision ``until``."""
    frames: list[dict[str, Any]] = []
    async with asyncio.timeout(FRAME_TIMEOUT):
        while not frames or frames[-1]["revision"] < until:
            frames.append(json.loads(await ws.recv()))
    return frames


def watch(server: ServerProcess, query: str) -> Any:
    """A watch socket client."""
    return connect(f"{server.ws_url}/ws/watch?{query}", open_timeout=FRAME_TIMEOUT, ping_interval=None)


async def test_a_full_disk_refuses_writes_with_507_serves_reads_and_watches_and_recovers_by_itself(
    small_disk: Path, tmp_path: Path
) -> None:
    acknowledged: dict[str, tuple[str, int]] = {}
    with server_on(small_disk, tmp_path) as server:
        for number in range(10):
            acknowledged[f"before/{number}"] = (
                str(number),
                put(server, f"before/{number}", str(number)).json()["revision"],
            )
        async with watch(server, "after=0") as watcher:
            filler = fill(small_disk)
            refused_key, refused = put_until_refused(server, acknowledged, "filling")
            top = max(revision for _, revision in acknowledged.values())
            assert refused.status_code == 507, refused.text
            assert "disk is full" in refused.json()["error"]
            assert put(server, "before/1", PADDING).status_code == 507
            health = healthz(server.url)
            assert (health["status"], health["revision"]) == ("degraded", top)
            assert "disk is full" in health["reason"]
            assert_all_present(server, acknowledged)
            assert requests.get(f"{server.url}/api/v1/kv/{refused_key}", timeout=HTTP_TIMEOUT).status_code == 404
            events = await read_events(watcher, top)
            assert [event["revision"] for event in events] == list(range(1, top + 1)), "the watcher saw every write"
            async with watch(server, f"after={top - 1}") as late:
                assert [event["revision"] for event in await read_events(late, top)] == [top], "a new watch starts"

            filler.unlink()
            again = put(server, "after/0", "free")
            assert again.status_code == 200, again.text
            assert again.json()["revision"] == top + 1, "the refused writes took no revision"
            acknowledged["after/0"] = ("free", top + 1)
            assert healthz(server.url)["status"] == "ok"
            assert [event["key"] for event in await read_events(watcher, top + 1)] == ["after/0"]
        assert_all_present(server, acknowledged)
    with server_on(small_disk, tmp_path) as restarted:
        assert_all_present(restarted, acknowledged)


def test_a_kill_9_while_the_disk_is_full_loses_nothing_acknowledged_and_leaves_nothing_torn(
    small_disk: Path, tmp_path: Path
) -> None:
    acknowledged: dict[str, tuple[str, int]] = {}
    server = server_on(small_disk, tmp_path).start()
    try:
        for number in range(10):
            acknowledged[f"before/{number}"] = (
                str(number),
                put(server, f"before/{number}", str(number)).json()["revision"],
            )
        filler = fill(small_disk)
        refused_key, refused = put_until_refused(server, acknowledged, "filling")
        assert refused.status_code == 507
        server.kill()

        server = server_on(small_disk, tmp_path).start()  # still full: the fold at start fails, the start must not
        assert healthz(server.url)["revision"] == max(revision for _, revision in acknowledged.values())
        assert_all_present(server, acknowledged)
        assert put(server, "while-full", PADDING).status_code == 507
        server.kill()

        filler.unlink()
        server = server_on(small_disk, tmp_path).start()
        assert_all_present(server, acknowledged)
        for key in (refused_key, "while-full"):
            assert requests.get(f"{server.url}/api/v1/kv/{key}", timeout=HTTP_TIMEOUT).status_code == 404
        assert put(server, "after", "room").status_code == 200
        assert not list(small_disk.glob("*.broken")), "no torn tail: every refused batch had been cut off"
        assert not list(small_disk.glob("*.tmp")), "no half-written snapshot left behind"
        assert "Traceback" not in server.log()
    finally:
        server.stop()
