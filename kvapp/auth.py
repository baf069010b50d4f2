"""The bearer token: one check for every HTTP route and the watch socket.

Both the views (``kvapp.http.guard``) and the watch consumer call ``check_token``, so the
scheme, the encoding and the constant-time comparison are written once.
"""

from __future__ import annotations

import hmac

from kvapp.conf import kv_settings
from kvapp.errors import Unauthorized


def check_token(authorization: str | None, query_token: str | None = None) -> None:
    """Raise Unauthorized unless no token is configured or one of the offered ones matches.

    ``authorization`` is the header as Django's META holds it (the bytes decoded as latin-1);
    ``query_token`` is already text (the socket's ``?token=``, percent-decoded as UTF-8).
    """
    expected = kv_settings().token
    if not expected:
        return
    offered = _bearer_credentials(authorization)
    if offered is None:
        offered = (query_token or "").encode("utf-8", "surrogateescape")
    # compare_digest: the time taken must not reveal how many leading characters matched.
    if not hmac.compare_digest(offered, expected.encode("utf-8", "surrogateescape")):
        raise Unauthorized("a valid token is required: send Authorization: Bearer <token>")


def _bearer_credentials(authorization: str | None) -> bytes | None:
    """The credentials of a ``Bearer`` header as the bytes the client sent; None for other schemes."""
    if not authorization:
        return None
    scheme, _, credentials = authorization.partition(" ")
    if scheme.lower() != "bearer":  # RFC 9110 11.1: the scheme is case-insensitive
        return None
    # Strip only what HTTP calls whitespace: str.strip() would also take a latin-1 \xa0 or \x85,
    # the last byte of a UTF-8 "à" or "Å".
    credentials = credentials.strip(" \t")
    # Undo the latin-1 decoding: a non-ASCII token arrives as the client's UTF-8 bytes.
    # ("replace" only for text that never came off the wire; it then matches nothing.)
    return credentials.encode("latin-1", "replace")
