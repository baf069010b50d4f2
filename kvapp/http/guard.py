"""The wrapper every kvstore view wears: method check, token check, error mapping, metrics.

Doing this in a decorator rather than middleware keeps it on the view itself, so the lean
ASGI path (``kvapp.fastpath``) and Django's full handler run exactly the same checks.
"""

from __future__ import annotations

import functools
import hmac
from collections.abc import Awaitable, Callable
from time import perf_counter
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.http import HttpRequest, HttpResponse

from kvapp import errors, metrics
from kvapp.conf import kv_settings
from kvapp.http.hosts import host_refusal
from kvapp.http.responses import error_response

View = Callable[..., Awaitable[HttpResponse]]


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
                # The token before the method: every call needs it (API.md), so a caller
                # without it is told 401, not which methods a route takes.
                check_token(request.META.get("HTTP_AUTHORIZATION"))  # request.headers, minus building it
                if request.method not in methods:
                    raise errors.MethodNotAllowed(str(request.method), methods)
                response = await view(request, *args, **kwargs)
            except errors.KVError as exc:
                response = error_response(exc, text=text_errors)
            except RequestDataTooBig:
                too_big = errors.ValueTooLarge(f"request body is over {kv_settings().max_body_bytes} bytes")
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
    uvicorn drop the body for HEAD and keep GET's Content-Length (``tests/test_head.py``).
    """
    if "GET" not in methods or "HEAD" in methods:
        return methods
    at = methods.index("GET") + 1
    return (*methods[:at], "HEAD", *methods[at:])


def check_token(authorization: str | None, query_token: str | None = None) -> None:
    """Raise Unauthorized unless no token is configured or one of the offered ones matches.

    ``authorization`` is the header as Django's META holds it (the bytes decoded as latin-1);
    ``query_token`` is already text (the socket's ``?token=``, percent-decoded as UTF-8).
    """
    expected = kv_settings().token
    if not expected:
        return
    offered = _bearer_credentials(authorization)
    if offered is None:
        offered = (query_token or "").encode("utf-8", "surrogateescape")
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if not hmac.compare_digest(offered, expected.encode("utf-8", "surrogateescape")):
        raise errors.Unauthorized("a valid token is required: send Authorization: Bearer <token>")


def _bearer_credentials(authorization: str | None) -> bytes | None:
    """The credentials of a ``Bearer`` header as the bytes the client sent; None for other schemes."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":  # RFC 9110 11.1: the scheme is case-insensitive
        return None
    # Strip only what HTTP calls whitespace: str.strip() would also take a latin-1 \xa0 or \x85,
    # the last byte of a UTF-8 "à" or "Å".
    credentials = credentials.strip(" \t")
    # Undo the latin-1 decoding: a non-ASCII token arrives as the client's UTF-8 bytes.
    # ("replace" only for text that never came off the wire; it then matches nothing.)
    return credentials.encode("latin-1", "replace")
