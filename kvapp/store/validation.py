"""The rules for keys, values and revisions, checked before anything reaches a backend.

The HTTP views, the seed routes and the import check every key and value with these, so no
backend is handed (and no backend can store) what another would refuse. The backends
themselves trust their callers and do not check again.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from kvapp.store.errors import InvalidKey, InvalidRequest, ValueTooLarge

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MAX_REVISION = 2**63 - 1  # etcd's int64 revisions; larger is a client bug, not a revision
MAX_LEASE_ID = 2**53 - 1  # lease ids stay exact as JavaScript numbers (API.md: below 2^53)


@dataclass(frozen=True)
class Limits:
    """The size limits a caller enforces (from its settings); the store never reads settings."""

    max_key_bytes: int
    max_value_bytes: int


def check_key(key: object, max_bytes: int) -> str:
    """Return ``key`` if it is a non-empty UTF-8 string within the limit and free of controls."""
    if not isinstance(key, str):
        raise InvalidKey("key must be a string")
    if not key:
        raise InvalidKey("key must not be empty")
    if _CONTROL_CHARACTERS.search(key):
        raise InvalidKey("key must not contain control characters")
    size = _utf8_size(key, "key")
    if size > max_bytes:
        raise InvalidKey(f"key is {size} bytes; the limit is {max_bytes}")
    return key


def check_value(value: object, max_bytes: int) -> str:
    """Return ``value`` if it is a UTF-8 string within the limit (the empty string is fine)."""
    if not isinstance(value, str):
        raise InvalidRequest('"value" must be a string')
    size = _utf8_size(value, "value")
    if size > max_bytes:
        raise ValueTooLarge(f"value is {size} bytes; the limit is {max_bytes}")
    return value


def is_whole_number(value: object) -> bool:
    """A whole number from 0 to the largest revision, as JSON decoded it (``True`` is not one)."""
    return isinstance(value, int) and not isinstance(value, bool) and 0 <= value <= MAX_REVISION


def check_revision(revision: object) -> int:
    """Return ``revision`` if it is a whole number >= 0 (``True`` is not a number here)."""
    if not is_whole_number(revision):
        raise InvalidRequest(f'"if_revision" must be a whole number from 0 to {MAX_REVISION}')
    return revision


def _utf8_size(text: str, what: str) -> int:
    """Byte length in UTF-8; lone surrogates (from bad escapes) are not UTF-8 at all."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} is not valid UTF-8") from None


def check_ttl(ttl: object, max_seconds: int) -> int:
    """Return ``ttl`` if it is a whole number of seconds from 1 to ``max_seconds``."""
    if isinstance(ttl, bool) or not isinstance(ttl, int) or not 1 <= ttl <= max_seconds:
        raise InvalidRequest(f'"ttl" must be a whole number of seconds from 1 to {max_seconds}')
    return ttl


def check_lease(lease: object) -> int:
    """Return the ``"lease"`` of a put if it is 0 (detach the key from its lease) or a lease id."""
    if isinstance(lease, bool) or not isinstance(lease, int) or not 0 <= lease <= MAX_LEASE_ID:
        raise InvalidRequest(f'"lease" must be a lease id from 1 to {MAX_LEASE_ID}, or 0 to detach the key')
    return lease


def check_lease_or_ttl(put: Mapping[str, Any], max_ttl: int) -> tuple[int | None, int | None]:
    """A put's ``lease`` (an existing one; 0 detaches) or ``ttl`` (a new one), not both; null
    counts as left out. One rule for a PUT's body and a transaction's put."""
    lease, ttl = put.get("lease"), put.get("ttl")
    if lease is not None and ttl is not None:
        raise InvalidRequest('give "lease" (an existing lease) or "ttl" (a new one), not both')
    return (None if lease is None else check_lease(lease)), (None if ttl is None else check_ttl(ttl, max_ttl))
