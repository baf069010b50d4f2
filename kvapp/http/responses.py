"""Response builders, and the one place where store exceptions become HTTP statuses."""

from __future__ import annotations

from typing import Any

import orjson
from django.http import HttpResponse

from kvapp import errors

JSON = "application/json; charset=utf-8"
TEXT = "text/plain; charset=utf-8"

_STATUS: list[tuple[type[errors.KVError], int]] = [
    (errors.InvalidRequest, 400),
    (errors.Unauthorized, 401),
    (errors.KeyNotFound, 404),
    (errors.MethodNotAllowed, 405),
    (errors.RevisionConflict, 409),
    (errors.Compacted, 410),
    (errors.ValueTooLarge, 413),
    (errors.StoreUnavailable, 503),
]


def status_for(exc: errors.KVError) -> int:
    """The HTTP status a store exception means."""
    for kind, status in _STATUS:
        if isinstance(exc, kind):
            return status
    return 500


def json_response(data: Any, status: int = 200) -> HttpResponse:
    """A JSON body (orjson: several times faster than json for the hot path)."""
    return HttpResponse(orjson.dumps(data), status=status, content_type=JSON)


def text_response(text: str, status: int = 200) -> HttpResponse:
    """A text/plain body, as the seed routes answer."""
    return HttpResponse(text, status=status, content_type=TEXT)


def error_response(exc: errors.KVError, *, text: bool = False) -> HttpResponse:
    """The response for a refused request: JSON ``{"error": ...}`` or, for seed routes, text."""
    status = status_for(exc)
    message = str(exc)
    if text:
        response = text_response(message, status)
    else:
        body: dict[str, Any] = {"error": message}
        if isinstance(exc, errors.RevisionConflict):
            body.update(_current_pair(exc))
        response = json_response(body, status)
    if isinstance(exc, errors.MethodNotAllowed):
        response["Allow"] = ", ".join(exc.allowed)
    if isinstance(exc, errors.Unauthorized):
        response["WWW-Authenticate"] = 'Bearer realm="kvstore"'
    return response


def _current_pair(exc: errors.RevisionConflict) -> dict[str, Any]:
    """A 409 carries the pair as it is now; revision 0 and null value when it is absent."""
    if exc.current is not None:
        return exc.current
    return {"key": exc.key, "value": None, "revision": 0, "created": 0}
