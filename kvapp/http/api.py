"""The JSON API: ``/api/v1/kv/<key>`` and the ``/api/v1/kv`` listing, now or at a past revision."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.inputs import (
    json_object,
    page_limit,
    query_flag,
    query_int,
    query_text,
    query_whole,
    refuse_params,
    strict_path_key,
)
from kvapp.http.responses import json_response
from kvapp.store.base import DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE
from kvapp.store.errors import InvalidKey, InvalidRequest
from kvapp.store.validation import check_key, check_lease_or_ttl, check_revision, check_value

READS = ("GET", "HEAD")  # kv_view lets HEAD in wherever GET is


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_item(request: HttpRequest, key: str = "") -> HttpResponse:
    """Read, write or delete one pair."""
    key = check_key(strict_path_key(request, key), kv_settings().max_key_bytes)
    if request.method in READS:
        pair = await get_store().get(key, query_whole(request, "revision"))
        return json_response(pair.as_dict())
    refuse_params(request, ("revision",), "a write changes the store as it is now (if_revision makes it conditional)")
    if request.method == "PUT":
        return await _put(request, key)
    if_revision = query_int(request, "if_revision")
    revision, prev = await get_store().delete(key, None if if_revision is None else check_revision(if_revision))
    return json_response({"key": key, "revision": revision, "prev": prev})


async def _put(request: HttpRequest, key: str) -> HttpResponse:
    """PUT body ``{"value": str, "if_revision": int?, "lease": id? | "ttl": seconds?}``."""
    body = json_object(request)
    if "value" not in body:
        raise InvalidRequest('body needs a "value" string')
    settings = kv_settings()
    value = check_value(body["value"], settings.max_value_bytes)
    if_revision = body.get("if_revision")
    if if_revision is not None:
        if_revision = check_revision(if_revision)
    lease, ttl = check_lease_or_ttl(body, settings.lease_max_ttl)
    pair, prev = await get_store().put(key, value, if_revision, lease, ttl)
    return json_response({**pair.as_dict(), "prev": prev})


@kv_view("GET", "DELETE", route="kv_list")
async def kv_list(request: HttpRequest) -> HttpResponse:
    """List pairs by prefix, one page at a time (``next`` feeds the following ``after``), or
    DELETE them.

    With ``revision`` the store as it stood then (one snapshot across pages); with ``search``
    only pairs whose key or value holds the text, in pages that may come back short.
    """
    if request.method == "DELETE":
        return await _delete_prefix(request)
    prefix = query_text(request, "prefix") or ""
    after = query_text(request, "after") or None
    search = query_text(request, "search") or None
    limit = page_limit(request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    page = await get_store().list(prefix, after, limit, query_whole(request, "revision"), search)
    items = [pair.as_dict() for pair in page.items]
    return json_response({"items": items, "revision": page.revision, "next": page.next, "count": page.count})


async def _delete_prefix(request: HttpRequest) -> HttpResponse:
    """``DELETE /api/v1/kv?prefix=P&limit=N``: up to N pairs under P as one atomic commit.

    An empty prefix means every key, so it needs ``all=true`` as well: a client that lost
    its prefix variable must not wipe the store.
    """
    refuse_params(request, ("if_revision", "revision", "after", "search"), "a delete by prefix takes prefix and limit")
    prefix = query_text(request, "prefix")
    everything = query_flag(request, "all")
    if prefix is None:
        raise InvalidRequest("prefix is required: DELETE /api/v1/kv?prefix=P (every key: ?prefix=&all=true)")
    if not prefix and not everything:
        raise InvalidRequest("an empty prefix deletes every key; say so with all=true")
    if prefix and everything:
        raise InvalidRequest("all=true deletes every key, so the prefix must be empty")
    limit = page_limit(request, DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE)
    deleted = await get_store().delete_prefix(prefix, limit)
    return json_response({"deleted": deleted.deleted, "revision": deleted.revision, "more": deleted.more})


@kv_view("GET", "PUT", "DELETE", route="kv")
async def kv_empty_key(request: HttpRequest) -> HttpResponse:
    """``/api/v1/kv/`` names the empty key, which is never valid."""
    raise InvalidKey("key must not be empty")
