"""The store's single I/O thread: order, outcomes, cancellation and shutdown."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator

import pytest

from kvapp.store.pickle.io_thread import IOThread, IOThreadStopped


@pytest.fixture
def io() -> Iterator[IOThread]:
    """A fresh thread, shut down after the test."""
    thread = IOThread("test-io")
    yield thread
    thread.shutdown()


async def test_calls_run_in_the_order_they_were_handed_over(io: IOThread) -> None:
    seen: list[int] = []
    await asyncio.gather(*(io.run(seen.append, n) for n in range(50)))
    assert seen == list(range(50))


async def test_calls_run_off_the_event_loop_thread(io: IOThread) -> None:
    assert await io.run(threading.current_thread) is not threading.current_thread()


async def test_a_failure_reaches_the_caller(io: IOThread) -> None:
    def broken() -> None:
        raise OSError("disk gone")

    with pytest.raises(OSError, match="disk gone"):
        await io.run(broken)


async def test_a_cancelled_caller_does_not_stop_its_call(io: IOThread) -> None:
    started, release, done = threading.Event(), threading.Event(), threading.Event()

    def slow() -> None:
        started.set()
        release.wait(5)
        done.set()

    waiting = asyncio.ensure_future(io.run(slow))
    await asyncio.to_thread(started.wait, 5)
    waiting.cancel()
    release.set()
    await io.run(lambda: None)
    assert done.is_set()


async def test_shutdown_finishes_queued_calls_then_refuses_new_ones() -> None:
    io = IOThread("test-io")
    seen: list[int] = []
    calls = [asyncio.ensure_future(io.run(seen.append, n)) for n in range(3)]
    await asyncio.sleep(0)  # the calls are queued
    io.shutdown()
    assert seen == [0, 1, 2]
    await asyncio.gather(*calls)
    with pytest.raises(IOThreadStopped):
        await io.run(seen.append, 3)
    io.shutdown()  # twice is harmless
