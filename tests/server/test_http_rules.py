"""kvapp.server.http_rules: the scope checks every server gets, and the raw answer the server patches write.

The same rules against real daphne, runserver and uvicorn processes are tests/e2e/test_request_heads.py.
"""

from __future__ import annotations

from typing import Any

import orjson
import pytest

from kvapp.errors import HeadersTooLarge, HostMissing, RequestLineTooLong, TargetNotAPath
from kvapp.server.http_rules import error_bytes, requires_host, scope_refusal
from kvapp.store.errors import InvalidRequest, KVError


def scope(path: str = "/api/v1/kv/k", version: str = "1.1", headers: list[Any] | None = None) -> dict[str, Any]:
    if headers is None:
        headers = [(b"host", b"127.0.0.1:8000")]
    return {"type": "http", "path": path, "http_version": version, "headers": headers}


@pytest.mark.parametrize(
    "headers",
    [[(b"host", b"127.0.0.1")], [(b"accept", b"*/*"), (b"host", b"kv.example")]],
    ids=["first", "later"],
)
def test_a_request_with_host_and_a_path_passes(headers: list[Any]) -> None:
    assert scope_refusal(scope(headers=headers)) is None


def test_http_1_1_without_host_is_refused() -> None:
    assert isinstance(scope_refusal(scope(headers=[(b"accept", b"*/*")])), HostMissing)


@pytest.mark.parametrize("version", ["1.0", "2"])
def test_other_versions_need_no_host(version: str) -> None:
    assert scope_refusal(scope(version=version, headers=[])) is None
    assert not requires_host(version)


@pytest.mark.parametrize("path", ["http://evil.example/api/v1/kv/k", "*", "evil.example:443", ""])
def test_a_target_that_is_not_a_path_is_refused_even_with_a_good_host(path: str) -> None:
    refusal = scope_refusal(scope(path))
    assert isinstance(refusal, TargetNotAPath)
    assert str(refusal).endswith(repr(path))


def test_a_refused_target_is_quoted_short() -> None:
    assert len(str(scope_refusal(scope("http://" + "e" * 100_000)))) < 200


@pytest.mark.parametrize(
    ("refusal", "status_line"),
    [
        (HostMissing("no Host"), b"HTTP/1.1 400 Bad Request"),
        (InvalidRequest("bad"), b"HTTP/1.1 400 Bad Request"),
        (RequestLineTooLong("long"), b"HTTP/1.1 414 Request-URI Too Long"),
        (HeadersTooLarge("large"), b"HTTP/1.1 431 Request Header Fields Too Large"),
    ],
)
def test_the_raw_answer_is_a_whole_json_error_that_closes(refusal: KVError, status_line: bytes) -> None:
    head, _, body = error_bytes(refusal).partition(b"\r\n\r\n")
    lines = head.split(b"\r\n")
    assert lines[0] == status_line
    assert b"Content-Type: application/json; charset=utf-8" in lines
    assert b"Connection: close" in lines
    assert f"Content-Length: {len(body)}".encode() in lines
    assert orjson.loads(body) == {"error": str(refusal)}
