"""System checks: settings that cannot work, or that expose the store, are reported at start."""

from __future__ import annotations

from typing import Any

import pytest
from django.core.checks import run_checks
from django.test import override_settings

from kvapp.checks import check_exposure, check_kv_settings
from tests.support.security import TOKEN


def ids(problems: list) -> list[str]:
    return [problem.id for problem in problems]


@pytest.mark.parametrize("backend", ["", "pickle", "redis://127.0.0.1:6379/0", "rediss://h/1", "unix:///tmp/r.sock"])
def test_a_usable_backend_passes(backend: str) -> None:
    with override_settings(KV_BACKEND=backend):
        assert ids(check_kv_settings()) == []


@pytest.mark.parametrize("backend", ["memcache://127.0.0.1", "postgres://db/kv", "store.pickle"])
def test_a_backend_that_is_not_redis_is_an_error(backend: str) -> None:
    with override_settings(KV_BACKEND=backend):
        assert ids(check_kv_settings()) == ["kvapp.E001"]


@override_settings(KV_MAX_BODY_BYTES=1024, KV_MAX_VALUE_BYTES=4096)
def test_a_body_limit_below_the_value_limit_is_an_error() -> None:
    assert ids(check_kv_settings()) == ["kvapp.E002"]


@pytest.mark.parametrize(("buffer", "expected"), [(2 * 1024 * 1024, []), (2 * 1024 * 1024 - 1, ["kvapp.W003"])])
def test_a_watch_buffer_below_one_event_of_the_largest_values_is_warned_about(buffer: int, expected: list) -> None:
    with override_settings(KV_WATCH_BUFFER_BYTES=buffer, KV_MAX_VALUE_BYTES=1024 * 1024):
        assert ids(check_kv_settings()) == expected


@pytest.mark.parametrize(
    ("token", "hosts", "debug", "expected"),
    [
        ("", ["*"], False, ["kvapp.W001"]),
        ("t", ["*"], False, []),
        ("", ["kv.example"], False, []),
        ("t", ["kv.example"], True, ["kvapp.W002"]),
    ],
)
def test_exposure_warnings(token: str, hosts: list[str], debug: bool, expected: list[str]) -> None:
    with override_settings(KV_TOKEN=token, ALLOWED_HOSTS=hosts, DEBUG=debug):
        assert ids(check_exposure()) == expected


def test_system_checks_warn_about_any_host_without_token_and_debug(settings: Any) -> None:
    settings.ALLOWED_HOSTS = ["*"]
    settings.KV_TOKEN = ""
    settings.DEBUG = True
    assert {"kvapp.W001", "kvapp.W002"} <= {message.id for message in run_checks()}
    settings.KV_TOKEN = TOKEN
    settings.DEBUG = False
    assert not {"kvapp.W001", "kvapp.W002"} & {message.id for message in run_checks()}
