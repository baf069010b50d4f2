"""Transactions, leases and history against real server processes: kill -9 mid-transaction,
clients racing transactions under a reader that must never see half of one, a lease that
runs out in real time under a watcher, and history and times that survive a crash."""

from __future__ import annotations

import json
import threading
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from websockets.sync.client import connect

from kvapp.testing.server import ServerProcess

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


def _mover(url: str, number: int, stop: threading.Event, moved: list[int]) -> None:
    """Move one unit between two accounts, as a compare-and-swap of both, retrying on a conflict."""
    session = requests.Session()
    step = 0
    while not stop.is_set():
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


def _run_movers(url: str, seconds: float, during: Any = None) -> int:
    stop = threading.Event()
    moved = [0]
    threads = [threading.Thread(target=_mover, args=(url, n, stop, moved)) for n in range(MOVERS)]
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


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_racing_transactions_keep_the_sum_and_a_reader_never_sees_half_of_one(tmp_path: Path, kind: str) -> None:
    with ServerProcess(tmp_path / "store.pickle", kind=kind) as server:
        _open_accounts(server.url)
        readings: list[int] = []

        def read_while_moving(stop: threading.Event) -> None:
            deadline = time.monotonic() + 3
            while time.monotonic() < deadline:
                readings.append(sum(_balances(server.url).values()))

        moved = _run_movers(server.url, 0, read_while_moving)
        assert moved > 10, "the movers made no progress"
        assert readings and set(readings) == {TOTAL}, "a listing saw part of a transaction"
        assert sum(_balances(server.url).values()) == TOTAL
        # Every revision the history reaches holds the invariant too: no half transaction was ever committed.
        current = requests.get(f"{server.url}/healthz", timeout=TIMEOUT).json()["revision"]
        for revision in range(max(current - 40, 0), current + 1, 3):
            balances = _balances(server.url, revision)
            assert balances == {} or sum(balances.values()) == TOTAL, revision


def test_kill_9_while_clients_run_transactions_leaves_each_whole_or_absent(tmp_path: Path) -> None:
    data = tmp_path / "store.pickle"
    with ServerProcess(data) as server:
        _open_accounts(server.url)

        def kill_midway(stop: threading.Event) -> None:
            time.sleep(1.5)
            server.kill()

        moved = _run_movers(server.url, 0, kill_midway)
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
