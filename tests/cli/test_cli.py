"""kvcli in-process: commands, output, paging, exit codes and error lines, with injected streams."""

from __future__ import annotations

import re
import socket
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, HTTPServer
from typing import Any
from urllib.parse import quote

import pytest
import requests

from kvapp.testing.ports import free_port
from kvapp.testing.server import ServerProcess
from kvcli.cli import build_parser
from kvcli.client import KVClient
from kvcli.commands import Commands
from kvcli.status import ExitStatus
from kvcli.watch import WatchStream
from tests.cli.inprocess import Result, make_env, run_cli

TOKEN = "s3cret"
UNICODE_TOKEN = "tökén€"  # not latin-1: the header must carry its UTF-8 bytes


def assert_one_error_line(result: Result, *fragments: str) -> None:
    """Failures are exactly one ``error:`` line on stderr mentioning ``fragments``, never a traceback."""
    lines = result.err.splitlines()
    assert len(lines) == 1, result.err
    assert lines[0].startswith("error: ")
    assert "Traceback" not in result.err
    for fragment in fragments:
        assert fragment in lines[0]


@pytest.fixture(scope="module")
def token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server that requires ``Authorization: Bearer s3cret``."""
    with ServerProcess(tmp_path_factory.mktemp("kv") / "store.pickle", env={"KV_TOKEN": TOKEN}) as process:
        yield process


@pytest.fixture(scope="module")
def unicode_token_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A server whose token is non-ASCII (and not even latin-1)."""
    data = tmp_path_factory.mktemp("kv") / "store.pickle"
    with ServerProcess(data, env={"KV_TOKEN": UNICODE_TOKEN}) as process:
        yield process


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses."""
    return f"t{uuid.uuid4().hex[:8]}/"


def put_pair(server: ServerProcess, key: str, value: str) -> int:
    """Write through the API directly (not the CLI under test); returns the revision."""
    response = requests.put(f"{server.url}/api/v1/kv/{quote(key, safe='')}", json={"value": value}, timeout=5)
    response.raise_for_status()
    return response.json()["revision"]


@pytest.fixture
def silent_port() -> Iterator[int]:
    """A port that accepts TCP connections (kernel backlog) but never answers."""
    with socket.socket() as listener:
        listener.bind(("127.0.0.1", 0))
        listener.listen(8)
        yield listener.getsockname()[1]


class _CannedHandler(BaseHTTPRequestHandler):
    """Answers every request with its server's status and ``canned`` body; records Authorization bytes."""

    server: _CannedServer

    def _answer(self) -> None:
        # http.server decodes header lines as latin-1, so encoding back gives the bytes sent.
        self.server.seen.append(self.headers.get("Authorization", "").encode("latin-1"))
        # Read the body (a put's): closing with it unread makes the kernel reset the connection.
        self.rfile.read(int(self.headers.get("Content-Length", 0)))
        self.send_response(self.server.status)
        self.send_header("Content-Type", self.server.content_type)
        self.send_header("Content-Length", str(len(self.server.canned)))
        self.end_headers()
        self.wfile.write(self.server.canned)

    do_GET = do_PUT = do_DELETE = do_POST = _answer

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""


class _CannedServer(HTTPServer):
    """A local HTTP server that is not kvstore, or only pretends to be: one answer for everything."""

    def __init__(self, canned: bytes, content_type: str, status: int = 200) -> None:
        super().__init__(("127.0.0.1", 0), _CannedHandler)
        self.canned = canned
        self.content_type = content_type
        self.status = status
        self.seen: list[bytes] = []

    @property
    def url(self) -> str:
        """Base URL to pass as --url."""
        return f"http://127.0.0.1:{self.server_address[1]}"


