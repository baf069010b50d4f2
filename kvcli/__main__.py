"""``python -m kvcli``: run the CLI with the real streams and exit with its status."""

from __future__ import annotations

import os
import sys

from kvcli.cli import main


def run() -> None:
    """Exit with the CLI's status; a closed stdout (``| head``) ends quietly."""
    try:
        status = main()
        sys.stdout.flush()
    except BrokenPipeError:
        # Point stdout at /dev/null so the interpreter's final flush does not complain again.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        status = 0
    sys.exit(int(status))


if __name__ == "__main__":
    run()
