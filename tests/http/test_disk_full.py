"""A full disk over HTTP: writes answer 507 with a JSON error, reads go on, /healthz says degraded."""

from __future__ import annotations

import errno
import json

import pytest
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from tests.store.test_disk_full import FullDisk
from tests.support.api import state

JSON = "application/json"


async def test_writes_get_507_reads_200_and_healthz_says_degraded_until_space_is_freed(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch)
    assert (await client.put("/api/v1/kv/a", data={"value": "1"}, content_type=JSON)).status_code == 200
    disk.full = True
    for method, path, body in [("PUT", "/api/v1/kv/a", {"value": "2"}), ("DELETE", "/api/v1/kv/a", None)]:
        refused = await client.generic(method, path, data=json.dumps(body) if body else "", content_type=JSON)
        assert refused.status_code == 507
        assert "disk is full" in refused.json()["error"]
    assert (await client.get("/api/v1/kv/a")).json()["value"] == "1"
    health = await client.get("/healthz")
    assert health.status_code == 200, "reads and watches are served: not a reason to take the process out"
    assert health.json()["status"] == "degraded" and "disk is full" in health.json()["reason"]
    disk.full = False
    assert (await client.put("/api/v1/kv/a", data={"value": "2"}, content_type=JSON)).json()["revision"] == 2
    assert (await client.get("/healthz")).json()["status"] == "ok"
    assert "reason" not in (await client.get("/healthz")).json()


WRITES = [
    ("POST", "/api/v1/txn", {"success": [{"op": "put", "key": "b", "value": "x"}, {"op": "delete", "key": "a"}]}),
    ("DELETE", "/api/v1/kv?prefix=a", None),
    ("PUT", "/api/v1/kv/c", {"value": "x", "ttl": 30}),
    ("POST", "/api/v1/leases", {"ttl": 30}),
    ("DELETE", "/api/v1/leases/1", None),
]


@pytest.mark.parametrize(("method", "path", "body"), WRITES, ids=["txn", "prefix delete", "put ttl", "grant", "revoke"])
async def test_every_kind_of_write_gets_507_on_a_full_disk_and_changes_nothing(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch, method: str, path: str, body: object
) -> None:
    disk = FullDisk(monkeypatch)
    assert (await client.put("/api/v1/kv/a", data={"value": "1", "ttl": 60}, content_type=JSON)).status_code == 200
    data = json.dumps(body) if body else ""
    before = state(store)
    disk.full = True
    refused = await client.generic(method, path, data=data, content_type=JSON)
    assert refused.status_code == 507
    assert "disk is full" in refused.json()["error"]
    assert state(store) == before
    disk.full = False
    assert (await client.generic(method, path, data=data, content_type=JSON)).status_code in (200, 201)


async def test_a_journal_that_fails_otherwise_is_503_with_a_json_error(
    client: AsyncClient, store: PickleStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    disk = FullDisk(monkeypatch, error=errno.EIO)
    disk.full = True
    refused = await client.put("/api/v1/kv/a", data={"value": "1"}, content_type=JSON)
    assert refused.status_code == 503
    assert refused["Content-Type"].startswith("application/json") and refused.json()["error"]
    assert state(store) == (0, {}, {})