@contextmanager
def canned_server(canned: bytes, content_type: str = "application/json", status: int = 200) -> Iterator[_CannedServer]:
    """A _CannedServer serving from a thread for the ``with`` block."""
    httpd = _CannedServer(canned, content_type, status)
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield httpd
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture
def html_server() -> Iterator[str]:
    """A local HTTP server answering an HTML page, like a wrong --url would."""
    with canned_server(b"<html>not a kvstore</html>", "text/html") as httpd:
        yield httpd.url


def test_put_then_get_prints_the_value_alone(server: ServerProcess, ns: str) -> None:
    put = run_cli("--url", server.url, "put", f"{ns}greeting", "hello world")
    assert put.status == ExitStatus.OK
    assert re.fullmatch(rf'stored {ns}greeting = "hello world" \(rev \d+\)\n', put.out)
    got = run_cli("--url", server.url, "get", f"{ns}greeting")
    assert (got.status, got.out, got.err) == (ExitStatus.OK, "hello world\n", "")


def test_get_of_a_missing_key_is_not_found(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "get", f"{ns}missing")
    assert result.status == ExitStatus.NOT_FOUND == 1
    assert result.out == ""
    assert_one_error_line(result, f"'{ns}missing'", "not found")


@pytest.mark.parametrize("key", ["it's", 'say "hi"', "ключ", "zero\u200bwidth"])
def test_missing_keys_that_repr_quotes_or_escapes_are_still_not_found(server: ServerProcess, ns: str, key: str) -> None:
    for command in ("get", "delete"):
        result = run_cli("--url", server.url, command, f"{ns}{key}")
        assert result.status == ExitStatus.NOT_FOUND, (command, result.err)


def test_delete_removes_the_key_and_a_second_delete_is_not_found(server: ServerProcess, ns: str) -> None:
    revision = put_pair(server, f"{ns}doomed", "x")
    first = run_cli("--url", server.url, "delete", f"{ns}doomed")
    assert (first.status, first.out) == (ExitStatus.OK, f"deleted {ns}doomed (rev {revision + 1})\n")
    assert requests.get(f"{server.url}/api/v1/kv/{ns}doomed", timeout=5).status_code == 404
    assert run_cli("--url", server.url, "delete", f"{ns}doomed").status == ExitStatus.NOT_FOUND


@pytest.mark.parametrize("key", ["app/db/host", "a?b#c d%20e", "..", ".", "ключ", "a+b&c=d"])
def test_keys_with_reserved_characters_round_trip(server: ServerProcess, key: str) -> None:
    assert run_cli("--url", server.url, "put", key, f"value of {key}").status == ExitStatus.OK
    listed = requests.get(f"{server.url}/api/v1/kv", params={"prefix": key, "limit": 1}, timeout=5).json()
    assert listed["items"][0]["key"] == key
    assert run_cli("--url", server.url, "get", key).out == f"value of {key}\n"


def test_getall_pages_through_every_pair_in_key_order(server: ServerProcess, ns: str) -> None:
    keys = [f"{ns}page/{i:02d}" for i in range(25)]
    for key in keys:
        put_pair(server, key, f"v {key}")
    put_pair(server, f"{ns}other", "x")
    result = run_cli("--url", server.url, "--page-size", "10", "getall", f"{ns}page/")
    assert result.status == ExitStatus.OK
    assert result.out.splitlines() == [f'{key} = "v {key}"' for key in keys]
    everything = run_cli("--url", server.url, "--page-size", "7", "getall", ns)
    assert everything.out.splitlines() == [f'{ns}other = "x"', *result.out.splitlines()]


