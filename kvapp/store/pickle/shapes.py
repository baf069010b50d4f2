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
EVENT_FIELDS_2 = len(Event._fields)  # ... then lease, reason, time and the replaced pair (format 2)
PAIR_FIELDS = 3  # (value, revision, created): format 1's pair tuple
PAIR_FIELDS_2 = 4  # ... and the lease, for a pair that has one (format 2)
REASONS = (None, "expired", "revoked")
_PAIR_SHAPE = "(value: str, revision: int, created: int[, lease: int >= 1]) with 1 <= created <= revision"


def event(fields: Any) -> Event:
    """The Event a snapshot's or journal record's tuple stands for; ValueError if it is not one."""
    if type(fields) is not tuple or len(fields) not in (EVENT_FIELDS, EVENT_FIELDS_2):
        raise ValueError(f"an event must be a tuple of {EVENT_FIELDS} or {EVENT_FIELDS_2} fields, not {_show(fields)}")
    if len(fields) == EVENT_FIELDS_2:
        _check_format_2_fields(fields)
    revision, kind, key, value, created, prev = fields[:EVENT_FIELDS]
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


def _check_format_2_fields(fields: tuple[Any, ...]) -> None:
    """The fields format 2 adds: lease, a delete's reason, the commit time, the replaced pair."""
    lease, reason, time, *replaced = fields[EVENT_FIELDS:]
    well_formed = type(lease) is int and lease >= 0 and reason in REASONS and (reason is None or fields[1] == "delete")
    well_formed = well_formed and (time is None or type(time) is float)
    well_formed = well_formed and all(number is None or (type(number) is int and number >= 0) for number in replaced)
    if not well_formed:
        raise ValueError(
            f"event {_show(fields)} has a lease, reason, time or replaced pair of the wrong type "
            "(lease: int >= 0, reason: None/expired/revoked, time: float or None, three ints or None)"
        )


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


def pairs(table: Any, revision: int, leased: bool = False) -> dict[str, tuple]:
    """A snapshot's pairs: str keys to (value, revision, created), none past the snapshot's ``revision``;
    with ``leased`` (format 2), a pair may end with its lease id.

    One plain loop: it beat every combination of C-level passes (``map``/``set``/``zip``)
    that checks as much, since each of those walks the million pairs again.
    """
    if type(table) is not dict:
        raise ValueError(f"pairs must be a dict, not {_show(table)}")
    sizes = (PAIR_FIELDS, PAIR_FIELDS_2) if leased else (PAIR_FIELDS,)
    for key, entry in table.items():
        if type(key) is not str or type(entry) is not tuple or len(entry) not in sizes:
            raise ValueError(f"pair {_show(key)}: {_show(entry)} is not a str key to a tuple {_PAIR_SHAPE}")
        value, modified, created = entry[:PAIR_FIELDS]
        types_right = type(value) is str and type(modified) is int and type(created) is int
        if len(entry) == PAIR_FIELDS_2 and (type(entry[3]) is not int or entry[3] < 1):
            types_right = False
        if not types_right or not 1 <= created <= modified <= revision:
            raise ValueError(f"pair {_show(key)}: {_show(entry)} is not {_PAIR_SHAPE} <= {revision}")
    if "" in table:
        raise ValueError("a pair has an empty key")
    return table


def _show(value: Any) -> str:
    """A short repr for a message: a damaged file may hold a huge value."""
    text = repr(value)
    return text if len(text) <= 80 else text[:77] + "..."


def leases(table: Any, lease_seq: Any, pairs: dict[str, tuple]) -> tuple[dict[int, int], int]:
    """Format 2's live leases (id -> TTL), the highest id ever granted, and that every leased pair's
    lease is live."""
    if type(table) is not dict or type(lease_seq) is not int or lease_seq < 0:
        raise ValueError(f"leases must be a dict and lease_seq a whole number, not {_show(table)}, {_show(lease_seq)}")
    for lease, ttl in table.items():
        if type(lease) is not int or type(ttl) is not int or not 0 < lease <= lease_seq or ttl < 1:
            raise ValueError(f"lease {_show(lease)}: {_show(ttl)} is not an id up to {lease_seq} with a TTL >= 1")
    for key, entry in pairs.items():
        if len(entry) == PAIR_FIELDS_2 and entry[3] not in table:
            raise ValueError(f"pair {_show(key)} is attached to lease {entry[3]}, which is not live")
    return table, lease_seq
