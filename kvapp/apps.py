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
        """Called once Django is set up: register checks, connect the store to the watch, and the
        settings-cache reset.

        The store is *not* opened here: management commands (and runserver's reloader
        parent) load apps too, and must not take the data file's lock.
        """
        from kvapp import backend, checks  # noqa: F401 - checks registers the system checks
        from kvapp.http.metrics import counting_expiries
        from kvapp.watch.broadcast import publish_events

        # Every store installed from now on feeds the watch, and the expiry counter on the way.
        backend.set_publisher(counting_expiries(publish_events))
        setting_changed.connect(_clear_settings_cache)


def _clear_settings_cache(*, setting: str, **kwargs: Any) -> None:
    """Called when a test overrides a setting: the one place every cache of settings is dropped."""
    from kvapp.conf import kv_settings, url_settings
    from kvapp.http import hosts, origins
    from kvapp.server.middleware import forget_learned

    kv_settings.cache_clear()
    url_settings.cache_clear()
    hosts.forget_verdicts(setting)
    origins.forget_verdicts(setting)
    forget_learned()
