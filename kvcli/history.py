"""Readline history for the interactive shell; a history file that cannot be used is ignored."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager, suppress
from pathlib import Path

HISTORY_LENGTH = 1000  # lines kept in the history file


@contextmanager
def readline_history(path: Path, enabled: bool) -> Iterator[None]:
    """Load history from ``path`` on entry and save it on exit, when ``enabled`` and readline exists."""
    if not enabled:
        yield
        return
    try:
        import readline
    except ImportError:  # e.g. Windows without pyreadline: the shell works, just without history
        yield
        return
    with suppress(OSError):
        readline.read_history_file(path)
    readline.set_history_length(HISTORY_LENGTH)
    try:
        yield
    finally:
        with suppress(OSError):
            readline.write_history_file(path)
