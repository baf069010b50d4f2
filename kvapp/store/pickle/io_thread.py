"""The one thread a store's blocking file calls run in, in the order they were handed over.

``loop.run_in_executor`` on a one-worker ThreadPoolExecutor does the same job, but wraps a
concurrent future in an asyncio one and runs more Python in the worker after the result is
set, while the event loop, just woken, waits for the GIL: about three times the CPU per
hand-over (``bench/RESULTS.md``, "Measured micro-costs"). The committer pays it once per batch.
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Callable
from typing import Any, TypeVar

T = TypeVar("T")

_Job = tuple[asyncio.AbstractEventLoop, asyncio.Future, Callable[..., Any], tuple[Any, ...]]


class IOThreadStopped(RuntimeError):
    """A call handed over after shutdown: it never ran."""


class IOThread:
    """A single worker thread taking blocking calls from the event loop, first in, first out."""

    def __init__(self, name: str) -> None:
        self._jobs: queue.SimpleQueue[_Job | None] = queue.SimpleQueue()
        self._lock = threading.Lock()  # no call is queued behind the stop marker
        self._stopped = False
        # A daemon, joined by shutdown(): the store's close() (also run at exit) waits for an
        # append in flight. A non-daemon thread would instead hang the exit of a program that
        # never closed its store, since Python joins those before running atexit hooks.
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thread.start()

    async def run(self, function: Callable[..., T], *args: Any) -> T:
        """Called from the event loop: ``function(*args)`` in the thread, after every earlier call."""
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        with self._lock:
            if self._stopped:
                raise IOThreadStopped("the I/O thread has been shut down")
            self._jobs.put((loop, future, function, args))
        return await future

    def shutdown(self) -> None:
        """Called at close: let queued calls finish, then stop the thread; safe to call twice."""
        with self._lock:
            if not self._stopped:
                self._stopped = True
                self._jobs.put(None)
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _work(self) -> None:
        """The thread's loop: run each call and hand its outcome back to the caller's loop."""
        while (job := self._jobs.get()) is not None:
            loop, future, function, args = job
            try:
                outcome, failed = function(*args), False
            except BaseException as exc:  # handed to the caller, who decides
                outcome, failed = exc, True
            with contextlib.suppress(RuntimeError):  # the caller's loop is closed: nobody waits
                loop.call_soon_threadsafe(_settle, future, outcome, failed)


def _settle(future: asyncio.Future, outcome: Any, failed: bool) -> None:
    """On the caller's loop: resolve the future unless the caller was cancelled meanwhile."""
    if future.done():
        return
    if failed:
        future.set_exception(outcome)
    else:
        future.set_result(outcome)
