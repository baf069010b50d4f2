"""The one typed accessor for kvstore's settings; their defaults (and environment variables) are in
``kvproject/settings.py``, the one place that defines them."""

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
    txn_max_ops: int
    max_leases: int
    lease_max_ttl: int  # seconds
    watch_buffer_bytes: int


@cache
def kv_settings() -> KVSettings:
    """Read the KV_* settings (cached; cleared when tests change settings)."""
    return KVSettings(
        data=str(settings.KV_DATA),
        backend=settings.KV_BACKEND,
        token=settings.KV_TOKEN,
        history=settings.KV_HISTORY,
        max_key_bytes=settings.KV_MAX_KEY_BYTES,
        max_value_bytes=settings.KV_MAX_VALUE_BYTES,
        max_body_bytes=settings.KV_MAX_BODY_BYTES,
        journal_max_bytes=settings.KV_JOURNAL_MAX_BYTES,
        max_watchers=settings.KV_MAX_WATCHERS,
        max_watchers_per_client=settings.KV_MAX_WATCHERS_PER_CLIENT,
        txn_max_ops=settings.KV_TXN_MAX_OPS,
        max_leases=settings.KV_MAX_LEASES,
        lease_max_ttl=settings.KV_LEASE_MAX_TTL,
        watch_buffer_bytes=settings.KV_WATCH_BUFFER_BYTES,
    )


@cache
def url_settings() -> tuple[str | None, str]:
    """FORCE_SCRIPT_NAME and ROOT_URLCONF, which the fast path needs per request (cached like
        ``kv_settings``: reading Django settings costs a lookup chain per read, on every request, for
    values that change only under tests)."""
    return settings.FORCE_SCRIPT_NAME, settings.ROOT_URLCONF
