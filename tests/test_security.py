"""Security and hostile input: the token on every route, limits, headers, host checks, the
OpenAPI document's honesty, and the warnings for an exposed server.

In-process tests (Django's ASGI handler, Channels' communicator) cover every route and limit
quickly; one real daphne server with a token and small limits checks that the same holds
on the lean fast path and over a real socket.
"""

from __future__ import annotations

import logging
import os
import re
import stat
import subprocess
import sys
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest
import requests
from channels.testing import WebsocketCommunicator
from django.core.checks import run_checks
from django.test import AsyncClient
from openapi_spec_validator import validate
from websockets.exceptions import ConnectionClosed
from websockets.sync.client import ClientConnection, connect

from kvapp import auth
from kvapp.errors import Unauthorized
from kvapp.http import api, openapi
from kvapp.server.application import build_application
from kvapp.server.exposure import bound_hosts, exposure_warning, is_loopback
from kvapp.store.pickle.store import PickleStore
from kvapp.testing.server import PROJECT_ROOT, ServerProcess
from kvapp.urls import urlpatterns
from kvapp.watch.protocol import CloseCode
from kvapp.watch.watchers import watcher_count
from kvproject.env import secret_key

TOKEN = "s3cret-token"
JSON = "application/json"
TEXT_ERROR_PATHS = {"/get", "/add"}  # seed routes that keep the flask server's text errors
TIMEOUT = 10.0  # seconds for any one request, frame or close
REFUSAL_WAIT = 0.3  # seconds a refused watch socket takes at most to be told so in-process
SERVER_LIMITS = {"KV_MAX_KEY_BYTES": "64", "KV_MAX_VALUE_BYTES": "1024", "KV_MAX_BODY_BYTES": "8192"}

# Routes served without the token, and why; every other route must wear kv_view.
PUBLIC_ROUTES = {
    "/": "the page shell carries no data; its script asks for the token when the API says 401",
    "/static/{name}": "the page's scripts and styles",
}
SAMPLE_ARGS = {"key": "k", "name": "kvapp/missing.js"}


def _routes() -> dict[str, Callable[..., Any]]:
    """Every HTTP route as an OpenAPI-style path (``/api/v1/kv/{key}``) and its view."""
    return {"/" + re.sub(r"<(?:\w+:)?(\w+)>", r"{\1}", str(p.pattern)): p.callback for p in urlpatterns}


def _operations() -> list[tuple[str, str]]:
    """(path, METHOD) of every documented operation."""
    document = openapi.openapi_document()
    return [
        (path, method.upper()) for path, item in document["paths"].items() for method in item if method != "parameters"
    ]


def _url(path: str) -> str:
    """A concrete URL for a route path."""
    return path.format(**SAMPLE_ARGS)


async def _request(client: AsyncClient, method: str, path: str, query: str = "", **extra: Any) -> Any:
    """One request with a body (or seed parameters) that would be valid for the operation."""
    url = _url(path)
    if method == "PUT":
        return await client.put(f"{url}?{query}", data={"value": "v"}, content_type=JSON, **extra)
    if method == "POST":
        return await client.post(f"{url}?key=k&value=v&{query}", **extra)
    return await client.generic(method, f"{url}?{query}", **extra)


@pytest.fixture
def client(store: PickleStore) -> AsyncClient:
    """Django's async test client against a fresh temp store."""
    return AsyncClient()


@pytest.fixture
def token(settings: Any) -> str:
    """Configure KV_TOKEN for this test."""
    settings.KV_TOKEN = TOKEN
    return TOKEN


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real daphne server with a token and small limits, shared by the module's real-socket tests."""
    data = tmp_path_factory.mktemp("secured") / "store.pickle"
    with ServerProcess(data, env={"KV_TOKEN": TOKEN, **SERVER_LIMITS}) as process:
        yield process


def _auth(value: str = TOKEN) -> dict[str, str]:
    """The Authorization header for requests."""
    return {"Authorization": f"Bearer {value}"}


# --- auth ----------------------------------------------------------------------------------


def test_every_route_wears_the_guard_or_is_knowingly_public() -> None:
    routes = _routes()
    unguarded = {path for path, view in routes.items() if not getattr(view, "kv_route", None)}
    assert unguarded == set(PUBLIC_ROUTES)


