"""kvapp.auth and the guard: the token on every route and on the watch socket, in-process and on a real server."""

from __future__ import annotations

from typing import Any

import pytest
import requests
from django.test import AsyncClient
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kvapp import auth
from kvapp.errors import Unauthorized
from kvapp.store.pickle.store import PickleStore
from kvapp.testing.server import ServerProcess
from kvapp.watch.protocol import CloseCode
from tests.support.security import (
    JSON,
    TEXT_ERROR_PATHS,
    TIMEOUT,
    TOKEN,
    bearer,
    operations,
    routes,
    valid_request,
)

# Routes served without the token, and why; every other route must wear kv_view.
PUBLIC_ROUTES = {
    "/": "the page shell carries no data; its script asks for the token when the API says 401",
    "/static/{name}": "the page's scripts and styles",
}


# --- auth ----------------------------------------------------------------------------------


def test_every_route_wears_the_guard_or_is_knowingly_public() -> None:
    unguarded = {path for path, view in routes().items() if not getattr(view, "kv_route", None)}
    assert unguarded == set(PUBLIC_ROUTES)


@pytest.mark.parametrize(("path", "method"), operations())
async def test_every_operation_needs_the_token(client: AsyncClient, store: PickleStore, token: str, path, method):
    before = store.index.revision
    missing = await valid_request(client, method, path)
    wrong = await valid_request(client, method, path, headers=bearer("s3cret-tokem"))
    in_query = await valid_request(client, method, path, query=f"token={TOKEN}")  # only the socket may use ?token=
    for refused in (missing, wrong, in_query):
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"] == 'Bearer realm="kvstore"'
        if path in TEXT_ERROR_PATHS:  # the seed routes answer errors as text, like the flask server
            assert refused["Content-Type"].startswith("text/plain") and refused.content
        else:
            assert refused["Content-Type"].startswith(JSON)
            assert refused.json()["error"]
    assert store.index.revision == before, "a refused request changed the store"
    allowed = await valid_request(client, method, path, headers=bearer())
    assert allowed.status_code not in (401, 500)


async def test_without_a_configured_token_no_header_is_needed(client: AsyncClient) -> None:
    assert (await client.get("/api/v1/kv")).status_code == 200


def test_token_comparison_is_constant_time(settings: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    settings.KV_TOKEN = TOKEN
    compared: list[tuple[bytes, bytes]] = []

    def spy(offered: bytes, expected: bytes) -> bool:
        compared.append((offered, expected))
        return offered == expected

    monkeypatch.setattr(auth.hmac, "compare_digest", spy)
    auth.check_token(f"Bearer {TOKEN}")
    with pytest.raises(Unauthorized):
        auth.check_token("Bearer x")
    assert compared == [(TOKEN.encode(), TOKEN.encode()), (b"x", TOKEN.encode())]


@pytest.mark.parametrize("scheme", ["Bearer", "bearer", "BEARER", "bEaReR"])
async def test_the_bearer_scheme_is_case_insensitive(client: AsyncClient, token: str, scheme: str) -> None:
    # RFC 9110 11.1: the authentication scheme is a case-insensitive token.
    answer = await client.get("/api/v1/kv", headers={"Authorization": f"{scheme} {TOKEN}"})
    assert answer.status_code == 200


@pytest.mark.parametrize("non_ascii", ["tökén", "voilà", "Å-token", "ключ"])
def test_a_non_ascii_token_matches_when_sent_as_utf8(settings: Any, non_ascii: str) -> None:
    """Clients send UTF-8; Django hands the header over decoded as latin-1 (as ASGI servers' bytes)."""
    settings.KV_TOKEN = non_ascii
    auth.check_token("Bearer " + non_ascii.encode().decode("latin-1"))
    auth.check_token(None, non_ascii)  # the socket's ?token=, percent-decoded as UTF-8 by parse_qs
    with pytest.raises(Unauthorized):
        auth.check_token("Bearer " + non_ascii)  # the same text sent as latin-1 is other bytes
    with pytest.raises(Unauthorized):
        auth.check_token(None, non_ascii.encode().decode("latin-1"))


@pytest.mark.parametrize("method", ["POST", "PATCH", "BREW"])
@pytest.mark.parametrize("path", ["/api/v1/kv/x", "/api/v1/kv", "/healthz", "/get_all"])
async def test_a_wrong_method_without_the_token_is_401_not_405(
    client: AsyncClient, token: str, method: str, path: str
) -> None:
    """Every call needs the token (API.md), so a caller without it learns nothing about the methods."""
    for headers in ({}, bearer("wrong")):
        refused = await client.generic(method, path, headers=headers)
        assert refused.status_code == 401, (method, path, headers)
        assert "Allow" not in refused
    assert (await client.generic(method, path, headers=bearer())).status_code == 405


def test_real_server_needs_the_token_on_api_seed_and_ops_routes(secured: ServerProcess) -> None:
    # The key is this test's own, so the two reads before the /add find nothing: 404 with the token.
    for method, path, status in [("GET", "/api/v1/kv/tokencheck", 404), ("GET", "/api/v1/kv", 200),
                                 ("GET", "/get?key=tokencheck", 404), ("POST", "/add?key=tokencheck&value=v", 200),
                                 ("GET", "/get?key=tokencheck", 200), ("GET", "/get_all", 200),
                                 ("GET", "/healthz", 200), ("GET", "/metrics", 200),
                                 ("GET", "/api/v1/openapi.json", 200)]:  # fmt: skip
        refused = requests.request(method, secured.url + path, timeout=TIMEOUT)
        assert refused.status_code == 401, (method, path)
        allowed = requests.request(method, secured.url + path, headers=bearer(), timeout=TIMEOUT)
        assert allowed.status_code == status, (method, path, allowed.status_code)


def _close_code(socket: ClientConnection) -> int:
    """Read frames until the server closes; its close code."""
    try:
        while True:
            socket.recv(timeout=TIMEOUT)
    except ConnectionClosed as closed:
        assert closed.rcvd is not None, "the connection ended without a close frame"
        return closed.rcvd.code


@pytest.mark.parametrize("query", ["", "?token=", "?token=wrong", "?prefix=a&token=s3cret-tokeN"])
def test_real_watch_socket_without_the_token_closes_4401(secured: ServerProcess, query: str) -> None:
    with connect(f"{secured.ws_url}/ws/watch{query}", open_timeout=TIMEOUT) as socket:
        assert _close_code(socket) == CloseCode.UNAUTHORIZED


@pytest.mark.parametrize("how", ["query", "header"])
def test_real_watch_socket_with_the_token_streams_events(secured: ServerProcess, how: str) -> None:
    query, headers = (f"?prefix={how}&token={TOKEN}", None) if how == "query" else (f"?prefix={how}", bearer())
    with connect(f"{secured.ws_url}/ws/watch{query}", additional_headers=headers, open_timeout=TIMEOUT) as socket:
        put = requests.put(f"{secured.url}/api/v1/kv/{how}", json={"value": "v"}, headers=bearer(), timeout=TIMEOUT)
        assert put.status_code == 200
        assert '"key":"' + how + '"' in socket.recv(timeout=TIMEOUT)
