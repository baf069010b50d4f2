"""End to end: two daphne processes on one real redis-server serve one consistent store.

The processes share nothing but Redis: a write taken by either is read by both, reaches
the watchers of both exactly once in revision order, and takes a revision neither process
ever handed out before. A Redis that goes away gives clean 503s, and service resumes by
itself when it returns. The Redis restart test runs last: it disturbs the shared servers.
"""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

import pytest
import requests
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection

from kvapp.testing.server import ServerProcess
from kvapp.watch.protocol import CloseCode
from tests.support.cluster import (
    EVENT_TIMEOUT,
    REQUEST_TIMEOUT,
    get,
    health,
    receive,
    revision,
    watch,
)
from tests.support.redis import RedisServer

pytestmark = pytest.mark.redis

RECOVERY_TIMEOUT = 15.0  # seconds for both servers to serve again after Redis returns


@dataclass
class Cluster:
    """Redis and two server processes sharing it."""

    redis: RedisServer
    a: ServerProcess
    b: ServerProcess

    @property
    def servers(self) -> tuple[ServerProcess, ServerProcess]:
        return self.a, self.b


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A private redis-server (this module restarts it) and two daphne processes on it."""
    directory = tmp_path_factory.mktemp("scale-out")
    redis = RedisServer(directory / "redis").start()
    env = {"KV_BACKEND": redis.url(0)}
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            servers.append(ServerProcess(directory / f"{name}.pickle", env=env).start())
        yield Cluster(redis, *servers)
    finally:
        for server in servers:
            server.stop()
        redis.stop()


def put(server: ServerProcess, key: str, value: str, **body: Any) -> requests.Response:
    return requests.put(f"{server.url}/api/v1/kv/{key}", json={"value": value, **body}, timeout=REQUEST_TIMEOUT)


def test_a_put_on_one_process_is_read_on_the_other(cluster: Cluster) -> None:
    written = put(cluster.a, "shared/greeting", "hello from a").json()
    read = get(cluster.b, "shared/greeting")
    assert read.status_code == 200
    assert read.json() == {key: written[key] for key in ("key", "value", "revision", "created")}
    listed = requests.get(f"{cluster.b.url}/api/v1/kv", params={"prefix": "shared/"}, timeout=REQUEST_TIMEOUT)
    assert [item["value"] for item in listed.json()["items"]] == ["hello from a"]
    for server in cluster.servers:
        assert health(server).json()["backend"] == "redis"
    assert revision(cluster.a) == revision(cluster.b) == written["revision"]


def test_watchers_on_both_processes_see_every_write_once_in_revision_order(cluster: Cluster) -> None:
    start = revision(cluster.a)
    with watch(cluster.b, "w/", start) as on_b, watch(cluster.a, "w/", start) as on_a:
        written = [put(cluster.servers[n % 2], f"w/{n % 3}", f"v{n}").json() for n in range(12)]
        put(cluster.a, "elsewhere", "not watched")
        expected = [("put", w["key"], w["value"], w["revision"]) for w in written]
        for socket in (on_b, on_a):
            events = receive(socket, len(expected))
            assert [(e["type"], e["key"], e["value"], e["revision"]) for e in events] == expected


def test_a_watcher_on_b_sees_concurrent_writes_on_a_exactly_once(cluster: Cluster) -> None:
    start = revision(cluster.b)
    with watch(cluster.b, "c/", start) as on_b, ThreadPoolExecutor(max_workers=8) as pool:
        written = list(pool.map(lambda n: put(cluster.a, f"c/{n}", str(n)).json(), range(24)))
        events = receive(on_b, len(written))
    assert [e["revision"] for e in events] == sorted(w["revision"] for w in written)
    assert {(e["key"], e["value"]) for e in events} == {(w["key"], w["value"]) for w in written}


def test_revisions_strictly_increase_across_both_processes(cluster: Cluster) -> None:
    start = revision(cluster.a)

    def write(n: int) -> int:
        return put(cluster.servers[n % 2], f"rev/{n % 5}", str(n)).json()["revision"]

    with ThreadPoolExecutor(max_workers=8) as pool:
        revisions = list(pool.map(write, range(40)))
    assert sorted(revisions) == list(range(start + 1, start + 41))  # none given twice, none skipped
    sequential = [write(n) for n in range(6)]
    assert sequential == list(range(start + 41, start + 47))


def test_compare_and_swap_across_processes_lets_one_writer_win(cluster: Cluster) -> None:
    with ThreadPoolExecutor(max_workers=6) as pool:
        answers = list(
            pool.map(lambda n: put(cluster.servers[n % 2], "cas/lock", f"owner{n}", if_revision=0), range(6))
        )
    assert sorted(answer.status_code for answer in answers) == [200, 409, 409, 409, 409, 409]
    winner = next(answer.json() for answer in answers if answer.status_code == 200)
    conflict = next(answer.json() for answer in answers if answer.status_code == 409)
    assert (conflict["value"], conflict["revision"]) == (winner["value"], winner["revision"])


def test_the_processes_share_no_state_but_redis(cluster: Cluster) -> None:
    for server in cluster.servers:
        assert not server.data.exists()  # the pickle file is never created on the Redis backend


def test_a_redis_restart_gives_clean_errors_and_service_resumes(cluster: Cluster) -> None:
    before = put(cluster.a, "restart/kept", "survives").json()
    with watch(cluster.b, "restart/", before["revision"]) as open_during_outage:
        cluster.redis.stop(save=True)
        try:
            for server in cluster.servers:
                for answer in (get(server, "restart/kept"), put(server, "restart/new", "x"), health(server)):
                    assert answer.status_code == 503
                    assert answer.headers["Content-Type"].startswith("application/json")
                    assert "Redis" in answer.json()["error"]
                assert health(server).json()["status"] == "unavailable"
            _assert_closed_for_now(open_during_outage)
        finally:
            cluster.redis.start()
    _wait_until_healthy(cluster)
    assert get(cluster.b, "restart/kept").json()["value"] == "survives"
    start = revision(cluster.b)
    assert start >= before["revision"]
    with watch(cluster.b, "restart/", start) as on_b:
        after = put(cluster.a, "restart/new", "after the restart").json()
        assert after["revision"] == start + 1
        assert [e["value"] for e in receive(on_b, 1)] == ["after the restart"]
    for server in cluster.servers:
        assert '" 500 ' not in server.log() and "Internal Server Error" not in server.log()


def _assert_closed_for_now(socket: ClientConnection) -> None:
    """An open watcher is told why and closed with 4503 ("try again later") within a sync interval."""
    frame = json.loads(socket.recv(timeout=EVENT_TIMEOUT))
    assert frame["type"] == "error" and "Redis" in frame["error"]
    with pytest.raises(ConnectionClosed) as closed:
        socket.recv(timeout=EVENT_TIMEOUT)
    assert closed.value.rcvd is not None and closed.value.rcvd.code == CloseCode.UNAVAILABLE


def _wait_until_healthy(cluster: Cluster) -> None:
    """Poll both servers until they answer 200 again, without anyone restarting them."""
    deadline = time.monotonic() + RECOVERY_TIMEOUT
    while time.monotonic() < deadline:
        if all(health(server).status_code == 200 for server in cluster.servers):
            return
        time.sleep(0.1)
    pytest.fail(f"servers did not recover within {RECOVERY_TIMEOUT}s:\n{cluster.b.log()[-2000:]}")
