"""kvstore's response type: the same headers, checks and errors as Django's, with less work per response."""

from __future__ import annotations

import orjson
import pytest
from django.http import BadHeaderError, HttpResponse
from django.test import RequestFactory

from kvapp.http import responses
from kvapp.http.responses import JSON, MAX_CHECKED_HEADERS, json_response
from kvapp.server.middleware import InlineMiddleware
from kvapp.store.errors import Compacted, FutureRevision, KVError, LeaseNotFound, TooManyLeases


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


def _state(response: HttpResponse) -> dict[str, object]:
    """Every attribute a response carries, headers and cookies compared by value."""
    state = dict(vars(response))
    state["headers"] = dict(state["headers"]._store)
    state["cookies"] = (type(state["cookies"]), dict(state["cookies"]))
    return state


@pytest.mark.parametrize(
    ("content", "status", "content_type"),
    [
        (b'{"a":1}', 200, JSON),
        (b"", 404, JSON),
        ("plain text, ключ", 201, responses.TEXT),
        ("latin-1 text é", 200, "text/plain; charset=latin-1"),
        (b"x", 599, "application/octet-stream"),
    ],
)
def test_a_kv_response_is_built_exactly_as_django_builds_it(
    content: bytes | str, status: int, content_type: str
) -> None:
    ours = responses.KVResponse(content, status=status, content_type=content_type)
    theirs = HttpResponse(content, status=status, content_type=content_type)
    assert _state(ours) == _state(theirs)
    assert (ours.content, ours.charset, ours.reason_phrase) == (theirs.content, theirs.charset, theirs.reason_phrase)
    assert type(ours.headers) is responses.CheckedOnceHeaders


def _outcome(build: object) -> object:
    """The state built, or the error raised, for comparing two constructors."""
    try:
        return _state(build())  # type: ignore[operator]
    except (TypeError, ValueError) as exc:
        return type(exc), str(exc)


@pytest.mark.parametrize("status", [99, 600, "200", None, "x", 200.5])
def test_an_unusual_status_gets_djangos_answer(status: object) -> None:
    ours = _outcome(lambda: responses.KVResponse(b"", status=status, content_type=JSON))  # type: ignore[arg-type]
    assert ours == _outcome(lambda: HttpResponse(b"", status=status, content_type=JSON))


def test_encoded_headers_are_the_pairs_in_ascii_and_latin1_and_stay_bounded() -> None:
    for number in range(MAX_CHECKED_HEADERS * 2):
        assert responses.encoded_header(("X-N", f"é{number}")) == (b"X-N", f"é{number}".encode("latin1"))
    assert len(responses._ENCODED_HEADERS) <= MAX_CHECKED_HEADERS


@pytest.mark.parametrize(
    ("error", "status", "body"),
    [
        (LeaseNotFound(7), 404, {"lease": 7}),
        (Compacted(12), 410, {"oldest": 12}),
        (TooManyLeases("too many"), 429, {}),
        (FutureRevision(9, 3), 400, {}),
    ],
)
def test_an_error_body_carries_what_the_client_needs_to_act_on(error: KVError, status: int, body: dict) -> None:
    """A 404 for a lease names it; a 410 says where the retained history begins (API.md)."""
    response = responses.error_response(error)
    assert response.status_code == status
    assert orjson.loads(response.content) == {"error": str(error), **body}
