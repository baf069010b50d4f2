"""Websocket Origin checking that refuses foreign pages but admits clients that send no Origin.

Browsers always send ``Origin`` on a websocket handshake, so a foreign Origin is a page on
another site trying to ride the user's access (cross-site websocket hijacking). CLIs and
scripts send none; Channels' ``AllowedHostsOriginValidator`` refuses those too, so this
wrapper lets an absent Origin through and hands every present one to it.
"""

from __future__ import annotations

from typing import Any

from channels.security.websocket import AllowedHostsOriginValidator


class BrowserOriginValidator:
    """ASGI middleware: no Origin header passes; a present one must name an allowed host."""

    def __init__(self, application: Any) -> None:
        self.application = application
        self.validated = AllowedHostsOriginValidator(application)

    async def __call__(self, scope: dict[str, Any], receive: Any, send: Any) -> Any:
        """Called once per websocket connection."""
        if any(name == b"origin" for name, _ in scope.get("headers", [])):
            return await self.validated(scope, receive, send)
        return await self.application(scope, receive, send)
