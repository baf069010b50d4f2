"""Shared fixtures: a temporary store per test, and real server processes where needed."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient
from hypothesis import settings as hypothesis_settings

from kvapp.backend import set_store
from kvapp.store.pickle.store import PickleStore
from kvapp.testing.server import ServerProcess
from tests.support.redis import RedisServer
from tests.support.security import SERVER_LIMITS, TOKEN

# Hypothesis's per-example deadline is a timed assertion: on a loaded machine (two test
# workers, a browser, real servers) one slow example fails a correct test. Properties here
# are judged by what they compute, and pytest-timeout still bounds a test that hangs.
hypothesis_settings.register_profile("kvstore", deadline=None)
hypothesis_settings.load_profile("kvstore")


@pytest.fixture
def store(tmp_path: Path) -> Iterator[PickleStore]:
    """A pickle store in a temp dir, installed as the process-wide store."""
    opened = PickleStore(tmp_path / "store.pickle")
    set_store(opened)
    yield opened
    set_store(None)
    opened.close()


@pytest.fixture
def server(tmp_path: Path) -> Iterator[ServerProcess]:
    """A real daphne server on a free port with its own data file."""
    with ServerProcess(tmp_path / "store.pickle") as process:
        yield process


@pytest.fixture(scope="session")
def redis_server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RedisServer]:
    """One real redis-server for the session (tests flush it); errors if redis-server is missing."""
    started = RedisServer(tmp_path_factory.mktemp("redis")).start()
    yield started
    started.stop()


@pytest.fixture
def private_redis(tmp_path: Path) -> Iterator[RedisServer]:
    """A redis-server of this test's own, free to stop and restart."""
    server = RedisServer(tmp_path / "redis").start()
    yield server
    server.stop()


@pytest.fixture
def client(store: PickleStore) -> AsyncClient:
    """Django's async test client against a fresh temp store."""
    return AsyncClient()


@pytest.fixture
def token(settings: Any) -> str:
    """Configure KV_TOKEN for this test."""
    settings.KV_TOKEN = TOKEN
    return TOKEN


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real daphne server with a token and small limits, shared by a module's real-socket tests."""
    data = tmp_path_factory.mktemp("secured") / "store.pickle"
    with ServerProcess(data, env={"KV_TOKEN": TOKEN, **SERVER_LIMITS}) as process:
        yield process
