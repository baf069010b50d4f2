"""The watch socket's wire protocol beyond events: its close codes and its subprotocol.

A refused or ended watch closes with 4000 + the HTTP status its failure would have had
(``kvapp.errors.status_for``), so a client reads them like HTTP statuses. ``kvcli`` keeps
its own mirror of this enum: it talks to the server over the wire and imports no kvapp.

A browser cannot set headers on a websocket, and a token in the URL ends up in access logs,
so the page offers the token as a subprotocol, as Kubernetes does
(``base64url.bearer.authorization.k8s.io.<token>``): it offers ``kvstore`` and
``kvstore.bearer.<base64url(token)>``, and the server accepts with ``kvstore``, never echoing
the one that carries the token (a browser fails a handshake whose answer names a subprotocol
it did not offer, or names none when it offered some).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Iterable
from enum import IntEnum

from kvapp.errors import SERVER_ERROR, status_for
from kvapp.store.errors import KVError

CLOSE_CODE_BASE = 4000  # a refused watch closes with 4000 + the HTTP status of its failure
SUBPROTOCOL = "kvstore"  # the one the server accepts with, when the client offered it
BEARER_SUBPROTOCOL = "kvstore.bearer."  # + the token in base64url without padding


class CloseCode(IntEnum):
    """Why the server closed a watch socket."""

    BAD_REQUEST = CLOSE_CODE_BASE + 400  # malformed prefix, after or progress
    UNAUTHORIZED = CLOSE_CODE_BASE + 401  # the token is missing or wrong
    NOT_FOUND = CLOSE_CODE_BASE + 404  # no websocket route at this path
    TOO_SLOW = CLOSE_CODE_BASE + 408  # the watcher's unsent events passed KV_WATCH_BUFFER_BYTES
    COMPACTED = CLOSE_CODE_BASE + 410  # the events to resume from are no longer retained
    TOO_MANY = CLOSE_CODE_BASE + 429  # the server's or this client's watcher limit
    # "Try again later": daphne (autobahn) can only send 1000 or 3000-4999, not 1013.
    UNAVAILABLE = CLOSE_CODE_BASE + 503


def close_code_for(exc: KVError) -> int:
    """The close code for a failure: 4000 + its HTTP status; UNAVAILABLE for a server fault.

    A plain int, as every close call wants it: autobahn (daphne) refuses an int subclass.
    """
    status = status_for(exc)
    return int(CloseCode.UNAVAILABLE) if status == SERVER_ERROR else CLOSE_CODE_BASE + status


def accepted_subprotocol(offered: Iterable[str]) -> str | None:
    """The subprotocol to accept with: ``kvstore`` if the client offered it, else none."""
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


def offered_token(offered: Iterable[str]) -> str | None:
    """The token a ``kvstore.bearer.`` subprotocol carries, None without one.

    Malformed base64url gives "", which matches no token. The bytes are handed on as text
    the way ``kvapp.auth.check_token`` takes a query token (UTF-8, surrogates for the rest).
    """
    for name in offered:
        if name.startswith(BEARER_SUBPROTOCOL):
            encoded = name[len(BEARER_SUBPROTOCOL) :]
            try:
                raw = base64.urlsafe_b64decode(encoded + "=" * (-len(encoded) % 4))
            except (binascii.Error, ValueError):
                return ""
            return raw.decode("utf-8", "surrogateescape")
    return None
