"""The request metrics expose exactly what prometheus-client's Counter and Histogram would;
transactions, keepalives and expiries are counted, live leases gauged."""

from __future__ import annotations

import json
import re
from pathlib import Path

import prometheus_client.metrics
import pytest
from django.test import AsyncClient
from prometheus_client import REGISTRY, CollectorRegistry, Counter, Histogram, generate_latest

from kvapp.http.metrics import KNOWN_METHODS, LATENCY_BUCKETS, RequestMetrics
from kvapp.store.pickle.store import PickleStore
from tests.support.api import JSON, FakeClock, installed_store

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


# --- transactions and leases ------------------------------------------------------------------


def sample(name: str, **labels: str) -> float:
    """A sample's value in the default registry (0 when it has none yet)."""
    return REGISTRY.get_sample_value(name, labels) or 0.0


async def test_transactions_are_counted_by_outcome(client: AsyncClient, store: PickleStore) -> None:
    before = {outcome: sample("kv_txn_total", outcome=outcome) for outcome in ("succeeded", "failed", "refused")}
    absent = {"key": "k", "target": "value", "op": "==", "value": None}
    for body in ({"compare": [absent]}, {"compare": [{**absent, "value": "x"}]}, {"sucess": []}, "not json"):
        await client.post("/api/v1/txn", data=body if isinstance(body, str) else json.dumps(body), content_type=JSON)
    after = {outcome: sample("kv_txn_total", outcome=outcome) for outcome in before}
    assert {outcome: after[outcome] - before[outcome] for outcome in before} == {
        "succeeded": 1,
        "failed": 1,
        "refused": 2,
    }
    text = (await client.get("/metrics")).content.decode()
    assert 'kv_txn_total{outcome="refused"}' in text


async def test_live_leases_and_keepalives_are_in_the_metrics(client: AsyncClient, store: PickleStore) -> None:
    renewed_before = sample("kv_lease_keepalives_total")
    lease = (await store.grant(60)).id
    await store.grant(60)
    assert (await client.post(f"/api/v1/leases/{lease}/keepalive")).status_code == 200
    assert (await client.post("/api/v1/leases/999/keepalive")).status_code == 404, "not a renewal"
    samples = (await client.get("/metrics")).content.decode().splitlines()
    assert "kv_leases 2.0" in samples
    assert sample("kv_lease_keepalives_total") == renewed_before + 1


async def test_keys_deleted_by_an_expiry_are_counted(tmp_path: Path) -> None:
    clock = FakeClock()
    with installed_store(tmp_path / "store.pickle", clock=clock, reap_interval=None) as store:
        before = sample("kv_lease_expired_keys_total")
        short = (await store.grant(5)).id
        for key in ("a", "b"):
            await store.put(key, "v", lease=short)
        revoked = (await store.grant(5)).id
        await store.put("c", "v", lease=revoked)
        await store.revoke(revoked)  # a revocation is not an expiry
        clock.now += 6
        assert await store.expire_due() == [short]
        assert sample("kv_lease_expired_keys_total") == before + 2
