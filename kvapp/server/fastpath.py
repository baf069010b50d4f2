"""The lean ASGI HTTP handler: kvstore's API views without Django's per-request machinery.

Django's ``ASGIHandler`` pays, on every request, for a thread-sensitive context, the
``request_started``/``request_finished`` signals (``response.close()`` runs in a worker
thread), a disconnect-listener task beside the view task, and the adaptation of each
middleware's ``process_request``/``process_response`` to async through ``sync_to_async``
(a thread hop each). For a key-value request that is many times the work of the request.

This handler matches the path against Django's own URL patterns (one URL conf, see
``kvapp.server.routes``) and, when the matched view is a ``kv_view`` (it carries
``kv_route``), builds the request (``kvapp.server.requests.KVRequest``, an ``ASGIRequest``
built cheaper), runs the configured middleware's hooks inline
(``kvapp.server.middleware``), awaits the view and writes the ``HttpResponse`` to
``send``. The view does its own method check, token check, error mapping and metrics, so
both paths answer alike. Everything else (the page, static files, unknown paths) goes to
Django's handler untouched. Before either, a request whose head breaks the rules every
server must keep (``kvapp.server.http_rules``: Host, a target that is a path) is answered 400.

What is deliberately not done here: the request signals (the kv views use no database
connection to recycle) and cancelling the view when the client disconnects (a write in
flight completes either way; the store already tolerates an answer nobody waits for).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from asgiref.sync import sync_to_async
from django.core.handlers.exception import response_for_exception
from django.http import HttpRequest, HttpResponse
from django.urls import get_resolver, set_script_prefix

from kvapp.conf import kv_settings, url_settings
from kvapp.http.fallback import server_error
from kvapp.http.responses import encoded_header, error_response
from kvapp.server.http_rules import scope_refusal
from kvapp.server.middleware import InlineMiddleware
from kvapp.server.requests import KVRequest, OversizedRequest
from kvapp.server.routes import route_table

logger = logging.getLogger(__name__)

Scope = dict[str, Any]
Receive = Callable[[], Awaitable[dict[str, Any]]]
Send = Callable[[dict[str, Any]], Awaitable[None]]


class BodyTooLarge(Exception):
    """The request body is over KV_MAX_BODY_BYTES; the view is told so when it reads it."""


class Disconnected(Exception):
    """The client went away before its request body arrived."""


class FastPathHandler:
    """ASGI app: kv views on the lean path, every other HTTP request to ``django_handler``."""

    def __init__(self, django_handler: Callable[[Scope, Receive, Send], Awaitable[None]]) -> None:
        self.django_handler = django_handler
        self.middleware = InlineMiddleware.from_settings()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Called once per HTTP request by the ASGI server (through the protocol router)."""
        if scope["type"] == "http" and (refusal := scope_refusal(scope)) is not None:
            return await _send_all(send, _response_messages(error_response(refusal)))
        match, script_name = self._kv_match(scope) if self.middleware is not None else (None, "")
        if match is None:
            return await self.django_handler(scope, receive, send)
        try:
            body = await _read_body(receive, scope, kv_settings().max_body_bytes)
        except BodyTooLarge:
            body = None
        except Disconnected:
            return
        try:
            request = _build_request(scope, body, script_name)
        except UnicodeDecodeError:
            # Django answers an undecodable query string with its own 400; let it.
            return await self.django_handler(scope, _replay(body or b"", receive), send)
        await self._respond(request, match, send)

    def _kv_match(self, scope: Scope) -> tuple[Any, str]:
        """The URL match if the path names a kv view, else None (also for non-HTTP scopes),
        and the script name (Django's ``get_script_prefix(scope)``)."""
        if scope["type"] != "http":
            return None, ""
        force_script_name, urlconf = url_settings()
        script_name = force_script_name or scope.get("root_path") or ""
        match = route_table(get_resolver(urlconf)).match(scope["path"].removeprefix(script_name))
        return (match if match is not None and getattr(match.func, "kv_route", None) else None), script_name

    async def _respond(self, request: HttpRequest, match: Any, send: Send) -> None:
        """Run middleware hooks and the view; any failure becomes Django's 500, or ours."""
        request.resolver_match = match
        _set_script_prefix(request.script_name)

        async def view(request: HttpRequest) -> HttpResponse:
            # Inside the middleware, as in Django: an error page gets the same headers.
            try:
                return await match.func(request, *match.args, **match.kwargs)
            except Exception as exc:
                return await _response_for_exception(request, exc)

        try:
            response = await self.middleware.run(request, view)
        except Exception as exc:
            response = await _response_for_exception(request, exc)
        try:
            messages = _response_messages(response)
        except Exception:
            logger.exception("cannot send the response to %s %s; answering 500", request.method, request.path)
            messages = _response_messages(server_error(request))
        await _send_all(send, messages, request)