def test_client_pages_are_fetched_lazily_one_request_each(
    server: ServerProcess, ns: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    for i in range(25):
        put_pair(server, f"{ns}k{i:02d}", "v")
    client = KVClient(server.url, page_size=10)
    requests_made: list[dict] = []
    send = client.session.request

    def counted(*args: Any, **kwargs: Any) -> requests.Response:
        requests_made.append(kwargs["params"])
        return send(*args, **kwargs)

    monkeypatch.setattr(client.session, "request", counted)
    pages = client.pages(ns)
    assert [pair["key"] for pair in next(pages)] == [f"{ns}k{i:02d}" for i in range(10)]
    assert len(requests_made) == 1  # later pages are fetched on demand...
    put_pair(server, f"{ns}k99", "late")
    assert [len(page) for page in pages] == [10, 5]  # ...at the first page's revision: k99 is not in it
    assert len(requests_made) == 3


def test_getall_on_an_empty_prefix_says_so_on_stderr(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "getall", ns)
    assert (result.status, result.out) == (ExitStatus.OK, "")
    assert result.err == f"(no keys with prefix '{ns}')\n"


def test_values_print_as_clean_text(server: ServerProcess, ns: str) -> None:
    run_cli("--url", server.url, "put", f"{ns}multi", 'line one\nsaid "hi" ü')
    run_cli("--url", server.url, "put", f"{ns}empty", "")
    listing = run_cli("--url", server.url, "getall", ns)
    assert listing.out == f'{ns}empty = ""\n{ns}multi = "line one\\nsaid \\"hi\\" ü"\n'
    assert run_cli("--url", server.url, "get", f"{ns}multi").out == 'line one\nsaid "hi" ü\n'
    assert "b'" not in listing.out


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["frobnicate"], "unknown command 'frobnicate'"),
        (["put", "only-key"], "usage: put <key> <value>"),
        (["get"], "usage: get <key>"),
        (["get", "a", "b"], "usage: get <key>"),
        (["getall", "a", "b"], "usage: getall [prefix]"),
        (["--page-size", "0", "getall"], "page size"),
        (["--page-size", "lots", "getall"], "--page-size"),
        (["--bogus"], "unknown option --bogus"),
        (["getall", "--page-size", "0"], "page size"),
        (["getall", "--page-size", "lots"], "--page-size"),
        (["get", "a", "--url"], "--url: expected one argument"),
        (["help", "frobnicate"], "unknown command 'frobnicate'"),
        (["help", "get", "put"], "usage: help [command]"),
    ],
)
def test_usage_errors_exit_2_with_one_line(argv: list[str], fragment: str) -> None:
    result = run_cli("--url", "http://127.0.0.1:9", *argv)
    assert result.status == ExitStatus.ERROR == 2
    assert_one_error_line(result, fragment)


def test_an_invalid_url_is_a_usage_error() -> None:
    result = run_cli("--url", "ftp://localhost:8000", "get", "a")
    assert result.status == ExitStatus.ERROR
    assert_one_error_line(result, "invalid server URL", "http://")


@pytest.mark.parametrize(
    ("url", "fragment"),
    [
        ("http://[::1", "Invalid IPv6 URL"),
        ("http://[not-an-ip]:8000", "does not appear to be an IPv4 or IPv6 address"),
        ("http://127.0.0.1:99999", "Port out of range"),
        ("http://127.0.0.1:port", "Port could not be cast"),
        ("http://:8000", "expected something like"),
        ("http://exa mple:8000", "a space or a control character"),
        ("http://127.0.0.1:8000/\x00", "a space or a control character"),
        ("http://127.0.0.1:8000/?x=1", "no ?query or #fragment"),
        ("http://127.0.0.1:8000#top", "no ?query or #fragment"),
    ],
)
def test_a_malformed_url_is_one_usage_line_for_every_command(url: str, fragment: str) -> None:
    for argv in (["get", "a"], ["watch"]):
        result = run_cli("--url", url, *argv)
        assert result.status == ExitStatus.ERROR, argv
        assert_one_error_line(result, "invalid server URL", fragment)


def test_ipv6_and_user_info_urls_are_still_accepted() -> None:
    assert KVClient("http://[::1]:8000/").base_url == "http://[::1]:8000"
    assert KVClient("https://user:pw@kv.example/prefix").base_url == "https://user:pw@kv.example/prefix"


