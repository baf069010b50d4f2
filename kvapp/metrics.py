"""Prometheus metrics, through prometheus-client's default registry (process metrics included)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

REQUESTS = Counter("kv_requests_total", "HTTP requests answered", ["route", "method", "status"])
LATENCY = Histogram(
    "kv_request_duration_seconds",
    "Time from request to response, per route",
    ["route"],
    buckets=(0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5),
)
KEYS = Gauge("kv_keys", "Pairs in the store")
REVISION = Gauge("kv_revision", "Current store revision")
WATCHERS = Gauge("kv_watchers", "Open watch websockets in this process")


def observe(route: str, method: str, status: int, seconds: float) -> None:
    """Record one answered request."""
    REQUESTS.labels(route, method, str(status)).inc()
    LATENCY.labels(route).observe(seconds)
