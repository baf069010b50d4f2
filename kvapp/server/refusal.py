"""The one way a server process refuses to start: one line on stderr, exit status 2.

Kept free of Django so that ``kvproject.env`` can use it while the settings are still loading.
"""

from __future__ import annotations

import os
import sys
import threading
from typing import NoReturn

EXIT_CANNOT_START = 2  # not 3: runserver's reloader treats 3 as "restart me"


def cannot_start(reason: str) -> NoReturn:
    """Stop the start with one line on stderr and exit status 2, from any thread.

    runserver's autoreloader loads the application in a thread, where SystemExit would end
    only that thread and leave the process up serving nothing; nothing needing cleanup has
    been opened when a start is refused.
    """
    print(f"kvstore: cannot start: {reason}", file=sys.stderr, flush=True)
    if threading.current_thread() is not threading.main_thread():
        os._exit(EXIT_CANNOT_START)
    raise SystemExit(EXIT_CANNOT_START)
