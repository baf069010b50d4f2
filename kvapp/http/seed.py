"""The original flask server's routes, kept so its CLI and scripts keep working."""

from __future__ import annotations

import base64
import binascii
import contextlib
from collections.abc import Mapping
from io import BytesIO
from urllib.parse import parse_qsl

from django.conf import settings
from django.core.exceptions import TooManyFieldsSent, TooManyFilesSent
from django.http import HttpRequest, HttpResponse
from django.http.multipartparser import FIELD, ChunkIter, LazyStream, MultiPartParserError, Parser

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.responses import json_response, text_response
from kvapp.store.base import MAX_PAGE_SIZE
from kvapp.store.errors import InvalidRequest
from kvapp.store.validation import check_key, check_value

NOT_UTF8 = "parameters are not valid UTF-8 (check their percent-encoding)"


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
    elif request.content_type == "multipart/form-data":
        form = _strict_multipart(request)
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
        raise InvalidRequest(NOT_UTF8) from None


def _strict_multipart(request: HttpRequest) -> Mapping[str, str]:
    """A multipart form's fields (Django's parser), refusing bytes that are not UTF-8.

    Django decodes each field with U+FFFD for bad bytes, so only a form holding U+FFFD is
    walked again, over the raw parts, to tell a real U+FFFD from a replaced byte.
    """
    body = request.body  # first: once POST has read the stream, body is gone
    try:
        form = request.POST
    except MultiPartParserError as exc:
        raise InvalidRequest(f"the multipart body cannot be read: {exc}") from None
    except TooManyFieldsSent:
        raise InvalidRequest(f"the multipart body has over {settings.DATA_UPLOAD_MAX_NUMBER_FIELDS} fields") from None
    except TooManyFilesSent:
        raise InvalidRequest(f"the multipart body has over {settings.DATA_UPLOAD_MAX_NUMBER_FILES} files") from None
    if any("\ufffd" in value for _, values in form.lists() for value in values) and not _fields_decode(request, body):
        raise InvalidRequest(NOT_UTF8)
    return form


def _fields_decode(request: HttpRequest, body: bytes) -> bool:
    """Whether every field of a multipart ``body`` (already parsed once) decodes strictly.

    The parts come from Django's own multipart reader, so they are framed exactly as Django
    framed them when it filled ``request.POST``.
    """
    encoding = request.encoding or settings.DEFAULT_CHARSET
    boundary = request.content_params["boundary"].encode("ascii")
    for item_type, meta, part in Parser(LazyStream(ChunkIter(BytesIO(body))), boundary):
        if item_type != FIELD or "content-disposition" not in meta:
            continue  # Django skips these too (files are not form fields)
        data = part.read()
        if meta.get("content-transfer-encoding", ("",))[0].strip() == "base64":
            with contextlib.suppress(binascii.Error):  # Django keeps the raw text then
                data = base64.b64decode(data)
        try:
            data.decode(encoding)
        except UnicodeDecodeError:
            return False
    return True
