"""Server start: what start-up loaded is kept out of the collector's full passes, its garbage is not kept,
and young collections are rare enough not to walk every request in flight."""

from __future__ import annotations

import gc
import weakref
from collections.abc import Iterator

import pytest

from kvapp.server import startup


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


@pytest.fixture
def default_thresholds() -> Iterator[None]:
    """Python's default thresholds for the test, and whatever was set before afterwards."""
    saved = gc.get_threshold()
    gc.set_threshold(700, 10, 10)
    yield
    gc.set_threshold(*saved)


def test_young_collections_wait_for_many_more_allocations(default_thresholds: None) -> None:
    startup.relax_young_collections()
    assert gc.get_threshold() == (startup.YOUNG_COLLECTION_THRESHOLD, 10, 10)


def test_cycles_are_still_collected_without_asking(default_thresholds: None) -> None:
    startup.relax_young_collections()
    garbage = Cycle()
    garbage.self = garbage  # type: ignore[attr-defined]
    freed = weakref.ref(garbage)
    del garbage
    kept = [[] for _ in range(startup.YOUNG_COLLECTION_THRESHOLD + 1)]  # allocations trigger a collection
    assert freed() is None
    del kept
