"""Prometheus metrics, through prometheus-client's default registry (process metrics included).

Requests, store gauges (read at scrape time), transactions by outcome, lease keepalives and
expiries.

The per-request counter and latency histogram are kept by a collector of our own rather
than by prometheus-client's ``Counter``/``Histogram``: those take a lock and re-validate
on every call, and for a GET that was about a tenth of the server's CPU under load. Every
kv request is answered on the event loop's thread, so plain numbers updated there are
enough; the collector turns them into the same families at scrape time
(``tests/http/test_metrics.py`` compares the exposition with prometheus-client's own classes).
"""

from __future__ import annotations

import time
from bisect import bisect_left
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from itertools import accumulate

from prometheus_client import REGISTRY, Counter, Gauge, disable_created_metrics
from prometheus_client import metrics as prometheus_metrics
from prometheus_client.core import CounterMetricFamily, HistogramMetricFamily, Metric
from prometheus_client.registry import Collector
from prometheus_client.samples import Sample
from prometheus_client.utils import floatToGoString

from kvapp.store.base import EXPIRED, Event, Publisher

LATENCY_BUCKETS = (0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
KNOWN_METHODS = frozenset({"GET", "HEAD", "POST", "PUT", "DELETE", "PATCH", "OPTIONS"})


@dataclass
class _Latencies:
    """One route's histogram: a count per bucket (the last is +Inf), their sum, its birth."""

    counts: list[int]
    total: float = 0.0
    created: float = field(default_factory=time.time)


class RequestMetrics(Collector):
    """``kv_requests_total{route,method,status}`` and ``kv_request_duration_seconds{route}``."""

    def __init__(self) -> None:
        self.upper_bounds = (*LATENCY_BUCKETS, float("inf"))
        self.requests: dict[tuple[str, str, str], int] = {}
        self.requests_created: dict[tuple[str, str, str], float] = {}
        self.latencies: dict[str, _Latencies] = {}

    def observe(self, route: str, method: str, status: int, seconds: float) -> None:
        """Record one answered request (called on the event loop's thread)."""
        # The method is the client's word: an unknown one must not mint a new label per request.
        key = (route, method if method in KNOWN_METHODS else "OTHER", str(status))
        count = self.requests.get(key)
        if count is None:
            self.requests_created[key] = time.time()
            count = 0
        self.requests[key] = count + 1
        latencies = self.latencies.get(route)
        if latencies is None:
            latencies = self.latencies[route] = _Latencies([0] * len(self.upper_bounds))
        latencies.counts[bisect_left(self.upper_bounds, seconds)] += 1  # the first bound >= seconds
        latencies.total += seconds

    def describe(self) -> list[Metric]:
        """The family names, for the registry's duplicate check."""
        return [self._requests_family(), self._latency_family()]

    def collect(self) -> Iterator[Metric]:
        """Called at scrape time; copies first, since a scrape may run beside an update."""
        # Counts before creation times: observe() records a series' time before its count, so
        # every series in this copy of the counts has its time in the later copy.
        counts = list(self.requests.items())
        created = dict(self.requests_created)
        # Read per scrape, as Counter and Histogram do: PROMETHEUS_DISABLE_CREATED_SERIES or
        # disable_created_metrics() drop the _created series.
        with_created = prometheus_metrics._use_created
        requests = self._requests_family()
        for key, count in counts:
            requests.add_metric(key, count, created=created[key] if with_created else None)
        yield requests
        latency = self._latency_family()
        for route, latencies in list(self.latencies.items()):
            cumulative = accumulate(list(latencies.counts))
            buckets = [
                (floatToGoString(bound), count) for bound, count in zip(self.upper_bounds, cumulative, strict=True)
            ]
            latency.add_metric([route], buckets, latencies.total)
            if with_created:
                latency.samples.append(Sample(f"{latency.name}_created", {"route": route}, latencies.created))
        yield latency

    @staticmethod
    def _requests_family() -> CounterMetricFamily:
        return CounterMetricFamily("kv_requests", "HTTP requests answered", labels=["route", "method", "status"])

    @staticmethod
    def _latency_family() -> HistogramMetricFamily:
        return HistogramMetricFamily(
            "kv_request_duration_seconds", "Time from request to response, per route", labels=["route"]
        )


# In the text format Prometheus scrapes, each counter and histogram series has a
# ``_created`` twin: twice the series stored, for a time that resets are already told by
# the counts. Off for every family, ours (collect() reads the switch) and prometheus-client's.
disable_created_metrics()

REQUESTS = RequestMetrics()
REGISTRY.register(REQUESTS)
KEYS = Gauge("kv_keys", "Pairs in the store")
REVISION = Gauge("kv_revision", "Current store revision")
WATCHERS = Gauge("kv_watchers", "Open watch websockets in this process")
LEASES = Gauge("kv_leases", "Live leases")

# Transactions are counted by prometheus-client's own Counter: one per transaction, not
# per request, so its lock is no cost worth a collector of our own.
TXN_OUTCOMES = ("succeeded", "failed", "refused")  # compares held / a compare failed / an error answer
_TXNS = Counter("kv_txn", "Transactions answered, by outcome", ["outcome"])
TXNS = {outcome: _TXNS.labels(outcome) for outcome in TXN_OUTCOMES}  # every outcome shows, from 0
KEEPALIVES = Counter("kv_lease_keepalives", "Keepalives that renewed a live lease, in this process")
# The store publishes the deletes an expiry makes, each with reason "expired"; a lease that
# ends with no keys leaves no event, so the keys are what can be counted here.
EXPIRED_KEYS = Counter("kv_lease_expired_keys", "Keys deleted because their lease ran out, by this process")

observe = REQUESTS.observe


def counting_expiries(publisher: Publisher) -> Publisher:
    """``publisher``, counting the expired keys in each committed batch before passing it on."""

    async def publish(events: Sequence[Event]) -> None:
        expired = sum(1 for event in events if event.reason == EXPIRED)
        if expired:
            EXPIRED_KEYS.inc(expired)
        await publisher(events)

    return publish
