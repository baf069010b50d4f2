"""The lean ASGI path answers exactly like Django's full handler, and leaves other paths to it."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import orjson
import pytest
from django.core.asgi import get_asgi_application
from django.http import StreamingHttpResponse
from django.test import override_settings

from kvapp import urls as kv_urls
from kvapp.backend import set_store
from kvapp.http.guard import kv_view
from kvapp.server.fastpath import FastPathHandler
from kvapp.store.pickle.store import PickleStore
from tests.support.asgi import Answer

DJANGO = get_asgi_application()
FAST = FastPathHandler(DJANGO)
IGNORED_HEADERS = {"content-length"}  # the fast path always sends one; Django leaves it to the server


def comparable(answer: Answer) -> tuple[int, dict[str, str], bytes]:
    """Everything except headers the two paths may legitimately differ in."""
    return answer.status, {k: v for k, v in answer.headers.items() if k not in IGNORED_HEADERS}, answer.body


def scope_for(method: str, target: str, headers: list[tuple[bytes, bytes]], query: bytes = b"") -> dict[str, Any]:
    """An ASGI HTTP scope as uvicorn/daphne build it: ``path`` percent-decoded, query raw."""
    raw_path, _, text_query = target.partition("?")
    return {
        "type": "http",
        "asgi": {"version": "3.0"},
        "http_version": "1.1",
        "method": method,
        "scheme": "http",
        "path": unquote(raw_path),
        "raw_path": raw_path.encode(),
        "query_string": query or text_query.encode(),
        "root_path": "",
        "headers": [(b"host", b"127.0.0.1:8000"), *headers],
        "client": ("127.0.0.1", 50000),
        "server": ("127.0.0.1", 8000),
    }


async def call(
    app: Any,
    method: str,
    target: str,
    body: bytes = b"",
    headers: list[tuple[bytes, bytes]] | None = None,
    chunks: list[bytes] | None = None,
    query: bytes = b"",
) -> Answer | None:
    """Run one request through ``app``; None if it sent nothing."""
    headers = list(headers or [])
    if chunks is None:
        chunks = [body]
        headers.append((b"content-length", str(len(body)).encode()))
    else:
        headers.append((b"transfer-encoding", b"chunked"))
    messages = [{"type": "http.request", "body": c, "more_body": i < len(chunks) - 1} for i, c in enumerate(chunks)]
    never = asyncio.Event()
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        if messages:
            return messages.pop(0)
        await never.wait()  # the client stays connected
        raise AssertionError("unreachable")

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await app(scope_for(method, target, headers, query), receive, send)
    if not sent:
        return None
    start = sent[0]
    headers_out = {name.decode().lower(): value.decode("latin1") for name, value in start["headers"]}
    return Answer(start["status"], headers_out, b"".join(m.get("body", b"") for m in sent[1:]))


def json_body(value: Any) -> bytes:
    """A JSON request body."""
    return orjson.dumps(value)


MULTIPART_BODY = (
    b'--zz\r\nContent-Disposition: form-data; name="key"\r\n\r\nmp\r\n'
    b'--zz\r\nContent-Disposition: form-data; name="value"\r\n\r\nv\r\n--zz--\r\n'
)

# (method, target, body, extra headers): run in order against a fresh store on each path.
REQUESTS: list[tuple[str, str, bytes, list[tuple[bytes, bytes]]]] = [
    ("PUT", "/api/v1/kv/a%2Fb", json_body({"value": "x"}), []),
    ("GET", "/api/v1/kv/a/b", b"", []),
    ("GET", "/api/v1/kv/a%2Fb", b"", []),
    ("HEAD", "/api/v1/kv/a%2Fb", b"", []),
    ("HEAD", "/api/v1/kv/missing", b"", []),
    ("HEAD", "/api/v1/kv?prefix=a", b"", []),
    ("PUT", "/api/v1/kv/caf%C3%A9", json_body({"value": "é"}), []),
    ("GET", "/api/v1/kv/caf%C3%A9", b"", []),
    ("GET", "/api/v1/kv/missing", b"", []),
    ("PUT", "/api/v1/kv/k", b"{not json", []),
    ("PUT", "/api/v1/kv/k", json_body({"value": 1}), []),
    ("PUT", "/api/v1/kv/k", json_body(["value"]), []),
    ("PUT", "/api/v1/kv/a/b", json_body({"value": "y", "if_revision": 99}), []),
    ("PUT", "/api/v1/kv/a/b", json_body({"value": "y", "if_revision": 1}), []),
    ("POST", "/api/v1/kv/a/b", json_body({"value": "z"}), []),
    ("GET", "/api/v1/kv/", b"", []),
    ("GET", "/api/v1/kv/a%0Ab", b"", []),
    ("GET", "/api/v1/kv?prefix=a", b"", []),
    ("GET", "/api/v1/kv?limit=x", b"", []),
    ("GET", "/api/v1/kv?limit=1&after=a", b"", []),
    ("GET", "/api/v1/kv?prefix=%FF", b"", []),
    ("GET", "/api/v1/kv?prefix=a%EF%BF%BD&after=%FF", b"", []),
    ("GET", "/api/v1/kv?limit=1_0", b"", []),
    ("DELETE", "/api/v1/kv/a/b?if_revision=99", b"", []),
    ("DELETE", "/api/v1/kv/a/b", b"", []),
    ("DELETE", "/api/v1/kv/a/b", b"", []),
    ("POST", "/add?key=s&value=v", b"", []),
    ("POST", "/add", b"key=t&value=w", [(b"content-type", b"application/x-www-form-urlencoded")]),
    ("POST", "/add?key=s", b"", []),
    ("POST", "/add", MULTIPART_BODY, [(b"content-type", b"multipart/form-data; boundary=zz")]),
    ("POST", "/add", MULTIPART_BODY.replace(b"mp", b"\xff"), [(b"content-type", b"multipart/form-data; boundary=zz")]),
    ("POST", "/add", MULTIPART_BODY, [(b"content-type", b"multipart/form-data")]),
    ("GET", "/get?key=s", b"", []),
    ("GET", "/get?key=nothing", b"", []),
    ("GET", "/get", b"", []),
    ("PUT", "/get?key=s", b"", []),
    ("GET", "/get_all", b"", []),
    ("GET", "/healthz", b"", []),
    ("HEAD", "/healthz", b"", []),
    ("HEAD", "/get?key=s", b"", []),
    ("GET", "/no/such/path", b"", []),
]


@contextmanager
def store_pair(tmp_path: Path, **options: Any) -> Iterator[tuple[PickleStore, PickleStore]]:
    """Two empty stores with ``options``: one for each path, so the same sequence gives the same revisions."""
    for name in ("fast", "full"):
        (tmp_path / name).mkdir()
    pair = (
        PickleStore(tmp_path / "fast" / "store.pickle", **options),
        PickleStore(tmp_path / "full" / "store.pickle", **options),
    )
    try:
        yield pair
    finally:
        set_store(None)
        for store in pair:
            store.close()


@pytest.fixture
def stores(tmp_path: Path) -> Iterator[tuple[PickleStore, PickleStore]]:
    """Two empty stores with the default options."""
    with store_pair(tmp_path) as pair:
        yield pair


async def both(stores: tuple[PickleStore, PickleStore], *args: Any, **kwargs: Any) -> tuple[Answer, Answer]:
    """The same request through the fast path (on the first store) and Django's handler (second)."""
    set_store(stores[0])
    fast = await call(FAST, *args, **kwargs)
    set_store(stores[1])
    full = await call(DJANGO, *args, **kwargs)
    assert fast is not None and full is not None
    return fast, full


