"""Rules every backend applies to keys and values, so no backend can store what another refuses."""

from __future__ import annotations

import re

from kvapp.errors import InvalidKey, InvalidRequest, ValueTooLarge

_CONTROL_CHARACTERS = re.compile(r"[\x00-\x1f\x7f]")
MAX_REVISION = 2**63 - 1  # etcd's int64 revisions; larger is a client bug, not a revision
# Digits a number written in a query may have: far past any revision (19) or page size, and
# far below the 4300 past which int() refuses (ValueError) after spending time on it.
MAX_NUMBER_DIGITS = 64


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


def check_revision(revision: object) -> int:
    """Return ``revision`` if it is a whole number >= 0 (``True`` is not a number here)."""
    if isinstance(revision, bool) or not isinstance(revision, int) or not 0 <= revision <= MAX_REVISION:
        raise InvalidRequest(f'"if_revision" must be a whole number from 0 to {MAX_REVISION}')
    return revision


def parse_whole_number(text: str, *, signed: bool = False) -> int | None:
    """``text`` as an int if it is 1 to MAX_NUMBER_DIGITS ASCII digits, after one ``-`` when
    ``signed``; else None.

    For numbers in query strings: int() also reads "1_0", " 5 ", "+2" and full-width digits.
    """
    digits = text[1:] if signed and text.startswith("-") else text
    if 0 < len(digits) <= MAX_NUMBER_DIGITS and digits.isascii() and digits.isdigit():
        return int(text)
    return None


def _utf8_size(text: str, what: str) -> int:
    """Byte length in UTF-8; lone surrogates (from bad escapes) are not UTF-8 at all."""
    if text.isascii():
        return len(text)
    try:
        return len(text.encode("utf-8"))
    except UnicodeEncodeError:
        raise InvalidRequest(f"{what} is not valid UTF-8") from None
