"""Daphne's websocket message size limit, raised to the largest watch event kvstore can send.

Daphne hands its ``--websocket-max-message-size`` (default 1 MiB; for runserver the
``DAPHNE_WEBSOCKET_MAX_MESSAGE_SIZE`` setting) to autobahn, which applies it to the messages
it *sends* as well as to those it receives. A watch event carries a put's value and the value
it replaced, each up to ``KV_MAX_VALUE_BYTES``, and JSON writes a control character as six
bytes: with the default limit one large write closed every watch on it (1011), and every
resume replayed the same event into the same wall, so the watcher never got past it.

Daphne imports the ASGI application before it builds its server, so kvstore raises the
limit it is about to be given, as an operator would with the command-line option. A larger
limit given explicitly is kept, and 0 (no limit) stays 0. Autobahn has one limit for both
directions, so clients may now send messages as large too; the watch socket ignores what
clients send, and uvicorn, kvstore's other server, accepts 16 MiB by default.
"""

from __future__ import annotations

import functools
import logging
import sys
from typing import Any

from kvapp.conf import kv_settings

logger = logging.getLogger(__name__)

JSON_ESCAPE_FACTOR = 6  # a control character becomes \u00XX
EVENT_ENVELOPE_BYTES = 256  # field names, type, revision, created: generous


def largest_watch_event_bytes() -> int:
    """The longest JSON text one watch event can be under the current limits."""
    settings = kv_settings()
    escaped = JSON_ESCAPE_FACTOR * (settings.max_key_bytes + 2 * settings.max_value_bytes)
    return escaped + EVENT_ENVELOPE_BYTES


def raise_daphne_message_limit() -> None:
    """Called once at start-up: let daphne, if it is the server, send the largest watch event.

    Does nothing under other servers (daphne's websocket module is then not loaded).
    """
    ws_protocol = sys.modules.get("daphne.ws_protocol")
    if ws_protocol is not None:
        _raise_limit(ws_protocol.WebSocketFactory, largest_watch_event_bytes())


def _raise_limit(factory_class: Any, needed: int) -> None:
    """Make ``factory_class.setProtocolOptions`` raise a positive message limit below ``needed``."""
    original = getattr(factory_class.setProtocolOptions, "__wrapped__", factory_class.setProtocolOptions)

    @functools.wraps(original)
    def set_protocol_options(self: Any, *args: Any, **options: Any) -> None:
        limit = options.get("maxMessagePayloadSize")
        if limit is not None and 0 < limit < needed:
            logger.info("websocket message limit raised from %d to %d bytes to fit every watch event", limit, needed)
            options["maxMessagePayloadSize"] = needed
        original(self, *args, **options)

    factory_class.setProtocolOptions = set_protocol_options
