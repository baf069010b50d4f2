"""Transactions, leases and history against real server processes: kill -9 mid-transaction,
clients racing transactions under a reader that must never see half of one, a lease that
runs out in real time under a watcher, and history and times that survive a crash."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from kvapp.testing.server import ServerProcess
from tests.support.redis import RedisServer

ACCOUNTS = ("bank/a", "bank/b", "bank/c")
TOTAL = 300  # units spread over ACCOUNTS; every transaction keeps the sum
MOVERS = 6
TIMEOUT = 10.0  # seconds for any one request


def _put(url: str, key: str, value: str, **extra: Any) -> dict[str, Any]:
    answer = requests.put(f"{url}/api/v1/kv/{key}", json={"value": value, **extra}, timeout=TIMEOUT)
    answer.raise_for_status()
    return answer.json()


def _balances(url: str, revision: int | None = None) -> dict[str, int]:
    params: dict[str, Any] = {"prefix": "bank/"}
    if revision is not None:
        params["revision"] = revision
    page = requests.get(f"{url}/api/v1/kv", params=params, timeout=TIMEOUT).json()
    return {item["key"]: int(item["value"]) for item in page["items"]}


def _open_accounts(url: str) -> None:
    answer = requests.post(
        f"{url}/api/v1/txn",
        json={"success": [{"op": "put", "key": key, "value": str(TOTAL // len(ACCOUNTS))} for key in ACCOUNTS]},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()


def _mover(urls: list[str], number: int, stop: threading.Event, moved: list[int]) -> None:
    """Move one unit between two accounts, as a compare-and-swap of both, retrying on a conflict
    (through each of ``urls`` in turn: several servers on one Redis share the accounts)."""
    session = requests.Session()
    step = 0
    while not stop.is_set():
        url = urls[(number + step) % len(urls)]
        source, target = ACCOUNTS[(number + step) % 3], ACCOUNTS[(number + step + 1) % 3]
        step += 1
        try:
            pairs = {key: session.get(f"{url}/api/v1/kv/{key}", timeout=TIMEOUT).json() for key in (source, target)}
            answer = session.post(
                f"{url}/api/v1/txn",
                json={
                    "compare": [
                        {"key": key, "target": "revision", "op": "==", "value": pair["revision"]}
                        for key, pair in pairs.items()
                    ],
                    "success": [
                        {"op": "put", "key": source, "value": str(int(pairs[source]["value"]) - 1)},
                        {"op": "put", "key": target, "value": str(int(pairs[target]["value"]) + 1)},
                    ],
                },
                timeout=TIMEOUT,
            )
        except (requests.RequestException, ValueError, KeyError):
            return  # the server died under us (kill -9): what was acknowledged is all that counts
        if answer.status_code == 200 and answer.json()["succeeded"]:
            moved[0] += 1


def _run_movers(urls: list[str], seconds: float, during: Any = None) -> int:
    stop = threading.Event()
    moved = [0]
    threads = [threading.Thread(target=_mover, args=(urls, n, stop, moved)) for n in range(MOVERS)]
    for thread in threads:
        thread.start()
    if during is not None:
        during(stop)
    else:
        time.sleep(seconds)
    stop.set()
    for thread in threads:
        thread.join()
    return moved[0]


def _assert_transactions_are_whole(urls: list[str]) -> None:
    """Movers race through ``urls`` while a reader lists through each in turn: every listing, and
    every past revision the history reaches, holds the sum."""
    _open_accounts(urls[0])
    readings: list[int] = []

    def read_while_moving(stop: threading.Event) -> None:
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline:
            readings.append(sum(_balances(urls[len(readings) % len(urls)]).values()))

    moved = _run_movers(urls, 0, read_while_moving)
    assert moved > 10, "the movers made no progress"
    assert readings and set(readings) == {TOTAL}, "a listing saw part of a transaction"
    assert sum(_balances(urls[-1]).values()) == TOTAL
    # Every revision the history reaches holds the invariant too: no half transaction was ever committed.
    current = requests.get(f"{urls[0]}/healthz", timeout=TIMEOUT).json()["revision"]
    for revision in range(max(current - 40, 0), current + 1, 3):
        balances = _balances(urls[revision % len(urls)], revision)
        assert balances == {} or sum(balances.values()) == TOTAL, revision


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_racing_transactions_keep_the_sum_and_a_reader_never_sees_half_of_one(tmp_path: Path, kind: str) -> None:
    with ServerProcess(tmp_path / "store.pickle", kind=kind) as server:
        _assert_transactions_are_whole([server.url])


@pytest.mark.redis
def test_transactions_through_two_servers_on_one_redis_are_whole(redis_cluster: list[ServerProcess]) -> None:
    _assert_transactions_are_whole([server.url for server in redis_cluster])


@pytest.fixture
def redis_cluster(tmp_path: Path, private_redis: RedisServer) -> Iterator[list[ServerProcess]]:
    """Two daphne processes on one real redis-server of this test's own."""
    env = {"KV_BACKEND": private_redis.url(0)}
    with ServerProcess(tmp_path / "a.pickle", env=env) as a, ServerProcess(tmp_path / "b.pickle", env=env) as b:
        yield [a, b]


