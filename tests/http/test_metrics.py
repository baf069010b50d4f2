"""The request metrics expose exactly what prometheus-client's Counter and Histogram would."""

from __future__ import annotations

import re

import prometheus_client.metrics
import pytest
from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest

from kvapp.http.metrics import KNOWN_METHODS, LATENCY_BUCKETS, RequestMetrics

OBSERVATIONS = [
    ("kv", "GET", 200, 0.0001),
    ("kv", "GET", 200, 0.0005),  # on a bound: counted in that bucket
    ("kv", "PUT", 200, 0.0049),
    ("kv", "PUT", 409, 0.3),
    ("kv", "BREW", 405, 0.0),  # an unknown method is OTHER
    ("kv_list", "GET", 200, 3.0),  # past the last bound: +Inf only
    ("healthz", "GET", 503, 0.01),
    ("kv", "GET", 404, 2.5),
]
CREATED = re.compile(r"^(\S+_created(?:\{[^}]*\})?) \S+$", re.MULTILINE)


def exposition(registry: CollectorRegistry) -> str:
    """The text format, creation times masked (the two were created at different moments)."""
    return CREATED.sub(r"\1 <time>", generate_latest(registry).decode())


@pytest.fixture(params=[True, False], ids=["with created series", "without created series"])
def created_series(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """Both answers of PROMETHEUS_DISABLE_CREATED_SERIES, which disable_created_metrics() sets."""
    monkeypatch.setattr(prometheus_client.metrics, "_use_created", request.param)


@pytest.mark.usefixtures("created_series")
def test_the_exposition_is_prometheus_clients_own() -> None:
    theirs = CollectorRegistry()
    counter = Counter("kv_requests", "HTTP requests answered", ["route", "method", "status"], registry=theirs)
    histogram = Histogram(
        "kv_request_duration_seconds",
        "Time from request to response, per route",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=theirs,
    )
    ours = CollectorRegistry()
    collector = RequestMetrics()
    ours.register(collector)
    assert exposition(ours) == exposition(theirs)  # nothing observed yet
    for route, method, status, seconds in OBSERVATIONS:
        collector.observe(route, method, status, seconds)
        counter.labels(route, method if method in KNOWN_METHODS else "OTHER", str(status)).inc()
        histogram.labels(route).observe(seconds)
    assert exposition(ours) == exposition(theirs)
    assert 'kv_requests_total{method="OTHER",route="kv",status="405"} 1.0' in exposition(ours)


def test_creation_times_are_when_a_series_first_appeared(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(prometheus_client.metrics, "_use_created", True)  # kvstore turns them off
    registry = CollectorRegistry()
    collector = RequestMetrics()
    registry.register(collector)
    collector.observe("kv", "GET", 200, 0.001)
    first = generate_latest(registry).decode()
    collector.observe("kv", "GET", 200, 0.001)
    assert CREATED.findall(first) == CREATED.findall(generate_latest(registry).decode())
    assert len(CREATED.findall(first)) == 2  # one counter series, one histogram


async def test_the_metrics_endpoint_exports_no_created_series(client) -> None:
    await client.get("/api/v1/kv/missing")
    await client.put("/api/v1/kv/k", data={"value": "v"}, content_type="application/json")
    text = (await client.get("/metrics")).content.decode()
    assert "kv_requests_total{" in text and "kv_request_duration_seconds_bucket{" in text
    assert "_created" not in text
