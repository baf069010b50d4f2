"""A full disk over HTTP: writes answer 507 with a JSON error, reads go on, /healthz says degraded."""

from __future__ import annotations

import json

import pytest
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from tests.store.test_disk_full import FullDisk

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
