"""The JSON API: ``/api/v1/kv/<key>`` and the ``/api/v1/kv`` listing."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.inputs import json_object, page_limit, query_int, refuse_lenient_decoding, strict_path_key
from kvapp.http.responses import json_response
from kvapp.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kvapp.store.errors import InvalidKey, InvalidRequest
from kvapp.store.validation import check_key, check_revision, check_value

READS = ("GET", "HEAD")  # kv_view lets HEAD in wherever GET is


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_item(request: HttpRequest, key: str = "") -> HttpResponse:
    """Read, write or delete one pair."""
    key = check_key(strict_path_key(request, key), kv_settings().max_key_bytes)
    if request.method in READS:
        pair = await get_store().get(key)
        return json_response(pair.as_dict())
    if request.method == "PUT":
        return await _put(request, key)
    if_revision = query_int(request, "if_revision")
    revision, prev = await get_store().delete(key, None if if_revision is None else check_revision(if_revision))
    return json_response({"key": key, "revision": revision, "prev": prev})


async def _put(request: HttpRequest, key: str) -> HttpResponse:
    """PUT body ``{"value": str, "if_revision": int?}``."""
    body = json_object(request)
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
    refuse_lenient_decoding(request, "prefix", prefix)
    refuse_lenient_decoding(request, "after", after)
    limit = page_limit(request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    page = await get_store().list(prefix, after, limit)
    return json_response(
        {"items": [pair.as_dict() for pair in page.items], "revision": page.revision, "next": page.next}
    )


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_empty_key(request: HttpRequest) -> HttpResponse:
    """``/api/v1/kv/`` names the empty key, which is never valid."""
    raise InvalidKey("key must not be empty")
