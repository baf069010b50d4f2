"""kvcli as real processes: run to completion, or in the background for what runs until stopped (lock)."""

from __future__ import annotations

import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

from kvapp.testing.server import PROJECT_ROOT

WAIT_TIMEOUT = 20.0  # seconds for a condition a test waits on (a process start on a busy 2-core box)


def run_kvcli(url: str, *argv: str, stdin: str = "") -> subprocess.CompletedProcess[str]:
    """``python -m kvcli --url URL *argv`` to completion, ``stdin`` piped in."""
    return subprocess.run(
        [sys.executable, "-m", "kvcli", "--url", url, *argv],
        input=stdin,
        cwd=PROJECT_ROOT,
        capture_output=True,
        text=True,
        timeout=WAIT_TIMEOUT,
        check=False,
    )


@contextmanager
def kvcli_process(url: str, *argv: str) -> Iterator[subprocess.Popen[str]]:
    """``python -m kvcli --url URL *argv`` in the background; killed at the end if still running."""
    process = subprocess.Popen(
        [sys.executable, "-m", "kvcli", "--url", url, *argv],
        cwd=PROJECT_ROOT,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        yield process
    finally:
        if process.poll() is None:
            process.kill()
        process.communicate(timeout=WAIT_TIMEOUT)


def wait_for(condition: Callable[[], object], what: str, timeout: float = WAIT_TIMEOUT) -> object:
    """Poll ``condition`` until it is truthy (and return it); fail naming ``what`` after ``timeout``."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if result := condition():
            return result
        time.sleep(0.05)
    raise AssertionError(f"timed out waiting for {what}")
