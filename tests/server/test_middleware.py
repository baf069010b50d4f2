"""Inline middleware answers exactly as running Django's hooks on every response would."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest
from django.http import HttpRequest, HttpResponse
from django.test import RequestFactory, override_settings

from kvapp.errors import MethodNotAllowed, Unauthorized
from kvapp.http.responses import KVResponse, error_response, json_response, text_response
from kvapp.server.middleware import InlineMiddleware

CONFIGURED = [
    "django.middleware.security.SecurityMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]


def exempt_response() -> HttpResponse:
    response = json_response({})
    response.xframe_options_exempt = True  # type: ignore[attr-defined]
    return response


def framed_response() -> HttpResponse:
    response = json_response({})
    response["X-Frame-Options"] = "SAMEORIGIN"
    return response


RESPONSES: dict[str, Callable[[], HttpResponse]] = {
    "json": lambda: json_response({"a": 1}),
    "text": lambda: text_response("hello"),
    "405": lambda: error_response(MethodNotAllowed("POST", ("GET",))),
    "401": lambda: error_response(Unauthorized("no")),
    "exempt": exempt_response,
    "framed": framed_response,
    "plain HttpResponse": lambda: HttpResponse(b"x"),
}
REQUESTS: dict[str, Callable[[], HttpRequest]] = {
    "http": lambda: RequestFactory().get("/api/v1/kv/a"),
    "https": lambda: RequestFactory().get("/api/v1/kv/a", secure=True),
    "proxied https": lambda: RequestFactory().get("/api/v1/kv/a", HTTP_X_FORWARDED_PROTO="https"),
    "proxied http": lambda: RequestFactory().get("/api/v1/kv/a", HTTP_X_FORWARDED_PROTO="http"),
}
SETTINGS = [
    {},
    {"SECURE_HSTS_SECONDS": 3600, "SECURE_HSTS_INCLUDE_SUBDOMAINS": True},
    {"SECURE_PROXY_SSL_HEADER": ("HTTP_X_FORWARDED_PROTO", "https"), "SECURE_HSTS_SECONDS": 60},
    {"X_FRAME_OPTIONS": "SAMEORIGIN", "SECURE_REFERRER_POLICY": None, "SECURE_CROSS_ORIGIN_OPENER_POLICY": None},
]


def through_every_hook(middleware: InlineMiddleware, request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """What Django's handler does: every response hook, inner to outer."""
    for hook in reversed(middleware.response_hooks):
        if hook is not None:
            response = hook(request, response)
    return response


def view_answering(make_response: Callable[[], HttpResponse]) -> Callable[[HttpRequest], Awaitable[HttpResponse]]:
    async def view(request: HttpRequest) -> HttpResponse:
        return make_response()

    return view


def headers(response: HttpResponse) -> list[tuple[str, str]]:
    return list(response.headers._store.values())


@pytest.mark.parametrize("overrides", SETTINGS, ids=lambda overrides: ",".join(overrides) or "defaults")
async def test_learned_headers_are_the_ones_the_hooks_add(overrides: dict[str, object]) -> None:
    with override_settings(**overrides):
        middleware = InlineMiddleware(CONFIGURED)
        for _ in range(3):  # learn, then copy
            for request_kind, make_request in REQUESTS.items():
                for response_kind, make_response in RESPONSES.items():
                    request = make_request()
                    ours = await middleware.run(request, view_answering(make_response))
                    theirs = through_every_hook(middleware, request, make_response())
                    assert headers(ours) == headers(theirs), (request_kind, response_kind)


async def test_a_setting_change_is_followed() -> None:
    middleware = InlineMiddleware(CONFIGURED)

    async def view(request: HttpRequest) -> HttpResponse:
        return json_response({})

    request = RequestFactory().get("/")
    assert (await middleware.run(request, view))["X-Frame-Options"] == "DENY"
    with override_settings(X_FRAME_OPTIONS="SAMEORIGIN"):
        assert (await middleware.run(request, view))["X-Frame-Options"] == "SAMEORIGIN"
    assert (await middleware.run(request, view))["X-Frame-Options"] == "DENY"


class RewritingMiddleware:
    """Changes a header the view set: copying only what it adds would be wrong."""

    def __init__(self, get_response: object) -> None:
        self.calls = 0

    def process_response(self, request: HttpRequest, response: HttpResponse) -> HttpResponse:
        self.calls += 1
        response["Content-Type"] = f"text/x-rewritten-{self.calls}"
        return response


async def test_hooks_that_change_more_than_they_add_run_every_time() -> None:
    middleware = InlineMiddleware([*CONFIGURED, f"{__name__}.RewritingMiddleware"])

    async def view(request: HttpRequest) -> HttpResponse:
        return json_response({})

    request = RequestFactory().get("/")
    answers = [(await middleware.run(request, view))["Content-Type"] for _ in range(3)]
    assert answers == ["text/x-rewritten-1", "text/x-rewritten-2", "text/x-rewritten-3"]


@override_settings(SECURE_SSL_REDIRECT=True)
async def test_with_ssl_redirect_the_request_hook_answers_before_the_view() -> None:
    middleware = InlineMiddleware(CONFIGURED)
    viewed = []

    async def view(request: HttpRequest) -> HttpResponse:
        viewed.append(request)
        return json_response({})

    answer = await middleware.run(RequestFactory().get("/api/v1/kv/a"), view)
    assert (answer.status_code, answer["Location"], viewed) == (301, "https://testserver/api/v1/kv/a", [])
    answer = await middleware.run(RequestFactory().get("/api/v1/kv/a", secure=True), view)
    assert (answer.status_code, type(answer), len(viewed)) == (200, KVResponse, 1)


@pytest.mark.parametrize("hsts", [0, 60])
async def test_a_malformed_proxy_header_setting_fails_only_where_django_fails(hsts: int) -> None:
    with override_settings(SECURE_PROXY_SSL_HEADER="not a pair", SECURE_HSTS_SECONDS=hsts):
        middleware = InlineMiddleware(CONFIGURED)
        request = RequestFactory().get("/api/v1/kv/a")
        outcomes = []
        for path in ("ours", "theirs"):
            try:
                if path == "ours":
                    answer = await middleware.run(request, view_answering(lambda: json_response({})))
                else:
                    answer = through_every_hook(middleware, request, json_response({}))
                outcomes.append(headers(answer))
            except Exception as exc:
                outcomes.append((type(exc), str(exc)))
        assert outcomes[0] == outcomes[1]
