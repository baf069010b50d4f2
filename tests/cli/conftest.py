"""Fixtures of the CLI tests: one real server per module, and a key prefix per test."""

from __future__ import annotations

import uuid
from collections.abc import Iterator

import pytest

from kvapp.testing.server import ServerProcess


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses, so tests can share one server."""
    return f"t{uuid.uuid4().hex[:8]}/"


# One server per module: starting daphne costs about a second on a busy 2-core box, and
# every test writes under its own ``ns`` prefix, so tests cannot see each other's pairs.
@pytest.fixture(scope="module")
def server(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ServerProcess]:
    """A real server shared by the module's tests, each under keys of its own."""
    with ServerProcess(tmp_path_factory.mktemp("kv") / "store.pickle") as process:
        yield process
