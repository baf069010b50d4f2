"""The wrappers every kvstore view wears: ``kv_view`` for the API (host, cross-site writes, token,
method, error mapping, metrics) and ``page_view`` for the rest (the page, static files, unknown paths).

Doing this in decorators rather than middleware keeps it on the view itself, so the lean
ASGI path (``kvapp.server.fastpath``) and Django's full handler run exactly the same checks.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from kvapp.auth import check_token
from kvapp.conf import kv_settings
from kvapp.errors import MethodNotAllowed
from kvapp.http import metrics
from kvapp.http.hosts import host_refusal
from kvapp.http.origins import check_same_site
from kvapp.http.responses import error_response
from kvapp.store.errors import KVError, ValueTooLarge

View = Callable[..., Awaitable[HttpResponse]]
PageView = Callable[..., Awaitable[HttpResponse] | HttpResponse]


def kv_view(*methods: str, route: str, text_errors: bool = False) -> Callable[[View], View]:
    """Wrap an async view: ``methods`` allowed (HEAD wherever GET is), token required, KVError
    mapped to a status."""
    methods = with_head(methods)

    def decorate(view: View) -> View:
        @functools.wraps(view)
        async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            started = perf_counter()
            try:
                if (refusal := host_refusal(request)) is not None:  # ALLOWED_HOSTS: Django checks it only when asked
                    raise refusal
                # Before the token: a foreign page's write is refused whether or not it could
                # have guessed the token, and is not told whether one is needed.
                check_same_site(request)
                # The token before the method: every call needs it (API.md), so a caller
                # without it is told 401, not which methods a route takes.
                check_token(request.META.get("HTTP_AUTHORIZATION"))  # request.headers, minus building it
                if request.method not in methods:
                    raise MethodNotAllowed(str(request.method), methods)
                response = await view(request, *args, **kwargs)
            except KVError as exc:
                response = error_response(exc, text=text_errors)
            except RequestDataTooBig:
                too_big = ValueTooLarge(f"request body is over {kv_settings().max_body_bytes} bytes")
                response = error_response(too_big, text=text_errors)
            metrics.observe(route, str(request.method), response.status_code, perf_counter() - started)
            return response

        guarded.csrf_exempt = True  # type: ignore[attr-defined]  # bearer tokens, no cookies
        guarded.kv_route = route  # type: ignore[attr-defined]  # marks views the fast path may call
        return guarded

    return decorate


def with_head(methods: tuple[str, ...]) -> tuple[str, ...]:
    """``methods`` with HEAD right after GET (RFC 9110 9.3.2).

    A HEAD runs the view as a GET and answers its status, headers and body: daphne and
    uvicorn drop the body for HEAD and keep GET's Content-Length (``tests/http/test_head.py``).
    """
    if "GET" not in methods or "HEAD" in methods:
        return methods
    at = methods.index("GET") + 1
    return (*methods[:at], "HEAD", *methods[at:])


def page_view(*methods: str) -> Callable[[PageView], PageView]:
    """Wrap a view outside the API (sync or async): the Host check every route makes, then
    ``methods`` (none: any method), and HEAD answered without a body.

    These views need no token: the page and its files hold no data, and an unknown path
    says only that it is unknown.
    """

    def refusal_for(request: HttpRequest) -> HttpResponse | None:
        refusal = host_refusal(request)  # before get_host(), which would raise and log a traceback
        if refusal is None and methods and request.method not in methods:
            refusal = MethodNotAllowed(str(request.method), methods)
        return None if refusal is None else error_response(refusal)

    def decorate(view: PageView) -> PageView:
        if inspect.iscoroutinefunction(view):

            @functools.wraps(view)
            async def guarded(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
                response = refusal_for(request) or await view(request, *args, **kwargs)
                return without_body_for_head(request, response)

            return guarded

        @functools.wraps(view)
        def guarded_sync(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
            response = refusal_for(request) or view(request, *args, **kwargs)
            return without_body_for_head(request, response)

        return guarded_sync

    return decorate


def without_body_for_head(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """HEAD gets GET's headers and no body (Django's ASGI handler sends whatever body it is given)."""
    if request.method == "HEAD":
        response.content = b""
    return response
