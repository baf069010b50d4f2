"""Django's error handlers, answering JSON so no client ever has to parse an HTML error page."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse

from kvapp.http.guard import page_view
from kvapp.http.responses import json_response


@page_view()
def not_found(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler404: unknown paths; a foreign Host first gets the 400 every route gives it."""
    return json_response({"error": f"no such path: {request.path}"}, status=404)


def bad_request(request: HttpRequest, exception: Exception | None = None) -> HttpResponse:
    """handler400: requests Django itself refuses (bad Host header, malformed input)."""
    return json_response({"error": "bad request"}, status=400)


def server_error(request: HttpRequest) -> HttpResponse:
    """handler500: a bug; the details are in the server log, not in the answer."""
    return json_response({"error": "internal error; see the server log"}, status=500)
