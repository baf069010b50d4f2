"""The websocket counterpart of ``kvapp.http.fallback``: unknown paths are a 404, not a crash.

Channels' URLRouter raises for a path no route takes, which servers turn into a handshake
ending in HTTP 500 and a traceback in the log. A client that mistyped the watch URL gets
instead what a refused watch gets: one error frame, then close code 4000 + 404.
"""

from __future__ import annotations

from channels.generic.websocket import AsyncJsonWebsocketConsumer

from kvapp.consumers import CLOSE_CODE_BASE

CLOSE_NOT_FOUND = CLOSE_CODE_BASE + 404  # as a refused watch closes: 4000 + the HTTP status


class UnknownPathConsumer(AsyncJsonWebsocketConsumer):
    """Takes every websocket path the routes before it did not."""

    async def connect(self) -> None:
        """Called on the handshake: accept only to say why, then close."""
        await self.accept()
        await self.send_json({"type": "error", "error": f"no such path: {self.scope['path']}"})
        await self.close(code=CLOSE_NOT_FOUND)