@pytest.mark.parametrize(("path", "method"), _operations())
async def test_every_operation_needs_the_token(client: AsyncClient, store: PickleStore, token: str, path, method):
    before = store.index.revision
    missing = await _request(client, method, path)
    wrong = await _request(client, method, path, headers=_auth("s3cret-tokem"))
    in_query = await _request(client, method, path, query=f"token={TOKEN}")  # only the socket may use ?token=
    for refused in (missing, wrong, in_query):
        assert refused.status_code == 401
        assert refused["WWW-Authenticate"] == 'Bearer realm="kvstore"'
        if path in TEXT_ERROR_PATHS:  # the seed routes answer errors as text, like the flask server
            assert refused["Content-Type"].startswith("text/plain") and refused.content
        else:
            assert refused["Content-Type"].startswith(JSON)
            assert refused.json()["error"]
    assert store.index.revision == before, "a refused request changed the store"
    allowed = await _request(client, method, path, headers=_auth())
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
    for headers in ({}, _auth("wrong")):
        refused = await client.generic(method, path, headers=headers)
        assert refused.status_code == 401, (method, path, headers)
        assert "Allow" not in refused
    assert (await client.generic(method, path, headers=_auth())).status_code == 405


def test_real_server_needs_the_token_on_api_seed_and_ops_routes(secured: ServerProcess) -> None:
    # The key is this test's own, so the two reads before the /add find nothing: 404 with the token.
    for method, path, status in [("GET", "/api/v1/kv/tokencheck", 404), ("GET", "/api/v1/kv", 200),
                                 ("GET", "/get?key=tokencheck", 404), ("POST", "/add?key=tokencheck&value=v", 200),
                                 ("GET", "/get?key=tokencheck", 200), ("GET", "/get_all", 200),
                                 ("GET", "/healthz", 200), ("GET", "/metrics", 200),
                                 ("GET", "/api/v1/openapi.json", 200)]:  # fmt: skip
        refused = requests.request(method, secured.url + path, timeout=TIMEOUT)
        assert refused.status_code == 401, (method, path)
        allowed = requests.request(method, secured.url + path, headers=_auth(), timeout=TIMEOUT)
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
    query, headers = (f"?prefix={how}&token={TOKEN}", None) if how == "query" else (f"?prefix={how}", _auth())
    with connect(f"{secured.ws_url}/ws/watch{query}", additional_headers=headers, open_timeout=TIMEOUT) as socket:
        put = requests.put(f"{secured.url}/api/v1/kv/{how}", json={"value": "v"}, headers=_auth(), timeout=TIMEOUT)
        assert put.status_code == 200
        assert '"key":"' + how + '"' in socket.recv(timeout=TIMEOUT)


# --- limits --------------------------------------------------------------------------------


async def test_key_over_the_byte_limit_is_400_and_changes_nothing(client, store, settings) -> None:
    settings.KV_MAX_KEY_BYTES = 8
    response = await client.put("/api/v1/kv/" + "k" * 9, data={"value": "v"}, content_type=JSON)
    assert response.status_code == 400
    assert "limit is 8" in response.json()["error"]
    assert store.index.revision == 0
    assert (await client.put("/api/v1/kv/" + "k" * 8, data={"value": "v"}, content_type=JSON)).status_code == 200


async def test_value_over_the_limit_is_413_on_api_and_seed_routes(client, store, settings) -> None:
    settings.KV_MAX_VALUE_BYTES = 16
    api_answer = await client.put("/api/v1/kv/k", data={"value": "x" * 17}, content_type=JSON)
    seed_answer = await client.post("/add", {"key": "k", "value": "é" * 9})
    assert (api_answer.status_code, seed_answer.status_code) == (413, 413)
    assert "limit is 16" in api_answer.json()["error"]
    assert seed_answer["Content-Type"].startswith("text/plain")
    assert store.index.revision == 0


async def test_body_over_the_limit_is_413_json(client, store, settings) -> None:
    settings.KV_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = await client.put("/api/v1/kv/k", data={"value": "x" * 3000}, content_type=JSON)
    assert response.status_code == 413
    assert "2048" in response.json()["error"]
    assert store.index.revision == 0


