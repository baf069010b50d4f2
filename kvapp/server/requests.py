"""The request objects the fast path hands to kv views: Django's ``ASGIRequest``, built cheaper.

``ASGIRequest.__init__`` re-derives, for every request, the META name of every header
(decode, upper-case, replace, format) and reads FORCE_SCRIPT_NAME from settings; those
answers only change with the header name and the settings. ``KVRequest`` remembers the
header names and takes the script name from its caller, and otherwise builds the same
object the same way: ``tests/server/test_requests.py`` compares the two attribute by attribute
over generated scopes.
"""

from __future__ import annotations

from io import BytesIO
from typing import Any

from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest

from kvapp.http.memo import remember

MAX_REMEMBERED_HEADER_NAMES = 512  # clients choose header names: bounded


def _meta_name(header: bytes) -> str | None:
    """Django's META key for a header name; None for names with ``_`` (Django drops them)."""
    name = header.decode("latin1")
    if "_" in name:
        return None  # no spoofing through the ambiguity between _ and -
    if name == "content-length":
        return "CONTENT_LENGTH"
    if name == "content-type":
        return "CONTENT_TYPE"
    return "HTTP_" + name.upper().replace("-", "_")


_META_NAMES: dict[bytes, str | None] = {}


class KVRequest(ASGIRequest):
    """An ``ASGIRequest`` for ``scope`` whose body is already read (``body``)."""

    def __init__(self, scope: dict[str, Any], body: bytes, script_name: str) -> None:
        self.scope = scope
        self._post_parse_error = False
        self._read_started = False
        self.resolver_match = None
        self.path = scope["path"]
        self.script_name = script_name
        self.path_info = self.path.removeprefix(script_name) if script_name else self.path
        self.method = scope["method"].upper()
        query_string = scope.get("query_string", "")
        if isinstance(query_string, bytes):
            query_string = query_string.decode()
        meta: dict[str, Any] = {
            "REQUEST_METHOD": self.method,
            "QUERY_STRING": query_string,
            "SCRIPT_NAME": script_name,
            "PATH_INFO": self.path_info,
            "wsgi.multithread": True,
            "wsgi.multiprocess": True,
        }
        if client := scope.get("client"):
            meta["REMOTE_ADDR"] = meta["REMOTE_HOST"] = client[0]
            meta["REMOTE_PORT"] = client[1]
        if server := scope.get("server"):
            meta["SERVER_NAME"] = server[0]
            meta["SERVER_PORT"] = str(server[1])
        else:
            meta["SERVER_NAME"] = "unknown"
            meta["SERVER_PORT"] = "0"
        for header, raw_value in scope.get("headers", []):
            try:
                name = _META_NAMES[header]
            except KeyError:
                name = remember(_META_NAMES, header, _meta_name(header), MAX_REMEMBERED_HEADER_NAMES)
            if name is None:
                continue
            value = raw_value.decode("latin1")
            # Header keys never clash with the keys above, so one already there was sent
            # before: Django joins repeats with ",".
            meta[name] = f"{meta[name]},{value}" if name in meta else value
        self.META = meta
        self._set_content_type_params(meta)
        self._stream = BytesIO(body)


class OversizedRequest(KVRequest):
    """A request whose body was not kept because it is over the limit.

    Reading ``body`` (or form data) raises RequestDataTooBig exactly as Django does when
    Content-Length announces too much, so the view's own error mapping answers 413.
    """

    @property
    def body(self) -> bytes:
        """Called when the view reads the body; it never gets one."""
        raise RequestDataTooBig("Request body exceeded settings.DATA_UPLOAD_MAX_MEMORY_SIZE.")
