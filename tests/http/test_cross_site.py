"""kvapp.http.origins through the guard: a foreign page's writes are refused, everyone else's pass.

The same refusal in a real browser, against a real server, is ``tests/e2e/test_cross_site_browser.py``.
"""

from __future__ import annotations

import pytest
from django.test import AsyncClient, RequestFactory, override_settings

from kvapp.errors import CrossSiteWrite
from kvapp.http import origins
from kvapp.store.pickle.store import PickleStore
from tests.support.security import JSON, TEXT_ERROR_PATHS, bearer, operations, valid_request

WRITES = [(path, method) for path, method in operations() if method not in ("GET", "HEAD")]
FOREIGN = {
    "another host": {"Origin": "http://evil.example"},
    "another host, even saying same-origin": {"Origin": "http://evil.example", "Sec-Fetch-Site": "same-origin"},
    "another loopback address": {"Origin": "http://127.0.0.2:8000"},
    "an allowed name inside another host": {"Origin": "http://127.0.0.1.evil.example"},
    "null": {"Origin": "null"},
    "not a URL": {"Origin": "http://[::1"},
    "cross-site, without Origin": {"Sec-Fetch-Site": "cross-site"},
    "cross-site, with an allowed Origin": {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "cross-site"},
}
SAME_SITE = {
    "no headers (CLI, curl, scripts)": {},
    "the test server": {"Origin": "http://testserver"},
    "loopback with a port": {"Origin": "http://127.0.0.1:8000"},
    "localhost": {"Origin": "http://localhost:8000"},
    "IPv6 loopback": {"Origin": "http://[::1]:8000"},
    "same-origin": {"Sec-Fetch-Site": "same-origin"},
    "typed in the address bar (none)": {"Sec-Fetch-Site": "none"},
    "same-origin, both headers": {"Origin": "http://127.0.0.1:8000", "Sec-Fetch-Site": "same-origin"},
}


def ids(cases: dict[str, dict[str, str]]) -> list[str]:
    return list(cases)


@pytest.mark.parametrize(("path", "method"), WRITES)
@pytest.mark.parametrize("headers", FOREIGN.values(), ids=ids(FOREIGN))
@pytest.mark.parametrize("with_token", [False, True], ids=["no token configured", "token configured and sent"])
async def test_a_write_from_a_foreign_page_is_403_and_changes_nothing(
    client: AsyncClient, store: PickleStore, settings, path: str, method: str, headers: dict, with_token: bool
) -> None:
    await client.put("/api/v1/kv/k", data={"value": "before"}, content_type=JSON)
    if with_token:
        settings.KV_TOKEN = "s3cret-token"
        headers = {**headers, **bearer("s3cret-token")}
    refused = await valid_request(client, method, path, headers=headers)
    assert refused.status_code == 403
    if path in TEXT_ERROR_PATHS:
        assert refused["Content-Type"].startswith("text/plain")
        assert "another site" in refused.content.decode()
    else:
        assert "another site" in refused.json()["error"]
    assert store.index.revision == 1
    assert store.index.get("k").value == "before"


@pytest.mark.parametrize(("path", "method"), WRITES)
async def test_a_foreign_page_without_the_token_is_told_403_not_401(
    client: AsyncClient, store: PickleStore, token: str, path: str, method: str
) -> None:
    refused = await valid_request(client, method, path, headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403
    assert "WWW-Authenticate" not in refused
    assert store.index.revision == 0


@pytest.mark.parametrize(("path", "method"), WRITES)
@pytest.mark.parametrize("headers", SAME_SITE.values(), ids=ids(SAME_SITE))
async def test_writes_from_the_same_site_or_from_no_browser_are_served(
    client: AsyncClient, store: PickleStore, path: str, method: str, headers: dict
) -> None:
    await client.put("/api/v1/kv/k", data={"value": "before"}, content_type=JSON)
    answer = await valid_request(client, method, path, headers=headers)
    assert answer.status_code != 403
    # The empty key is refused for what it is; a grant answers 201 Created.
    expected = {"/api/v1/kv/": 400, "/api/v1/leases": 201}.get(path, 200)
    assert answer.status_code == expected


@pytest.mark.parametrize("headers", FOREIGN.values(), ids=ids(FOREIGN))
async def test_reads_are_not_refused_whatever_the_origin(client: AsyncClient, headers: dict) -> None:
    await client.put("/api/v1/kv/k", data={"value": "v"}, content_type=JSON)
    # A foreign page cannot read the answer (the browser's same-origin policy); the server need not refuse it.
    assert (await client.get("/api/v1/kv/k", headers=headers)).status_code == 200
    assert (await client.head("/get?key=k", headers=headers)).status_code == 200


async def test_a_method_no_route_takes_is_refused_too_when_a_foreign_page_sends_it(client: AsyncClient) -> None:
    refused = await client.post("/healthz", headers={"Origin": "http://evil.example"})
    assert refused.status_code == 403


async def test_origins_are_judged_against_the_current_allowed_hosts(client: AsyncClient, store: PickleStore) -> None:
    async def put_from(origin: str) -> int:
        response = await client.put("/api/v1/kv/k", data={"value": "v"}, content_type=JSON, headers={"Origin": origin})
        return response.status_code

    assert await put_from("https://kv.example.com") == 403
    with override_settings(ALLOWED_HOSTS=["testserver", ".example.com"]):
        assert await put_from("https://kv.example.com") == 200
        assert await put_from("http://127.0.0.1:8000") == 403  # no longer an allowed host
    assert await put_from("https://kv.example.com") == 403


@override_settings(ALLOWED_HOSTS=["*"])
def test_null_stays_foreign_even_when_every_host_is_allowed() -> None:
    assert origins._is_foreign("null")
    assert not origins._is_foreign("http://anything.example")


def test_memory_stays_bounded_whatever_origins_clients_send() -> None:
    factory = RequestFactory()
    for number in range(origins.MAX_REMEMBERED_ORIGINS * 3):
        with pytest.raises(CrossSiteWrite):
            origins.check_same_site(factory.put("/api/v1/kv/k", HTTP_ORIGIN=f"http://o{number}.example"))
    assert len(origins._foreign) <= origins.MAX_REMEMBERED_ORIGINS
