"""Reading a request's inputs: its JSON body, numbers and text in its query, a key in its path.

Every JSON view reads through these, so the same mistake gets the same 400 on every route.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from django.http import HttpRequest

from kvapp.params import MAX_NUMBER_DIGITS, parse_whole_number
from kvapp.store.errors import InvalidKey, InvalidRequest
from kvapp.store.validation import MAX_LEASE_ID


def json_body(request: HttpRequest, example: str = '{"value": "..."}') -> Any:
    """The body decoded as JSON, of any type, or InvalidRequest (``example``: what to send)."""
    raw = request.body
    if not raw.strip():  # not "invalid JSON": the client sent nothing to parse
        raise InvalidRequest(f"the body is empty; send a JSON object like {example}")
    try:
        return orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("body is not valid JSON") from None


def json_object(request: HttpRequest, example: str = '{"value": "..."}') -> dict[str, Any]:
    """The body as a JSON object, or InvalidRequest saying what is wrong with it."""
    body = json_body(request, example)
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be a JSON object like {example}")
    return body


def query_int(request: HttpRequest, name: str) -> int | None:
    """An optional whole-number query parameter; a negative one is left to the caller to explain."""
    raw = _query_value(request, name)
    if raw is None:
        return None
    number = parse_whole_number(raw, signed=True)
    if number is None:
        raise InvalidRequest(f"{name} must be a whole number (at most {MAX_NUMBER_DIGITS} digits 0-9)")
    return number


def query_whole(request: HttpRequest, name: str) -> int | None:
    """An optional query parameter that is a whole number from 0 (a revision, an id to start after)."""
    number = query_int(request, name)
    if number is not None and number < 0:
        raise InvalidRequest(f"{name} must be a whole number from 0")
    return number


def page_limit(request: HttpRequest, default: int, maximum: int) -> int:
    """``limit``: ``default`` when absent, at least 1, clamped to ``maximum`` (pages chain through ``next``)."""
    limit = query_int(request, "limit")
    if limit is None:
        return default
    if limit < 1:
        raise InvalidRequest("limit must be at least 1")
    return min(limit, maximum)


def query_text(request: HttpRequest, name: str) -> str | None:
    """An optional text query parameter, refused if its percent-encoding is not UTF-8."""
    value = _query_value(request, name)
    refuse_lenient_decoding(request, name, value)
    return value


def query_flag(request: HttpRequest, name: str) -> bool:
    """An optional ``true``/``false`` query parameter (absent: false)."""
    raw = _query_value(request, name)
    if raw is None or raw == "false":
        return False
    if raw == "true":
        return True
    raise InvalidRequest(f"{name} must be true or false")


def refuse_params(request: HttpRequest, names: tuple[str, ...], why: str) -> None:
    """Refuse query parameters a call does not take where ignoring them would do something else
    than the client meant (a delete that would quietly ignore its filter)."""
    given = [name for name in names if _query_value(request, name) is not None]
    if given:
        raise InvalidRequest(f"{', '.join(given)} cannot be given here: {why}")


def path_lease_id(text: str) -> int:
    """A lease id written in a path: ASCII digits only, 1 to MAX_LEASE_ID."""
    number = parse_whole_number(text)
    if number is None or not 1 <= number <= MAX_LEASE_ID:
        raise InvalidRequest(f"a lease id in a path is a whole number from 1 to {MAX_LEASE_ID}")
    return number


def strict_path_key(request: HttpRequest, key: str) -> str:
    """Refuse a key whose percent-encoding is not UTF-8 instead of storing U+FFFD in its place.

    ASGI servers decode the path leniently; the raw path tells what the client really sent.
    """
    raw_path = getattr(request, "scope", {}).get("raw_path")
    if raw_path and "\ufffd" in key:
        try:
            unquote_to_bytes(raw_path).decode("utf-8")
        except UnicodeDecodeError:
            raise InvalidKey("key is not valid UTF-8 (check its percent-encoding)") from None
    return key


def refuse_lenient_decoding(request: HttpRequest, name: str, value: str | None) -> None:
    """Refuse a parameter whose percent-encoding is not UTF-8, as ``strict_path_key`` does a key.

    QueryDict decodes leniently (U+FFFD for bad bytes), so only a value holding U+FFFD needs
    the raw query string read again; a real U+FFFD, sent as %EF%BF%BD, passes.
    """
    if value is not None and "\ufffd" in value:
        query = request.META.get("QUERY_STRING", "")
        for field, raw in parse_qsl(query, keep_blank_values=True, errors="surrogateescape"):
            if field == name and not _is_utf8(raw):
                raise InvalidRequest(f"{name} is not valid UTF-8 (check its percent-encoding)")


def _is_utf8(text: str) -> bool:
    """False if ``text`` holds bytes that were not UTF-8 (decoded with ``surrogateescape``)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError:
        return False
    return True


def _query_value(request: HttpRequest, name: str) -> str | None:
    """A query parameter's (last) value, or None. Most GETs and PUTs of a key have no query
    string at all, and building ``request.GET`` (a QueryDict) for them would cost more than
    the lookup, so every reader here goes through this."""
    if not request.META.get("QUERY_STRING"):
        return None
    return request.GET.get(name)