@pytest.mark.parametrize(
    ("argv", "fragment"),
    [
        (["put", "\udcff", "x"], "the key is not valid UTF-8 (first bad byte \\xff)"),
        (["put", "k", "ok\udce9"], "the value is not valid UTF-8 (first bad byte \\xe9)"),
        (["get", "k\udcff"], "the key is not valid UTF-8"),
        (["delete", "k\udcff"], "the key is not valid UTF-8"),
        (["getall", "\udcff"], "the prefix is not valid UTF-8"),
        (["watch", "\udcff"], "the prefix is not valid UTF-8"),
        (["--url", "http://h\udcff:8000", "get", "k"], "--url is not valid UTF-8"),
    ],
)
def test_arguments_that_are_not_utf8_are_refused_before_any_request(argv: list[str], fragment: str) -> None:
    # argv carries bytes that are not UTF-8 as surrogate escapes ("\xff" arrives as "\udcff").
    # Port 9 refuses connections: had a request been made, the error would say so instead.
    result = run_cli("--url", "http://127.0.0.1:9", *argv)
    assert result.status == ExitStatus.ERROR
    assert_one_error_line(result, fragment)


def test_shell_lines_that_are_not_utf8_are_one_error_each() -> None:
    result = run_cli("--url", "http://127.0.0.1:9", stdin="put \udcff x\nput k 'a \udcff'\ngetall \udcfe\n")
    assert result.status == ExitStatus.ERROR  # piped lines: the worst status of the commands
    assert result.err.splitlines() == [
        "error: the key is not valid UTF-8 (first bad byte \\xff)",
        "error: the value is not valid UTF-8 (first bad byte \\xff)",
        "error: the prefix is not valid UTF-8 (first bad byte \\xfe)",
    ]


def test_unreachable_server_is_one_line_and_exit_2() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    for argv in (["get", "a"], ["put", "a", "b"], ["getall"], ["delete", "a"], ["watch"]):
        result = run_cli("--url", url, *argv)
        assert result.status == ExitStatus.ERROR, argv
        assert_one_error_line(result, "cannot reach the server", url, "refused")


def test_a_404_that_is_not_a_missing_key_is_an_error_pointing_at_the_url(server: ServerProcess, ns: str) -> None:
    wrong = f"{server.url}/api"  # the server answers 404 "no such path: /api/api/v1/kv/..."
    for argv in (["get", f"{ns}x"], ["delete", f"{ns}x"], ["getall", ns]):
        result = run_cli("--url", wrong, *argv)
        assert result.status == ExitStatus.ERROR, argv
        assert_one_error_line(result, "404", "no such path", "--url")


@pytest.mark.parametrize(
    ("body", "status"),
    [
        (b'{"error": "no key by that name", "key": "k"}', ExitStatus.NOT_FOUND),  # the server names the key
        (b'{"error": "key \'k\' not found"}', ExitStatus.NOT_FOUND),  # a server from before "key"
        (b'{"error": "key \'k\' not found", "key": "other"}', ExitStatus.ERROR),
        (b'{"error": "nothing here"}', ExitStatus.ERROR),
    ],
)
def test_only_a_404_for_this_key_is_not_found(body: bytes, status: ExitStatus) -> None:
    with canned_server(body, status=404) as httpd:
        assert run_cli("--url", httpd.url, "get", "k").status == status


def test_a_server_that_never_answers_is_a_timeout(silent_port: int) -> None:
    env = make_env()
    client = KVClient(f"http://127.0.0.1:{silent_port}", read_timeout=0.3)
    status = Commands(client, env).run("get", ["a"])
    assert status == ExitStatus.ERROR
    assert_one_error_line(Result(status, env.stdout.getvalue(), env.stderr.getvalue()), "did not answer in time")


def test_a_server_answering_html_is_a_bad_response(html_server: str) -> None:
    for argv in (["get", "a"], ["getall"]):
        result = run_cli("--url", html_server, *argv)
        assert result.status == ExitStatus.ERROR
        assert_one_error_line(result, "without a JSON object", "kvstore server")


