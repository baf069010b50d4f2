"""What the kvstore server says on the watch socket beyond events: its close codes.

Written out here rather than imported from the server: kvcli talks to kvstore over the wire
only and never imports ``kvapp`` (the server keeps its own copy). Modelled on httpie's
``ExitStatus``: an ``IntEnum``, so a code compares equal to the plain int websockets reports.
"""

from __future__ import annotations

from enum import IntEnum


class CloseCode(IntEnum):
    """Close codes of a watch socket; a refused watch closes with 4000 + the HTTP status of its failure."""

    BAD_REQUEST = 4400  # bad prefix or after: retrying sends the same request
    UNAUTHORIZED = 4401  # missing or wrong token
    NOT_FOUND = 4404  # no websocket at that path
    TOO_SLOW = 4408  # the watcher stopped reading; resuming with after=<last revision> loses nothing
    COMPACTED = 4410  # the events after ``after`` are no longer retained
    TOO_MANY = 4429  # the server's watcher limit is reached
    UNAVAILABLE = 4503  # the backend is down or the server stopping: try again later
