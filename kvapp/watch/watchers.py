"""Who is watching: counts per client address, so limits hold and /healthz can report them."""

from __future__ import annotations

from collections import Counter

_by_client: Counter[str] = Counter()


def watcher_count() -> int:
    """Open watch sockets in this process."""
    return sum(_by_client.values())


def watchers_of(client: str) -> int:
    """Open watch sockets from one client address."""
    return _by_client[client]


def add_watcher(client: str) -> None:
    """Called when a watch request passes its checks, just before the socket is accepted."""
    _by_client[client] += 1


def remove_watcher(client: str) -> None:
    """Called when a counted watch socket ends, however it ends."""
    _by_client[client] -= 1
    if _by_client[client] <= 0:
        del _by_client[client]
