"""Library outage logs are cut to one line each (kvapp/log_filters.py, settings.LOGGING)."""

from __future__ import annotations

import io
import logging

from kvapp.server.log_filters import OneLineExceptions


def _raise_and_log(logger: logging.Logger) -> None:
    try:
        raise ConnectionError("Error 111 connecting to 127.0.0.1:6390. Connection refused.")
    except ConnectionError:
        logger.exception("Unexpected exception in %s", "receive task")


def test_an_exception_becomes_one_line_naming_its_type_and_message():
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.addFilter(OneLineExceptions())
    logger = logging.getLogger("tests.one_line")
    logger.addHandler(handler)
    logger.propagate = False
    try:
        _raise_and_log(logger)
        logger.warning("plain %s", "warning")
    finally:
        logger.removeHandler(handler)
    assert stream.getvalue().splitlines() == [
        "Unexpected exception in receive task "
        "(ConnectionError: Error 111 connecting to 127.0.0.1:6390. Connection refused.)",
        "plain warning",
    ]


def test_channels_redis_logs_through_the_one_line_handler_only():
    # The settings wire it: Django configured logging when the test run set it up.
    logger = logging.getLogger("channels_redis")
    assert not logger.propagate
    assert [type(f) for handler in logger.handlers for f in handler.filters] == [OneLineExceptions]
    assert logging.getLogger("channels_redis.pubsub").getEffectiveLevel() == logging.WARNING
