"""Websocket routes: the watch socket, and a 404 for any other path.

Channels' URLRouter raises for a path no route takes, which servers turn into a handshake
ending in HTTP 500 and a traceback in the log. A client that mistyped the watch URL gets
instead what a refused watch gets: one error frame, then close code 4404 (the websocket
counterpart of ``kvapp.http.fallback``).
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer
from django.urls import path, re_path

from kvapp.watch.consumer import WatchConsumer
from kvapp.watch.protocol import CloseCode, accepted_subprotocol


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Takes every websocket path the routes before it did not."""

    async def connect(self) -> None:
        """Called on the handshake: accept only to say why, then close (a browser that offered the page's
        subprotocols fails a handshake that names none, and would never see why)."""
        await self.accept(accepted_subprotocol(self.scope.get("subprotocols") or ()))
        await self.send_json({"type": "error", "error": f"no such path: {self.scope['path']}"})
        await self.close(code=int(CloseCode.NOT_FOUND))  # autobahn refuses an int subclass


websocket_urlpatterns = [
    path("ws/watch", WatchConsumer.as_asgi()),
    re_path("", UnknownPathConsumer.as_asgi()),  # last: whatever the routes above did not take
]