DEEP = 100_000  # levels of nesting; far past the recursion limit of Python's JSON decoder
PAIR_OF_WRONG_TYPES = b'{"key": null, "value": {"a": 1}, "revision": "x", "created": 1}'


@pytest.mark.parametrize(
    ("argv", "canned"),
    [
        *((argv, b"[" * DEEP + b"]" * DEEP) for argv in (["get", "k"], ["put", "k", "v"], ["delete", "k"], ["getall"])),
        (["get", "k"], b'{"a": ' * DEEP + b"1" + b"}" * DEEP),
        (["get", "k"], PAIR_OF_WRONG_TYPES),
        (["put", "k", "v"], PAIR_OF_WRONG_TYPES),
        (["get", "k"], b'{"key": "k", "revision": 1}'),
        (["get", "k"], b'{"key": "k", "value": "v", "revision": true}'),
        (["delete", "k"], b'{"key": "k", "revision": 1.5}'),
        (["getall"], b'{"items": [["a", "b"]], "next": null, "revision": 1}'),
        (["getall"], b'{"items": [{"key": "a", "value": 1, "revision": 1}], "next": null, "revision": 1}'),
        (["getall"], b'{"items": [], "next": 5, "revision": 1}'),
        (["getall"], b'{"items": {}, "next": null, "revision": 1}'),
        (["watch"], b'{"items": [], "next": null, "revision": "1"}'),
        (["lease", "grant", "5"], b'{"id": "7", "ttl": 5, "remaining": 5}'),
        (["lease", "show", "7"], b'{"id": 7, "ttl": 5, "remaining": 5, "keys": 2}'),
        (["lease", "list"], b'{"items": [{"id": 7}], "next": null}'),
        (["lease", "revoke", "7"], b'{"id": 7, "revision": 3}'),
        (["history", "k"], b'{"items": [{"type": "put", "revision": 3}], "next": null, "oldest": 1}'),
        (["delete", "--prefix", "p", "--yes"], b'{"deleted": 1, "revision": 3, "more": "no"}'),
        (["delete", "--prefix", "p"], b'{"items": [], "next": null, "revision": 1}'),  # no count
    ],
)
def test_an_answer_that_is_not_kvstore_json_is_a_bad_response(argv: list[str], canned: bytes) -> None:
    with canned_server(canned) as httpd:
        result = run_cli("--url", httpd.url, *argv)
    assert (result.status, result.out) == (ExitStatus.ERROR, "")
    assert_one_error_line(result, "(is --url a kvstore server?)")


@pytest.mark.parametrize(
    "canned",
    [
        b'{"succeeded": 1, "revision": 1, "responses": []}',
        b'{"succeeded": true, "revision": 1, "responses": [{"op": "get", "key": "a", "revision": 1, "value": 5}]}',
        b'{"succeeded": true, "revision": 1, "responses": [{"op": "frob", "key": "a", "revision": 1}]}',
    ],
)
def test_a_txn_answer_that_is_not_kvstore_json_is_a_bad_response(canned: bytes) -> None:
    with canned_server(canned) as httpd:
        result = run_cli("--url", httpd.url, "txn", stdin='{"compare": [], "success": [], "failure": []}')
    assert (result.status, result.out) == (ExitStatus.ERROR, "")
    assert_one_error_line(result, "(is --url a kvstore server?)")


def test_server_errors_show_the_servers_sentence(server: ServerProcess, ns: str) -> None:
    result = run_cli("--url", server.url, "put", f"{ns}bad\x01key", "v")
    assert result.status == ExitStatus.ERROR
    assert_one_error_line(result, "answered 400")


def test_kv_url_and_kv_token_come_from_the_environment(token_server: ServerProcess, ns: str) -> None:
    environ = {"KV_URL": token_server.url, "KV_TOKEN": TOKEN}
    assert run_cli("put", f"{ns}a", "1", environ=environ).status == ExitStatus.OK
    assert run_cli("get", f"{ns}a", environ=environ).out == "1\n"


