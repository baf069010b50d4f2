"""uvicorn's HTTP/1.1 parsers: the limits daphne's parser has, and kvstore's answers to what they refuse.

httptools, uvicorn's parser when it is installed (as here), limits nothing in a request's
head: a request line or a header of any length is collected in memory. It also keeps only
the path of an absolute-form target, so the application never learns that the URI named
another host than the Host header did. h11 (plain uvicorn) refuses a head still unparsed
after 16 KiB, but uvicorn answers that, like every parse error, with a text 400.

At start-up (``kvproject/asgi.py``) kvstore wraps methods of uvicorn's protocol classes, as
``daphne_websocket`` adapts daphne's websocket protocol:

- httptools: as the parser delivers each piece of the head, a target that is not a path
  is a 400, a target over ``MAX_REQUEST_LINE_BYTES`` a 414, and header fields over
  ``MAX_HEADER_BYTES`` (with the target, as Twisted counts) or ``MAX_HEADER_FIELDS`` a 431;
  and a head still incomplete after both limits together (one endless field, which
  httptools holds until it ends) is a 431 too.
- both: ``send_400_response``, which uvicorn calls inside the ``except`` of every parse
  error, answers kvstore's JSON error instead of uvicorn's text: the refusal above that
  caused the error, a 431 where h11 hints it (a 414 when the head it gave up on has not
  even a complete request line), else a 400 with the parser's reason.

uvicorn's ``zttp`` protocols (HTTP/2, opt-in, not installed) are left as they are.
"""

from __future__ import annotations

import functools
import importlib
import sys
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from kvapp.errors import HeadersTooLarge, RequestLineTooLong, TargetNotAPath
from kvapp.server.http_rules import (
    MAX_HEADER_BYTES,
    MAX_HEADER_FIELDS,
    MAX_REQUEST_LINE_BYTES,
    QUOTED_TARGET_CHARS,
    error_bytes,
)
from kvapp.store.errors import InvalidRequest, KVError

H11_HEAD_TOO_LONG = 431  # h11's error_status_hint for "Receive buffer too long"
HEADER_LINE_OVERHEAD = 2  # ": " between name and value: what a header line is, without CRLF


@dataclass(slots=True)
class _Head:
    """What kvstore counts of one request head while httptools parses it."""

    target_bytes: int = 0
    line_bytes: int = 0  # the target and the header lines so far
    fields: int = 0
    received_while_incomplete: int = 0
    complete: bool = False


def install_uvicorn_http() -> None:
    """Called once at start-up: limits and answers for uvicorn's parsers; nothing unless uvicorn is serving.

    uvicorn imports the application before its protocol classes (to fail fast on a bad
    import), so they are imported here; only httptools may be missing.
    """
    if "uvicorn" not in sys.modules:
        return
    h11_impl = importlib.import_module("uvicorn.protocols.http.h11_impl")
    _wrap(h11_impl.H11Protocol, "send_400_response", _send_400_response)
    try:
        httptools_impl = importlib.import_module("uvicorn.protocols.http.httptools_impl")
    except ImportError:  # plain uvicorn: h11 only
        return
    for name, wrapper in _HTTPTOOLS_WRAPPERS.items():
        _wrap(httptools_impl.HttpToolsProtocol, name, wrapper)


def _wrap(cls: type, name: str, make: Callable[[Callable[..., Any]], Callable[..., Any]]) -> None:
    """Replace ``cls.name`` by ``make(original)``; installing twice wraps uvicorn's method once."""
    method = getattr(cls, name)
    original = getattr(method, "__wrapped__", method)
    setattr(cls, name, functools.wraps(original)(make(original)))


# --- httptools: counting the head as it is parsed ----------------------------------------------


def _on_message_begin(original: Callable[..., Any]) -> Callable[..., Any]:
    def on_message_begin(self: Any) -> None:
        original(self)
        self.kv_head = _Head()

    return on_message_begin


