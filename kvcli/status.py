"""Exit codes, and the one place that turns an exception into an exit code and a message.

Modelled on httpie's ``status.py``: commands raise named exceptions and never print errors
themselves, so the interactive shell and one-shot mode report failures identically.
"""

from __future__ import annotations

from enum import IntEnum
from typing import TextIO

from kvcli import errors


class ExitStatus(IntEnum):
    """Process exit codes of one-shot commands (the shell only prints the message)."""

    OK = 0
    NOT_FOUND = 1  # a key or a lease
    COMPARE_FAILED = 1  # a transaction ran its failure branch (an alias: "not what was expected", as 1)
    ERROR = 2  # usage, connection, auth and server errors
    INTERRUPTED = 130  # Ctrl+C outside ``watch``, as shells report SIGINT


# First match wins, so subclasses must come before their bases.
_STATUS_BY_ERROR: list[tuple[type[BaseException], ExitStatus]] = [
    (errors.KeyNotFound, ExitStatus.NOT_FOUND),
    (errors.LeaseNotFound, ExitStatus.NOT_FOUND),
    (errors.CLIError, ExitStatus.ERROR),
    (KeyboardInterrupt, ExitStatus.INTERRUPTED),
]


def exit_status_for(exc: BaseException) -> ExitStatus:
    """The exit code for a failure; anything unexpected counts as an error."""
    for kind, status in _STATUS_BY_ERROR:
        if isinstance(exc, kind):
            return status
    return ExitStatus.ERROR


def error_message(exc: BaseException) -> str:
    """One line (never a traceback) saying what went wrong."""
    if isinstance(exc, KeyboardInterrupt):
        return "interrupted"
    # Anything but a CLIError is a bug in kvcli: still one line, but naming the exception.
    text = str(exc) if isinstance(exc, errors.CLIError) else f"unexpected {type(exc).__name__}: {exc}"
    return " ".join(text.split()) or type(exc).__name__


def report(exc: BaseException, stderr: TextIO) -> ExitStatus:
    """Write the one-line message for ``exc`` to ``stderr`` and return its exit code."""
    stderr.write(f"error: {error_message(exc)}\n")
    stderr.flush()
    return exit_status_for(exc)
