"""End to end: a lease on the Redis backend, granted in one process and kept alive in another,
expires once for the watchers of two real server processes on one real redis-server.

Four processes share only Redis: two daphne servers (watch sockets, reads) and two store
peers (``tests.e2e.lease_peer``): one grants the lease and attaches keys, the other keeps it
alive. The peers stand in for server processes because the lease routes of the HTTP API are
not there yet; every one of the four runs the expiry reaper, so they race to expire it.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

import pytest

from kvapp.testing.server import PROJECT_ROOT, ServerProcess
from tests.support.cluster import (
    get,
    receive,
    revision,
    watch,
)
from tests.support.redis import RedisServer

pytestmark = pytest.mark.redis

PEER_TIMEOUT = 10  # seconds for a peer to stop once its stdin is closed
TTL = 2  # seconds


class Peer:
    """One ``lease_peer`` process: ``call`` runs a store method there and returns its answer."""

    def __init__(self, url: str) -> None:
        self.process = subprocess.Popen(
            [sys.executable, "-m", "tests.e2e.lease_peer", url],
            cwd=PROJECT_ROOT,
            env={**os.environ, "PYTHONPATH": str(PROJECT_ROOT)},
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )

    def call(self, method: str, *args: Any) -> Any:
        """The result of ``store.<method>(*args)`` in the peer; AssertionError naming a store error."""
        assert self.process.stdin is not None and self.process.stdout is not None
        self.process.stdin.write(json.dumps([method, *args]) + "\n")
        self.process.stdin.flush()
        answer = json.loads(self.process.stdout.readline())
        assert "ok" in answer, f"{method}{args} failed in the peer: {answer['error']}"
        return answer["ok"]

    def close(self) -> None:
        """Close its stdin, so it closes its store and exits."""
        assert self.process.stdin is not None
        self.process.stdin.close()
        try:
            self.process.wait(timeout=PEER_TIMEOUT)
        except subprocess.TimeoutExpired:
            self.process.kill()
            raise


@dataclass
class Cluster:
    """Redis and two server processes sharing it."""

    redis: RedisServer
    servers: tuple[ServerProcess, ServerProcess]


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A private redis-server and two daphne processes on it."""
    directory = tmp_path_factory.mktemp("leases")
    redis = RedisServer(directory / "redis").start()
    servers: list[ServerProcess] = []
    try:
        for name in ("a", "b"):
            servers.append(ServerProcess(directory / f"{name}.pickle", env={"KV_BACKEND": redis.url(0)}).start())
        yield Cluster(redis, (servers[0], servers[1]))
    finally:
        for server in servers:
            server.stop()
        redis.stop()


@pytest.fixture
def peers(cluster: Cluster) -> Iterator[tuple[Peer, Peer]]:
    """Two store processes on the cluster's Redis: one to grant, one to keep alive."""
    started = [Peer(cluster.redis.url(0)) for _ in range(2)]
    try:
        yield started[0], started[1]
    finally:
        for peer in started:
            peer.close()


def test_a_lease_kept_alive_by_another_process_expires_once_for_watchers_on_both_servers(
    cluster: Cluster, peers: tuple[Peer, Peer]
) -> None:
    granting, renewing = peers
    a, b = cluster.servers
    start = revision(a)
    with watch(a, "lease/", start) as on_a, watch(b, "lease/", start) as on_b:
        lease = granting.call("grant", TTL)["id"]
        for key in ("lease/x", "lease/y"):
            granting.call("put", key, "up", None, lease)
        kept_until = time.monotonic() + TTL * 2
        while time.monotonic() < kept_until:  # twice the TTL, renewed by the other process only
            time.sleep(TTL / 3)
            assert renewing.call("keepalive", lease)["ttl"] == TTL
        for server in cluster.servers:
            shown = get(server, "lease/x").json()
            assert (shown["value"], shown["lease"]) == ("up", lease)
        # No more keepalives: it runs out, and one of the four processes' reapers ends it.
        frames = {name: receive(socket, 4) for name, socket in (("a", on_a), ("b", on_b))}
    puts, deletes = frames["a"][:2], frames["a"][2:]
    assert [(frame["type"], frame["key"], frame["lease"]) for frame in puts] == [
        ("put", "lease/x", lease),
        ("put", "lease/y", lease),
    ]
    assert [(frame["type"], frame["key"], frame["lease"], frame["reason"]) for frame in deletes] == [
        ("delete", "lease/x", lease, "expired"),
        ("delete", "lease/y", lease, "expired"),
    ]
    assert deletes[1]["revision"] == deletes[0]["revision"] + 1, "one commit: consecutive revisions"
    assert deletes[0]["time"] == deletes[1]["time"], "one commit: one time"
    assert frames["b"] == frames["a"], "both servers' watchers see the same events, each once"
    for server in cluster.servers:
        assert get(server, "lease/x").status_code == 404
        assert revision(server) == deletes[1]["revision"]
    published = [frame for peer in peers for frame in peer.call("published") if frame["type"] == "delete"]
    assert published in ([], deletes), "the deletes were published by the one process that ran the expiry"
    assert renewing.call("expire_due") == [], "nothing is left to expire"


def test_a_peer_sees_the_lease_it_did_not_grant_with_redis_s_deadline(
    cluster: Cluster, peers: tuple[Peer, Peer]
) -> None:
    granting, other = peers
    lease = granting.call("grant", 30)["id"]
    granting.call("put", "shown/k", "v", None, lease)
    shown = other.call("lease", lease)
    assert (shown["id"], shown["ttl"], shown["keys"]) == (lease, 30, ["shown/k"])
    assert 29 < shown["remaining"] <= 30
    revoked = other.call("revoke", lease)
    assert revoked["deleted"] == ["shown/k"]
    assert get(cluster.servers[0], "shown/k").status_code == 404
