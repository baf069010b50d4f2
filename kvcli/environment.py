"""Where the CLI reads and writes: injected, so tests can run it in-process (as httpie does)."""

from __future__ import annotations

import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TextIO

DEFAULT_URL = "http://127.0.0.1:8000"
HISTORY_FILE_NAME = ".kvstore_history"


@dataclass
class Environment:
    """The streams and environment variables one CLI run uses."""

    stdin: TextIO = field(default_factory=lambda: sys.stdin)
    stdout: TextIO = field(default_factory=lambda: sys.stdout)
    stderr: TextIO = field(default_factory=lambda: sys.stderr)
    environ: Mapping[str, str] = field(default_factory=lambda: dict(os.environ))
    stdin_isatty: bool = False

    @classmethod
    def from_system(cls) -> Environment:
        """The real process streams; output never fails on characters the terminal lacks.

        Input never fails on bytes that are not UTF-8 either: read as surrogate escapes, as
        argv is, a shell line holding them gets the commands' one-line error, not a traceback
        from inside ``cmd`` (stdin is strict in any UTF-8 locale but C/POSIX).
        """
        for stream, errors in (
            (sys.stdin, "surrogateescape"),
            (sys.stdout, "backslashreplace"),
            (sys.stderr, "backslashreplace"),
        ):
            reconfigure = getattr(stream, "reconfigure", None)
            if reconfigure is not None:
                reconfigure(errors=errors)
        return cls(sys.stdin, sys.stdout, sys.stderr, os.environ, sys.stdin.isatty())

    @property
    def default_url(self) -> str:
        """``KV_URL`` or the local default."""
        return self.environ.get("KV_URL") or DEFAULT_URL

    @property
    def default_token(self) -> str | None:
        """``KV_TOKEN`` if set and non-empty."""
        return self.environ.get("KV_TOKEN") or None

    @property
    def history_path(self) -> Path:
        """``KV_HISTORY_FILE`` or ``~/.kvstore_history``."""
        configured = self.environ.get("KV_HISTORY_FILE")
        return Path(configured) if configured else Path.home() / HISTORY_FILE_NAME