def test_kill_9_while_clients_run_transactions_leaves_each_whole_or_absent(tmp_path: Path) -> None:
    data = tmp_path / "store.pickle"
    with ServerProcess(data) as server:
        _open_accounts(server.url)

        def kill_midway(stop: threading.Event) -> None:
            time.sleep(1.5)
            server.kill()

        moved = _run_movers([server.url], 0, kill_midway)
    assert moved > 0
    with ServerProcess(data) as restarted:
        balances = _balances(restarted.url)
        assert set(balances) == set(ACCOUNTS) and sum(balances.values()) == TOTAL
        # The restart replayed whole records: a transaction's two puts are consecutive revisions.
        events = _history_revisions(restarted.url)
        assert sum(events.values()) >= moved * 2


def _history_revisions(url: str) -> dict[str, int]:
    return {
        key: len(requests.get(f"{url}/api/v1/history/{key}", params={"limit": 10_000}, timeout=TIMEOUT).json()["items"])
        for key in ACCOUNTS
    }


def test_a_lease_runs_out_in_real_time_and_a_watcher_sees_its_keys_expire(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        granted = time.monotonic()
        lease = requests.post(f"{server.url}/api/v1/leases", json={"ttl": 1}, timeout=TIMEOUT).json()
        revision = _put(server.url, "svc/web-1", "10.0.0.1:80", lease=lease["id"])["revision"]
        _put(server.url, "svc/web-2", "10.0.0.2:80", lease=lease["id"])
        with connect(f"{server.ws_url}/ws/watch?prefix=svc/&after={revision + 1}", open_timeout=TIMEOUT) as socket:
            frames = [json.loads(socket.recv(timeout=5)) for _ in range(2)]
            took = time.monotonic() - granted
        assert [(f["type"], f["key"], f["lease"], f["reason"]) for f in frames] == [
            ("delete", "svc/web-1", lease["id"], "expired"),
            ("delete", "svc/web-2", lease["id"], "expired"),
        ]
        assert took < 1 + 1 + 0.5, "within a second of the deadline (the TTL), plus delivery"
        assert requests.get(f"{server.url}/api/v1/kv/svc/web-1", timeout=TIMEOUT).status_code == 404
        assert requests.get(f"{server.url}/api/v1/leases/{lease['id']}", timeout=TIMEOUT).status_code == 404


def test_leases_history_and_times_survive_kill_9(tmp_path: Path) -> None:
    data = tmp_path / "store.pickle"
    with ServerProcess(data) as server:
        lease = requests.post(f"{server.url}/api/v1/leases", json={"ttl": 60}, timeout=TIMEOUT).json()
        for n in range(5):
            _put(server.url, "config/x", f"v{n}", lease=lease["id"])
        before = requests.get(f"{server.url}/api/v1/history/config/x", timeout=TIMEOUT).json()
        server.kill()
    with ServerProcess(data) as restarted:
        after = requests.get(f"{restarted.url}/api/v1/history/config/x", timeout=TIMEOUT).json()
        assert after["items"] == before["items"] and all(item["time"] for item in after["items"])
        shown = requests.get(f"{restarted.url}/api/v1/leases/{lease['id']}", timeout=TIMEOUT).json()
        assert shown["keys"] == ["config/x"] and shown["remaining"] > 55, "a fresh TTL after a restart"
        third = requests.get(f"{restarted.url}/api/v1/kv/config/x", params={"revision": 3}, timeout=TIMEOUT).json()
        assert third["value"] == "v2"
        assert (
            requests.post(f"{restarted.url}/api/v1/leases", json={"ttl": 5}, timeout=TIMEOUT).json()["id"] > lease["id"]
        )


def _assert_paging_is_one_snapshot(urls: list[str]) -> None:
    """200 pairs listed 10 at a time at the first page's revision while writers change, delete
    and create pairs on both sides of the cursor: exactly the pairs as they were, through any server."""
    answer = requests.post(
        f"{urls[0]}/api/v1/txn",
        json={"success": [{"op": "put", "key": f"snap/{n:03d}", "value": f"v{n}"} for n in range(100)]},
        timeout=TIMEOUT,
    )
    answer.raise_for_status()
    second = requests.post(
        f"{urls[0]}/api/v1/txn",
        json={"success": [{"op": "put", "key": f"snap/{n:03d}", "value": f"v{n}"} for n in range(100, 200)]},
        timeout=TIMEOUT,
    )
    second.raise_for_status()
    stop = threading.Event()

    def write_meanwhile(number: int) -> None:
        session, n = requests.Session(), 0
        while not stop.is_set():
            target = f"{urls[n % len(urls)]}/api/v1/kv/snap/{(n * 37 + number) % 200:03d}"
            if n % 3 == 0:
                session.delete(target, timeout=TIMEOUT)
            else:
                session.put(target + ("-new" if n % 3 == 1 else ""), json={"value": "changed"}, timeout=TIMEOUT)
            n += 1

    first = requests.get(f"{urls[0]}/api/v1/kv", params={"prefix": "snap/", "limit": 10}, timeout=TIMEOUT).json()
    seen = {item["key"]: item["value"] for item in first["items"]}
    params: dict[str, Any] = {"prefix": "snap/", "limit": 10, "after": first["next"], "revision": first["revision"]}
    page_number = 1
    writers = [threading.Thread(target=write_meanwhile, args=(n,)) for n in range(3)]
    for writer in writers:
        writer.start()
    try:
        while True:
            time.sleep(0.02)  # let the writers get between the pages
            page = requests.get(f"{urls[page_number % len(urls)]}/api/v1/kv", params=params, timeout=TIMEOUT).json()
            assert page["count"] == 200
            seen.update((item["key"], item["value"]) for item in page["items"])
            page_number += 1
            if page["next"] is None:
                break
            params = {"prefix": "snap/", "limit": 10, "after": page["next"], "revision": page["revision"]}
    finally:
        stop.set()
        for writer in writers:
            writer.join()
    assert seen == {f"snap/{n:03d}": f"v{n}" for n in range(200)}
    assert page_number == 20


def test_paging_at_the_first_page_s_revision_is_one_snapshot_while_others_write(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        _assert_paging_is_one_snapshot([server.url])


@pytest.mark.redis
def test_paging_through_two_servers_on_one_redis_is_one_snapshot(redis_cluster: list[ServerProcess]) -> None:
    _assert_paging_is_one_snapshot([server.url for server in redis_cluster])
