"""Request heads every real server refuses alike (issues #15.4, #19.1), sent over raw sockets.

A request without Host, an absolute-form target, a request line or headers over the
limits: each gets kvstore's JSON error with its status (400, 414, 431), never a dropped
connection, and the server serves the next request. Plain uvicorn (h11) has h11's limit
instead of kvstore's, a head still unparsed after 16 KiB, so it is sent only heads far
over any limit.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import ExitStack

import pytest
import requests

from kvapp.server.http_rules import MAX_HEADER_BYTES, MAX_HEADER_FIELDS, MAX_REQUEST_LINE_BYTES
from kvapp.testing.server import ServerProcess
from tests.support.raw_http import connect, exchange, read_answer

KINDS = ["daphne", "runserver", "uvicorn"]
HOST = b"Host: 127.0.0.1\r\n"
MIB = 1024 * 1024


@pytest.fixture(scope="module")
def servers(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Callable[[str], ServerProcess]]:
    """Each kind of server started once for the module, on first use, with one pair stored."""
    started: dict[str, ServerProcess] = {}
    with ExitStack() as stack:

        def server(kind: str) -> ServerProcess:
            if kind not in started:
                data = tmp_path_factory.mktemp(kind) / "store.pickle"
                process = stack.enter_context(ServerProcess(data, kind=kind))
                requests.put(f"{process.url}/api/v1/kv/x", json={"value": "secret"}, timeout=10).raise_for_status()
                started[kind] = process
            return started[kind]

        yield server


@pytest.fixture(params=[*KINDS, "uvicorn-h11"])
def any_server(request: pytest.FixtureRequest, servers: Callable[[str], ServerProcess]) -> ServerProcess:
    """Every supported server, plain uvicorn included."""
    return servers(request.param)


@pytest.fixture(params=KINDS)
def kv_server(request: pytest.FixtureRequest, servers: Callable[[str], ServerProcess]) -> ServerProcess:
    """A server whose parser has kvstore's limits (every kind but plain uvicorn)."""
    return servers(request.param)


@pytest.fixture
def h11_server(servers: Callable[[str], ServerProcess]) -> ServerProcess:
    """Plain uvicorn, whose head limits are h11's."""
    return servers("uvicorn-h11")


def get(target: bytes, headers: bytes = HOST, version: bytes = b"HTTP/1.1") -> bytes:
    return b"GET " + target + b" " + version + b"\r\n" + headers + b"\r\n"


def assert_still_serving(server: ServerProcess) -> None:
    assert requests.get(f"{server.url}/api/v1/kv/x", timeout=10).json()["value"] == "secret"


# --- Host and the request target -----------------------------------------------------------


def test_an_http_1_1_request_without_host_is_400(any_server: ServerProcess) -> None:
    answer = exchange(any_server.port, get(b"/api/v1/kv/x", headers=b""))
    assert answer.status == 400
    assert "Host" in answer.json()["error"]
    assert b"secret" not in answer.body


def test_an_http_1_0_request_without_host_is_served(any_server: ServerProcess) -> None:
    answer = exchange(any_server.port, get(b"/api/v1/kv/x", headers=b"", version=b"HTTP/1.0"))
    assert answer.status == 200
    assert answer.json()["value"] == "secret"


@pytest.mark.parametrize(
    "target", [b"http://evil.example/api/v1/kv/x", b"http://127.0.0.1/api/v1/kv/x", b"//evil.example/api/v1/kv/x"]
)
def test_a_target_that_is_not_a_path_is_400_and_not_served(any_server: ServerProcess, target: bytes) -> None:
    answer = exchange(any_server.port, get(target))
    if target.startswith(b"//"):  # a path, if a strange one: served or not, never a secret for another host
        assert answer.status in (400, 404)
        return
    assert answer.status == 400
    assert "must be a path" in answer.json()["error"]
    assert b"secret" not in answer.body


def test_a_write_with_an_absolute_target_changes_nothing(any_server: ServerProcess) -> None:
    body = b'{"value": "pwned"}'
    request = (
        b"PUT http://evil.example/api/v1/kv/x HTTP/1.1\r\n" + HOST + b"Content-Length: %d\r\n\r\n" % len(body) + body
    )
    assert exchange(any_server.port, request).status == 400
    assert_still_serving(any_server)


# --- oversized heads ---------------------------------------------------------------------------


@pytest.mark.parametrize("length", [MAX_REQUEST_LINE_BYTES + 1000, MIB])
def test_a_request_line_over_the_limit_is_414(kv_server: ServerProcess, length: int) -> None:
    answer = exchange(kv_server.port, get(b"/api/v1/kv/" + b"a" * length))
    assert answer.status == 414
    assert "request" in answer.json()["error"]
    assert answer.headers["connection"] == "close"
    assert_still_serving(kv_server)


def test_a_request_line_within_the_limit_reaches_the_api(kv_server: ServerProcess) -> None:
    answer = exchange(kv_server.port, get(b"/api/v1/kv/" + b"a" * (MAX_REQUEST_LINE_BYTES - 1000)))
    assert answer.status == 400
    assert "the limit is 1024" in answer.json()["error"]  # the key's limit, not the line's


@pytest.mark.parametrize(
    "headers",
    [
        b"X-Big: " + b"a" * (MAX_HEADER_BYTES + 1000) + b"\r\n",
        b"X-A: " + b"a" * (MAX_HEADER_BYTES // 2) + b"\r\nX-B: " + b"b" * (MAX_HEADER_BYTES // 2) + b"\r\n",
        b"".join(b"X-%d: 1\r\n" % number for number in range(MAX_HEADER_FIELDS + 100)),
        b"X-Big: " + b"a" * MIB + b"\r\n",
    ],
    ids=["one long field", "two fields over the total", "too many fields", "a megabyte"],
)
def test_headers_over_the_limit_are_431(kv_server: ServerProcess, headers: bytes) -> None:
    answer = exchange(kv_server.port, get(b"/api/v1/kv/x", headers=HOST + headers))
    assert answer.status == 431
    assert "header" in answer.json()["error"]
    assert b"secret" not in answer.body
    assert_still_serving(kv_server)


def test_headers_within_the_limit_are_served(kv_server: ServerProcess) -> None:
    headers = HOST + b"".join(b"X-%d: %s\r\n" % (number, b"a" * 40) for number in range(MAX_HEADER_BYTES // 100))
    assert exchange(kv_server.port, get(b"/api/v1/kv/x", headers=headers)).status == 200


def test_a_request_line_that_never_ends_is_answered_414(kv_server: ServerProcess) -> None:
    with connect(kv_server.port) as sock:
        sock.sendall(b"GET /api/v1/kv/" + b"a" * (4 * MAX_REQUEST_LINE_BYTES))  # and nothing more
        assert read_answer(sock).status == 414


def test_plain_uvicorn_answers_heads_over_h11s_limit_with_414_and_431(h11_server: ServerProcess) -> None:
    line = exchange(h11_server.port, get(b"/api/v1/kv/" + b"a" * (4 * MIB)))
    fields = exchange(h11_server.port, get(b"/api/v1/kv/x", headers=HOST + b"X-Big: " + b"a" * (4 * MIB) + b"\r\n"))
    assert (line.status, fields.status) == (414, 431)
    assert "h11" in line.json()["error"] and "h11" in fields.json()["error"]
    assert_still_serving(h11_server)
