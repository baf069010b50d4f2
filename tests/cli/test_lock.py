"""``lock NAME [-- COMMAND]`` with real processes: one holder at a time, released at exit or by expiry,
and a command whose lock is lost is stopped."""

from __future__ import annotations

import os
import re
import signal
import time
import uuid
from pathlib import Path

import pytest
import requests

from kvapp.testing.server import ServerProcess
from kvcli.lock import LOCK_PREFIX
from tests.cli.api import delete_pair, lease_alive, pair, revoke
from tests.cli.inprocess import run_cli
from tests.cli.processes import WAIT_TIMEOUT, kvcli_process, wait_for

WORK = 1.0  # seconds each contender's command holds the lock


@pytest.fixture
def name() -> str:
    """A lock name no other test uses."""
    return f"job-{uuid.uuid4().hex[:8]}"


def marking(marks: Path, who: str, seconds: float = WORK) -> list[str]:
    """A command appending ``start WHO`` and, ``seconds`` later, ``end WHO`` to ``marks``."""
    return ["sh", "-c", f"echo start {who} >> {marks}; sleep {seconds}; echo end {who} >> {marks}"]


def txn_requests(server: ServerProcess) -> float:
    """How many transactions the server has answered so far (from /metrics)."""
    text = requests.get(f"{server.url}/metrics", timeout=5).text
    found = re.findall(r'kv_requests_total\{method="POST",route="txn",status="200"\} (\S+)', text)
    return float(found[0]) if found else 0.0


def test_two_contenders_run_their_commands_one_after_the_other(
    server: ServerProcess, name: str, tmp_path: Path
) -> None:
    marks = tmp_path / "marks"
    with (
        kvcli_process(server.url, "lock", name, "--", *marking(marks, "A")) as a,
        kvcli_process(server.url, "lock", name, "--", *marking(marks, "B")) as b,
    ):
        results = [process.communicate(timeout=WAIT_TIMEOUT) for process in (a, b)]
    assert (a.returncode, b.returncode) == (0, 0), results
    assert results == [("", ""), ("", "")]  # with a command, lock prints nothing of its own
    lines = marks.read_text().splitlines()
    first, second = lines[0].split()[1], lines[2].split()[1]
    assert lines == [f"start {first}", f"end {first}", f"start {second}", f"end {second}"]
    assert {first, second} == {"A", "B"}
    assert pair(server.url, LOCK_PREFIX + name) is None  # released


def test_a_waiter_watches_the_key_instead_of_polling(server: ServerProcess, name: str, tmp_path: Path) -> None:
    marks = tmp_path / "marks"
    with kvcli_process(server.url, "lock", name, "--", *marking(marks, "holder", 6)) as holder:
        wait_for(lambda: marks.exists(), "the holder's command to start")
        holders = txn_requests(server)
        with kvcli_process(server.url, "lock", name, "--", "true") as waiter:
            wait_for(lambda: txn_requests(server) > holders, "the waiter's first try")
            tried = txn_requests(server)
            time.sleep(1.5)
            assert txn_requests(server) == tried  # no transaction while it waits
            assert waiter.poll() is None
            assert waiter.wait(timeout=WAIT_TIMEOUT) == 0
        assert holder.wait(timeout=WAIT_TIMEOUT) == 0
    assert marks.read_text().splitlines() == ["start holder", "end holder"]  # the waiter ran after it


def test_the_exit_status_is_the_commands_and_the_lock_is_released(server: ServerProcess, name: str) -> None:
    with kvcli_process(server.url, "lock", name, "--", "sh", "-c", "exit 3") as process:
        assert process.wait(timeout=WAIT_TIMEOUT) == 3
    assert pair(server.url, LOCK_PREFIX + name) is None
    with kvcli_process(server.url, "lock", name, "--", "sh", "-c", "kill -TERM $$") as process:
        assert process.wait(timeout=WAIT_TIMEOUT) == 128 + signal.SIGTERM  # as a shell reports it


def test_a_command_that_cannot_run_is_one_line_and_releases(server: ServerProcess, name: str) -> None:
    result = run_cli("--url", server.url, "lock", name, "--", "/nonexistent/command")
    assert (result.status, result.err) == (2, "error: cannot run '/nonexistent/command': No such file or directory\n")
    assert pair(server.url, LOCK_PREFIX + name) is None


