"""The remembered ALLOWED_HOSTS check gives Django's verdicts, and forgets them when settings change."""

from __future__ import annotations

import pytest
from django.core.exceptions import DisallowedHost
from django.test import RequestFactory, override_settings

from kvapp.http import hosts
from kvapp.http.hosts import MAX_REMEMBERED_HOSTS, check_host

FACTORY = RequestFactory()


def request_for(host: str, **extra: str):
    return FACTORY.get("/api/v1/kv/a", HTTP_HOST=host, **extra)


@override_settings(ALLOWED_HOSTS=["kv.example", ".corp.example"])
@pytest.mark.parametrize("host", ["kv.example", "kv.example:8000", "a.corp.example", "KV.EXAMPLE"])
def test_an_allowed_host_passes(host: str) -> None:
    check_host(request_for(host))
    check_host(request_for(host))  # and again, from memory


@override_settings(ALLOWED_HOSTS=["kv.example"])
@pytest.mark.parametrize("host", ["evil.example", "kv.example.evil", "kv.example@evil", ""])
def test_a_foreign_host_is_refused_with_djangos_message_every_time(host: str) -> None:
    with pytest.raises(DisallowedHost) as first:
        request_for(host).get_host()
    for _ in range(2):
        with pytest.raises(DisallowedHost) as refused:
            check_host(request_for(host))
        assert str(refused.value) == str(first.value)


def test_a_settings_change_forgets_the_old_verdicts() -> None:
    with override_settings(ALLOWED_HOSTS=["kv.example"]):
        check_host(request_for("kv.example"))
    with override_settings(ALLOWED_HOSTS=["other.example"]), pytest.raises(DisallowedHost):
        check_host(request_for("kv.example"))


def test_x_forwarded_host_counts_only_when_the_settings_say_so() -> None:
    forwarded = {"HTTP_X_FORWARDED_HOST": "evil.example"}
    with override_settings(ALLOWED_HOSTS=["kv.example"]):
        check_host(request_for("kv.example", **forwarded))
    with override_settings(ALLOWED_HOSTS=["kv.example"], USE_X_FORWARDED_HOST=True):
        check_host(request_for("proxy.internal", HTTP_X_FORWARDED_HOST="kv.example"))
        with pytest.raises(DisallowedHost):
            check_host(request_for("proxy.internal", **forwarded))


@override_settings(ALLOWED_HOSTS=["*"])
def test_memory_stays_bounded_whatever_hosts_clients_send() -> None:
    for number in range(MAX_REMEMBERED_HOSTS * 3):
        check_host(request_for(f"host{number}.example"))
    assert len(hosts._refusals) <= MAX_REMEMBERED_HOSTS
