"""``python -m kvcli``: run the CLI with the real streams and exit with its status."""

from __future__ import annotations

import os
import sys

from kvcli.errors import MissingDependency
from kvcli.status import report


def run() -> None:
    """Exit with the CLI's status; a closed stdout (``| head``) ends quietly."""
    try:
        # Imported here, not at the top: it needs requests and websockets, and a Python without
        # them (the system python3 instead of the venv's) must get one line, not a traceback.
        from kvcli.cli import main
    except ModuleNotFoundError as exc:
        if (exc.name or "kvcli").partition(".")[0] == "kvcli":
            raise  # a broken kvcli checkout, not a missing dependency: the traceback is the clue
        sys.exit(int(report(MissingDependency(exc.name or "", sys.executable), sys.stderr)))
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
