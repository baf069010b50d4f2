"""How pairs and events are printed: one readable line each, quoted so nothing is ambiguous."""

from __future__ import annotations

import json
import unicodedata
from datetime import datetime, tzinfo
from typing import Any

# Characters that keep a key from printing bare: quotes (a bare key must never look quoted),
# "=" (it separates key from value), and the backslash (a quoted key's escape character).
_NEEDS_QUOTES = frozenset("\"'=\\")
TIME_WIDTH = len("2026-12-02 08:40:12.345 CET")  # what a history line's time takes, in most zones


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


def revision_note(item: dict[str, Any]) -> str:
    """``(rev 12)``, ``(rev 12, lease 7)`` for a leased pair, ``(rev 13, lease 7 expired)`` for its end."""
    return f"(rev {item.get('revision')}{lease_note(item, ', ')})"


def lease_note(item: dict[str, Any], separator: str) -> str:
    """``lease 7`` (or ``lease 7 expired`` on the delete its end caused) after ``separator``; nothing without one."""
    if "lease" not in item:
        return ""
    reason = f" {item['reason']}" if "reason" in item else ""
    return f"{separator}lease {item['lease']}{reason}"


def format_stored(pair: dict[str, Any]) -> str:
    """``stored app/x = "v" (rev 12)``: a put's confirmation, with the lease the key is under."""
    return f"stored {format_pair(pair)} {revision_note(pair)}"


def format_deleted(answer: dict[str, Any]) -> str:
    """``app/x (rev 13)``: what a delete confirmation and a delete event say."""
    return f"{format_key(str(answer.get('key')))} {revision_note(answer)}"


def format_event(event: dict[str, Any]) -> str:
    """``put app/x = "v" (rev 12)`` or ``delete app/x (rev 13)``."""
    if event.get("type") == "delete":
        return f"delete {format_deleted(event)}"
    return f"put {format_pair(event)} {revision_note(event)}"


def format_txn_response(response: dict[str, Any]) -> str:
    """One op's result: ``put a = "1" (rev 11)``, ``delete b (rev 12)``, ``get c = "x" (rev 5)``.

    A get of an absent key, and a delete that found nothing, say ``get c: not found``.
    """
    op = response.get("op")
    if response.get("revision") in (0, None):  # an absent key: revision 0 (get) or null (delete)
        return f"{op} {format_key(str(response.get('key')))}: not found"
    if op == "delete":
        return f"delete {format_deleted(response)}"
    return f"{op} {format_pair(response)} {revision_note(response)}"


def format_history_item(item: dict[str, Any], tz: tzinfo | None = None) -> str:
    """``    12  2026-12-02 08:40:12.345 CET  put     "v2"``: revision, local time (or ``tz``), type, value."""
    kind = str(item.get("type"))
    parts = [quote_value(str(item.get("value")))] if kind == "put" else []
    if "lease" in item:
        parts.append(f"({lease_note(item, '')})")
    return f"{item.get('revision'):>6}  {format_time(item.get('time'), tz)}  {kind:<6}  {' '.join(parts)}".rstrip()


def format_time(stamp: Any, tz: tzinfo | None = None) -> str:
    """An event's ISO 8601 UTC time in local time (or ``tz``) to the millisecond, with the zone's name."""
    if not isinstance(stamp, str):
        return "(time not kept)".ljust(TIME_WIDTH)  # events from before times were kept carry null
    try:
        moment = datetime.fromisoformat(stamp).astimezone(tz)
    except ValueError:
        return stamp
    return f"{moment:%Y-%m-%d %H:%M:%S}.{moment.microsecond // 1000:03d} {moment.tzname()}"


def format_lease(lease: dict[str, Any]) -> str:
    """``lease 7: ttl 30s, 12.5s left, 2 keys`` (``keys`` is a count in a listing, a list when shown)."""
    keys = lease.get("keys")
    count = len(keys) if isinstance(keys, list) else keys
    left = f"{lease.get('remaining'):.1f}s left"
    return f"lease {lease.get('id')}: ttl {lease.get('ttl')}s, {left}, {plural(count, 'key')}"


def plural(count: Any, noun: str) -> str:
    """``1 key``, ``2 keys``."""
    return f"{count} {noun}{'' if count == 1 else 's'}"
