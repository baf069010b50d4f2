"""The ALLOWED_HOSTS check, remembered per Host header instead of re-parsed per request.

``HttpRequest.get_host()`` splits the header, lower-cases it and walks ALLOWED_HOSTS with
pattern matching on every request, for an answer that only changes when the header or the
settings do (``bench/RESULTS.md``, "Measured micro-costs"). The verdict is Django's own,
cached by the request fields it reads and dropped when a setting changes; the cache is
bounded, because clients choose what they put in Host.
"""

from __future__ import annotations

from typing import Any

from django.core.exceptions import DisallowedHost
from django.http import HttpRequest

from kvapp.http.memo import remember
from kvapp.store.errors import InvalidRequest

MAX_REMEMBERED_HOSTS = 256
REFUSED = "the Host header is not an allowed host"  # what the client is told; the log has Django's reason

# The request fields get_host() reads (X-Forwarded-* only when the settings say so).
_HOST_FIELDS = ("HTTP_X_FORWARDED_HOST", "HTTP_HOST", "SERVER_NAME", "SERVER_PORT", "HTTP_X_FORWARDED_PORT")
_HOST_SETTINGS = frozenset({"ALLOWED_HOSTS", "DEBUG", "USE_X_FORWARDED_HOST", "USE_X_FORWARDED_PORT"})

_refusals: dict[tuple[Any, ...], str | None] = {}


def check_host(request: HttpRequest) -> None:
    """Raise DisallowedHost, with Django's message, unless ALLOWED_HOSTS admits the request's host."""
    meta = request.META
    fields = tuple(meta.get(name) for name in _HOST_FIELDS)
    try:
        refusal = _refusals[fields]
    except KeyError:
        refusal = remember(_refusals, fields, _verdict(request), MAX_REMEMBERED_HOSTS)
    if refusal is not None:
        raise DisallowedHost(refusal)


def host_refusal(request: HttpRequest) -> InvalidRequest | None:
    """The 400 for a request whose host ALLOWED_HOSTS does not admit, for views outside ``kv_view``."""
    try:
        check_host(request)
    except DisallowedHost:
        return InvalidRequest(REFUSED)
    return None


def _verdict(request: HttpRequest) -> str | None:
    """Django's answer: None if allowed, else the reason it gives."""
    try:
        request.get_host()
    except DisallowedHost as exc:
        return str(exc)
    return None


def forget_verdicts(setting: str) -> None:
    """Called when a setting changes (``kvapp.apps``): verdicts under the old hosts no longer hold."""
    if setting in _HOST_SETTINGS:
        _refusals.clear()