async def _send_all(send: Send, messages: tuple[dict[str, Any], ...], request: HttpRequest | None = None) -> None:
    """Send a response's messages; a client that went away is nobody's error."""
    try:
        for message in messages:
            await send(message)
    except OSError as exc:  # the client is gone; nothing is left to tell it
        what = f"{request.method} {request.path}" if request is not None else "a request refused before routing"
        logger.debug("could not send the response to %s: %s", what, exc)


def _set_script_prefix(script_name: str) -> None:
    """What Django's handler does per request (for reverse()).

    Without a script name it is skipped: each request runs in its own task, whose context
    starts from the server's, where the prefix is never set, so it is already the default.
    """
    if script_name:
        set_script_prefix(script_name)


async def _read_body(receive: Receive, scope: Scope, limit: int) -> bytes:
    """The whole body, refusing to hold more than ``limit`` bytes (BodyTooLarge)."""
    declared, framed = _body_framing(scope)
    if declared is not None and declared > limit:
        raise BodyTooLarge
    if not framed and scope.get("http_version") in ("1.0", "1.1"):
        # HTTP/1.x without Transfer-Encoding or a non-zero Content-Length has no body
        # (RFC 9112 6.3): nothing to wait for, a receive() saved per GET. HTTP/2 and later
        # may send a body without either header.
        return b""
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > limit:  # also a body no Content-Length announced (chunked, HTTP/2)
            raise BodyTooLarge
        if not message.get("more_body", False):
            return b"".join((*chunks, chunk)) if chunks else chunk  # usually one message: no copy
        chunks.append(chunk)


def _body_framing(scope: Scope) -> tuple[int | None, bool]:
    """Content-Length as a number (None if absent or malformed), and whether any header
    announces a body: Transfer-Encoding, or a Content-Length other than 0."""
    first_length = None
    framed = False
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            if first_length is None:
                first_length = value  # the first one counts
            framed = framed or value != b"0"
        elif name == b"transfer-encoding":
            framed = True
    if first_length is None:
        return None, framed
    try:
        return int(first_length), framed
    except ValueError:
        return None, framed


def _build_request(scope: Scope, body: bytes | None, script_name: str) -> KVRequest:
    """Django's request object; ``body`` None means it was over the limit."""
    if body is None:
        return OversizedRequest(scope, b"", script_name)
    return KVRequest(scope, body, script_name)


def _replay(body: bytes, receive: Receive) -> Receive:
    """A ``receive`` that hands out the already-read body first, then the real one."""
    pending = [{"type": "http.request", "body": body, "more_body": False}]

    async def replayed() -> dict[str, Any]:
        return pending.pop() if pending else await receive()

    return replayed


async def _response_for_exception(request: HttpRequest, exc: Exception) -> HttpResponse:
    """What Django answers for an exception (logged, handler500), in a thread as Django does."""
    try:
        return await sync_to_async(response_for_exception, thread_sensitive=False)(request, exc)
    except Exception:
        logger.exception("%s %s failed, and so did Django's error handling", request.method, request.path)
        return server_error(request)


def _response_messages(response: HttpResponse) -> tuple[dict[str, Any], dict[str, Any]]:
    """The ASGI messages for a complete response: status, headers and cookies, then the body.

    kv views answer with whole bodies; a streaming response here is a bug, refused (TypeError)
    before anything is sent so the client still gets a proper 500.
    """
    if response.streaming:
        raise TypeError("kv views must not return streaming responses")
    body = response.content
    # ResponseHeaders keeps (name, value) under the lower-cased name; reading that directly
    # skips the Mapping protocol's per-header lookups.
    stored = response.headers._store
    headers = [encoded_header(pair) for pair in stored.values()]
    if "content-length" not in stored:
        headers.append((b"content-length", str(len(body)).encode("ascii")))
    if response.cookies:
        headers.extend((b"Set-Cookie", c.output(header="").encode("ascii").strip()) for c in response.cookies.values())
    return (
        {"type": "http.response.start", "status": response.status_code, "headers": headers},
        {"type": "http.response.body", "body": body},
    )
