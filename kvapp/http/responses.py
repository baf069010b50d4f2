"""Response builders: JSON and text answers, and Django's response object built for less."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse
from django.http.cookie import SimpleCookie
from django.http.response import ResponseHeaders

from kvapp.errors import MethodNotAllowed, Unauthorized, status_for
from kvapp.http.memo import remember
from kvapp.store.errors import Compacted, KeyNotFound, KVError, LeaseNotFound, RevisionConflict

JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

# Header names and values already checked, by (name, value): most are the same constant
# strings on every response. Bounded, since some values (Content-Length) vary.
_CHECKED_HEADERS: dict[tuple[str, str], tuple[str, str]] = {}
MAX_CHECKED_HEADERS = 1024


class CheckedOnceHeaders(ResponseHeaders):
    """Django's response headers, minus repeated work on the hot path.

    Every ``response[name] = value`` re-validates and re-encodes both strings,
    and ``name in headers`` / ``get()`` go through a raised KeyError when the header is
    absent, which is what middleware's ``setdefault`` meets on every response. Same
    checks, same errors; a string pair is checked once.
    """

    def __setitem__(self, key: str, value: Any) -> None:
        """Called for each header the view or middleware sets."""
        if type(key) is not str or type(value) is not str:
            super().__setitem__(key, value)
            return
        checked = _CHECKED_HEADERS.get((key, value))
        if checked is None:
            checked = (self._convert_to_charset(key, "ascii"), self._convert_to_charset(value, "latin1", True))
            remember(_CHECKED_HEADERS, (key, value), checked, MAX_CHECKED_HEADERS)
        self._store[key.lower()] = checked

    def __contains__(self, key: object) -> bool:
        """Called by ``has_header`` and ``setdefault``."""
        return isinstance(key, str) and key.lower() in self._store

    def get(self, key: str, default: Any = None) -> Any:
        """Called by ``HttpResponse.get`` (e.g. the X-Frame-Options middleware)."""
        item = self._store.get(key.lower())
        return default if item is None else item[1]


_ENCODED_HEADERS: dict[tuple[str, str], tuple[bytes, bytes]] = {}


def encoded_header(pair: tuple[str, str]) -> tuple[bytes, bytes]:
    """A checked (name, value) pair as ASGI wants it, encoded once per distinct pair."""
    encoded = _ENCODED_HEADERS.get(pair)
    if encoded is None:
        encoded = (pair[0].encode("ascii"), pair[1].encode("latin1"))
        remember(_ENCODED_HEADERS, pair, encoded, MAX_CHECKED_HEADERS)
    return encoded


class KVResponse(HttpResponse):
    """The HttpResponse every kvstore view answers with.

    ``HttpResponse.__init__`` is written for every kind of content and header argument; a
    kv response always has one bytes body, a status and a content type. For bytes this sets
    the attributes Django's constructor sets, with the values it would give them, directly
    (about a tenth of a kv request's time went to the general constructor). Text goes
    through Django's ``content`` setter, which knows the charset.
    ``tests/http/test_responses.py`` compares the result with Django's attribute by attribute.
    """

    def __init__(self, content: bytes | str, *, status: int, content_type: str) -> None:
        if type(status) is not int or not 100 <= status <= 599:
            super().__init__(content, status=status, content_type=content_type)  # Django's error
            self.headers.__class__ = CheckedOnceHeaders
            return
        headers = CheckedOnceHeaders.__new__(CheckedOnceHeaders)
        headers._store = {}
        headers["Content-Type"] = content_type
        self.headers = headers
        self._charset = None
        self._resource_closers = []
        self._handler_class = None
        self.cookies = SimpleCookie()
        self.closed = False
        self.status_code = status
        self._reason_phrase = None
        if type(content) is bytes:
            self._container = [content]
        else:
            self.content = content


def json_response(data: Any, status: int = 200) -> HttpResponse:
    """A JSON body (orjson: several times faster than json for the hot path)."""
    return KVResponse(orjson.dumps(data), status=status, content_type=JSON)


def text_response(text: str, status: int = 200) -> HttpResponse:
    """A text/plain body, as the seed routes answer."""
    return KVResponse(text, status=status, content_type=TEXT)


def error_response(exc: KVError, *, text: bool = False) -> HttpResponse:
    """The response for a refused request: JSON ``{"error": ...}`` or, for seed routes, text."""
    status = status_for(exc)
    message = str(exc)
    if text:
        response = text_response(message, status)
    else:
        body: dict[str, Any] = {"error": message}
        if isinstance(exc, RevisionConflict):
            body.update(_current_pair(exc))
        elif isinstance(exc, KeyNotFound):
            body["key"] = exc.key  # tells "no such key" from "no such path" (a wrong base URL)
        elif isinstance(exc, LeaseNotFound):
            body["lease"] = exc.lease  # ... and "no such lease" from either
        elif isinstance(exc, Compacted):
            body["oldest"] = exc.oldest  # where the history begins, as in the watch's compacted
        response = json_response(body, status)
    if isinstance(exc, MethodNotAllowed):
        response["Allow"] = ", ".join(exc.allowed)
    if isinstance(exc, Unauthorized):
        response["WWW-Authenticate"] = 'Bearer realm="kvstore"'
    return response


def _current_pair(exc: RevisionConflict) -> dict[str, Any]:
    """A 409 carries the pair as it is now; revision 0 and null value when it is absent."""
    if exc.current is not None:
        return exc.current
    return {"key": exc.key, "value": None, "revision": 0, "created": 0}
