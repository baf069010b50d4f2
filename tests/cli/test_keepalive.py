"""The renewal loop: a third of the TTL apart, outages ridden out, or (for lock) bounded by the TTL."""

from __future__ import annotations

from typing import Any

import pytest

from kvcli.errors import LeaseNotFound, ServerError, ServerUnreachable
from kvcli.keepalive import RETRY_DELAY, KeepAlive, LeaseLapsed, throttled


class FakeTime:
    """A clock that moves only when the loop waits, and a stop event that ends it after ``until`` seconds."""

    def __init__(self, until: float = 1e9) -> None:
        self.now = 0.0
        self.until = until
        self.waits: list[float] = []

    def __call__(self) -> float:
        return self.now

    def is_set(self) -> bool:
        return self.now >= self.until

    def wait(self, seconds: float) -> bool:
        self.waits.append(seconds)
        self.now += seconds
        return self.is_set()


class FakeClient:
    """Answers keepalives from a script: a TTL, or an exception to raise."""

    def __init__(self, *script: int | Exception) -> None:
        self.script = list(script)
        self.calls = 0

    def keepalive(self, lease: int) -> dict[str, Any]:
        self.calls += 1
        step = self.script.pop(0) if len(self.script) > 1 else self.script[0]
        if isinstance(step, Exception):
            raise step
        return {"id": lease, "ttl": step, "remaining": float(step)}


def keep(client: FakeClient, clock: FakeTime, lapse: bool = False) -> tuple[list[dict], list[str]]:
    """Run the loop until the fake stop event fires (or it raises); what it reported."""
    renewed: list[dict] = []
    trouble: list[str] = []
    loop = KeepAlive(client, 7, clock, lapse=lapse, clock=clock)  # type: ignore[arg-type]
    loop.run(renewed.append, trouble.append)
    return renewed, trouble


def test_renewals_come_a_third_of_the_ttl_apart() -> None:
    clock = FakeTime(until=30)
    renewed, trouble = keep(FakeClient(9), clock)
    assert clock.waits == [3.0] * 10
    assert (len(renewed), trouble) == (10, [])


def test_an_outage_is_told_once_and_ridden_out() -> None:
    clock = FakeTime(until=20)
    down = ServerUnreachable("cannot reach the server")
    client = FakeClient(9, down, down, down, ServerError("the server answered 503: busy", 503), 9)
    renewed, trouble = keep(client, clock)
    assert trouble == ["lease 7: renewal failed (cannot reach the server); retrying"]
    assert clock.waits[:6] == [3.0, RETRY_DELAY, RETRY_DELAY, RETRY_DELAY, RETRY_DELAY, 3.0]
    assert len(renewed) >= 2


def test_without_lapse_a_long_outage_waits_for_the_servers_word() -> None:
    clock = FakeTime(until=60)
    keep(FakeClient(3, ServerUnreachable("down")), clock)  # never raises: a restart renews every lease


def test_with_lapse_an_outage_longer_than_the_ttl_ends_it() -> None:
    clock = FakeTime()
    with pytest.raises(LeaseLapsed, match="no renewal of lease 7 got through in time"):
        keep(FakeClient(3, ServerUnreachable("down")), clock, lapse=True)
    assert 3.0 <= clock.now < 3.0 + 2 * RETRY_DELAY  # given up once the TTL from the last renewal passed


def test_a_gone_lease_and_a_4xx_end_it_at_once() -> None:
    with pytest.raises(LeaseNotFound):
        keep(FakeClient(9, LeaseNotFound(7)), FakeTime())
    with pytest.raises(ServerError):
        keep(FakeClient(ServerError("the server answered 400: no", 400)), FakeTime())


def test_throttled_lets_one_call_through_per_interval() -> None:
    clock = FakeTime()
    seen: list[int] = []
    call = throttled(seen.append, 5.0, clock)
    for second in range(12):
        clock.now = float(second)
        call(second)  # type: ignore[arg-type]
    assert seen == [0, 5, 10]
