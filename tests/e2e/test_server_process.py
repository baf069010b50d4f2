"""The real server process: crash safety under kill -9, the data-file lock, and each way to run it."""

from __future__ import annotations

import pickle
import threading
import time
from pathlib import Path

import pytest
import requests

from kvapp.server.refusal import EXIT_CANNOT_START as EXIT_STORE_UNUSABLE
from kvapp.testing.server import ServerProcess
from tests.support.server import healthz, run_until_refused

WRITERS = 8
WRITES_PER_WRITER = 60


def write_concurrently(url: str, stop_after: int | None, stop: threading.Event) -> dict[str, tuple[str, int]]:
    """Writers on distinct keys; returns every acknowledged write as key -> (value, revision)."""
    acknowledged: dict[str, tuple[str, int]] = {}
    lock = threading.Lock()

    def writer(number: int) -> None:
        session = requests.Session()
        count = 0
        while not stop.is_set() and (stop_after is None or count < stop_after):
            key, value = f"w{number}/k{count % 25}", f"v{count}"
            try:
                response = session.put(f"{url}/api/v1/kv/{key}", json={"value": value}, timeout=10)
            except requests.RequestException:
                return  # the server died under us: this write was never acknowledged
            if response.status_code == 200:
                with lock:
                    acknowledged[key] = (value, response.json()["revision"])
            count += 1

    threads = [threading.Thread(target=writer, args=(n,)) for n in range(WRITERS)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    return acknowledged


def assert_all_present(url: str, acknowledged: dict[str, tuple[str, int]]) -> None:
    """Every acknowledged write is readable, or superseded by a later write to its key.

    A write that was fsynced but whose answer was cut off by the kill may survive too: the
    guarantee is about acknowledged writes, and each key has one writer writing in order.
    """
    assert acknowledged, "the test acknowledged nothing"
    session = requests.Session()
    for key, (value, revision) in acknowledged.items():
        got = session.get(f"{url}/api/v1/kv/{key}", timeout=10).json()
        assert got["revision"] >= revision, f"{key} lost its acknowledged write"
        if got["revision"] == revision:
            assert got["value"] == value, key
    top = max(revision for _, revision in acknowledged.values())
    assert healthz(url)["revision"] >= top


def assert_all_present_after_restart(data: Path, acknowledged: dict[str, tuple[str, int]]) -> None:
    """Start a new server on the same data file and check every acknowledged write."""
    with ServerProcess(data) as restarted:
        assert_all_present(restarted.url, acknowledged)


def test_kill_9_right_after_the_last_answer_loses_no_acknowledged_write(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        acknowledged = write_concurrently(server.url, WRITES_PER_WRITER, threading.Event())
        server.kill()
    assert_all_present_after_restart(server.data, acknowledged)


def test_kill_9_in_the_middle_of_concurrent_writes_loses_no_acknowledged_write(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        stop = threading.Event()
        result: dict[str, tuple[str, int]] = {}
        runner = threading.Thread(target=lambda: result.update(write_concurrently(server.url, None, stop)))
        runner.start()
        time.sleep(1.5)
        server.kill()  # writers are mid-request: some writes were never answered
        stop.set()
        runner.join()
    assert_all_present_after_restart(server.data, result)


def test_a_clean_stop_folds_the_journal_and_keeps_everything(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        acknowledged = write_concurrently(server.url, 10, threading.Event())
    top = max(revision for _, revision in acknowledged.values())
    assert pickle.loads(server.data.read_bytes())["revision"] >= top, "the snapshot holds every write"
    assert not server.data.with_name("store.pickle.journal").exists(), "folded at shutdown"
    assert_all_present_after_restart(server.data, acknowledged)


@pytest.mark.parametrize("kind", ["daphne", "runserver-autoreload"])
def test_a_second_server_on_the_same_file_exits_with_2_and_the_first_keeps_serving(
    server: ServerProcess, kind: str
) -> None:
    requests.put(f"{server.url}/api/v1/kv/a", json={"value": "1"}, timeout=10)
    second = run_until_refused(server.data, kind)
    assert second.returncode == EXIT_STORE_UNUSABLE
    assert "already using" in second.stderr
    assert "Traceback" not in second.stderr
    assert requests.get(f"{server.url}/api/v1/kv/a", timeout=10).json()["value"] == "1"


@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "runserver-autoreload"])
@pytest.mark.parametrize(
    ("variable", "value", "said"),
    [("KV_HISTORY", "abc", "KV_HISTORY='abc' is not a whole number"), ("DJANGO_DEBUG", "maybe", "not a boolean")],
)
def test_a_bad_environment_variable_stops_the_start_with_one_line(
    tmp_path: Path, kind: str, variable: str, value: str, said: str
) -> None:
    result = run_until_refused(tmp_path / "store.pickle", kind, env={variable: value})
    assert result.returncode == EXIT_STORE_UNUSABLE
    assert f"kvstore: cannot start: {variable}" in result.stderr
    assert said in result.stderr
    assert "Traceback" not in result.stderr
    assert not (tmp_path / "store.pickle").exists()


def test_a_corrupt_store_stops_the_start_with_a_clear_message(tmp_path: Path) -> None:
    data = tmp_path / "store.pickle"
    data.write_bytes(b"this is not a pickle")
    result = run_until_refused(data)
    assert result.returncode == EXIT_STORE_UNUSABLE
    assert "refusing to start" in result.stderr
    assert data.read_bytes() == b"this is not a pickle"


@pytest.mark.parametrize("kind", ["daphne", "uvicorn", "runserver"])
def test_every_supported_server_serves_the_api(tmp_path: Path, kind: str) -> None:
    with ServerProcess(tmp_path / "store.pickle", kind=kind) as server:
        put = requests.put(f"{server.url}/api/v1/kv/hello", json={"value": "world"}, timeout=10)
        assert put.status_code == 200
        assert requests.get(f"{server.url}/get?key=hello", timeout=10).text == "world"


def test_the_data_file_is_created_at_first_start(tmp_path: Path) -> None:
    with ServerProcess(tmp_path / "store.pickle") as server:
        assert server.data.exists()
        assert healthz(server.url)["revision"] == 0


@pytest.mark.parametrize("kind", ["daphne", "uvicorn"])
def test_a_key_that_is_not_utf8_is_refused_not_mangled(tmp_path: Path, kind: str) -> None:
    with ServerProcess(tmp_path / "store.pickle", kind=kind) as server:
        response = requests.put(f"{server.url}/api/v1/kv/bad%ff%fe", json={"value": "x"}, timeout=10)
        assert response.status_code == 400
        assert "UTF-8" in response.json()["error"]
        assert healthz(server.url)["revision"] == 0
        good = requests.put(f"{server.url}/api/v1/kv/caf%C3%A9", json={"value": "x"}, timeout=10)
        assert good.json()["key"] == "café"
