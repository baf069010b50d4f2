"""Security headers, host checks and error bodies that reveal nothing."""

from __future__ import annotations

import logging

import pytest
import requests
from django.test import AsyncClient

from kvapp.testing.server import ServerProcess
from tests.support.security import (
    JSON,
    TIMEOUT,
    bearer,
)

# --- headers, DEBUG, host checks -----------------------------------------------------------


def test_real_server_sends_security_headers_on_page_and_api(secured: ServerProcess) -> None:
    page = requests.get(f"{secured.url}/", timeout=TIMEOUT)
    api_answer = requests.get(f"{secured.url}/api/v1/kv", headers=bearer(), timeout=TIMEOUT)
    refused = requests.get(f"{secured.url}/api/v1/kv", timeout=TIMEOUT)
    for response in (page, api_answer, refused):
        assert response.headers["X-Content-Type-Options"] == "nosniff"
        assert response.headers["X-Frame-Options"] == "DENY"
        assert response.headers["Referrer-Policy"] == "same-origin"
    csp = page.headers["Content-Security-Policy"]
    assert "frame-ancestors 'none'" in csp
    assert "script-src 'self'" in csp
    assert "'unsafe-inline'" not in csp


@pytest.mark.parametrize(
    ("path", "content_type"),
    [
        ("/api/v1/kv", JSON),
        ("/healthz", JSON),
        ("/", JSON),
        ("/get?key=k", "text/plain"),
        ("/zzz", JSON),
        ("/static/kvapp/page.js", JSON),
    ],
)
def test_real_server_answers_a_foreign_host_header_with_400(
    secured: ServerProcess, path: str, content_type: str
) -> None:
    """A DNS-rebinding page reaches the server with its own host name: refused before the token is even looked at."""
    response = requests.get(secured.url + path, headers={**bearer(), "Host": "evil.example"}, timeout=TIMEOUT)
    assert response.status_code == 400
    assert response.headers["Content-Type"].startswith(content_type)  # seed routes answer errors as text
    assert response.text and "Traceback" not in response.text


@pytest.mark.parametrize(
    ("path", "own_host_status"),
    [
        ("/", 200),
        ("/zzz", 404),
        ("/api/v2/kv/a", 404),
        ("/static/kvapp/page.js", 200),
        ("/static/kvapp/missing.js", 404),
    ],
)
async def test_a_foreign_host_is_400_on_unknown_and_static_paths_too(
    client: AsyncClient, path: str, own_host_status: int, caplog: pytest.LogCaptureFixture
) -> None:
    """The README promises 400 for hosts outside ALLOWED_HOSTS; a 404 (or the file) would answer a rebinding page."""
    for method in ("GET", "HEAD", "POST"):
        response = await client.generic(method, path, headers={"Host": "evil.com"})
        assert response.status_code == 400, (method, path)
        if method != "HEAD":  # the test client drops a HEAD body, as servers do
            assert response.json() == {"error": "the Host header is not an allowed host"}
    assert [record for record in caplog.records if record.levelno >= logging.ERROR] == []  # no traceback per request
    assert (await client.get(path)).status_code == own_host_status


def test_real_server_hides_internals_on_errors(secured: ServerProcess) -> None:
    response = requests.get(f"{secured.url}/no/such/path", headers=bearer(), timeout=TIMEOUT)
    assert response.status_code == 404
    assert response.headers["Content-Type"].startswith(JSON)
    assert "Traceback" not in response.text and "DEBUG" not in response.text