def _on_url(original: Callable[..., Any]) -> Callable[..., Any]:
    def on_url(self: Any, url: bytes) -> None:  # called once per piece of the target
        head = self.kv_head
        if head.target_bytes == 0 and url[:1] != b"/":
            quoted = url[:QUOTED_TARGET_CHARS].decode("latin-1")
            raise TargetNotAPath(f"the request target must be a path like /api/v1/kv/KEY, not {quoted!r}")
        head.target_bytes += len(url)
        head.line_bytes += len(url)
        if head.target_bytes > MAX_REQUEST_LINE_BYTES:
            raise RequestLineTooLong(f"the request target is over {MAX_REQUEST_LINE_BYTES} bytes")
        original(self, url)

    return on_url


def _on_header(original: Callable[..., Any]) -> Callable[..., Any]:
    def on_header(self: Any, name: bytes, value: bytes) -> None:  # called once per whole field
        head = self.kv_head
        head.fields += 1
        head.line_bytes += len(name) + HEADER_LINE_OVERHEAD + len(value)
        if head.fields > MAX_HEADER_FIELDS:
            raise HeadersTooLarge(f"the request has more than {MAX_HEADER_FIELDS} header fields")
        if head.line_bytes > MAX_HEADER_BYTES:
            raise HeadersTooLarge(f"the request's headers are over {MAX_HEADER_BYTES} bytes")
        original(self, name, value)

    return on_header


def _on_headers_complete(original: Callable[..., Any]) -> Callable[..., Any]:
    def on_headers_complete(self: Any) -> None:
        self.kv_head.complete = True
        original(self)

    return on_headers_complete


def _data_received(original: Callable[..., Any]) -> Callable[..., Any]:
    def data_received(self: Any, data: bytes) -> None:
        original(self, data)
        head = getattr(self, "kv_head", None)
        if head is None or head.complete or self.transport.is_closing():
            return
        # The head is still incomplete after these bytes: a field httptools holds until it ends.
        head.received_while_incomplete += len(data)
        if head.received_while_incomplete > MAX_REQUEST_LINE_BYTES + MAX_HEADER_BYTES:
            _answer(self, HeadersTooLarge(f"the request's headers are over {MAX_HEADER_BYTES} bytes"))

    return data_received


# --- both: the answer to a parse error ---------------------------------------------------------


def _send_400_response(original: Callable[..., Any]) -> Callable[..., Any]:
    def send_400_response(self: Any, msg: str) -> None:  # called inside uvicorn's except
        refusal = _refusal_for(sys.exc_info()[1], self)
        if refusal is None:
            original(self, msg)
        else:
            _answer(self, refusal)

    return send_400_response


def _refusal_for(exc: BaseException | None, protocol: Any) -> KVError | None:
    """kvstore's refusal for the parse error uvicorn is handling; None outside one."""
    if exc is None:
        return None
    if isinstance(exc.__context__, KVError):  # raised by a callback above, wrapped by httptools
        return exc.__context__
    if getattr(exc, "error_status_hint", None) == H11_HEAD_TOO_LONG:
        unparsed, _ = protocol.conn.trailing_data
        if b"\n" not in unparsed:
            return RequestLineTooLong("the request line is over h11's limit")
        return HeadersTooLarge("the request's headers are over h11's limit")
    return InvalidRequest(f"the request is not valid HTTP/1.1 ({exc})")


def _answer(protocol: Any, refusal: KVError) -> None:
    """Write kvstore's error and close, as uvicorn's own 400 does."""
    protocol.transport.write(error_bytes(refusal))
    protocol.transport.close()


_HTTPTOOLS_WRAPPERS = {
    "on_message_begin": _on_message_begin,
    "on_url": _on_url,
    "on_header": _on_header,
    "on_headers_complete": _on_headers_complete,
    "data_received": _data_received,
    "send_400_response": _send_400_response,
}
