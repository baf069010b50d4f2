"""Serves the page's CSS and JS at STATIC_URL from the apps' ``static/`` dirs, whatever DEBUG says.

Django serves static files only under ``runserver`` with DEBUG on; kvstore is meant to run
under plain daphne or uvicorn with DEBUG off and no web server in front, and has a handful
of small files. Rejected alternatives: whitenoise's middleware is sync-only (a thread hop on
every API request, the hot path) and ``django.views.static.serve`` is a sync view that
needs ``collectstatic`` first. This async view finds files with the staticfiles finders
(which refuse paths outside the static dirs) and reads them in a worker thread.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from kvapp import errors
from kvapp.http.page import SAFE_METHODS, without_body_for_head
from kvapp.http.responses import error_response

# Explicit types for what the page ships: with nosniff, a wrong guess breaks the page.
CONTENT_TYPES = {
    ".js": "text/javascript; charset=utf-8",
    ".css": "text/css; charset=utf-8",
    ".svg": "image/svg+xml",
    ".png": "image/png",
}
FALLBACK_TYPE = "application/octet-stream"


@dataclass(frozen=True)
class Asset:
    """One static file read from disk, with what a conditional GET needs."""

    body: bytes
    content_type: str
    etag: str
    modified: float  # seconds since the epoch


def load_asset(name: str) -> Asset | None:
    """Find and read ``name`` (blocking: call it in a thread); None if there is no such file."""
    try:
        found = finders.find(name)
    except SuspiciousFileOperation:
        return None  # a path climbing out of the static dirs
    if not isinstance(found, str) or not Path(found).is_file():
        return None
    file = Path(found)
    body = file.read_bytes()
    content_type = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or FALLBACK_TYPE
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    return Asset(body, content_type, etag, file.stat().st_mtime)


async def static_file(request: HttpRequest, name: str) -> HttpResponse:
    """``GET STATIC_URL<name>``: the file, 304 when the browser's copy is current, else 404."""
    if request.method not in SAFE_METHODS:
        return error_response(errors.MethodNotAllowed(str(request.method), SAFE_METHODS))
    asset = await asyncio.to_thread(load_asset, name)
    if asset is None:
        raise Http404(name)
    unchanged = get_conditional_response(request, etag=asset.etag, last_modified=int(asset.modified))
    if unchanged is not None:
        return unchanged
    response = HttpResponse(asset.body, content_type=asset.content_type)
    response["ETag"] = asset.etag
    response["Last-Modified"] = http_date(asset.modified)
    response["Cache-Control"] = "no-cache"  # revalidate each time: a redeploy shows at once
    return without_body_for_head(request, response)


def routes() -> list[URLPattern]:
    """The route for STATIC_URL, or none when STATIC_URL points at another server."""
    prefix = settings.STATIC_URL or ""
    if "://" in prefix or prefix.startswith("//"):
        return []
    return [path(prefix.strip("/") + "/<path:name>", static_file, name="static-file")]
