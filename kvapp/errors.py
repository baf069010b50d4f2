"""Failures outside the store (auth, cross-site writes, HTTP framing, routing, watcher limits),
and the one map from every kvstore exception to its HTTP status; the store's own exceptions
are in ``kvapp.store.errors``."""

from __future__ import annotations

from kvapp.store.errors import (
    Compacted,
    InvalidRequest,
    KeyNotFound,
    KVError,
    LeaseNotFound,
    RevisionConflict,
    StoreFull,
    StoreUnavailable,
    TooManyLeases,
    ValueTooLarge,
)


class Unauthorized(KVError):
    """A token is configured and the request did not present it."""


class CrossSiteWrite(KVError):
    """A browser sent a write from a page on another site (its Origin or Sec-Fetch-Site says so)."""


class MethodNotAllowed(KVError):
    """The route exists but not for this HTTP method."""

    def __init__(self, method: str, allowed: tuple[str, ...]) -> None:
        super().__init__(f"method {method} is not allowed here; use {', '.join(allowed)}")
        self.allowed = allowed


class HostMissing(InvalidRequest):
    """An HTTP/1.1 request without a Host header (RFC 9112 3.2 requires one)."""


class TargetNotAPath(InvalidRequest):
    """The request target is an absolute URI (or ``*``, or an authority) instead of a path."""


class RequestLineTooLong(KVError):
    """The request line (method, target, version) is over the server's limit."""


class HeadersTooLarge(KVError):
    """The request's header fields are over the server's limit, in size or in number."""


class TooManyWatchers(KVError):
    """The server's or this client's watcher limit is reached."""


SERVER_ERROR = 500  # a fault the client cannot fix

_STATUS: list[tuple[type[KVError], int]] = [
    (InvalidRequest, 400),
    (Unauthorized, 401),
    (CrossSiteWrite, 403),
    (KeyNotFound, 404),
    (LeaseNotFound, 404),
    (MethodNotAllowed, 405),
    (RevisionConflict, 409),
    (Compacted, 410),
    (ValueTooLarge, 413),
    (RequestLineTooLong, 414),
    (TooManyWatchers, 429),
    (TooManyLeases, 429),
    (HeadersTooLarge, 431),
    (StoreFull, 507),  # before its base class: Insufficient Storage, writes only
    (StoreUnavailable, 503),
]


def status_for(exc: KVError) -> int:
    """The HTTP status a kvstore exception means (the watch's close code is built from it too)."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return SERVER_ERROR
