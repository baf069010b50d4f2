"""kvapp.server.uvicorn_http is installed once, and only where uvicorn serves.

What the wrapped parsers answer is tested through real uvicorn processes (httptools and
h11) in tests/e2e/test_request_heads.py and tests/e2e/test_body_limits.py.
"""

from __future__ import annotations

import sys

import pytest
from uvicorn.protocols.http import h11_impl, httptools_impl

from kvapp.server.uvicorn_http import _HTTPTOOLS_WRAPPERS, install_uvicorn_http

WRAPPED = [
    *((httptools_impl.HttpToolsProtocol, name) for name in _HTTPTOOLS_WRAPPERS),
    (h11_impl.H11Protocol, "send_400_response"),
]


@pytest.fixture
def uvicorns_methods(monkeypatch: pytest.MonkeyPatch) -> dict[tuple[type, str], object]:
    """uvicorn's methods as they are now, put back after the test."""
    for cls, name in WRAPPED:
        monkeypatch.setattr(cls, name, getattr(cls, name))
    return {(cls, name): getattr(cls, name) for cls, name in WRAPPED}


def test_installing_twice_wraps_each_of_uvicorns_methods_once(uvicorns_methods) -> None:
    install_uvicorn_http()
    install_uvicorn_http()
    for (cls, name), original in uvicorns_methods.items():
        assert getattr(cls, name) is not original
        assert getattr(cls, name).__wrapped__ is original


def test_nothing_is_wrapped_where_uvicorn_is_not_serving(uvicorns_methods, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delitem(sys.modules, "uvicorn")  # as under daphne, which never imports it
    install_uvicorn_http()
    assert all(getattr(cls, name) is original for (cls, name), original in uvicorns_methods.items())
