"""How pairs and events are printed: one readable line each, values quoted so nothing is ambiguous."""

from __future__ import annotations

import json
from typing import Any


def quote_value(value: str) -> str:
    """A value as a JSON string: newlines, quotes and the empty string stay visible on one line."""
    return json.dumps(value, ensure_ascii=False)


def format_pair(pair: dict[str, Any]) -> str:
    """``key = "value"`` (keys never hold control characters, so they print as they are)."""
    return f"{pair.get('key')} = {quote_value(str(pair.get('value')))}"


def format_event(event: dict[str, Any]) -> str:
    """``put app/x = "v" (rev 12)`` or ``delete app/x (rev 13)``."""
    if event.get("type") == "delete":
        return f"delete {event.get('key')} (rev {event.get('revision')})"
    return f"put {format_pair(event)} (rev {event.get('revision')})"
