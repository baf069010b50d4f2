"""The one typed accessor for kvstore's settings, so defaults live in exactly one place."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

from django.conf import settings


@dataclass(frozen=True)
class KVSettings:
    """kvstore's view of the Django settings, read once per use."""

    data: str
    backend: str
    token: str
    history: int
    max_key_bytes: int
    max_value_bytes: int
    max_body_bytes: int
    journal_max_bytes: int
    max_watchers: int
    max_watchers_per_client: int


@cache
def kv_settings() -> KVSettings:
    """Read the KV_* settings with their defaults (cached; cleared when tests change settings)."""
    return KVSettings(
        data=str(getattr(settings, "KV_DATA", "store.pickle")),
        backend=getattr(settings, "KV_BACKEND", ""),
        token=getattr(settings, "KV_TOKEN", ""),
        history=getattr(settings, "KV_HISTORY", 10_000),
        max_key_bytes=getattr(settings, "KV_MAX_KEY_BYTES", 1024),
        max_value_bytes=getattr(settings, "KV_MAX_VALUE_BYTES", 1024 * 1024),
        max_body_bytes=getattr(settings, "KV_MAX_BODY_BYTES", 8 * 1024 * 1024),
        journal_max_bytes=getattr(settings, "KV_JOURNAL_MAX_BYTES", 64 * 1024 * 1024),
        max_watchers=getattr(settings, "KV_MAX_WATCHERS", 10_000),
        max_watchers_per_client=getattr(settings, "KV_MAX_WATCHERS_PER_CLIENT", 2_000),
    )
