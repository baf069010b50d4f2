"""The command ``lock`` runs: a process group of its own, so stopping it stops everything it started.

Signalling only the direct child would leave a shell script's children running (``sh -c
'...; sleep 60'`` loses its ``sh`` and keeps the ``sleep``), still doing the work the lost
lock was protecting; ``timeout(1)`` puts its command in a group of its own for the same
reason. A group of its own is not the terminal's foreground group, though, so when kvcli
has the terminal it hands it to the command's group, as a shell does for a job, and takes
it back after: the command can read the terminal, and gets Ctrl+C itself.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from contextlib import contextmanager, suppress

from kvcli.errors import CommandFailed

STOP_GRACE = 3.0  # seconds the command's processes get to end after SIGTERM before SIGKILL
GROUP_POLL = 0.05  # seconds between looks at whether any of the group is left


@contextmanager
def running(command: list[str]) -> Iterator[subprocess.Popen]:
    """Start ``command`` as the leader of a new process group, in the terminal's foreground if kvcli
    has it; the terminal comes back to kvcli when the block ends. CommandFailed if it cannot be started."""
    try:
        process = subprocess.Popen(command, process_group=0)
    except OSError as exc:  # not found, not executable
        raise CommandFailed(f"cannot run {command[0]!r}: {exc.strerror or exc}") from None
    terminal = _foreground_terminal()
    if terminal is not None:
        _hand_terminal(terminal, process.pid)
        # It may have read the terminal before it was its own, and been stopped (SIGTTIN) for it.
        _signal_group(process.pid, signal.SIGCONT)
    try:
        yield process
    finally:
        if terminal is not None:
            _hand_terminal(terminal, os.getpgrp())


def stop(process: subprocess.Popen) -> None:
    """SIGTERM to the command's whole group; SIGKILL to whatever of it is left after STOP_GRACE."""
    _signal_group(process.pid, signal.SIGTERM)
    deadline = time.monotonic() + STOP_GRACE
    with suppress(subprocess.TimeoutExpired):
        process.wait(STOP_GRACE)
    while _group_alive(process.pid) and time.monotonic() < deadline:
        time.sleep(GROUP_POLL)
    _signal_group(process.pid, signal.SIGKILL)
    process.wait()


def exit_status(code: int) -> int:
    """A command's exit status as a shell reports it: 128 + N when signal N ended it."""
    return code if code >= 0 else 128 - code


def _foreground_terminal() -> int | None:
    """stdin's descriptor if it is a terminal whose foreground group is kvcli's, else None."""
    try:
        fd = sys.stdin.fileno()
        return fd if os.isatty(fd) and os.tcgetpgrp(fd) == os.getpgrp() else None
    except (OSError, ValueError):  # no descriptor (tests' in-memory stdin), or not a terminal
        return None


def _hand_terminal(fd: int, group: int) -> None:
    """Make ``group`` the terminal's foreground group (SIGTTOU ignored, as a shell does, since kvcli may
    be in the background by then)."""
    previous = signal.signal(signal.SIGTTOU, signal.SIG_IGN)
    try:
        with suppress(OSError):  # the group ended already, or the terminal went away
            os.tcsetpgrp(fd, group)
    finally:
        signal.signal(signal.SIGTTOU, previous)


def _signal_group(group: int, sig: int) -> None:
    """``sig`` to every process in ``group``; nothing if none is left."""
    with suppress(ProcessLookupError):
        os.killpg(group, sig)


def _group_alive(group: int) -> bool:
    """Whether any process of ``group`` is left."""
    try:
        os.killpg(group, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
