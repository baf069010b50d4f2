"""Serves the page's CSS and JS at STATIC_URL from the apps' ``static/`` dirs, whatever DEBUG says.

Django serves static files only under ``runserver`` with DEBUG on; kvstore is meant to run
under plain daphne or uvicorn with DEBUG off and no web server in front, and has a handful
of small files. Rejected alternatives: whitenoise's middleware is sync-only (a thread hop on
every API request, the hot path) and ``django.views.static.serve`` is a sync view that
needs ``collectstatic`` first. This async view finds files with the staticfiles finders
(which refuse paths outside the static dirs) and reads them in a worker thread, again only
when a file's modification time or size changed.
"""

from __future__ import annotations

import asyncio
import hashlib
import mimetypes
import os
import stat
from dataclasses import dataclass
from pathlib import Path

from django.conf import settings
from django.contrib.staticfiles import finders
from django.core.exceptions import SuspiciousFileOperation
from django.http import Http404, HttpRequest, HttpResponse
from django.urls import URLPattern, path
from django.utils.cache import get_conditional_response
from django.utils.http import http_date

from kvapp.http.guard import page_view
from kvapp.http.origins import SAFE_METHODS

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


# Each file read and hashed once per version of it, keyed by its path: (mtime, size, Asset).
_loaded: dict[str, tuple[int, int, Asset]] = {}


def load_asset(name: str) -> Asset | None:
    """Find ``name`` and read it unless it is unchanged since last time (blocking: call it in a
    thread); None if there is no such file."""
    try:
        found = finders.find(name)
    except SuspiciousFileOperation:
        return None  # a path climbing out of the static dirs
    if not isinstance(found, str):
        return None
    try:
        status = os.stat(found)
    except OSError:
        return None
    if not stat.S_ISREG(status.st_mode):
        return None
    cached = _loaded.get(found)
    if cached is not None and cached[:2] == (status.st_mtime_ns, status.st_size):
        return cached[2]
    file = Path(found)
    body = file.read_bytes()
    content_type = CONTENT_TYPES.get(file.suffix) or mimetypes.guess_type(file.name)[0] or FALLBACK_TYPE
    etag = '"' + hashlib.sha256(body).hexdigest()[:32] + '"'
    asset = Asset(body, content_type, etag, status.st_mtime)
    _loaded[found] = (status.st_mtime_ns, status.st_size, asset)
    return asset


@page_view(*SAFE_METHODS)
async def static_file(request: HttpRequest, name: str) -> HttpResponse:
    """``GET STATIC_URL<name>``: the file, 304 when the browser's copy is current, else 404."""
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
    return response


def routes() -> list[URLPattern]:
    """The route for STATIC_URL, or none when STATIC_URL points at another server."""
    prefix = settings.STATIC_URL or ""
    if "://" in prefix or prefix.startswith("//"):
        return []
    return [path(prefix.strip("/") + "/<path:name>", static_file, name="static-file")]
