"""Log records from libraries that report an outage with a traceback per retry, cut to one line.

While Redis is away, channels_redis logs "Unexpected exception in receive task" with a
full traceback about once a second per process, and one more per watcher whose channel it
cannot clean up: dozens of tracebacks a second for one known condition, which kvstore's
own code already reports as a warning. The exception's type and message say what happened.
"""

from __future__ import annotations

import logging


class OneLineExceptions(logging.Filter):
    """Fold a record's exception into its message and drop the traceback."""

    def filter(self, record: logging.LogRecord) -> bool:
        """Called by the handler for each record; always lets it through."""
        if record.exc_info and record.exc_info[1] is not None:
            exc = record.exc_info[1]
            record.msg = f"{record.getMessage()} ({type(exc).__name__}: {exc})"
            record.args = ()
            record.exc_info = None
            record.exc_text = None
        return True
