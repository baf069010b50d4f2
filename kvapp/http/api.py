"""The JSON API: ``/api/v1/kv/<key>`` and the ``/api/v1/kv`` listing."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, unquote_to_bytes

import orjson
from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.responses import json_response
from kvapp.params import MAX_NUMBER_DIGITS, parse_whole_number
from kvapp.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kvapp.store.errors import InvalidKey, InvalidRequest
from kvapp.store.validation import check_key, check_revision, check_value

READS = ("GET", "HEAD")  # kv_view lets HEAD in wherever GET is
EXPECTED_BODY = '{"value": "..."}'  # what a PUT's refusals tell the client to send


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_item(request: HttpRequest, key: str = "") -> HttpResponse:
    """Read, write or delete one pair."""
    key = check_key(_strict_path_key(request, key), kv_settings().max_key_bytes)
    if request.method in READS:
        pair = await get_store().get(key)
        return json_response(pair.as_dict())
    if request.method == "PUT":
        return await _put(request, key)
    if_revision = _query_int(request, "if_revision")
    revision, prev = await get_store().delete(key, None if if_revision is None else check_revision(if_revision))
    return json_response({"key": key, "revision": revision, "prev": prev})


async def _put(request: HttpRequest, key: str) -> HttpResponse:
    """PUT body ``{"value": str, "if_revision": int?}``."""
    body = _json_object(request)
    if "value" not in body:
        raise InvalidRequest('body needs a "value" string')
    value = check_value(body["value"], kv_settings().max_value_bytes)
    if_revision = body.get("if_revision")
    if if_revision is not None:
        if_revision = check_revision(if_revision)
    pair, prev = await get_store().put(key, value, if_revision)
    return json_response({**pair.as_dict(), "prev": prev})


@kv_view("GET", route="kv_list")
async def kv_list(request: HttpRequest) -> HttpResponse:
    """List pairs by prefix, one page at a time (``next`` feeds the following ``after``)."""
    prefix = request.GET.get("prefix", "")
    after = request.GET.get("after") or None
    _refuse_lenient_decoding(request, "prefix", prefix)
    _refuse_lenient_decoding(request, "after", after)
    limit = _query_int(request, "limit")
    if limit is None:
        limit = DEFAULT_PAGE_SIZE
    elif limit < 1:
        raise InvalidRequest("limit must be at least 1")
    page = await get_store().list(prefix, after, min(limit, MAX_PAGE_SIZE))
    return json_response(
        {"items": [pair.as_dict() for pair in page.items], "revision": page.revision, "next": page.next}
    )


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_empty_key(request: HttpRequest) -> HttpResponse:
    """``/api/v1/kv/`` names the empty key, which is never valid."""
    raise InvalidKey("key must not be empty")


def _strict_path_key(request: HttpRequest, key: str) -> str:
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


def _refuse_lenient_decoding(request: HttpRequest, name: str, value: str | None) -> None:
    """Refuse a parameter whose percent-encoding is not UTF-8, as ``_strict_path_key`` does a key.

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


def _json_object(request: HttpRequest) -> dict[str, Any]:
    """The body as a JSON object, or InvalidRequest saying what is wrong with it."""
    raw = request.body
    if not raw.strip():  # not "invalid JSON": the client sent nothing to parse
        raise InvalidRequest(f"the body is empty; send a JSON object like {EXPECTED_BODY}")
    try:
        body = orjson.loads(raw)
    except orjson.JSONDecodeError:
        raise InvalidRequest("body is not valid JSON") from None
    if not isinstance(body, dict):
        raise InvalidRequest(f"body must be a JSON object like {EXPECTED_BODY}")
    return body


def _query_int(request: HttpRequest, name: str) -> int | None:
    """An optional whole-number query parameter; a negative one is left to the caller to explain."""
    raw = request.GET.get(name)
    if raw is None:
        return None
    number = parse_whole_number(raw, signed=True)
    if number is None:
        raise InvalidRequest(f"{name} must be a whole number (at most {MAX_NUMBER_DIGITS} digits 0-9)")
    return number
