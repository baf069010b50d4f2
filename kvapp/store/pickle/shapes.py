"""The shapes and types a snapshot's pairs and events and a journal's records must have.

The safe loader guarantees only plain data; a hand-written or damaged file can still hold
``(['list'], 'notint', None)`` where a pair belongs, and the server would then answer
``"revision": "notint"`` or fail every listing (issue #15.4). These checks run at load and
raise ValueError saying what is wrong; the caller names the file.
"""

from __future__ import annotations

import itertools
from typing import Any

from kvapp.store.base import Event

EVENT_FIELDS = 6  # (revision, type, key, value, created, prev): format 1's event tuple
PAIR_FIELDS = 3  # (value, revision, created): format 1's pair tuple
_PAIR_SHAPE = "(value: str, revision: int, created: int) with 1 <= created <= revision"


def event(fields: Any) -> Event:
    """The Event a snapshot's or journal record's tuple stands for; ValueError if it is not one."""
    if type(fields) is not tuple or len(fields) != EVENT_FIELDS:
        raise ValueError(f"an event must be a tuple of {EVENT_FIELDS} fields, not {_show(fields)}")
    revision, kind, key, value, created, prev = fields
    if type(revision) is not int or revision < 1 or type(key) is not str:
        raise ValueError(f"event {_show(fields)} needs a revision >= 1 and a str key")
    if kind == "put":
        well_formed = type(value) is str and type(created) is int and 1 <= created <= revision
        well_formed = well_formed and (prev is None or type(prev) is str)
    elif kind == "delete":
        well_formed = value is None and created is None and type(prev) is str
    else:
        well_formed = False
    if not well_formed:
        raise ValueError(
            f"event {_show(fields)} is neither a put (value: str, 1 <= created <= revision, prev: str or None) "
            "nor a delete (value and created None, prev: the removed str)"
        )
    return Event(*fields)


def events(items: Any, revision: int) -> list[Event]:
    """A snapshot's retained events: well-formed, consecutive, and ending at its ``revision``."""
    if type(items) is not list:
        raise ValueError(f"events must be a list, not {_show(items)}")
    checked = [event(fields) for fields in items]
    for before, after in itertools.pairwise(checked):
        if after.revision != before.revision + 1:
            raise ValueError(f"events jump from revision {before.revision} to {after.revision}")
    if checked and checked[-1].revision != revision:
        raise ValueError(f"the last event is at revision {checked[-1].revision}, the snapshot at {revision}")
    return checked


def revision(value: Any) -> int:
    """A snapshot's revision: a whole number >= 0."""
    if type(value) is not int or value < 0:
        raise ValueError(f"the revision must be a whole number >= 0, not {_show(value)}")
    return value


def pairs(table: Any, revision: int) -> dict[str, tuple[str, int, int]]:
    """A snapshot's pairs: str keys to (value, revision, created), none past the snapshot's ``revision``.

    One plain loop: it beat every combination of C-level passes (``map``/``set``/``zip``)
    that checks as much, since each of those walks the million pairs again.
    """
    if type(table) is not dict:
        raise ValueError(f"pairs must be a dict, not {_show(table)}")
    for key, entry in table.items():
        if type(key) is not str or type(entry) is not tuple or len(entry) != PAIR_FIELDS:
            raise ValueError(f"pair {_show(key)}: {_show(entry)} is not a str key to a tuple {_PAIR_SHAPE}")
        value, modified, created = entry
        types_right = type(value) is str and type(modified) is int and type(created) is int
        if not types_right or not 1 <= created <= modified <= revision:
            raise ValueError(f"pair {_show(key)}: {_show(entry)} is not {_PAIR_SHAPE} <= {revision}")
    if "" in table:
        raise ValueError("a pair has an empty key")
    return table


def _show(value: Any) -> str:
    """A short repr for a message: a damaged file may hold a huge value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."
