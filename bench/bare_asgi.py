"""The ceiling: a bare ASGI app answering a fixed JSON body, run under the same server as kvstore.

Whatever kvstore does per request costs time on top of this; the benchmark reports
kvstore's throughput as a fraction of it, which cancels out the machine and the server.
"""

from __future__ import annotations

from typing import Any

BODY = b'{"key":"bench/0000000001","value":"0123456789abcdef","revision":1,"created":1}'
HEADERS = [
    (b"content-type", b"application/json; charset=utf-8"),
    (b"content-length", str(len(BODY)).encode()),
]


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    """Answer every HTTP request with ``BODY`` after reading its body, like a real handler."""
    if scope["type"] == "lifespan":
        while (await receive())["type"] != "lifespan.shutdown":
            await send({"type": "lifespan.startup.complete"})
        await send({"type": "lifespan.shutdown.complete"})
        return
    more_body = True
    while more_body:
        message = await receive()
        more_body = message.get("more_body", False)
    await send({"type": "http.response.start", "status": 200, "headers": HEADERS})
    await send({"type": "http.response.body", "body": BODY})
