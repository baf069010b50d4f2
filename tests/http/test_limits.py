"""Size and paging limits on the API and seed routes: a clear error, and nothing changed."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import quote

import pytest
import requests
from django.test import AsyncClient

from kvapp.http import api
from kvapp.testing.server import ServerProcess
from tests.support.security import (
    JSON,
    TIMEOUT,
    bearer,
)

# --- limits --------------------------------------------------------------------------------


async def test_key_over_the_byte_limit_is_400_and_changes_nothing(client, store, settings) -> None:
    settings.KV_MAX_KEY_BYTES = 8
    response = await client.put("/api/v1/kv/" + "k" * 9, data={"value": "v"}, content_type=JSON)
    assert response.status_code == 400
    assert "limit is 8" in response.json()["error"]
    assert store.index.revision == 0
    assert (await client.put("/api/v1/kv/" + "k" * 8, data={"value": "v"}, content_type=JSON)).status_code == 200


async def test_value_over_the_limit_is_413_on_api_and_seed_routes(client, store, settings) -> None:
    settings.KV_MAX_VALUE_BYTES = 16
    api_answer = await client.put("/api/v1/kv/k", data={"value": "x" * 17}, content_type=JSON)
    seed_answer = await client.post("/add", {"key": "k", "value": "é" * 9})
    assert (api_answer.status_code, seed_answer.status_code) == (413, 413)
    assert "limit is 16" in api_answer.json()["error"]
    assert seed_answer["Content-Type"].startswith("text/plain")
    assert store.index.revision == 0


async def test_body_over_the_limit_is_413_json(client, store, settings) -> None:
    settings.KV_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = await client.put("/api/v1/kv/k", data={"value": "x" * 3000}, content_type=JSON)
    assert response.status_code == 413
    assert "2048" in response.json()["error"]
    assert store.index.revision == 0


@pytest.mark.parametrize(
    "limit",
    [
        "0",
        "-5",
        "ten",
        "1.5",
        "",
        "1_0",
        "%20%205%20",
        "+2",
        "%2B2",
        "%EF%BC%93",
        "%C2%B2",
        "-",
        "--5",
        "9" * 5000,
        "1" * 65,
    ],
)
async def test_bad_listing_limit_is_400(client: AsyncClient, limit: str) -> None:
    response = await client.get(f"/api/v1/kv?limit={limit}")
    assert response.status_code == 400
    assert "limit" in response.json()["error"]


async def test_negative_listing_limit_says_it_must_be_at_least_1(client: AsyncClient) -> None:
    for limit in ("-5", "-0", "0"):
        response = await client.get(f"/api/v1/kv?limit={limit}")
        assert response.json() == {"error": "limit must be at least 1"}


async def test_huge_listing_limit_is_clamped(client, monkeypatch) -> None:
    monkeypatch.setattr(api, "MAX_PAGE_SIZE", 3)
    for key in "abcde":
        await client.put(f"/api/v1/kv/{key}", data={"value": key}, content_type=JSON)
    page = (await client.get(f"/api/v1/kv?limit={10**40}")).json()
    assert [item["key"] for item in page["items"]] == ["a", "b", "c"]
    assert page["next"] == "c"


def test_real_server_enforces_body_value_and_key_limits(secured: ServerProcess) -> None:
    def put(key: str, body: bytes) -> requests.Response:
        headers = {**bearer(), "Content-Type": JSON}
        return requests.put(f"{secured.url}/api/v1/kv/{key}", data=body, headers=headers, timeout=TIMEOUT)

    too_big_body = put("k", b'{"value": "' + b"x" * 100_000 + b'"}')
    too_big_value = put("k", b'{"value": "' + b"x" * 1025 + b'"}')
    too_long_key = put(quote("é" * 33), b'{"value": "v"}')  # 66 bytes; the limit counts bytes, not characters
    assert [too_big_body.status_code, too_big_value.status_code, too_long_key.status_code] == [413, 413, 400]
    assert all("error" in answer.json() for answer in (too_big_body, too_big_value, too_long_key))
    assert put(quote("é" * 32), b'{"value": "v"}').status_code == 200

    def chunks() -> Iterator[bytes]:  # no Content-Length: the limit must hold while reading
        yield b'{"value": "'
        for _ in range(100):
            yield b"x" * 1000
        yield b'"}'

    chunked = requests.put(
        f"{secured.url}/api/v1/kv/chunked", data=chunks(), headers={**bearer(), "Content-Type": JSON}, timeout=TIMEOUT
    )
    assert chunked.status_code == 413
    assert requests.get(f"{secured.url}/api/v1/kv/chunked", headers=bearer(), timeout=TIMEOUT).status_code == 404
