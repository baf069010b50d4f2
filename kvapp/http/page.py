"""The admin-style web page at ``GET /``: a template shell; ``kvapp/static/kvapp/*.js`` does the work.

The page carries no data. Its script reads pairs through the JSON API and follows the watch
socket, so the page itself needs no token (the script asks for one when the API says 401)
and a browser shows exactly what the CLI would.
"""

from __future__ import annotations

from asgiref.sync import sync_to_async
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.urls import reverse

from kvapp.conf import kv_settings
from kvapp.http.guard import page_view
from kvapp.http.origins import SAFE_METHODS

PAGE_SIZE = 50  # pairs per page; the script never asks for more
TEMPLATE = "kvapp/index.html"
HTML = "text/html; charset=utf-8"


def content_security_policy(host: str) -> str:
    """Only this origin's scripts, styles and sockets; no inline script, no framing."""
    return "; ".join(
        [
            "default-src 'none'",
            "script-src 'self'",
            "style-src 'self'",
            "img-src 'self'",
            # 'self' covers ws(s) to the same host in CSP3 browsers; the explicit ones help older ones.
            f"connect-src 'self' ws://{host} wss://{host}",
            "form-action 'self'",
            "base-uri 'none'",
            "frame-ancestors 'none'",
        ]
    )


@page_view(*SAFE_METHODS)
async def index(request: HttpRequest) -> HttpResponse:
    """``GET /``: the page shell with the API and watch URLs the script should use."""
    context = {
        "api_list_url": reverse("kv-list"),
        "txn_url": reverse("txn"),
        "leases_url": reverse("leases"),
        "history_url": reverse("history-empty"),  # the script appends the encoded key
        "watch_path": "/ws/watch",
        "page_size": PAGE_SIZE,
        "lease_max_ttl": kv_settings().lease_max_ttl,
    }
    # The first render reads the template from disk: keep that off the event loop.
    html = await sync_to_async(render_to_string, thread_sensitive=False)(TEMPLATE, context)
    response = HttpResponse(html, content_type=HTML)
    response["Content-Security-Policy"] = content_security_policy(request.get_host())
    response["Cache-Control"] = "no-cache"
    return response
