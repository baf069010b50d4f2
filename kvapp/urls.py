"""kvstore's HTTP routes (the websocket route is in ``kvapp.watch.routing``)."""

from django.urls import path, register_converter

from kvapp.http import api, assets, history, leases, openapi, ops, page, seed, txn


class AnyKeyConverter:
    """Matches any non-empty key, newlines and slashes included, so validation can explain.

    Django's ``path`` converter stops at a newline, which would turn a bad key into a
    baffling 404 instead of a 400 that says what is wrong.
    """

    regex = r"[\s\S]+"

    def to_python(self, value: str) -> str:
        """Called on the matched path segment."""
        return value

    def to_url(self, value: str) -> str:
        """Called by reverse()."""
        return value


register_converter(AnyKeyConverter, "anykey")

urlpatterns = [
    path("api/v1/openapi.json", openapi.openapi_view, name="openapi"),
    path("api/v1/kv", api.kv_list, name="kv-list"),
    path("api/v1/kv/", api.kv_empty_key, name="kv-empty"),
    path("api/v1/kv/<anykey:key>", api.kv_item, name="kv-item"),
    path("api/v1/history/", history.history, name="history-empty"),
    path("api/v1/history/<anykey:key>", history.history, name="history"),
    path("api/v1/txn", txn.txn, name="txn"),
    path("api/v1/leases", leases.leases, name="leases"),
    path("api/v1/leases/<str:lease_id>", leases.lease, name="lease"),
    path("api/v1/leases/<str:lease_id>/keepalive", leases.keepalive, name="lease-keepalive"),
    path("get", seed.seed_get, name="seed-get"),
    path("add", seed.seed_add, name="seed-add"),
    path("get_all", seed.seed_get_all, name="seed-get-all"),
    path("healthz", ops.healthz, name="healthz"),
    path("metrics", ops.prometheus_metrics, name="metrics"),
    path("", page.index, name="page"),
    *assets.routes(),
]
