"""Operational endpoints: /healthz for load balancers, /metrics for Prometheus."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

from kvapp.backend import get_store
from kvapp.http import metrics
from kvapp.http.guard import kv_view
from kvapp.http.responses import json_response
from kvapp.store.errors import StoreUnavailable
from kvapp.watch import watcher_count


@kv_view("GET", route="healthz")
async def healthz(request: HttpRequest) -> HttpResponse:
    """200 with revision, keys, backend, watchers and live leases; 503 if the backend cannot answer.

    A store that refuses writes (a full disk) is still a 200, with ``"status": "degraded"``
    and the ``reason``: reads and watches are served, and taking the one process out of a
    load balancer, or restarting it, would stop them without freeing any space.
    """
    store = get_store()
    try:
        stats = await store.stats()
    except StoreUnavailable as exc:
        return json_response({"status": "unavailable", "error": str(exc), "backend": store.backend_name}, status=503)
    health = {"status": "ok"} if stats.write_problem is None else {"status": "degraded", "reason": stats.write_problem}
    return json_response(
        {
            **health,
            "revision": stats.revision,
            "keys": stats.keys,
            "backend": stats.backend,
            "watchers": watcher_count(),
            "leases": stats.leases,
        }
    )


@kv_view("GET", route="metrics")
async def prometheus_metrics(request: HttpRequest) -> HttpResponse:
    """Prometheus text format; the store gauges are read at scrape time."""
    try:
        stats = await get_store().stats()
    except StoreUnavailable:
        pass  # the request counters are still worth scraping
    else:
        metrics.KEYS.set(stats.keys)
        metrics.REVISION.set(stats.revision)
        metrics.LEASES.set(stats.leases)
    metrics.WATCHERS.set(watcher_count())
    return HttpResponse(generate_latest(), content_type=CONTENT_TYPE_LATEST)
