"""--url and KV_URL: ``host:port``, as etcdctl and redis-cli users type it, means ``http://host:port``."""

from __future__ import annotations

import re
from contextlib import closing

import pytest

from kvapp.testing.server import ServerProcess
from kvcli.client import KVClient
from kvcli.status import ExitStatus
from kvcli.watch import WatchStream
from tests.cli.inprocess import run_cli


@pytest.mark.parametrize(
    ("given", "base_url"),
    [
        ("localhost:8000", "http://localhost:8000"),
        ("localhost", "http://localhost"),
        ("127.0.0.1:8000", "http://127.0.0.1:8000"),
        ("[::1]:8000", "http://[::1]:8000"),
        ("[::1]", "http://[::1]"),
        ("kv.example:8000/", "http://kv.example:8000"),
        ("kv.example:8000/base/", "http://kv.example:8000/base"),
        ("  localhost:8000 ", "http://localhost:8000"),
        ("https://kv.example", "https://kv.example"),
    ],
)
def test_an_address_without_a_scheme_means_http(given: str, base_url: str) -> None:
    assert KVClient(given).base_url == base_url


def test_the_watch_of_an_address_without_a_scheme_is_ws() -> None:
    assert KVClient("[::1]:8000").watch_url("", 5) == "ws://[::1]:8000/ws/watch?prefix=&after=5"


@pytest.mark.parametrize(
    ("given", "fragment"),
    [
        ("localhost:99999", "Port out of range"),
        ("localhost:port", "Port could not be cast"),
        ("[not-an-ip]:8000", "does not appear to be an IPv4 or IPv6 address"),
        ("exa mple:8000", "a space or a control character"),
        ("localhost:8000/?x=1", "no ?query or #fragment"),
        ("localhost:8000#top", "no ?query or #fragment"),
        ("http:/localhost:8000", "expected something like"),  # a slash short: no guessing
        ("http:localhost:8000", "expected something like"),
        ("::1:8000", "expected something like"),  # IPv6 needs its brackets
        ("[::1", "expected something like"),
        (":8000", "expected something like"),
        ("localhost:", "expected something like"),
        ("user@localhost:8000", "expected something like"),
        ("", "expected something like"),
        ("ftp://localhost:8000", "expected something like"),
    ],
)
def test_an_address_without_a_scheme_gets_the_same_checks(given: str, fragment: str) -> None:
    result = run_cli("--url", given, "get", "a")
    assert (result.status, result.out) == (ExitStatus.ERROR, "")
    assert result.err.startswith(f"error: invalid server URL {given.strip()!r}: ")
    assert fragment in result.err
    assert len(result.err.splitlines()) == 1


def test_commands_and_watch_work_with_host_and_port(server: ServerProcess) -> None:
    address = f"localhost:{server.port}"
    stored = run_cli("--url", address, "put", "bare/a", "1")
    assert re.fullmatch(r'stored bare/a = "1" \(rev \d+\)\n', stored.out), stored
    assert run_cli("get", "bare/a", environ={"KV_URL": f"127.0.0.1:{server.port}"}).out == "1\n"
    stream = WatchStream(KVClient(address), "bare/", 0, lambda note: None)
    with closing(iter(stream)) as events:
        assert next(events)["key"] == "bare/a"