def test_missing_or_wrong_token_is_an_auth_error(token_server: ServerProcess) -> None:
    for argv in (["get", "a"], ["--token", "wrong", "getall"], ["watch"]):
        result = run_cli("--url", token_server.url, *argv)
        assert result.status == ExitStatus.ERROR, argv
        assert_one_error_line(result, "token")


def test_token_option_is_sent_as_bearer(token_server: ServerProcess, ns: str) -> None:
    assert run_cli("--url", token_server.url, "--token", TOKEN, "put", f"{ns}a", "x y").status == ExitStatus.OK
    result = run_cli("--url", token_server.url, "--token", TOKEN, "getall", ns)
    assert (result.status, result.out) == (ExitStatus.OK, f'{ns}a = "x y"\n')


def test_a_non_ascii_token_works_for_commands_and_watch(unicode_token_server: ServerProcess, ns: str) -> None:
    options = ("--url", unicode_token_server.url, "--token", UNICODE_TOKEN)
    stored = run_cli(*options, "put", f"{ns}a", "1")
    assert (stored.status, stored.err) == (ExitStatus.OK, "")
    assert run_cli(*options, "get", f"{ns}a").out == "1\n"
    assert run_cli(*options, "getall", ns).out == f'{ns}a = "1"\n'
    from_environment = {"KV_URL": unicode_token_server.url, "KV_TOKEN": UNICODE_TOKEN}
    assert run_cli("get", f"{ns}a", environ=from_environment).out == "1\n"
    client = KVClient(unicode_token_server.url, token=UNICODE_TOKEN)
    revision = client.revision()
    stream = WatchStream(client, ns, revision - 1, lambda note: None)
    assert next(iter(stream))["key"] == f"{ns}a"
    wrong = run_cli("--url", unicode_token_server.url, "--token", "tökén", "get", f"{ns}a")
    assert wrong.status == ExitStatus.ERROR
    assert_one_error_line(wrong, "token")


def test_a_token_of_raw_bytes_is_sent_as_those_bytes() -> None:
    # argv and the environment carry bytes that are not UTF-8 as surrogate escapes; the server
    # reads its own KV_TOKEN the same way, so sending the original bytes is what matches.
    with canned_server(b'{"key": "a", "value": "v", "revision": 1, "created": 1}') as httpd:
        result = run_cli("--url", httpd.url, "--token", "t\udcff€", "get", "a")
    assert (result.status, result.out) == (ExitStatus.OK, "v\n")
    assert httpd.seen == [b"Bearer t\xff\xe2\x82\xac"]  # the raw byte, then the UTF-8 of the euro


@pytest.mark.parametrize("token", ["two\nlines", "nul\x00", "tab\there"])
def test_a_token_with_a_control_character_is_a_usage_error(token: str) -> None:
    result = run_cli("--url", "http://127.0.0.1:9", "--token", token, "get", "a")
    assert result.status == ExitStatus.ERROR
    assert_one_error_line(result, "--token", "control character")


def test_help_lists_every_command() -> None:
    result = run_cli("help")
    assert result.status == ExitStatus.OK
    for command in ("get <key>", "put <key> <value>", "getall [prefix]", "delete <key>", "watch [prefix]"):
        assert command in result.out
    assert run_cli("--help").status == ExitStatus.OK
    after_a_command = run_cli("getall", "--help")
    assert (after_a_command.status, after_a_command.err) == (ExitStatus.OK, "")
    assert "getall [prefix]" in after_a_command.out


def test_help_for_one_command_prints_its_usage() -> None:
    result = run_cli("help", "get")
    assert (result.status, result.out, result.err) == (
        ExitStatus.OK,
        "get <key>: print the value stored under <key>\nget <key> --rev R: the value as it stood at revision R\n",
        "",
    )


