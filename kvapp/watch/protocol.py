"""The watch socket's close codes: one IntEnum, the server's half of the protocol.

A refused or ended watch closes with 4000 + the HTTP status its failure would have had
(``kvapp.errors.status_for``), so a client reads them like HTTP statuses. ``kvcli`` keeps
its own mirror of this enum: it talks to the server over the wire and imports no kvapp.
"""

from __future__ import annotations

from enum import IntEnum

from kvapp.errors import SERVER_ERROR, status_for
from kvapp.store.errors import KVError

CLOSE_CODE_BASE = 4000  # a refused watch closes with 4000 + the HTTP status of its failure


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
