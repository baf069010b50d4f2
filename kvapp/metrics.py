"""Prometheus metrics, through prometheus-client's default registry (process metrics included)."""

from __future__ import annotations

from functools import cache

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
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})
WATCHERS = Gauge("kv_watchers", "Open watch websockets in this process")


@cache
def _request_counter(route: str, method: str, status: int) -> Counter:
    """The labelled child; ``labels()`` re-validates and locks on every call, a few µs per request."""
    return REQUESTS.labels(route, method, str(status))


@cache
def _latency_histogram(route: str) -> Histogram:
    """The labelled child, cached for the same reason."""
    return LATENCY.labels(route)


def observe(route: str, method: str, status: int, seconds: float) -> None:
    """Record one answered request."""
    # The method is the client's word: an unknown one must not mint a new label per request.
    _request_counter(route, method if method in KNOWN_METHODS else "OTHER", status).inc()
    _latency_histogram(route).observe(seconds)
