"""Server start: what start-up loaded is kept out of the collector's full passes, its garbage is not kept."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from kvapp import startup


@pytest.fixture
def unfrozen() -> Iterator[None]:
    """Give the test a collector with nothing frozen, and leave it that way."""
    gc.unfreeze()
    yield
    gc.unfreeze()


class Cycle:
    """An object only the cycle collector can free."""


def test_start_up_objects_are_frozen(unfrozen: None) -> None:
    kept = Cycle()
    startup.freeze_startup_objects()
    assert gc.get_freeze_count() > 0
    assert all(obj is not kept for obj in gc.get_objects())  # frozen: no longer walked by collections


def test_start_up_garbage_is_freed_before_freezing(unfrozen: None) -> None:
    garbage = Cycle()
    garbage.self = garbage  # type: ignore[attr-defined]
    freed = weakref.ref(garbage)
    del garbage
    startup.freeze_startup_objects()
    assert freed() is None
