"""The fast path's request is Django's ASGIRequest, attribute for attribute."""

from __future__ import annotations

from io import BytesIO
from typing import Any

import pytest
from django.core.exceptions import RequestDataTooBig
from django.core.handlers.asgi import ASGIRequest
from django.test import override_settings
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from kvapp.server import requests
from kvapp.server.requests import KVRequest, OversizedRequest

HEADER_NAMES = [
    b"host",
    b"content-type",
    b"content-length",
    b"authorization",
    b"x-forwarded-for",
    b"x_forwarded_for",  # underscores: Django drops the header
    b"accept-encoding",
    b"x-\xe9",  # latin-1, not ASCII
]
CONTENT_TYPES = [
    b"application/json",
    b"application/json; charset=utf-8",
    b"text/plain; charset=latin-1",
    b"text/plain; charset=no-such-codec",
    b'multipart/form-data; boundary="b"',
    b"",
]
header_values = st.one_of(st.sampled_from(CONTENT_TYPES), st.binary(max_size=12).filter(lambda v: b"\x00" not in v))
scopes = st.fixed_dictionaries(
    {
        "type": st.just("http"),
        "method": st.sampled_from(["GET", "put", "DELETE", "POST", "PATCH"]),
        "path": st.text(max_size=20).map(lambda text: "/" + text),
        "query_string": st.one_of(st.text(max_size=20).map(str.encode), st.binary(max_size=8), st.just("a=1")),
        "root_path": st.sampled_from(["", "/mounted"]),
        "headers": st.lists(st.tuples(st.sampled_from(HEADER_NAMES), header_values), max_size=6),
    },
    optional={
        "client": st.tuples(st.just("127.0.0.1"), st.integers(1, 65535)),
        "server": st.tuples(st.just("10.0.0.1"), st.integers(1, 65535)),
        "scheme": st.sampled_from(["http", "https"]),
    },
)


def observed(build: Any) -> Any:
    """Everything a view could read from the request, or the error building it raised."""
    try:
        request = build()
    except Exception as exc:
        return type(exc), str(exc)
    state = {name: value for name, value in vars(request).items() if name != "_stream"}
    readings: dict[str, Any] = {}
    for name in ("GET", "body", "encoding", "content_type", "content_params", "headers", "scheme"):
        try:
            value = getattr(request, name)
            readings[name] = dict(value) if name == "headers" else value
        except Exception as exc:
            readings[name] = (type(exc), str(exc))
    return state, readings


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(scope=scopes, body=st.binary(max_size=16))
def test_a_kv_request_is_djangos_asgi_request(scope: dict[str, Any], body: bytes) -> None:
    theirs = observed(lambda: ASGIRequest(scope, BytesIO(body)))
    ours = observed(lambda: KVRequest(scope, body, scope["root_path"]))
    assert ours == theirs


@override_settings(FORCE_SCRIPT_NAME="/forced")
def test_the_script_name_is_the_callers() -> None:
    scope = {"type": "http", "method": "GET", "path": "/forced/api/v1/kv/a", "headers": [], "root_path": "/mounted"}
    ours, theirs = KVRequest(scope, b"", "/forced"), ASGIRequest(scope, BytesIO())
    assert (ours.script_name, ours.path_info, ours.META) == (theirs.script_name, theirs.path_info, theirs.META)


def test_the_remembered_header_names_stay_bounded() -> None:
    headers = [(f"x-name-{number}".encode(), b"v") for number in range(requests.MAX_REMEMBERED_HEADER_NAMES * 2)]
    request = KVRequest({"type": "http", "method": "GET", "path": "/", "headers": headers}, b"", "")
    assert len(requests._META_NAMES) <= requests.MAX_REMEMBERED_HEADER_NAMES
    assert request.META["HTTP_X_NAME_0"] == "v"


def test_an_oversized_request_refuses_its_body_as_django_does() -> None:
    request = OversizedRequest({"type": "http", "method": "PUT", "path": "/", "headers": []}, b"", "")
    with pytest.raises(RequestDataTooBig):
        request.body  # noqa: B018 - reading it is the test
