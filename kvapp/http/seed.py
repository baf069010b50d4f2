"""The original flask server's routes, kept so its CLI and scripts keep working."""

from __future__ import annotations

from collections.abc import Mapping
from urllib.parse import parse_qsl

from django.http import HttpRequest, HttpResponse

from kvapp.conf import kv_settings
from kvapp.errors import InvalidRequest
from kvapp.http.guard import kv_view
from kvapp.http.responses import json_response, text_response
from kvapp.store import get_store
from kvapp.store.base import MAX_PAGE_SIZE
from kvapp.validation import check_key, check_value


@kv_view("GET", route="seed_get", text_errors=True)
async def seed_get(request: HttpRequest) -> HttpResponse:
    """``GET /get?key=K``: the bare value as text."""
    key = _strict(request.META.get("QUERY_STRING", "")).get("key")
    if not key:
        raise InvalidRequest("the key parameter is required: /get?key=K")
    key = check_key(key, kv_settings().max_key_bytes)
    pair = await get_store().get(key)
    return text_response(pair.value)


@kv_view("POST", route="seed_add", text_errors=True)
async def seed_add(request: HttpRequest) -> HttpResponse:
    """``POST /add?key=K&value=V`` (or the same as a form body)."""
    key, value = _params(request, "key", "value")
    if not key or value is None:
        raise InvalidRequest("key and value are required: /add?key=K&value=V")
    settings = kv_settings()
    key = check_key(key, settings.max_key_bytes)
    value = check_value(value, settings.max_value_bytes)
    await get_store().put(key, value)
    return text_response(f"Successfully added Value - {value} for Key - {key}")


@kv_view("GET", route="seed_get_all")
async def seed_get_all(request: HttpRequest) -> HttpResponse:
    """``GET /get_all``: every pair as one JSON object, read page by page."""
    store = get_store()
    everything: dict[str, str] = {}
    after = None
    while True:
        page = await store.list("", after, MAX_PAGE_SIZE)
        everything.update((pair.key, pair.value) for pair in page.items)
        if page.next is None:
            return json_response(everything)
        after = page.next


def _params(request: HttpRequest, *names: str) -> list[str | None]:
    """Each parameter from the query string, else from a form body (parsed once, only if needed)."""
    query = _strict(request.META.get("QUERY_STRING", ""))
    if all(name in query for name in names):
        return [query[name] for name in names]
    if request.content_type == "application/x-www-form-urlencoded":
        form: Mapping[str, str] = _strict(request.body)
    else:
        form = request.POST
    return [query[name] if name in query else form.get(name) for name in names]


def _strict(encoded: str | bytes) -> dict[str, str]:
    """Decode ``a=1&b=2``, refusing bytes that are not UTF-8.

    Django's QueryDict replaces them with U+FFFD, which would store a different key or value
    than the client sent; the JSON API refuses them too.
    """
    try:
        if isinstance(encoded, bytes):
            encoded = encoded.decode("utf-8")
        return dict(parse_qsl(encoded, keep_blank_values=True, encoding="utf-8", errors="strict"))
    except UnicodeError:
        raise InvalidRequest("parameters are not valid UTF-8 (check their percent-encoding)") from None
