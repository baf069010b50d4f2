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

from kvapp import errors
from kvapp.http.hosts import host_refusal
from kvapp.http.responses import error_response

SAFE_METHODS = ("GET", "HEAD")
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


def without_body_for_head(request: HttpRequest, response: HttpResponse) -> HttpResponse:
    """HEAD gets GET's headers and no body (Django's ASGI handler sends whatever body it is given)."""
    if request.method == "HEAD":
        response.content = b""
    return response


async def index(request: HttpRequest) -> HttpResponse:
    """``GET /``: the page shell with the API and watch URLs the script should use."""
    refusal = host_refusal(request)  # before get_host() below, which would raise and log a traceback
    if refusal is None and request.method not in SAFE_METHODS:
        refusal = errors.MethodNotAllowed(str(request.method), SAFE_METHODS)
    if refusal is not None:
        return without_body_for_head(request, error_response(refusal))
    context = {
        "api_list_url": reverse("kv-list"),
        "watch_path": "/ws/watch",
        "page_size": PAGE_SIZE,
    }
    # The first render reads the template from disk: keep that off the event loop.
    html = await sync_to_async(render_to_string, thread_sensitive=False)(TEMPLATE, context)
    response = HttpResponse(html, content_type=HTML)
    response["Content-Security-Policy"] = content_security_policy(request.get_host())
    response["Cache-Control"] = "no-cache"
    return without_body_for_head(request, response)
