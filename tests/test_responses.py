"""kvstore's response type: the same headers, checks and errors as Django's, with less work per response."""

from __future__ import annotations

import pytest
from django.http import BadHeaderError, HttpResponse
from django.test import RequestFactory

from kvapp.fastpath import InlineMiddleware
from kvapp.http import responses
from kvapp.http.responses import JSON, MAX_CHECKED_HEADERS, json_response


def test_the_configured_middleware_sets_the_same_headers_as_on_a_plain_response() -> None:
    request = RequestFactory().get("/api/v1/kv/a")
    middleware = InlineMiddleware.from_settings()
    assert middleware is not None
    answers = []
    for response in (json_response({"a": 1}), HttpResponse(b'{"a":1}', content_type=JSON)):
        for hook in reversed(middleware.response_hooks):
            response = hook(request, response)
        answers.append((response.status_code, list(response.items()), response.content))
    assert answers[0] == answers[1]


@pytest.mark.parametrize("value", ["a\nb", "a\rb"])
def test_a_header_value_with_a_line_break_is_refused_as_django_refuses_it(value: str) -> None:
    for _ in range(2):  # also when a clean value with the same name was checked before
        response = json_response({})
        response["X-Test"] = "clean"
        with pytest.raises(BadHeaderError):
            response["X-Test"] = value


def test_a_non_ascii_header_name_is_refused() -> None:
    with pytest.raises(UnicodeError):
        json_response({})["X-Tést"] = "v"


def test_a_non_latin1_value_is_mime_encoded_as_django_does() -> None:
    ours, theirs = json_response({}), HttpResponse()
    ours["X-Name"] = theirs["X-Name"] = "ключ"
    assert ours["X-Name"] == theirs["X-Name"]


def test_lookups_are_case_insensitive_and_absent_headers_give_the_default() -> None:
    response = json_response({})
    assert "content-TYPE" in response
    assert "X-Absent" not in response
    assert response.get("X-Absent", "fallback") == "fallback"
    assert response.get("CONTENT-TYPE") == JSON
    assert 7 not in response.headers


def test_non_string_values_take_djangos_own_path() -> None:
    response = json_response({})
    response["X-Number"] = 7
    response["X-Bytes"] = b"raw"
    assert (response["X-Number"], response["X-Bytes"]) == ("7", "raw")


def test_the_checked_header_memory_stays_bounded() -> None:
    response = json_response({})
    for number in range(MAX_CHECKED_HEADERS * 3):
        response["Content-Length"] = str(number)
    assert len(responses._CHECKED_HEADERS) <= MAX_CHECKED_HEADERS
    assert response["Content-Length"] == str(MAX_CHECKED_HEADERS * 3 - 1)
