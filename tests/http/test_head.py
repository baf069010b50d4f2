"""HEAD wherever GET works (RFC 9110 9.3.2): GET's status and headers, no body.

kvstore's views answer HEAD with GET's response, body included, on both the lean path and
Django's; the ASGI servers drop the body (and keep GET's Content-Length). The real-server
test checks that on the wire, for both servers kvstore supports.
"""

from __future__ import annotations

import socket
from collections.abc import Iterator
from pathlib import Path

import pytest
import requests
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from kvapp.testing.server import ServerProcess

TIMEOUT = 10.0  # seconds for any one request
GET_ROUTES = [
    "/api/v1/kv/greeting",
    "/api/v1/kv/missing",
    "/api/v1/kv?prefix=g",
    "/api/v1/kv?limit=x",
    "/get?key=greeting",
    "/get_all",
    "/healthz",
    "/metrics",
    "/api/v1/openapi.json",
    "/",
    "/static/kvapp/page.js",
]


@pytest.mark.parametrize("path", GET_ROUTES)
async def test_head_answers_like_get_on_every_get_route(client: AsyncClient, path: str) -> None:
    await client.put("/api/v1/kv/greeting", data={"value": "hello"}, content_type="application/json")
    get = await client.get(path)
    head = await client.head(path)
    assert head.status_code == get.status_code
    assert head["Content-Type"] == get["Content-Type"]


async def test_head_on_a_key_reads_it_and_changes_nothing(client: AsyncClient, store: PickleStore) -> None:
    await client.put("/api/v1/kv/greeting", data={"value": "hello"}, content_type="application/json")
    assert (await client.head("/api/v1/kv/greeting")).status_code == 200
    assert store.index.get("greeting").value == "hello"
    assert store.index.revision == 1


@pytest.mark.parametrize(
    ("path", "allow"),
    [
        ("/api/v1/kv/k", "GET, HEAD, PUT, DELETE"),
        ("/api/v1/kv", "GET, HEAD, DELETE"),
        ("/healthz", "GET, HEAD"),
        ("/get?key=k", "GET, HEAD"),
        ("/add?key=k&value=v", "POST"),
    ],
)
async def test_allow_lists_head_wherever_get_is_allowed(client: AsyncClient, path: str, allow: str) -> None:
    refused = await client.generic("PATCH", path)
    assert refused.status_code == 405
    assert refused["Allow"] == allow


def _raw_head(port: int, path: str) -> tuple[bytes, bytes]:
    """Send HEAD over a plain socket; the response head and every byte after it until close."""
    with socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT) as sock:
        sock.sendall(f"HEAD {path} HTTP/1.1\r\nHost: 127.0.0.1\r\nConnection: close\r\n\r\n".encode())
        received = b""
        while chunk := sock.recv(65536):
            received += chunk
    head, _, rest = received.partition(b"\r\n\r\n")
    return head, rest


@pytest.fixture(params=["daphne", "uvicorn"])
def real_server(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[ServerProcess]:
    with ServerProcess(tmp_path / "store.pickle", kind=request.param) as process:
        yield process


def test_real_servers_send_get_s_headers_and_no_body_for_head(real_server: ServerProcess) -> None:
    put = requests.put(f"{real_server.url}/api/v1/kv/greeting", json={"value": "hello"}, timeout=TIMEOUT)
    assert put.status_code == 200
    for path in ["/api/v1/kv/greeting", "/api/v1/kv/missing", "/get?key=greeting", "/get_all", "/healthz", "/"]:
        get = requests.get(real_server.url + path, timeout=TIMEOUT)
        head, rest = _raw_head(real_server.port, path)
        status_line, *header_lines = head.decode("latin-1").split("\r\n")
        headers = {name.lower(): value.strip() for name, _, value in (line.partition(":") for line in header_lines)}
        assert status_line.split()[1] == str(get.status_code), path
        assert rest == b"", f"{path}: the server sent a body for HEAD"
        assert headers["content-type"] == get.headers["Content-Type"], path
        if path != "/":  # the page empties its own HEAD body, so its length says 0
            assert headers.get("content-length") == str(len(get.content)), path
