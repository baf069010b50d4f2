"""A process holding one RedisStore, driven by JSON lines: a stand-in for a server whose routes are missing.

Run as ``python -m tests.e2e.lease_peer REDIS_URL``. Each line on stdin is ``[method, arg...]``,
a call of the store's method; each answer on stdout is ``{"ok": result}`` or
``{"error": exception name}``. ``["published"]`` answers the events this process published
so far (as watch frames). The store runs its reaper, as a server's does, between commands.
"""

from __future__ import annotations

import asyncio
import sys
from collections.abc import Sequence
from typing import Any

import orjson

from kvapp.store.base import Event
from kvapp.store.errors import KVError
from kvapp.store.redis.store import RedisStore


async def serve(url: str) -> None:
    """Answer commands until stdin closes."""
    store = RedisStore(url)
    published: list[dict[str, Any]] = []

    async def publish(events: Sequence[Event]) -> None:
        published.extend(event.as_message() for event in events)

    store.set_publisher(publish)
    loop = asyncio.get_running_loop()
    try:
        await store.revision()  # the first call starts the reaper
        while line := await loop.run_in_executor(None, sys.stdin.readline):
            method, *args = orjson.loads(line)
            try:
                result = list(published) if method == "published" else await getattr(store, method)(*args)
                answer: dict[str, Any] = {"ok": result}
            except KVError as exc:
                answer = {"error": type(exc).__name__}
            sys.stdout.write(orjson.dumps(answer, default=_as_dict).decode() + "\n")
            sys.stdout.flush()
    finally:
        await store.aclose()


def _as_dict(value: Any) -> dict[str, Any]:
    """What orjson cannot encode itself: the store's named tuples (Pair, Event)."""
    if hasattr(value, "_asdict"):
        return value._asdict()
    raise TypeError(f"cannot encode {type(value).__name__}")


if __name__ == "__main__":
    asyncio.run(serve(sys.argv[1]))
