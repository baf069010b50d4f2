"""Cross-site writes: a page on another site must not change the store through the user's browser.

kvstore needs no cookie, so a foreign page cannot ride a session; but without a token it
needs nothing at all, and a page can make any visitor's browser send a form POST to
``/add`` or a ``no-cors`` fetch PUT/DELETE to the API. The browser answers the page with
an opaque response, yet the server has already done the write. Browsers say where such a
request comes from: ``Origin`` on every request that is not a GET or HEAD, and
``Sec-Fetch-Site`` on every request. A write carrying either, naming another site, is
refused; clients that send neither (the CLI, curl, scripts) are not browsers and pass.

The Origin's host is judged as the watch socket judges it (Channels'
``AllowedHostsOriginValidator``: ALLOWED_HOSTS patterns, the port not compared), so the
page and its socket are trusted on exactly the same hosts. ``Origin: null`` (sandboxed
frames, ``data:`` pages, some redirects) names no host and is always foreign, even with
ALLOWED_HOSTS ``*``, where Channels would let it through.
"""

from __future__ import annotations

from urllib.parse import urlparse

from channels.security.websocket import AllowedHostsOriginValidator
from django.http import HttpRequest

from kvapp.errors import CrossSiteWrite
from kvapp.http.memo import remember

SAFE_METHODS = ("GET", "HEAD")  # the methods that never change the store
MAX_REMEMBERED_ORIGINS = 256  # clients choose what they put in Origin

_ORIGIN_SETTINGS = frozenset({"ALLOWED_HOSTS", "DEBUG"})  # what AllowedHostsOriginValidator reads

_foreign: dict[str, bool] = {}


def check_same_site(request: HttpRequest) -> None:
    """Raise CrossSiteWrite for a write a browser sent from a page on another site."""
    if request.method in SAFE_METHODS:
        return
    meta = request.META
    if meta.get("HTTP_SEC_FETCH_SITE") == "cross-site":
        raise CrossSiteWrite("a page on another site may not change the store (Sec-Fetch-Site: cross-site)")
    origin = meta.get("HTTP_ORIGIN")
    if origin is None:
        return
    try:
        foreign = _foreign[origin]
    except KeyError:
        foreign = remember(_foreign, origin, _is_foreign(origin), MAX_REMEMBERED_ORIGINS)
    if foreign:
        raise CrossSiteWrite(f"a page on another site may not change the store (Origin: {origin[:100]})")


def _is_foreign(origin: str) -> bool:
    """Whether ``origin`` names no host, or a host the watch socket's Origin check would refuse."""
    try:
        parsed = urlparse(origin)
        host = parsed.hostname
    except ValueError:  # e.g. an unclosed IPv6 bracket
        return True
    if host is None:
        return True
    try:
        return not AllowedHostsOriginValidator(None).valid_origin(parsed)
    except ValueError:  # a port that is not a number, met when a pattern names a scheme
        return True


def forget_verdicts(setting: str) -> None:
    """Called when a setting changes (``kvapp.apps``): verdicts under the old hosts no longer hold."""
    if setting in _ORIGIN_SETTINGS:
        _foreign.clear()
