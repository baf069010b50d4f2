"""App configuration: hooks that must run once per process."""

from __future__ import annotations

from typing import Any

from django.apps import AppConfig
from django.core.signals import setting_changed


class KVAppConfig(AppConfig):
    """kvstore's app."""

    name = "kvapp"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        """Called once Django is set up: register checks and the settings-cache reset.

        The store is *not* opened here: management commands (and runserver's reloader
        parent) load apps too, and must not take the data file's lock.
        """
        from kvapp import checks  # noqa: F401 - registers the system checks

        setting_changed.connect(_clear_settings_cache)


def _clear_settings_cache(**kwargs: Any) -> None:
    """Drop the cached settings when a test overrides settings."""
    from kvapp.conf import kv_settings, url_settings

    kv_settings.cache_clear()
    url_settings.cache_clear()
