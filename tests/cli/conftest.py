"""Fixtures of the CLI tests; each module starts the servers it needs (see ``tests/conftest.py``)."""

from __future__ import annotations

import uuid

import pytest


@pytest.fixture
def ns() -> str:
    """A key prefix no other test uses, so tests can share one server."""
    return f"t{uuid.uuid4().hex[:8]}/"