async def test_fast_path_answers_every_request_like_django(stores: tuple[PickleStore, PickleStore]) -> None:
    statuses = set()
    for method, target, body, headers in REQUESTS:
        fast, full = await both(stores, method, target, body, headers)
        assert comparable(fast) == comparable(full), f"{method} {target}"
        statuses.add(fast.status)
    assert statuses == {200, 400, 404, 405, 409}  # the table exercises every answer it claims to


async def test_fast_path_sends_the_security_headers_and_a_length(stores: tuple[PickleStore, PickleStore]) -> None:
    fast, _ = await both(stores, "GET", "/api/v1/kv/missing")
    assert fast.headers["x-content-type-options"] == "nosniff"
    assert fast.headers["x-frame-options"] == "DENY"
    assert fast.headers["referrer-policy"] == "same-origin"
    assert fast.content_type == "application/json; charset=utf-8"
    assert int(fast.headers["content-length"]) == len(fast.body)


@override_settings(KV_MAX_BODY_BYTES=2048, DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
async def test_a_body_over_the_limit_is_413_on_both_paths(stores: tuple[PickleStore, PickleStore]) -> None:
    big = json_body({"value": "v" * 4000})
    fast, full = await both(stores, "PUT", "/api/v1/kv/big", big)
    assert comparable(fast) == comparable(full)
    assert fast.status == 413
    assert orjson.loads(fast.body)["error"] == "request body is over 2048 bytes"


@override_settings(KV_MAX_BODY_BYTES=2048, DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
async def test_a_chunked_body_is_cut_off_at_the_limit(stores: tuple[PickleStore, PickleStore]) -> None:
    set_store(stores[0])
    answer = await call(FAST, "PUT", "/api/v1/kv/big", chunks=[b'{"value": "' + b"v" * 1500, b"v" * 1500 + b'"}'])
    assert answer.status == 413
    assert orjson.loads(answer.body) == {"error": "request body is over 2048 bytes"}
    assert stores[0].index.get("big") is None


@override_settings(KV_MAX_BODY_BYTES=2048, DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
async def test_a_chunked_body_in_one_message_is_held_to_the_limit_too(stores: tuple[PickleStore, PickleStore]) -> None:
    set_store(stores[0])
    answer = await call(FAST, "PUT", "/api/v1/kv/big", chunks=[json_body({"value": "v" * 4000})])
    assert answer.status == 413
    assert orjson.loads(answer.body) == {"error": "request body is over 2048 bytes"}
    assert stores[0].index.get("big") is None


@override_settings(KV_MAX_BODY_BYTES=2048)
async def test_a_chunked_body_within_the_limit_is_read_whole(stores: tuple[PickleStore, PickleStore]) -> None:
    set_store(stores[0])
    answer = await call(FAST, "PUT", "/api/v1/kv/k", chunks=[b'{"value": "', b"v" * 100, b'"}'])
    assert answer.status == 200
    assert stores[0].index.get("k").value == "v" * 100


@override_settings(KV_TOKEN="s3cret")
async def test_token_checks_match(stores: tuple[PickleStore, PickleStore]) -> None:
    for headers in ([], [(b"authorization", b"Bearer wrong")], [(b"authorization", b"Bearer s3cret")]):
        fast, full = await both(stores, "GET", "/healthz", headers=headers)
        assert comparable(fast) == comparable(full)
    assert fast.status == 200


@override_settings(KV_TOKEN="tökén")
async def test_a_utf8_token_and_lower_case_scheme_match_on_both_paths(stores: tuple[PickleStore, PickleStore]) -> None:
    for scheme in (b"Bearer", b"bearer"):
        fast, full = await both(stores, "GET", "/healthz", headers=[(b"authorization", scheme + " tökén".encode())])
        assert comparable(fast) == comparable(full)
        assert fast.status == 200


async def test_an_unexpected_error_is_the_same_json_500(
    stores: tuple[PickleStore, PickleStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def broken(key: str, revision: int | None = None) -> None:
        raise RuntimeError("bug")

    for store in stores:
        monkeypatch.setattr(store, "get", broken)
    fast, full = await both(stores, "GET", "/api/v1/kv/k")
    assert comparable(fast) == comparable(full)
    assert fast.status == 500
    assert orjson.loads(fast.body) == {"error": "internal error; see the server log"}


async def test_non_api_paths_fall_through_to_django(stores: tuple[PickleStore, PickleStore]) -> None:
    seen: list[str] = []

    async def spy(scope: dict[str, Any], receive: Any, send: Any) -> None:
        seen.append(scope["path"])
        await DJANGO(scope, receive, send)

    set_store(stores[0])
    handler = FastPathHandler(spy)
    for target in ("/no/such/path", "/static/none.js", "/api/v1/kvx"):
        answer = await call(handler, "GET", target)
        assert answer.status == 404
    await call(handler, "GET", "/api/v1/kv/k")
    await call(handler, "GET", "/healthz")
    assert seen == ["/no/such/path", "/static/none.js", "/api/v1/kvx"]


async def test_an_undecodable_query_goes_to_django_with_its_body(stores: tuple[PickleStore, PickleStore]) -> None:
    fast, full = await both(stores, "POST", "/add", query=b"key=\xff&value=v")
    assert comparable(fast) == comparable(full)
    assert fast.status == 400
    assert stores[0].index.get("\ufffd") is None


async def test_a_client_gone_before_its_body_gets_nothing(stores: tuple[PickleStore, PickleStore]) -> None:
    set_store(stores[0])
    sent: list[dict[str, Any]] = []

    async def receive() -> dict[str, Any]:
        return {"type": "http.disconnect"}

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FAST(scope_for("PUT", "/api/v1/kv/k", [(b"content-length", b"15")]), receive, send)
    assert sent == []
    assert stores[0].index.get("k") is None


async def never_called(*args: Any) -> dict[str, Any]:
    raise AssertionError("receive() was called for a request that has no body")


@pytest.mark.parametrize("headers", [[], [(b"content-length", b"0")]])
async def test_an_http1_request_without_a_body_is_answered_without_waiting_for_one(
    stores: tuple[PickleStore, PickleStore], headers: list[tuple[bytes, bytes]]
) -> None:
    set_store(stores[0])
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FAST(scope_for("GET", "/api/v1/kv/missing", headers), never_called, send)
    assert sent[0]["status"] == 404


@pytest.mark.parametrize(
    ("http_version", "headers"),
    [("2", []), ("1.1", [(b"transfer-encoding", b"chunked")]), ("1.1", [(b"content-length", b"15")])],
)
async def test_a_body_is_read_unless_the_framing_rules_it_out(
    stores: tuple[PickleStore, PickleStore], http_version: str, headers: list[tuple[bytes, bytes]]
) -> None:
    set_store(stores[0])
    sent: list[dict[str, Any]] = []
    body = {"type": "http.request", "body": json_body({"value": "v"}), "more_body": False}

    async def receive() -> dict[str, Any]:
        return body

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FAST({**scope_for("PUT", "/api/v1/kv/k", headers), "http_version": http_version}, receive, send)
    assert (sent[0]["status"], stores[0].index.get("k").value) == (200, "v")


@override_settings(MIDDLEWARE=["django.middleware.common.CommonMiddleware"])
def test_unknown_middleware_turns_the_fast_path_off() -> None:
    assert FastPathHandler(DJANGO).middleware is None


async def test_a_streaming_response_is_refused_with_a_json_500(
    stores: tuple[PickleStore, PickleStore], monkeypatch: pytest.MonkeyPatch
) -> None:
    async def streaming(request: Any, key: str = "") -> StreamingHttpResponse:
        return StreamingHttpResponse(iter([b"a", b"b"]))

    (item,) = [pattern for pattern in kv_urls.urlpatterns if pattern.name == "kv-item"]
    monkeypatch.setattr(item, "callback", kv_view("GET", route="kv")(streaming))
    set_store(stores[0])
    answer = await call(FAST, "GET", "/api/v1/kv/k")
    assert answer.status == 500
    assert orjson.loads(answer.body) == {"error": "internal error; see the server log"}


def under_root_path(app: Any, root_path: str) -> Any:
    """``app`` mounted at ``root_path``, as a server started with --root-path passes it on."""

    async def mounted(scope: dict[str, Any], receive: Any, send: Any) -> None:
        await app({**scope, "root_path": root_path}, receive, send)

    return mounted


async def django_must_not_answer(scope: dict[str, Any], receive: Any, send: Any) -> None:
    raise AssertionError(f"{scope['path']} should have been answered on the fast path")


@pytest.mark.parametrize("force_script_name", [None, "/forced"])
async def test_a_script_prefix_is_taken_off_the_path_as_django_does(
    stores: tuple[PickleStore, PickleStore], force_script_name: str | None
) -> None:
    with override_settings(FORCE_SCRIPT_NAME=force_script_name):
        prefix = force_script_name or "/mounted"
        fast_only = under_root_path(FastPathHandler(django_must_not_answer), "/mounted")
        set_store(stores[0])
        put = await call(fast_only, "PUT", f"{prefix}/api/v1/kv/k", json_body({"value": "v"}))
        set_store(stores[1])
        await call(under_root_path(DJANGO, "/mounted"), "PUT", f"{prefix}/api/v1/kv/k", json_body({"value": "v"}))
        assert put is not None and put.status == 200
        for target in (f"{prefix}/api/v1/kv/k", f"{prefix}/healthz", "/api/v1/kv/k", "/elsewhere"):
            set_store(stores[0])
            fast = await call(under_root_path(FAST, "/mounted"), "GET", target)
            set_store(stores[1])
            full = await call(under_root_path(DJANGO, "/mounted"), "GET", target)
            assert fast is not None and full is not None
            assert comparable(fast) == comparable(full), target


@pytest.mark.parametrize(
    ("target", "headers", "said"),
    [
        ("/api/v1/kv/k", [], "Host"),
        ("http://evil.example/api/v1/kv/k", [(b"host", b"127.0.0.1:8000")], "must be a path"),
        ("http://evil.example/", [(b"host", b"127.0.0.1:8000")], "must be a path"),  # not a kv route either
    ],
)
async def test_a_malformed_head_is_answered_400_before_routing(
    stores: tuple[PickleStore, PickleStore], target: str, headers: list[tuple[bytes, bytes]], said: str
) -> None:
    set_store(stores[0])
    scope = {**scope_for("PUT", "/", []), "path": target, "headers": headers}
    sent: list[dict[str, Any]] = []

    async def send(message: dict[str, Any]) -> None:
        sent.append(message)

    await FAST(scope, never_called, send)
    assert sent[0]["status"] == 400
    assert said in orjson.loads(sent[1]["body"])["error"]
    assert stores[0].index.revision == 0


# --- transactions, prefix deletes, leases, history and reads at a revision ------------------------

TXN_SUCCEEDS = {
    "compare": [{"key": "a", "target": "lease", "op": "==", "value": 1}],
    "success": [{"op": "put", "key": "t", "value": "x"}, {"op": "get", "key": "a"}],
}
TXN_FAILS = {
    "compare": [{"key": "a", "target": "value", "op": "==", "value": None}],
    "failure": [{"op": "delete", "key": "nothing"}],
}
TTL_TXN = {"success": [{"op": "put", "key": "k", "value": "v", "ttl": 9}]}

# Run in order against a fresh store on each path, after one first write (revision 1).
MORE_REQUESTS: list[tuple[str, str, bytes]] = [
    ("PUT", "/api/v1/kv/a", json_body({"value": "1"})),
    ("POST", "/api/v1/leases", json_body({"ttl": 60})),
    ("POST", "/api/v1/leases", json_body({"ttl": 0})),
    ("PUT", "/api/v1/kv/a", json_body({"value": "2", "lease": 1})),
    ("PUT", "/api/v1/kv/b", json_body({"value": "3", "ttl": 30})),
    ("PUT", "/api/v1/kv/c", json_body({"value": "4", "lease": 77})),
    ("PUT", "/api/v1/kv/c", json_body({"value": "4", "lease": 1, "ttl": 5})),
    ("GET", "/api/v1/leases", b""),
    ("GET", "/api/v1/leases?limit=1&after=1", b""),
    ("GET", "/api/v1/leases/1", b""),
    ("HEAD", "/api/v1/leases/1", b""),
    ("GET", "/api/v1/leases/%EF%BC%91", b""),
    ("GET", "/api/v1/leases/99", b""),
    ("POST", "/api/v1/leases/1/keepalive", b""),
    ("PATCH", "/api/v1/leases/1", b""),
    ("POST", "/api/v1/txn", json_body(TXN_SUCCEEDS)),
    ("POST", "/api/v1/txn", json_body(TXN_FAILS)),
    ("POST", "/api/v1/txn", json_body({"success": [{"op": "put", "key": "z", "value": "x", "lease": 42}]})),
    ("POST", "/api/v1/txn", b"[]"),
    ("GET", "/api/v1/kv/a?revision=2", b""),
    ("GET", "/api/v1/kv/a?revision=99", b""),
    ("GET", "/api/v1/kv?revision=3&limit=1", b""),
    ("GET", "/api/v1/kv?search=X", b""),
    ("GET", "/api/v1/history/a", b""),
    ("GET", "/api/v1/history/a?limit=1&before=3", b""),
    ("GET", "/api/v1/history/", b""),
    ("DELETE", "/api/v1/leases/1", b""),
    ("DELETE", "/api/v1/kv?prefix=", b""),
    ("DELETE", "/api/v1/kv?prefix=a&limit=1", b""),
    ("DELETE", "/api/v1/kv?prefix=&all=true", b""),
    ("GET", "/healthz", b""),
]
VOLATILE = {"remaining", "time"}  # a lease's seconds left and an event's commit time differ between runs


def steady(answer: Answer) -> tuple[int, dict[str, str], Any]:
    """``comparable``, with the JSON body parsed and the clock-dependent fields taken out."""
    status, headers, body = comparable(answer)
    return status, headers, _without(orjson.loads(body), VOLATILE) if body else b""


def _without(value: Any, names: set[str]) -> Any:
    if isinstance(value, dict):
        return {name: _without(item, names) for name, item in value.items() if name not in names}
    if isinstance(value, list):
        return [_without(item, names) for item in value]
    return value


async def test_fast_path_answers_the_new_routes_like_django(stores: tuple[PickleStore, PickleStore]) -> None:
    statuses = set()
    await both(stores, "PUT", "/api/v1/kv/first", json_body({"value": "v"}))
    for method, target, body in MORE_REQUESTS:
        fast, full = await both(stores, method, target, body)
        assert steady(fast) == steady(full), f"{method} {target}"
        statuses.add(fast.status)
    assert statuses == {200, 201, 400, 404, 405}
    assert stores[0].index.revision == stores[1].index.revision


@pytest.mark.parametrize(
    ("options", "request_", "status"),
    [
        ({"history": 1}, ("GET", "/api/v1/kv/a?revision=1", b""), 410),
        ({"history": 1}, ("GET", "/api/v1/kv?revision=0", b""), 410),
        ({"max_leases": 1}, ("POST", "/api/v1/leases", json_body({"ttl": 9})), 429),
        ({"max_leases": 1}, ("PUT", "/api/v1/kv/k", json_body({"value": "v", "ttl": 9})), 429),
        ({"max_leases": 1}, ("POST", "/api/v1/txn", json_body(TTL_TXN)), 429),
    ],
)
async def test_compacted_and_too_many_leases_are_the_same_on_both_paths(
    tmp_path: Path, options: dict[str, int], request_: tuple[str, str, bytes], status: int
) -> None:
    with store_pair(tmp_path, **options) as pair:
        for store in pair:
            for key in "abc":  # revisions 1..3, of which a history of one keeps the last
                await store.put(key, "v")
            await store.grant(60)  # the one lease a limit of one allows
        fast, full = await both(pair, *request_)
        assert steady(fast) == steady(full)
        assert fast.status == status


@override_settings(KV_MAX_BODY_BYTES=2048, DATA_UPLOAD_MAX_MEMORY_SIZE=2048)
async def test_a_transaction_over_the_body_limit_is_413_on_both_paths(stores: tuple[PickleStore, PickleStore]) -> None:
    big = json_body({"success": [{"op": "put", "key": "k", "value": "v" * 4000}]})
    fast, full = await both(stores, "POST", "/api/v1/txn", big)
    assert comparable(fast) == comparable(full)
    assert fast.status == 413
    assert stores[0].index.revision == stores[1].index.revision == 0
