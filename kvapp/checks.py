"""System checks: bad kvstore settings stop the start with a stable ID, not a runtime surprise."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from django.conf import settings as django_settings
from django.core.checks import Error, Tags, Warning, register

from kvapp.conf import kv_settings
from kvapp.store import uses_redis

EVENT_VALUES = 2  # a put's watch event carries its value and the value it replaced


@register(Tags.compatibility)
def check_kv_settings(app_configs: Any = None, **kwargs: Any) -> list[Error | Warning]:
    """Validate KV_BACKEND and the limits."""
    settings = kv_settings()
    problems: list[Error | Warning] = []
    if uses_redis(settings.backend):
        scheme = urlparse(settings.backend).scheme
        if scheme not in {"redis", "rediss", "unix"}:
            problems.append(
                Error(
                    f"KV_BACKEND={settings.backend!r} is not a redis:// URL",
                    hint="Unset KV_BACKEND for the pickle file, or use redis://HOST:PORT/DB.",
                    id="kvapp.E001",
                )
            )
    if settings.max_body_bytes < settings.max_value_bytes:
        problems.append(
            Error(
                "KV_MAX_BODY_BYTES is smaller than KV_MAX_VALUE_BYTES, so legal values are refused",
                hint="Raise KV_MAX_BODY_BYTES to at least KV_MAX_VALUE_BYTES (6x allows escaped JSON).",
                id="kvapp.E002",
            )
        )
    if settings.watch_buffer_bytes < EVENT_VALUES * settings.max_value_bytes:
        problems.append(
            Warning(
                "KV_WATCH_BUFFER_BYTES is smaller than one put event of the largest values (its value and the one "
                "it replaced), so a watcher with such an event unsent is closed as too slow (4408) by the next one",
                hint=f"Raise KV_WATCH_BUFFER_BYTES to at least {EVENT_VALUES} x KV_MAX_VALUE_BYTES.",
                id="kvapp.W003",
            )
        )
    return problems


@register(Tags.security)
def check_exposure(app_configs: Any = None, **kwargs: Any) -> list[Warning]:
    """Warn about settings that open the store to anyone: no token with any Host, or DEBUG on."""
    problems: list[Warning] = []
    if not kv_settings().token and "*" in django_settings.ALLOWED_HOSTS:
        problems.append(
            Warning(
                "DJANGO_ALLOWED_HOSTS accepts any host and KV_TOKEN is not set: anyone who can reach "
                "the server can read and change every key",
                hint="Set KV_TOKEN, or list the host names this server answers to in DJANGO_ALLOWED_HOSTS.",
                id="kvapp.W001",
            )
        )
    if django_settings.DEBUG:
        problems.append(
            Warning(
                "DJANGO_DEBUG is on: error pages show settings and source code",
                hint="Unset DJANGO_DEBUG outside development.",
                id="kvapp.W002",
            )
        )
    return problems
