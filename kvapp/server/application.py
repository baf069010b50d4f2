"""The composition of kvstore's ASGI application, importable without opening the store."""

from __future__ import annotations

from typing import Any

from channels.routing import ProtocolTypeRouter, URLRouter

from kvapp.server.fastpath import FastPathHandler
from kvapp.watch.origin import BrowserOriginValidator
from kvapp.watch.routing import websocket_urlpatterns


def build_application(http_application: Any) -> ProtocolTypeRouter:
    """HTTP through the lean path for kv views (``http_application`` for the rest); websockets
    through the Origin check to the consumers."""
    return ProtocolTypeRouter(
        {
            "http": FastPathHandler(http_application),
            "websocket": BrowserOriginValidator(URLRouter(websocket_urlpatterns)),
        }
    )
