"""kvapp.http.history: ``GET /api/v1/history/<key>`` (API.md "History")."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from tests.support.api import installed_store, put

TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$")


def without_time(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The items with their commit times checked for shape and taken out."""
    assert all(TIME.match(item.pop("time")) for item in items)
    return items


async def test_a_keys_history_is_its_events_newest_first(client: AsyncClient) -> None:
    await put(client, "app/db", {"value": "one"})
    await put(client, "other", {"value": "x"})
    await put(client, "app/db", {"value": "two"})
    await client.delete("/api/v1/kv/app/db")
    response = await client.get("/api/v1/history/app/db")
    assert response.status_code == 200
    body = response.json()
    assert (body["key"], body["oldest"], body["next"]) == ("app/db", 1, None)
    assert without_time(body["items"]) == [
        {"type": "delete", "revision": 4, "prev": "two"},
        {"type": "put", "value": "two", "revision": 3, "created": 1, "prev": "one"},
        {"type": "put", "value": "one", "revision": 1, "created": 1, "prev": None},
    ]


async def test_history_pages_through_next_as_before(client: AsyncClient) -> None:
    for number in range(5):
        await put(client, "k", {"value": str(number)})
    first = (await client.get("/api/v1/history/k?limit=2")).json()
    assert ([item["revision"] for item in first["items"]], first["next"]) == ([5, 4], 4)
    second = (await client.get(f"/api/v1/history/k?limit=2&before={first['next']}")).json()
    assert ([item["revision"] for item in second["items"]], second["next"]) == ([3, 2], 2)
    last = (await client.get(f"/api/v1/history/k?limit=2&before={second['next']}")).json()
    assert ([item["revision"] for item in last["items"]], last["next"]) == ([1], None)


async def test_before_keeps_only_older_events(client: AsyncClient) -> None:
    for number in range(3):
        await put(client, "k", {"value": str(number)})
    assert [item["revision"] for item in (await client.get("/api/v1/history/k?before=3")).json()["items"]] == [2, 1]
    assert (await client.get("/api/v1/history/k?before=0")).json()["items"] == []
    assert len((await client.get("/api/v1/history/k?before=99")).json()["items"]) == 3


async def test_a_key_with_no_retained_events_is_a_200_with_no_items(client: AsyncClient) -> None:
    await put(client, "elsewhere", {"value": "v"})
    response = await client.get("/api/v1/history/never")
    assert (response.status_code, response.json()) == (200, {"key": "never", "items": [], "oldest": 1, "next": None})


async def test_history_reaches_only_the_retained_events(tmp_path: Path) -> None:
    with installed_store(tmp_path / "store.pickle", history=2):
        client = AsyncClient()
        for number in range(4):
            await put(client, "k", {"value": str(number)})
        body = (await client.get("/api/v1/history/k")).json()
        assert ([item["revision"] for item in body["items"]], body["oldest"]) == ([4, 3], 3)


async def test_leased_puts_and_lease_deletes_carry_lease_and_reason(client: AsyncClient, store: PickleStore) -> None:
    lease = (await store.grant(60)).id
    await put(client, "k", {"value": "v", "lease": lease})
    await client.delete(f"/api/v1/leases/{lease}")
    items = without_time((await client.get("/api/v1/history/k")).json()["items"])
    assert items == [
        {"type": "delete", "revision": 2, "prev": "v", "lease": lease, "reason": "revoked"},
        {"type": "put", "value": "v", "revision": 1, "created": 1, "prev": None, "lease": lease},
    ]


async def test_history_limit_defaults_to_100_and_is_capped_at_10000(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    real = store.history

    async def spying(key: str, before: int | None = None, limit: int = 0) -> Any:
        asked.append(limit)
        return await real(key, before, limit)

    monkeypatch.setattr(store, "history", spying)
    for query in ("", "?limit=10000", "?limit=10001", "?limit=1"):
        assert (await client.get(f"/api/v1/history/k{query}")).status_code == 200
    assert asked == [100, 10000, 10000, 1]


@pytest.mark.parametrize(
    ("path", "says"),
    [
        ("/api/v1/history/", "key must not be empty"),
        ("/api/v1/history/bad%00key", "control characters"),
        ("/api/v1/history/" + "k" * 1025, "limit is 1024"),
        ("/api/v1/history/k?limit=0", "limit must be at least 1"),
        ("/api/v1/history/k?limit=all", "limit must be a whole number"),
        ("/api/v1/history/k?before=-1", "before must be a whole number from 0"),
        ("/api/v1/history/k?before=1.5", "before must be a whole number"),
    ],
)
async def test_a_bad_history_request_is_a_400(client: AsyncClient, path: str, says: str) -> None:
    response = await client.get(path)
    assert response.status_code == 400
    assert says in response.json()["error"]


@pytest.mark.parametrize("path", ["/api/v1/history/k", "/api/v1/history/"])
async def test_history_is_read_only(client: AsyncClient, path: str) -> None:
    response = await client.put(path)
    assert (response.status_code, response["Allow"]) == (405, "GET, HEAD")
