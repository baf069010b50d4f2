"""The past: ``history <key>``, ``get``/``getall --rev R``, and ``getall`` as one snapshot across its pages."""

from __future__ import annotations

import io
import re
from collections.abc import Iterator
from typing import Any

import pytest

from kvapp.testing.server import ServerProcess
from kvcli.client import KVClient
from kvcli.commands import Commands
from kvcli.environment import Environment
from kvcli.status import ExitStatus
from tests.cli.api import delete_pair, pair, put_pair, revoke
from tests.cli.inprocess import Result, run_cli

SHORT_HISTORY = 10  # events the short-history server keeps
LOCAL_TIME = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d\.\d{3} \S+"  # 2026-12-02 08:40:12.345 CET


@pytest.fixture(scope="module")
def short(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that keeps only the last SHORT_HISTORY events, so the past runs out quickly."""
    data = tmp_path_factory.mktemp("kv") / "store.pickle"
    with ServerProcess(data, env={"KV_HISTORY": str(SHORT_HISTORY)}) as process:
        yield process


def assert_one_error_line(result: Result, status: int, *fragments: str) -> None:
    """``status``, one ``error:`` line holding ``fragments``, no traceback."""
    assert result.status == status, result
    assert len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_history_lists_a_keys_changes_newest_first_with_local_times(server: ServerProcess, ns: str) -> None:
    key = f"{ns}h"
    first = put_pair(server.url, key, "one")
    second = put_pair(server.url, key, "two words")
    gone = delete_pair(server.url, key)
    put_pair(server.url, f"{ns}other", "x")
    last = put_pair(server.url, key, "three", ttl=60)
    lease = (pair(server.url, key) or {})["lease"]
    result = run_cli("--url", server.url, "--page-size", "2", "history", key)  # three pages
    assert (result.status, result.err) == (ExitStatus.OK, "")
    lines = result.out.splitlines()
    assert len(lines) == 4, lines
    expected = [
        rf'{last:>6}  {LOCAL_TIME}  put     "three" \(lease {lease}\)',
        rf"{gone:>6}  {LOCAL_TIME}  delete",
        rf'{second:>6}  {LOCAL_TIME}  put     "two words"',
        rf'{first:>6}  {LOCAL_TIME}  put     "one"',
    ]
    for line, pattern in zip(lines, expected, strict=True):
        assert re.fullmatch(pattern, line), (line, pattern)


def test_history_shows_how_a_lease_ended(server: ServerProcess, ns: str) -> None:
    put_pair(server.url, f"{ns}leased", "v", ttl=60)
    lease = (pair(server.url, f"{ns}leased") or {})["lease"]
    revoke(server.url, lease)
    newest = run_cli("--url", server.url, "history", f"{ns}leased").out.splitlines()[0]
    assert re.fullmatch(rf"\s*\d+  {LOCAL_TIME}  delete  \(lease {lease} revoked\)", newest), newest


def test_history_of_a_key_without_changes_says_so(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "history", f"{ns}never")
    assert (result.status, result.out, result.err) == (ExitStatus.OK, "", f"(no retained changes of '{ns}never')\n")


def test_get_and_getall_read_the_store_as_it_stood_at_a_revision(server: ServerProcess, ns: str) -> None:
    before = put_pair(server.url, f"{ns}a", "old")
    put_pair(server.url, f"{ns}b", "b")
    put_pair(server.url, f"{ns}a", "new")
    delete_pair(server.url, f"{ns}b")
    at = run_cli("--url", server.url, "get", f"{ns}a", "--rev", str(before))
    assert (at.status, at.out) == (ExitStatus.OK, "old\n")
    assert run_cli("--url", server.url, "get", f"{ns}a").out == "new\n"
    listing = run_cli("--url", server.url, "getall", ns, "--rev", str(before + 1), "--page-size", "1")
    assert (listing.status, listing.out) == (ExitStatus.OK, f'{ns}a = "old"\n{ns}b = "b"\n')
    absent = run_cli("--url", server.url, "get", "--rev", str(before - 1), f"{ns}a")
    assert_one_error_line(absent, ExitStatus.NOT_FOUND, f"key '{ns}a' not found at rev {before - 1}")


def test_a_revision_beyond_the_store_shows_the_servers_400(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "get", f"{ns}a", "--rev", "999999999")
    assert_one_error_line(result, ExitStatus.ERROR, "the server answered 400: revision 999999999 is beyond")


def test_a_revision_older_than_the_history_is_exit_2_with_where_it_starts(short: ServerProcess, ns: str) -> None:
    first = put_pair(short.url, f"{ns}a", "v")
    for i in range(SHORT_HISTORY + 2):
        put_pair(short.url, f"{ns}n{i}", "v")
    for argv in (["get", f"{ns}a"], ["getall", ns]):
        result = run_cli("--url", short.url, *argv, "--rev", str(first))
        assert_one_error_line(result, ExitStatus.ERROR, f"rev {first} is older than the server's history")
        assert re.search(r"\(oldest kept is rev \d+\)", result.err), result.err


class _BusyClient(KVClient):
    """A client during whose listing someone else writes, once, right after the first page arrives."""

    def __init__(self, url: str, page_size: int, write: Any) -> None:
        super().__init__(url, page_size=page_size)
        self.write = write
        self.listings = 0

    def _call(self, method: str, path: str, *args: Any, **kwargs: Any) -> dict[str, Any]:
        answer = super()._call(method, path, *args, **kwargs)
        if path == "/api/v1/kv" and method == "GET":
            self.listings += 1
            if self.listings == 1:
                self.write()
        return answer


def getall_while_writing(server: ServerProcess, prefix: str, write: Any, page_size: int = 2) -> Result:
    """``getall prefix`` in-process, with ``write`` run between its first and second page."""
    env = Environment(io.StringIO(), io.StringIO(), io.StringIO(), {}, stdin_isatty=False)
    status = Commands(_BusyClient(server.url, page_size, write), env).run("getall", [prefix])
    return Result(status, env.stdout.getvalue(), env.stderr.getvalue())


def test_getall_is_one_snapshot_whatever_is_written_meanwhile(server: ServerProcess, ns: str) -> None:
    for name in ("a", "b", "c", "d"):
        put_pair(server.url, f"{ns}{name}", "v1")

    def writes() -> None:
        delete_pair(server.url, f"{ns}c")  # not yet listed: still in the snapshot
        put_pair(server.url, f"{ns}bb", "new")  # would land on the next page: not in the snapshot
        put_pair(server.url, f"{ns}d", "v2")  # changed after the snapshot: listed as it was

    result = getall_while_writing(server, ns, writes)
    assert (result.status, result.err) == (ExitStatus.OK, "")
    assert result.out.splitlines() == [f'{ns}{name} = "v1"' for name in ("a", "b", "c", "d")]


def test_a_snapshot_lost_mid_listing_is_one_line_suggesting_kv_history(short: ServerProcess, ns: str) -> None:
    for name in ("a", "b", "c"):
        put_pair(short.url, f"{ns}{name}", "v")

    def flood() -> None:
        for i in range(SHORT_HISTORY + 2):
            put_pair(short.url, f"{ns}zz{i}", "v")

    result = getall_while_writing(short, ns, flood)
    assert result.out == f'{ns}a = "v"\n{ns}b = "v"\n'  # the first page, printed before the loss
    assert_one_error_line(result, ExitStatus.ERROR, "can no longer be read", "KV_HISTORY", "--page-size")
