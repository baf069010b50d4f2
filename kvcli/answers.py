"""What each server answer must hold, checked once on arrival so commands can trust it.

Only the fields the CLI reads are checked, at the top level and one level into a listing's
items: cheap (no walk through values), and enough that no ``None`` or dict from a server
that is not kvstore reaches the output as if it were a stored pair.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from kvcli.errors import BadResponse

Check = Callable[[Any], bool]


def of(*kinds: type) -> Check:
    """A value of one of ``kinds``; never a bool, which JSON keeps apart from numbers."""
    return lambda value: isinstance(value, kinds) and not isinstance(value, bool)


def record(**fields: Check) -> Check:
    """A JSON object holding each of ``fields`` (and maybe more) with a value that passes its check."""
    return lambda value: (
        isinstance(value, dict) and all(name in value and check(value[name]) for name, check in fields.items())
    )


def list_of(item: Check) -> Check:
    """A JSON array whose every element passes ``item``."""
    return lambda value: isinstance(value, list) and all(item(element) for element in value)


def flag(value: Any) -> bool:
    """A JSON true or false."""
    return isinstance(value, bool)


def one_of(*checks: Check) -> Check:
    """A value passing at least one of ``checks``."""
    return lambda value: any(check(value) for check in checks)


def equal_to(expected: str) -> Check:
    """Exactly ``expected``: what tells one kind of item in a list from another."""
    return lambda value: value == expected


NONE = type(None)
NUMBER = of(int, float)

PAIR = record(key=of(str), value=of(str), revision=of(int))  # get, put, and a put event
DELETED = record(key=of(str), revision=of(int))  # delete, and a delete event
LISTING = record(items=list_of(PAIR), next=of(str, NONE), revision=of(int))
COUNTED = record(revision=of(int), count=of(int))  # a one-pair listing read for its count
DELETED_PREFIX = record(deleted=of(int), revision=of(int), more=flag)
TXN = record(
    succeeded=flag,
    revision=of(int),
    responses=list_of(
        one_of(
            record(op=equal_to("put"), key=of(str), value=of(str), revision=of(int)),
            record(op=equal_to("delete"), key=of(str), revision=of(int, NONE)),
            record(op=equal_to("get"), key=of(str), value=of(str, NONE), revision=of(int)),
        )
    ),
)
LEASE = record(id=of(int), ttl=of(int), remaining=NUMBER)  # grant and keepalive
LEASE_SHOWN = record(id=of(int), ttl=of(int), remaining=NUMBER, keys=list_of(of(str)))
LEASES = record(items=list_of(record(id=of(int), ttl=of(int), remaining=NUMBER, keys=of(int))), next=of(int, NONE))
REVOKED = record(id=of(int), revision=of(int), deleted=list_of(of(str)))
HISTORY = record(
    items=list_of(
        one_of(
            record(type=equal_to("put"), value=of(str), revision=of(int)),
            record(type=equal_to("delete"), revision=of(int)),
        )
    ),
    next=of(int, NONE),
    oldest=of(int),
)


def checked(answer: Any, shape: Check, what: str) -> dict[str, Any]:
    """``answer`` if it has ``shape``; BadResponse, saying ``what`` it was, otherwise."""
    if not shape(answer):
        raise BadResponse(f"the server's {what} is not a kvstore answer (is --url a kvstore server?)")
    return answer
