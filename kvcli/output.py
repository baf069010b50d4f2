"""How pairs and events are printed: one readable line each, quoted so nothing is ambiguous."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

# Characters that keep a key from printing bare: quotes (a bare key must never look quoted),
# "=" (it separates key from value), and the backslash (a quoted key's escape character).
_NEEDS_QUOTES = frozenset("\"'=\\")


def quote_value(value: str) -> str:
    """A value as a JSON string: newlines, quotes, "" and invisible characters stay visible on one line."""
    quoted = json.dumps(value, ensure_ascii=False)
    if quoted.isprintable():  # the common case, checked in C
        return quoted
    # JSON escapes only control characters; zero-width, format, line-separator and C1 characters
    # would print as nothing (or move the cursor), so they get their JSON escape too.
    return "".join(char if char.isprintable() else json.dumps(char)[1:-1] for char in quoted)


def format_key(key: str) -> str:
    """``app/db/host`` as it is; any other key quoted exactly as values are (``"a key"``)."""
    return key if _is_plain(key) else quote_value(key)


def _is_plain(key: str) -> bool:
    """Whether ``key`` reads unambiguously bare: no space, quote, ``=``, backslash or invisible character.

    Unicode counts too: no-break and other spaces, zero-width and other format characters
    (``str.isprintable`` is false for them), and a leading combining mark, which would join
    the space before it.
    """
    return (
        bool(key)
        and not unicodedata.category(key[0]).startswith("M")
        and all(char.isprintable() and not char.isspace() and char not in _NEEDS_QUOTES for char in key)
    )


def format_pair(pair: dict[str, Any]) -> str:
    """``key = "value"``, the key quoted when it needs it."""
    return f"{format_key(str(pair.get('key')))} = {quote_value(str(pair.get('value')))}"


def format_deleted(answer: dict[str, Any]) -> str:
    """``app/x (rev 13)``: what a delete confirmation and a delete event say."""
    return f"{format_key(str(answer.get('key')))} (rev {answer.get('revision')})"


def format_event(event: dict[str, Any]) -> str:
    """``put app/x = "v" (rev 12)`` or ``delete app/x (rev 13)``."""
    if event.get("type") == "delete":
        return f"delete {format_deleted(event)}"
    return f"put {format_pair(event)} (rev {event.get('revision')})"
