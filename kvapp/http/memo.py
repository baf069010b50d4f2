"""Bounded memos for per-request answers that depend only on what a client sent.

Header names, header values and Host headers are the client's choice, so a memo of them
must not grow without end. When one is full it is emptied rather than trimmed: the few
keys real traffic repeats are learned again at once, and there is no recency to keep
up on the hit path (an LRU would cost bookkeeping on every request, not only on a miss).
"""

from __future__ import annotations

from typing import TypeVar

K = TypeVar("K")
V = TypeVar("V")


def remember(memo: dict[K, V], key: K, value: V, limit: int) -> V:
    """Called on a miss: keep ``value`` under ``key``, emptying ``memo`` first if it holds ``limit``."""
    if len(memo) >= limit:
        memo.clear()
    memo[key] = value
    return value
