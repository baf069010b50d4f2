"""What a journal record holds: one unit's entries (events, lease grants and ends) and its time.

A record's payload is the pickle of ``(time, entries)``, each entry a plain tuple: an event
is its fields in ``Event``'s order (it starts with its revision, an int), a grant is
``("grant", id, ttl)`` and an end ``("end", id)``. Plain tuples only, so the restricted
unpickler reads them. Records written before this format hold one event of six fields and
no time.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from kvapp.store.base import Event
from kvapp.store.pickle import shapes

GRANT = "grant"
END = "end"
V1_EVENT_FIELDS = 6  # revision, type, key, value, created, prev


@dataclass(frozen=True)
class LeaseGranted:
    """Lease ``id`` was granted with ``ttl`` seconds."""

    id: int
    ttl: int


@dataclass(frozen=True)
class LeaseEnded:
    """Lease ``id`` was revoked or expired (its keys' deletes come before it in the record)."""

    id: int


Entry = Event | LeaseGranted | LeaseEnded


@dataclass(frozen=True)
class Record:
    """One journal record: a unit's entries and the time of the commit they were part of."""

    time: float | None
    entries: list[Entry]


def payload(time: float, entries: list[Entry]) -> tuple[Any, ...]:
    """What is pickled for one record."""
    return (time, tuple(_as_tuple(entry) for entry in entries))


def from_payload(fields: Any) -> Record:
    """A record back from its unpickled payload; ValueError/TypeError for anything else."""
    if type(fields) is tuple and len(fields) == V1_EVENT_FIELDS and type(fields[0]) is int:
        return Record(None, [_event(fields)])
    if type(fields) is not tuple or len(fields) != 2 or type(fields[1]) is not tuple:
        raise ValueError("a record is (time, entries)")
    time, entries = fields
    if time is not None and type(time) is not float:
        raise ValueError("a record's time must be a float")
    return Record(time, [_entry(entry) for entry in entries])


def _as_tuple(entry: Entry) -> tuple[Any, ...]:
    if isinstance(entry, LeaseGranted):
        return (GRANT, entry.id, entry.ttl)
    if isinstance(entry, LeaseEnded):
        return (END, entry.id)
    return tuple(entry)


def _entry(fields: Any) -> Entry:
    if type(fields) is not tuple or not fields:
        raise ValueError("an entry must be a non-empty tuple")
    if fields[0] == GRANT and len(fields) == 3 and type(fields[1]) is int and type(fields[2]) is int:
        return LeaseGranted(fields[1], fields[2])
    if fields[0] == END and len(fields) == 2 and type(fields[1]) is int:
        return LeaseEnded(fields[1])
    if type(fields[0]) is int and len(fields) == len(Event._fields):
        return _event(fields)
    raise ValueError(f"unknown journal entry {fields[:2]!r}")


def _event(fields: tuple[Any, ...]) -> Event:
    """An Event from its fields, their types checked (a record that unpickles may still lie)."""
    return shapes.event(fields)
