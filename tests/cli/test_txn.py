"""``txn [FILE]``: a transaction from a file or stdin, its outcome and one line per op, exit 0/1/2."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from kvapp.testing.server import ServerProcess
from kvcli.status import ExitStatus
from tests.cli.api import pair, put_pair
from tests.cli.inprocess import Result, run_cli
from tests.cli.processes import run_kvcli


def value_of(url: str, key: str) -> str | None:
    """The key's value as the server has it now, None if absent."""
    found = pair(url, key)
    return None if found is None else found["value"]


def swap(ns: str, revision: int) -> dict:
    """A transaction: if a is at ``revision``, put a, delete b, get c, get a missing key; else get a."""
    return {
        "compare": [{"key": f"{ns}a", "target": "revision", "op": "==", "value": revision}],
        "success": [
            {"op": "put", "key": f"{ns}a", "value": "1"},
            {"op": "delete", "key": f"{ns}b"},
            {"op": "get", "key": f"{ns}c"},
            {"op": "get", "key": f"{ns}none"},
            {"op": "delete", "key": f"{ns}none"},
        ],
        "failure": [{"op": "get", "key": f"{ns}a"}],
    }


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """Exit 2, nothing on stdout, one ``error:`` line holding ``fragments``."""
    assert (result.status, result.out) == (ExitStatus.ERROR, ""), result
    assert len(result.err.splitlines()) == 1, result.err
    assert result.err.startswith("error: ")
    for fragment in fragments:
        assert fragment in result.err, result.err


def test_a_transaction_from_a_file_prints_its_outcome_and_each_response(
    server: ServerProcess, ns: str, tmp_path: Path
) -> None:
    a = put_pair(server.url, f"{ns}a", "0")
    put_pair(server.url, f"{ns}b", "gone soon")
    c = put_pair(server.url, f"{ns}c", "x")
    file = tmp_path / "txn.json"
    file.write_text(json.dumps(swap(ns, a)))
    result = run_cli("--url", server.url, "txn", str(file))
    assert (result.status, result.err) == (ExitStatus.OK, "")
    assert result.out.splitlines() == [
        f"succeeded (rev {c + 2})",
        f'put {ns}a = "1" (rev {c + 1})',
        f"delete {ns}b (rev {c + 2})",
        f'get {ns}c = "x" (rev {c})',
        f"get {ns}none: not found",
        f"delete {ns}none: not found",
    ]
    assert (value_of(server.url, f"{ns}a"), value_of(server.url, f"{ns}b")) == ("1", None)


def test_a_failed_compare_runs_the_failure_ops_and_exits_1(server: ServerProcess, ns: str) -> None:
    a = put_pair(server.url, f"{ns}a", "0")
    result = run_cli("--url", server.url, "txn", stdin=json.dumps(swap(ns, a + 100)))
    assert (result.status, result.err) == (ExitStatus.COMPARE_FAILED, "")
    assert result.status == 1
    assert result.out.splitlines() == [f"compare failed (rev {a})", f'get {ns}a = "0" (rev {a})']
    assert value_of(server.url, f"{ns}a") == "0"


def test_dash_reads_stdin_and_a_lease_shows_in_the_put_line(server: ServerProcess, ns: str) -> None:
    txn = {"compare": [], "success": [{"op": "put", "key": f"{ns}leased", "value": "v", "ttl": 60}], "failure": []}
    result = run_cli("--url", server.url, "txn", "-", stdin=json.dumps(txn))
    assert result.status == ExitStatus.OK, result.err
    lease = (pair(server.url, f"{ns}leased") or {})["lease"]
    assert result.out.splitlines()[1].endswith(f", lease {lease})")


@pytest.mark.parametrize(
    ("text", "fragment"),
    [
        ('{"compare": [', "is not valid JSON: Expecting value (line 1, column 14)"),
        ('{"compare": []}\n}', "is not valid JSON: Extra data (line 2, column 1)"),
        ("", "is not valid JSON: Expecting value (line 1, column 1)"),
        ("[1, 2]", 'must be a JSON object: {"compare": [...], "success": [...], "failure": [...]}'),
        ("[" * 100_000 + "]" * 100_000, "nested too deeply"),
        ('{"x": "\udcff"}', "is not valid UTF-8"),
    ],
)
def test_a_transaction_that_is_not_a_json_object_is_one_line_before_any_request(text: str, fragment: str) -> None:
    result = run_cli("--url", "http://127.0.0.1:9", "txn", stdin=text)
    assert_one_error_line(result, "the transaction in standard input", fragment)


def test_a_file_that_cannot_be_read_is_one_line(tmp_path: Path) -> None:
    missing = tmp_path / "missing.json"
    assert_one_error_line(run_cli("--url", "http://127.0.0.1:9", "txn", str(missing)), f"cannot read {missing}")
    latin1 = tmp_path / "latin1.json"
    latin1.write_bytes(b'{"x": "caf\xe9"}')
    assert_one_error_line(run_cli("--url", "http://127.0.0.1:9", "txn", str(latin1)), "is not UTF-8 text")


def test_the_servers_400_is_shown(server: ServerProcess, ns: str) -> None:
    twice = [{"op": "put", "key": f"{ns}a", "value": "1"}, {"op": "delete", "key": f"{ns}a"}]
    result = run_cli("--url", server.url, "txn", stdin=json.dumps({"compare": [], "success": twice, "failure": []}))
    assert_one_error_line(result, "the server answered 400:", f"{ns}a")
    bad_op = run_cli("--url", server.url, "txn", stdin='{"compare": [], "success": [{"op": "frob"}], "failure": []}')
    assert_one_error_line(bad_op, "the server answered 400:")


def test_the_shell_needs_a_file_since_its_stdin_is_the_script(server: ServerProcess, ns: str, tmp_path: Path) -> None:
    file = tmp_path / "txn.json"
    file.write_text(json.dumps({"compare": [], "success": [{"op": "put", "key": f"{ns}s", "value": "1"}]}))
    result = run_cli("--url", server.url, stdin=f"txn\ntxn -\ntxn {file}\n")
    assert (
        result.err.splitlines()
        == [
            "error: in the shell, txn reads a file: txn FILE (standard input is the shell's)",
        ]
        * 2
    )
    assert result.out.splitlines()[1].startswith(f'put {ns}s = "1" (rev ')


def test_a_heredoc_transaction_end_to_end(server: ServerProcess, ns: str) -> None:
    put_pair(server.url, f"{ns}a", "old")
    heredoc = json.dumps(
        {
            "compare": [{"key": f"{ns}a", "target": "value", "op": "==", "value": "old"}],
            "success": [{"op": "put", "key": f"{ns}a", "value": "new"}],
            "failure": [],
        }
    )
    result = run_kvcli(server.url, "txn", stdin=heredoc)
    assert (result.returncode, result.stderr) == (0, "")
    assert result.stdout.startswith("succeeded (rev ")
    assert value_of(server.url, f"{ns}a") == "new"
    again = run_kvcli(server.url, "txn", "-", stdin=heredoc)
    assert (again.returncode, again.stdout.split(" (")[0]) == (1, "compare failed")
