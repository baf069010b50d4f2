"""Daphne's websocket message limit is raised to the largest watch event (kvapp/daphne_limits.py).

The end-to-end proof, a 12 MiB event through real daphne and runserver processes, is in
tests/test_watch_e2e.py; these check the bound and the rule for each limit daphne may be given.
"""

from __future__ import annotations

import sys
import types
from typing import Any

import pytest
from django.test import override_settings

from kvapp.server.daphne_limits import _raise_limit, largest_watch_event_bytes, raise_daphne_message_limit
from kvapp.store.base import Event
from kvapp.watch.broadcast import encode_frame

NEEDED = 10_000


class FakeFactory:
    """Records what autobahn's setProtocolOptions would be given."""

    def setProtocolOptions(self, **options: Any) -> None:
        self.options = options


def options_after_raise(**given: Any) -> dict[str, Any]:
    factory_class = type("Factory", (FakeFactory,), {})
    _raise_limit(factory_class, NEEDED)
    factory = factory_class()
    factory.setProtocolOptions(autoPingTimeout=30, **given)
    return factory.options


@pytest.mark.parametrize(
    ("given", "kept"),
    [(1024 * 1024 // 200, NEEDED), (NEEDED - 1, NEEDED), (NEEDED, NEEDED), (NEEDED * 3, NEEDED * 3), (0, 0)],
)
def test_a_smaller_limit_is_raised_and_a_larger_or_no_limit_is_kept(given, kept):
    assert options_after_raise(maxMessagePayloadSize=given) == {"autoPingTimeout": 30, "maxMessagePayloadSize": kept}


def test_options_without_a_message_limit_pass_through_untouched():
    assert options_after_raise(maxFramePayloadSize=5) == {"autoPingTimeout": 30, "maxFramePayloadSize": 5}


def test_raising_twice_wraps_daphnes_method_once_with_the_latest_bound():
    factory_class = type("Factory", (FakeFactory,), {})
    _raise_limit(factory_class, NEEDED)
    _raise_limit(factory_class, NEEDED * 2)
    assert factory_class.setProtocolOptions.__wrapped__ is FakeFactory.setProtocolOptions
    factory = factory_class()
    factory.setProtocolOptions(maxMessagePayloadSize=1)
    assert factory.options == {"maxMessagePayloadSize": NEEDED * 2}


def test_only_daphnes_factory_is_touched_and_only_when_daphne_is_loaded(monkeypatch):
    fake_module = types.SimpleNamespace(WebSocketFactory=type("WebSocketFactory", (FakeFactory,), {}))
    monkeypatch.delitem(sys.modules, "daphne.ws_protocol", raising=False)
    raise_daphne_message_limit()  # uvicorn: nothing to do, nothing imported
    assert "daphne.ws_protocol" not in sys.modules
    monkeypatch.setitem(sys.modules, "daphne.ws_protocol", fake_module)
    raise_daphne_message_limit()
    factory = fake_module.WebSocketFactory()
    factory.setProtocolOptions(maxMessagePayloadSize=1024 * 1024)
    assert factory.options["maxMessagePayloadSize"] == largest_watch_event_bytes()


@pytest.mark.parametrize(("max_key", "max_value"), [(1024, 1024 * 1024), (16, 100), (4096, 5 * 1024 * 1024)])
def test_the_bound_holds_the_worst_event_the_limits_allow(max_key, max_value):
    # Control characters escape to six bytes each: the longest JSON a key and two values make.
    with override_settings(KV_MAX_KEY_BYTES=max_key, KV_MAX_VALUE_BYTES=max_value):
        bound = largest_watch_event_bytes()
        worst = Event(2**63, "put", "\x01" * max_key, "\x02" * max_value, 2**63, "\x03" * max_value)
        text = encode_frame(worst).text
        assert len(text.encode()) <= bound < len(text.encode()) + 1024
