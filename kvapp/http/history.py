"""``GET /api/v1/history/<key>``: a key's retained events, newest first, a page at a time.

A route of its own rather than a suffix under ``/api/v1/kv/``, since ``/`` is part of keys.
"""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kvapp.backend import get_store
from kvapp.conf import kv_settings
from kvapp.http.guard import kv_view
from kvapp.http.inputs import page_limit, query_whole, strict_path_key
from kvapp.http.responses import json_response
from kvapp.store.base import DEFAULT_HISTORY_PAGE, MAX_PAGE_SIZE
from kvapp.store.validation import check_key


@kv_view("GET", route="history")
async def history(request: HttpRequest, key: str = "") -> HttpResponse:
    """Events with revision < ``before``; ``next`` is the ``before`` of the following page.

    ``/api/v1/history/`` lands here too, with the empty key, which ``check_key`` refuses.
    """
    key = check_key(strict_path_key(request, key), kv_settings().max_key_bytes)
    before = query_whole(request, "before")
    page = await get_store().history(key, before, page_limit(request, DEFAULT_HISTORY_PAGE, MAX_PAGE_SIZE))
    items = [event.as_history_item() for event in page.items]
    return json_response({"key": page.key, "items": items, "oldest": page.oldest, "next": page.next})
