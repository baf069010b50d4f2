"""What a request's head must be under every server, and the answer written when it is not.

Three parsers read kvstore's requests (Twisted's under daphne and runserver, httptools and
h11 under uvicorn), and each lets through something another refuses. daphne and httptools
served an HTTP/1.1 request without Host. httptools keeps only the path of an absolute-form
target (``GET http://evil.com/api/v1/kv/x``), so the allowed-hosts check judged the Host
header while the URI, which overrides it (RFC 9112 3.2.2), named another host. Twisted
dropped the connection without an answer for a line over its limit.

``scope_refusal`` checks what reaches the ASGI scope, for every server; the server
patches (``kvapp.server.daphne_http``, ``kvapp.server.uvicorn_http``) refuse what the
application never sees, and answer with ``error_bytes``: kvstore's JSON error, written
straight to the connection.
"""

from __future__ import annotations

from http import HTTPStatus
from typing import Any

import orjson

from kvapp.errors import HostMissing, TargetNotAPath, status_for
from kvapp.store.errors import KVError

MAX_REQUEST_LINE_BYTES = 16 * 1024  # 16kb: Twisted's line limit, what daphne always allowed
MAX_HEADER_BYTES = 16 * 1024  # 16kb for the request line and the header lines together (Twisted's)
MAX_HEADER_FIELDS = 500  # Twisted's
QUOTED_TARGET_CHARS = 100  # of a refused target, in its error


def requires_host(http_version: str) -> bool:
    """Whether a request of this HTTP version without a Host header is refused (400).

    HTTP/1.1 requires Host: "A server MUST respond with a 400 (Bad Request) status code to
    any HTTP/1.1 request message that lacks a Host header field" (RFC 9112 3.2). HTTP/1.0
    predates the header (RFC 1945) and a request without it stays legal, as under nginx
    and Go's net/http: it is served, and the allowed-hosts check judges it by the address
    it reached (Django falls back to SERVER_NAME). Refusing it would protect nothing: the
    check exists against browsers on DNS-rebound names, and browsers always send Host.
    """
    return http_version == "1.1"


def scope_refusal(scope: dict[str, Any]) -> KVError | None:
    """Why an HTTP request is refused before it is routed, from its ASGI scope; None if it is not."""
    path = scope["path"]
    if not path.startswith("/"):
        # daphne and h11 pass an absolute-form, authority-form or * target on as the path.
        quoted = path[:QUOTED_TARGET_CHARS]
        return TargetNotAPath(f"the request target must be a path like /api/v1/kv/KEY, not {quoted!r}")
    if requires_host(scope.get("http_version", "1.1")) and not _has_host(scope["headers"]):
        return HostMissing("an HTTP/1.1 request must send a Host header")
    return None


def _has_host(headers: list[tuple[bytes, bytes]]) -> bool:
    """Whether the headers hold Host; clients send it first, so that is looked at first."""
    if headers and headers[0][0] == b"host":
        return True
    return any(name == b"host" for name, _ in headers)


def error_bytes(exc: KVError) -> bytes:
    """A whole HTTP/1.1 response for ``exc``: its status, kvstore's JSON error, and a close."""
    status = status_for(exc)
    body = orjson.dumps({"error": str(exc)})
    head = (
        f"HTTP/1.1 {status} {HTTPStatus(status).phrase}\r\n"
        "Content-Type: application/json; charset=utf-8\r\n"
        f"Content-Length: {len(body)}\r\n"
        "Connection: close\r\n"
        "\r\n"
    )
    return head.encode("ascii") + body