def test_options_may_also_follow_the_command(token_server: ServerProcess, ns: str) -> None:
    for i in range(3):
        run_cli("put", f"{ns}page/{i}", f"v{i}", "--url", token_server.url, "--token", TOKEN)
    listing = run_cli("getall", "--page-size", "2", f"{ns}page/", f"--url={token_server.url}", f"--token={TOKEN}")
    assert (listing.status, listing.err) == (ExitStatus.OK, "")
    assert listing.out.splitlines() == [f'{ns}page/{i} = "v{i}"' for i in range(3)]


def test_double_dash_ends_the_options_so_keys_and_values_may_start_with_a_dash(server: ServerProcess, ns: str) -> None:
    key = f"-{ns}dash"
    stored = run_cli("--url", server.url, "put", "--", key, "--url")
    assert (stored.status, stored.err) == (ExitStatus.OK, "")
    assert run_cli("get", "--url", server.url, "--", key).out == "--url\n"
    assert run_cli("--url", server.url, "put", "--", key, "--").status == ExitStatus.OK  # only the first "--" ends
    assert run_cli("--url", server.url, "get", key).out == "--\n"
    # Without "--", an argument that only looks like an option (not --url/--token/...) is data.
    assert run_cli("--url", server.url, "put", key, "-value").status == ExitStatus.OK
    assert run_cli("--url", server.url, "get", key).out == "-value\n"
    shell = run_cli("--url", server.url, stdin=f"get -- {key}\n")
    assert shell.out == "-value\n"


def test_shell_reads_commands_from_stdin_and_keeps_going_after_errors(server: ServerProcess, ns: str) -> None:
    script = "\n".join(
        [
            f"put '{ns}two words' \"value with spaces\"",
            f"get '{ns}two words'",
            f"get {ns}missing",
            f"put {ns}unclosed 'quote",
            "frob x",
            "",
            f"getall {ns}",
            "quit",
            f"put {ns}never-run x",
        ]
    )
    result = run_cli("--url", server.url, stdin=script + "\n")
    assert result.status == ExitStatus.ERROR  # piped lines: no banner or prompts, the worst status
    assert re.fullmatch(  # put, get, then getall: only the one pair
        rf'stored "{ns}two words" = "value with spaces" \(rev \d+\)\n'
        rf'value with spaces\n"{ns}two words" = "value with spaces"\n',
        result.out,
    )
    assert result.out.count(ns) == 2
    assert result.err.splitlines() == [
        f"error: key '{ns}missing' not found",
        "error: cannot parse the arguments: no closing quotation",
        "error: unknown command 'frob'; type help to list commands",
    ]


def test_shell_survives_an_unreachable_server_and_ends_on_eof() -> None:
    result = run_cli("--url", f"http://127.0.0.1:{free_port()}", stdin="get a\ngetall\n")
    assert (result.status, result.out) == (ExitStatus.ERROR, "")
    assert len(result.err.splitlines()) == 2
    assert all(line.startswith("error: cannot reach the server") for line in result.err.splitlines())


def test_shell_help_documents_each_command() -> None:
    result = run_cli("--url", "http://127.0.0.1:9", stdin="help\nhelp put\n")
    assert "getall" in result.out and "watch" in result.out and "EOF" in result.out
    assert "put <key> <value>: store <value> under <key>" in result.out


def test_the_url_defaults_to_localhost_8000() -> None:
    assert build_parser(make_env()).parse_args([]).url == "http://127.0.0.1:8000"


def test_url_and_token_options_beat_the_environment(token_server: ServerProcess, ns: str) -> None:
    nowhere = {"KV_URL": f"http://127.0.0.1:{free_port()}", "KV_TOKEN": "wrong"}
    options = ("--url", token_server.url, "--token", TOKEN)
    assert run_cli(*options, "put", f"{ns}k", "v", environ=nowhere).status == ExitStatus.OK
    read_back = run_cli(*options, "get", f"{ns}k", environ=nowhere)
    assert (read_back.status, read_back.out) == (ExitStatus.OK, "v\n")