@pytest.mark.parametrize(
    "limit",
    [
        "0",
        "-5",
        "ten",
        "1.5",
        "",
        "1_0",
        "%20%205%20",
        "+2",
        "%2B2",
        "%EF%BC%93",
        "%C2%B2",
        "-",
        "--5",
        "9" * 5000,
        "1" * 65,
    ],
)
async def test_bad_listing_limit_is_400(client: AsyncClient, limit: str) -> None:
    response = await client.get(f"/api/v1/kv?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json()["error"]


async def test_negative_listing_limit_says_it_must_be_at_least_1(client: AsyncClient) -> None:
    for limit in ("-5", "-0", "0"):
        response = await client.get(f"/api/v1/kv?limit={limit}")
        assert response.json() == {"error": "limit must be at least 1"}


async def test_huge_listing_limit_is_clamped(client, monkeypatch) -> None:
    monkeypatch.setattr(api, "MAX_PAGE_SIZE", 3)
    for key in "abcde":
        await client.put(f"/api/v1/kv/{key}", data={"value": key}, content_type=JSON)
    page = (await client.get(f"/api/v1/kv?limit={10**40}")).json()
    assert [item["key"] for item in page["items"]] == ["a", "b", "c"]
    assert page["next"] == "c"


def test_real_server_enforces_body_value_and_key_limits(secured: ServerProcess) -> None:
    def put(key: str, body: bytes) -> requests.Response:
        headers = {**_auth(), "Content-Type": JSON}
        return requests.put(f"{secured.url}/api/v1/kv/{key}", data=body, headers=headers, timeout=TIMEOUT)

    too_big_body = put("k", b'{"value": "' + b"x" * 100_000 + b'"}')
    too_big_value = put("k", b'{"value": "' + b"x" * 1025 + b'"}')
    too_long_key = put(quote("é" * 33), b'{"value": "v"}')  # 66 bytes; the limit counts bytes, not characters
    assert [too_big_body.status_code, too_big_value.status_code, too_long_key.status_code] == [413, 413, 400]
    assert all("error" in answer.json() for answer in (too_big_body, too_big_value, too_long_key))
    assert put(quote("é" * 32), b'{"value": "v"}').status_code == 200

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"value": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    chunked = requests.put(
        f"{secured.url}/api/v1/kv/chunked", data=chunks(), headers={**_auth(), "Content-Type": JSON}, timeout=TIMEOUT
    )
    assert chunked.status_code == 413
    assert requests.get(f"{secured.url}/api/v1/kv/chunked", headers=_auth(), timeout=TIMEOUT).status_code == 404


# --- watcher limits ------------------------------------------------------------------------


@pytest.fixture
async def sockets(settings: Any) -> AsyncIterator[Callable[[str], Any]]:
    """Open watch sockets from a given client address; all closed at the end."""
    settings.CHANNEL_LAYERS = {"default": {"BACKEND": "channels.layers.InMemoryChannelLayer"}}
    application = build_application(None)
    opened: list[WebsocketCommunicator] = []
    start = watcher_count()

    async def open_from(address: str) -> int | None:
        """Open a watch from ``address``; None if it stays open, else the close code."""
        communicator = WebsocketCommunicator(application, "/ws/watch")
        communicator.scope["client"] = (address, 50000 + len(opened))  # read by the consumer on connect
        opened.append(communicator)
        connected, _ = await communicator.connect(timeout=TIMEOUT)
        assert connected
        if await communicator.receive_nothing(timeout=REFUSAL_WAIT):  # unlike receive_output, never cancels
            return None
        message = await communicator.receive_output(timeout=TIMEOUT)
        if message["type"] == "websocket.send":  # the error frame before the close
            message = await communicator.receive_output(timeout=TIMEOUT)
        return message["code"]

    yield open_from
    for communicator in opened:
        if not communicator.future.done():
            await communicator.disconnect()
    assert watcher_count() == start, "closed sockets must give their watcher slots back"


async def test_total_watcher_limit_refuses_with_4429_and_frees_on_close(store, settings, sockets) -> None:
    start = watcher_count()  # relative, in case an earlier test in this process left one open
    settings.KV_MAX_WATCHERS = start + 3
    settings.KV_MAX_WATCHERS_PER_CLIENT = 100
    assert [await sockets(f"10.0.0.{n}") for n in range(3)] == [None, None, None]
    assert await sockets("10.0.0.99") == CloseCode.TOO_MANY
    assert watcher_count() == start + 3, "a refused watcher must not be counted"


async def test_per_client_watcher_limit_refuses_only_that_client(store, settings, sockets) -> None:
    settings.KV_MAX_WATCHERS = 100
    settings.KV_MAX_WATCHERS_PER_CLIENT = 2
    assert [await sockets("10.1.0.1"), await sockets("10.1.0.1")] == [None, None]
    assert await sockets("10.1.0.1") == CloseCode.TOO_MANY
    assert await sockets("10.1.0.2") is None


# --- headers, DEBUG, host checks -----------------------------------------------------------


def test_real_server_sends_security_headers_on_page_and_api(secured: ServerProcess) -> None:
    page = requests.get(f"{secured.url}/", timeout=TIMEOUT)
    api_answer = requests.get(f"{secured.url}/api/v1/kv", headers=_auth(), timeout=TIMEOUT)
    refused = requests.get(f"{secured.url}/api/v1/kv", timeout=TIMEOUT)
    for response in (page, api_answer, refused):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/kv", JSON),
        ("/healthz", JSON),
        ("/", JSON),
        ("/get?key=k", "text/plain"),
        ("/zzz", JSON),
        ("/static/kvapp/page.js", JSON),
    ],
)
def test_real_server_answers_a_foreign_host_header_with_400(
    secured: ServerProcess, path: str, content_type: str
) -> None:
    """A DNS-rebinding page reaches the server with its own host name: refused before the token is even looked at."""
    response = requests.get(secured.url + path, headers={**_auth(), "Host": "evil.example"}, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith(content_type)  # seed routes answer errors as text
    assert response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "own_host_status"),
    [
        ("/", 200),
        ("/zzz", 404),
        ("/api/v2/kv/a", 404),
        ("/static/kvapp/page.js", 200),
        ("/static/kvapp/missing.js", 404),
    ],
)
async def test_a_foreign_host_is_400_on_unknown_and_static_paths_too(
    client: AsyncClient, path: str, own_host_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The README promises 400 for hosts outside ALLOWED_HOSTS; a 404 (or the file) would answer a rebinding page."""
    for method in ("GET", "HEAD", "POST"):
        response = await client.generic(method, path, headers={"Host": "evil.com"})
        assert response.status_code == 400, (method, path)
        if method != "HEAD":  # the test client drops a HEAD body, as servers do
            assert response.json() == {"error": "the Host header is not an allowed host"}
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []  # no traceback per request
    assert (await client.get(path)).status_code == own_host_status


def test_real_server_hides_internals_on_errors(secured: ServerProcess) -> None:
    response = requests.get(f"{secured.url}/no/such/path", headers=_auth(), timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(JSON)
    assert "Traceback" not in response.text and "DEBUG" not in response.text


def _printed_by_fresh_django(code: str, unset: Callable[[str], bool]) -> str:
    """What ``code`` prints in a new process whose settings see none of the variables ``unset`` names."""
    env = {name: value for name, value in os.environ.items() if not unset(name)}
    return subprocess.run(
        [sys.executable, "-c", f"import django; django.setup(); {code}"],
        cwd=PROJECT_ROOT,
        env={**env, "DJANGO_SETTINGS_MODULE": "kvproject.settings"},
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout


def test_debug_is_off_and_the_secret_key_is_not_django_s_placeholder() -> None:
    printed = _printed_by_fresh_django(
        "from django.conf import settings as s; "
        "print(s.DEBUG, s.SECRET_KEY.startswith('django-insecure'), len(s.SECRET_KEY))",
        unset=lambda name: name in {"DJANGO_DEBUG", "DJANGO_SECRET_KEY"},
    )
    debug, insecure, length = printed.split()
    assert (debug, insecure) == ("False", "False")
    assert int(length) >= 50


def test_documented_defaults_hold_when_no_kv_variable_is_set() -> None:
    printed = _printed_by_fresh_django(
        "from kvapp.conf import kv_settings as k; s = k(); "
        "print(s.data, s.backend or '-', s.history, s.max_key_bytes, s.max_value_bytes)",
        unset=lambda name: name.startswith("KV_"),
    )
    data, backend, history, max_key, max_value = printed.split()
    assert data == str(PROJECT_ROOT / "store.pickle")
    assert (backend, history, max_key, max_value) == ("-", "10000", "1024", str(1024 * 1024))


def test_generated_secret_key_is_private_and_stable(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    path = tmp_path / "secret_key.txt"
    first = secret_key(path)
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert secret_key(path) == first
    assert len(first) >= 50
    monkeypatch.setenv("DJANGO_SECRET_KEY", "from-the-environment")
    assert secret_key(path) == "from-the-environment"


def test_a_process_losing_the_secret_key_race_uses_the_winners_key(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("DJANGO_SECRET_KEY", raising=False)
    path = tmp_path / "secret_key.txt"

    def another_process_won(source: str, target: Path) -> None:
        target.write_text("the-winners-key")
        raise FileExistsError(target)

    monkeypatch.setattr(os, "link", another_process_won)
    assert secret_key(path) == "the-winners-key"
    assert [child.name for child in tmp_path.iterdir()] == ["secret_key.txt"]  # nothing left aside


# --- the OpenAPI document ------------------------------------------------------------------


def test_openapi_document_is_valid_openapi_3() -> None:
    validate(openapi.openapi_document())


def test_openapi_document_and_url_conf_name_the_same_paths() -> None:
    routed = set(_routes())
    documented = set(openapi.openapi_document()["paths"])
    assert routed - set(openapi.NOT_DOCUMENTED) == documented
    assert set(openapi.NOT_DOCUMENTED) <= routed, "an exemption names a route that no longer exists"


@pytest.mark.parametrize("path", sorted(openapi.openapi_document()["paths"]))
async def test_documented_methods_are_exactly_the_allowed_ones(client: AsyncClient, path: str) -> None:
    documented = {method.upper() for method in openapi.openapi_document()["paths"][path] if method != "parameters"}
    refused = await client.generic("PATCH", _url(path))
    assert refused.status_code == 405
    implied = {"HEAD"} if "GET" in documented else set()  # HEAD wherever GET, as OpenAPI leaves implicit
    assert set(refused["Allow"].split(", ")) == documented | implied


async def test_openapi_document_is_served_behind_the_token(client: AsyncClient, token: str) -> None:
    assert (await client.get("/api/v1/openapi.json")).status_code == 401
    served = await client.get("/api/v1/openapi.json", headers=_auth())
    assert served.json() == openapi.openapi_document()


# --- exposure warnings ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("argv", "hosts"),
    [
        (["daphne", "-b", "0.0.0.0", "-p", "8000", "kvproject.asgi:application"], ["0.0.0.0"]),
        (["daphne", "--bind=::", "kvproject.asgi:application"], ["::"]),
        (["daphne", "-e", "tcp:8000", "kvproject.asgi:application"], ["0.0.0.0"]),
        (["daphne", "-e", r"tcp:8000:interface=\:\:1", "kvproject.asgi:application"], ["::1"]),
        (["daphne", "-u", "/run/kv.sock", "-e", "unix:/run/kv2.sock", "kvproject.asgi:application"], []),
        (["uvicorn", "--host", "192.168.1.5", "kvproject.asgi:application"], ["192.168.1.5"]),
        (["manage.py", "runserver", "--noreload", "0:8000"], ["0.0.0.0"]),
        (["manage.py", "runserver", "[::]:8000"], ["::"]),
        (["manage.py", "runserver", "8000"], []),
        (["daphne", "kvproject.asgi:application"], []),
    ],
)
def test_bound_hosts_reads_daphne_uvicorn_and_runserver_command_lines(argv: list[str], hosts: list[str]) -> None:
    assert bound_hosts(argv) == hosts


LOOPBACK = ["127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"]
REACHABLE = ["0.0.0.0", "::", "10.0.0.1", "example.com"]


@pytest.mark.parametrize(("host", "loopback"), [(h, True) for h in LOOPBACK] + [(h, False) for h in REACHABLE])
def test_is_loopback(host: str, loopback: bool) -> None:
    assert is_loopback(host) is loopback


def test_exposure_warning_only_without_a_token_beyond_loopback() -> None:
    exposed = ["daphne", "-b", "0.0.0.0", "kvproject.asgi:application"]
    assert "0.0.0.0" in exposure_warning(exposed, token="") and "KV_TOKEN" in exposure_warning(exposed, token="")
    assert exposure_warning(exposed, token=TOKEN) is None
    assert exposure_warning(["daphne", "-b", "127.0.0.1", "kvproject.asgi:application"], token="") is None


def test_starting_on_all_interfaces_without_a_token_warns_on_stderr(tmp_path: Path) -> None:
    env = {k: v for k, v in os.environ.items() if k != "KV_TOKEN"}
    env.update(KV_DATA=str(tmp_path / "store.pickle"), DJANGO_SETTINGS_MODULE="kvproject.settings")
    command = [sys.executable, "-c", "import kvproject.asgi", "-b", "0.0.0.0"]  # argv as daphne would see it
    exposed = subprocess.run(command, cwd=PROJECT_ROOT, env=env, capture_output=True, text=True, timeout=60)
    assert exposed.returncode == 0, exposed.stderr
    assert "WARNING: listening on 0.0.0.0 with no KV_TOKEN" in exposed.stderr
    with_token = subprocess.run(
        command, cwd=PROJECT_ROOT, env={**env, "KV_TOKEN": TOKEN}, capture_output=True, text=True, timeout=60
    )
    assert "WARNING" not in with_token.stderr


def test_system_checks_warn_about_any_host_without_token_and_debug(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    settings.KV_TOKEN = ""
    settings.DEBUG = True
    assert {"kvapp.W001", "kvapp.W002"} <= {message.id for message in run_checks()}
    settings.KV_TOKEN = TOKEN
    settings.DEBUG = False
    assert not {"kvapp.W001", "kvapp.W002"} & {message.id for message in run_checks()}
