"""kvapp.http.leases: grant, list, show, keep alive and revoke leases (API.md "Leases")."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from tests.support.api import JSON, FakeClock, installed_store, put, state


async def grant(client: AsyncClient, ttl: Any) -> Any:
    return await client.post("/api/v1/leases", data={"ttl": ttl}, content_type=JSON)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def timed(tmp_path: Path, clock: FakeClock) -> Iterator[PickleStore]:
    """A store whose leases run on ``clock`` and end only when the test calls expire_due()."""
    with installed_store(tmp_path / "store.pickle", clock=clock, reap_interval=None) as opened:
        yield opened


async def test_a_grant_is_a_201_with_the_id_ttl_and_remaining_seconds(client: AsyncClient, store: PickleStore) -> None:
    response = await grant(client, 30)
    assert response.status_code == 201
    body = response.json()
    assert set(body) == {"id", "ttl", "remaining"}
    assert body["id"] >= 1 and body["ttl"] == 30
    assert 29 < body["remaining"] <= 30
    assert store.index.revision == 0, "granting a lease takes no revision"


async def test_lease_ids_are_never_reused(client: AsyncClient) -> None:
    first = (await grant(client, 10)).json()["id"]
    assert (await client.delete(f"/api/v1/leases/{first}")).status_code == 200
    assert (await grant(client, 10)).json()["id"] > first


async def test_a_lease_shows_its_attached_keys_sorted(client: AsyncClient) -> None:
    lease = (await grant(client, 60)).json()["id"]
    for key in ("svc/b", "svc/a", "other"):
        await put(client, key, {"value": "v", "lease": lease})
    shown = await client.get(f"/api/v1/leases/{lease}")
    assert shown.status_code == 200
    body = shown.json()
    assert (body["id"], body["ttl"], body["keys"]) == (lease, 60, ["other", "svc/a", "svc/b"])
    assert (await client.head(f"/api/v1/leases/{lease}")).status_code == 200


async def test_leases_are_listed_by_id_with_their_key_counts_a_page_at_a_time(client: AsyncClient) -> None:
    ids = [(await grant(client, 60)).json()["id"] for _ in range(3)]
    await put(client, "k", {"value": "v", "lease": ids[1]})
    first = (await client.get("/api/v1/leases?limit=2")).json()
    assert [(item["id"], item["keys"]) for item in first["items"]] == [(ids[0], 0), (ids[1], 1)]
    assert set(first["items"][0]) == {"id", "ttl", "remaining", "keys"}
    assert first["next"] == ids[1]
    rest = (await client.get(f"/api/v1/leases?limit=2&after={first['next']}")).json()
    assert ([item["id"] for item in rest["items"]], rest["next"]) == ([ids[2]], None)


async def test_a_keepalive_gives_the_full_ttl_again(timed: PickleStore, clock: FakeClock) -> None:
    client = AsyncClient()
    lease = (await grant(client, 30)).json()["id"]
    clock.now += 20
    assert (await client.get(f"/api/v1/leases/{lease}")).json()["remaining"] == 10
    renewed = await client.post(f"/api/v1/leases/{lease}/keepalive")
    assert (renewed.status_code, renewed.json()) == (200, {"id": lease, "ttl": 30, "remaining": 30})
    clock.now += 25
    assert await timed.expire_due() == [], "renewed at 20 s, it runs until 50 s"
    assert timed.index.revision == 0, "a keepalive takes no revision"


async def test_an_expired_lease_deletes_its_keys_and_is_gone(timed: PickleStore, clock: FakeClock) -> None:
    client = AsyncClient()
    lease = (await grant(client, 5)).json()["id"]
    await put(client, "a", {"value": "1", "lease": lease})
    await put(client, "b", {"value": "2", "lease": lease})
    clock.now += 6
    for method, path in [("GET", ""), ("POST", "/keepalive")]:  # past its deadline: gone, reaped or not
        response = await client.generic(method, f"/api/v1/leases/{lease}{path}")
        assert (response.status_code, response.json()["lease"]) == (404, lease)
    await timed.expire_due()
    assert (await client.get("/api/v1/kv")).json()["items"] == []
    deletes = await timed.events_since(2)
    assert [(e.key, e.revision, e.lease, e.reason) for e in deletes] == [
        ("a", 3, lease, "expired"),
        ("b", 4, lease, "expired"),
    ]
    assert (await client.get("/api/v1/leases")).json() == {"items": [], "next": None}


async def test_revoking_deletes_the_keys_in_one_commit(client: AsyncClient, store: PickleStore) -> None:
    lease = (await grant(client, 60)).json()["id"]
    for key in ("b", "a"):
        await put(client, key, {"value": "v", "lease": lease})
    await put(client, "free", {"value": "v"})
    revoked = await client.delete(f"/api/v1/leases/{lease}")
    assert (revoked.status_code, revoked.json()) == (200, {"id": lease, "revision": 5, "deleted": ["a", "b"]})
    events = await store.events_since(3)
    assert [(e.type, e.key, e.reason) for e in events] == [("delete", "a", "revoked"), ("delete", "b", "revoked")]
    assert [item["key"] for item in (await client.get("/api/v1/kv")).json()["items"]] == ["free"]
    for method, path in [("GET", ""), ("DELETE", ""), ("POST", "/keepalive")]:
        gone = await client.generic(method, f"/api/v1/leases/{lease}{path}")
        assert (gone.status_code, gone.json()["lease"]) == (404, lease)


async def test_revoking_a_lease_without_keys_keeps_the_revision(client: AsyncClient) -> None:
    lease = (await grant(client, 60)).json()["id"]
    assert (await client.delete(f"/api/v1/leases/{lease}")).json() == {"id": lease, "revision": 0, "deleted": []}


@pytest.mark.parametrize(
    "body",
    [
        {},
        {"ttl": 0},
        {"ttl": 86_401},
        {"ttl": -5},
        {"ttl": "5"},
        {"ttl": 5.5},
        {"ttl": True},
        {"ttl": None},
        {"ttl": 5, "id": 3},
        {"TTL": 5},
        [5],
        "5",
        "{not json",
        "",
    ],
)
async def test_a_bad_grant_is_a_400_and_grants_nothing(client: AsyncClient, store: PickleStore, body: Any) -> None:
    before = state(store)
    data = body if isinstance(body, str) else json.dumps(body)
    response = await client.post("/api/v1/leases", data=data, content_type=JSON)
    assert response.status_code == 400
    assert response.json()["error"]
    assert state(store) == before


async def test_the_longest_ttl_follows_kv_lease_max_ttl(client: AsyncClient, settings: Any) -> None:
    settings.KV_LEASE_MAX_TTL = 100
    assert "from 1 to 100" in (await grant(client, 101)).json()["error"]
    assert (await grant(client, 100)).status_code == 201


async def test_a_grant_beyond_kv_max_leases_is_a_429(tmp_path: Path) -> None:
    with installed_store(tmp_path / "store.pickle", max_leases=2) as store:
        client = AsyncClient()
        for _ in range(2):
            assert (await grant(client, 60)).status_code == 201
        before = state(store)
        refused = await grant(client, 60)
        assert refused.status_code == 429
        assert "KV_MAX_LEASES" in refused.json()["error"]
        assert state(store) == before


BAD_IDS = ["0", "-1", "abc", "1.0", "1e3", "%201", "%EF%BC%91", "1_0", "+1", str(2**53), "9" * 70]


@pytest.mark.parametrize("lease_id", BAD_IDS)
@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/keepalive")])
async def test_a_lease_id_in_a_path_is_ascii_digits_from_1_below_2_to_the_53(
    client: AsyncClient, store: PickleStore, method: str, suffix: str, lease_id: str
) -> None:
    lease = (await grant(client, 60)).json()["id"]
    await put(client, "k", {"value": "v", "lease": lease})
    before = state(store)
    response = await client.generic(method, f"/api/v1/leases/{lease_id}{suffix}")
    assert response.status_code == 400
    assert "lease id" in response.json()["error"]
    assert state(store) == before


@pytest.mark.parametrize(("method", "suffix"), [("GET", ""), ("DELETE", ""), ("POST", "/keepalive")])
async def test_an_unknown_lease_is_a_404_naming_it(client: AsyncClient, store: PickleStore, method: str, suffix: str):
    before = state(store)
    response = await client.generic(method, f"/api/v1/leases/{2**53 - 1}{suffix}")
    assert response.status_code == 404
    assert response.json() == {"error": response.json()["error"], "lease": 2**53 - 1}
    assert state(store) == before


@pytest.mark.parametrize("query", ["limit=0", "limit=x", "after=-1", "after=one", "after=1.5"])
async def test_a_bad_lease_listing_is_a_400(client: AsyncClient, query: str) -> None:
    response = await client.get(f"/api/v1/leases?{query}")
    assert response.status_code == 400
    assert query.split("=")[0] in response.json()["error"]


@pytest.mark.parametrize(
    ("method", "path", "allow"),
    [
        ("PUT", "/api/v1/leases", "GET, HEAD, POST"),
        ("POST", "/api/v1/leases/1", "GET, HEAD, DELETE"),
        ("GET", "/api/v1/leases/1/keepalive", "POST"),
    ],
)
async def test_a_wrong_method_on_a_lease_route_is_a_405(client: AsyncClient, method: str, path: str, allow: str):
    response = await client.generic(method, path)
    assert (response.status_code, response["Allow"]) == (405, allow)