def test_a_holder_killed_with_sigkill_releases_by_expiry(server: ServerProcess, name: str, tmp_path: Path) -> None:
    marks, pid_file = tmp_path / "marks", tmp_path / "pid"
    key = LOCK_PREFIX + name
    orphan = ["sh", "-c", f"echo $$ > {pid_file}; exec sleep 60"]
    with kvcli_process(server.url, "lock", "--ttl", "2", name, "--", *orphan) as holder:
        wait_for(lambda: pid_file.exists() and pair(server.url, key), "the holder to take the lock")
        try:
            with kvcli_process(server.url, "lock", name, "--", *marking(marks, "waiter", 0)) as waiter:
                time.sleep(1.0)
                assert not marks.exists()  # still waiting
                holder.kill()  # kvcli dies without releasing anything
                started = time.monotonic()
                assert waiter.wait(timeout=WAIT_TIMEOUT) == 0
                waited = time.monotonic() - started
        finally:
            # Nothing is left to stop a SIGKILLed holder's command (README): the test does.
            os.killpg(int(pid_file.read_text()), signal.SIGKILL)
    assert marks.read_text().splitlines() == ["start waiter", "end waiter"]
    assert waited < 2 + 5  # the TTL, the server's second to notice the expiry, and slack for a busy box


def test_a_holder_whose_lease_is_revoked_stops_its_command_and_exits_2(
    server: ServerProcess, name: str, tmp_path: Path
) -> None:
    pid_file, marks = tmp_path / "pid", tmp_path / "marks"
    command = ["sh", "-c", f"echo $$ > {pid_file}; sleep 60; echo finished >> {marks}"]
    with kvcli_process(server.url, "lock", name, "--", *command) as holder:
        held = wait_for(lambda: pid_file.exists() and pair(server.url, LOCK_PREFIX + name), "the command to start")
        lease = held["lease"]  # type: ignore[index]
        revoke(server.url, lease)
        out, err = holder.communicate(timeout=WAIT_TIMEOUT)
    assert holder.returncode == 2
    assert (out, err) == ("", f"error: lost lock '{name}': its lease {lease} was revoked; the command was stopped\n")
    assert not marks.exists()
    with pytest.raises(ProcessLookupError):  # the command is gone, its sleep too: its whole process group
        os.killpg(int(pid_file.read_text()), 0)


def test_a_holder_whose_key_is_deleted_stops_its_command(server: ServerProcess, name: str) -> None:
    key = LOCK_PREFIX + name
    with kvcli_process(server.url, "lock", name, "--", "sleep", "60") as holder:
        held = wait_for(lambda: pair(server.url, key), "the holder to take the lock")
        delete_pair(server.url, key)
        out, err = holder.communicate(timeout=WAIT_TIMEOUT)
    assert (holder.returncode, out) == (2, "")
    assert err == f"error: lost lock '{name}': its key {key} was deleted; the command was stopped\n"
    assert not lease_alive(server.url, held["lease"])  # type: ignore[index]  # released all the same


def test_without_a_command_it_holds_until_ctrl_c(server: ServerProcess, name: str) -> None:
    key = LOCK_PREFIX + name
    with kvcli_process(server.url, "lock", name) as holder:
        assert holder.stdout is not None
        line = holder.stdout.readline()
        held = pair(server.url, key)
        assert held is not None
        assert line == f"holding lock '{name}' (key {key}, lease {held['lease']}); Ctrl+C to release\n"
        assert re.fullmatch(r".+ pid \d+", held["value"])  # who holds it, for getall locks/
        lease = requests.get(f"{server.url}/api/v1/leases/{held['lease']}", timeout=WAIT_TIMEOUT).json()
        assert lease["ttl"] == 10, "API.md: --ttl seconds, default 10"
        with kvcli_process(server.url, "lock", name) as waiter:
            assert waiter.stderr is not None
            assert waiter.stderr.readline().startswith(f"waiting for lock '{name}', held by '{held['value']}'")
            holder.send_signal(signal.SIGINT)
            assert holder.wait(timeout=WAIT_TIMEOUT) == 0
            assert waiter.stdout is not None
            assert waiter.stdout.readline().startswith(f"holding lock '{name}'")  # it had the next turn
            waiter.send_signal(signal.SIGTERM)  # SIGTERM releases too
            assert waiter.wait(timeout=WAIT_TIMEOUT) == 0
    assert pair(server.url, key) is None
