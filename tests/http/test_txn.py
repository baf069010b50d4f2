"""kvapp.http.txn: ``POST /api/v1/txn`` (API.md "Transactions")."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from django.test import AsyncClient

from kvapp.store.pickle.store import PickleStore
from tests.support.api import JSON, installed_store, put, state


async def txn(client: AsyncClient, body: Any) -> Any:
    data = body if isinstance(body, str | bytes) else json.dumps(body)
    return await client.post("/api/v1/txn", data=data, content_type=JSON)


async def test_the_contracts_example_runs_the_success_branch_atomically(client: AsyncClient, store: PickleStore):
    for key, value in [("a", "0"), ("x", "x"), ("x", "y"), ("a", "5"), ("b", "y")]:  # a at 4, b at 5
        await put(client, key, {"value": value})
    body = {
        "compare": [
            {"key": "a", "target": "revision", "op": "==", "value": 4},
            {"key": "b", "target": "value", "op": "!=", "value": "x"},
        ],
        "success": [{"op": "put", "key": "a", "value": "1"}, {"op": "delete", "key": "b"}, {"op": "get", "key": "c"}],
        "failure": [{"op": "get", "key": "a"}],
    }
    response = await txn(client, body)
    assert response.status_code == 200
    assert response.json() == {
        "succeeded": True,
        "revision": 7,
        "responses": [
            {"op": "put", "key": "a", "value": "1", "revision": 6, "created": 1, "prev": "5"},
            {"op": "delete", "key": "b", "revision": 7, "prev": "y"},
            {"op": "get", "key": "c", "value": None, "revision": 0, "created": 0},
        ],
    }
    events = await store.events_since(5)
    assert [(event.revision, event.key) for event in events] == [(6, "a"), (7, "b")]
    assert events[0].time == events[1].time, "one commit"


async def test_a_failed_compare_is_a_200_that_runs_the_failure_branch(client: AsyncClient, store: PickleStore):
    await put(client, "lock", {"value": "held"})
    body = {
        "compare": [{"key": "lock", "target": "created", "op": "==", "value": 0}],  # "absent"
        "success": [{"op": "put", "key": "lock", "value": "mine"}],
        "failure": [{"op": "get", "key": "lock"}],
    }
    response = await txn(client, body)
    assert response.status_code == 200
    assert response.json() == {
        "succeeded": False,
        "revision": 1,
        "responses": [{"op": "get", "key": "lock", "value": "held", "revision": 1, "created": 1}],
    }
    assert store.index.revision == 1


async def test_a_get_sees_the_earlier_writes_of_its_branch(client: AsyncClient) -> None:
    body = {"success": [{"op": "put", "key": "k", "value": "new"}, {"op": "get", "key": "k"}]}
    responses = (await txn(client, body)).json()["responses"]
    assert responses[1] == {"op": "get", "key": "k", "value": "new", "revision": 1, "created": 1}


async def test_deleting_an_absent_key_takes_no_revision_and_is_no_error(client: AsyncClient) -> None:
    body = {"success": [{"op": "delete", "key": "ghost"}, {"op": "put", "key": "k", "value": "v"}]}
    answer = (await txn(client, body)).json()
    assert answer["responses"][0] == {"op": "delete", "key": "ghost", "revision": None, "prev": None}
    assert (answer["responses"][1]["revision"], answer["revision"]) == (1, 1)


async def test_an_empty_transaction_succeeds_and_changes_nothing(client: AsyncClient, store: PickleStore) -> None:
    assert (await txn(client, {})).json() == {"succeeded": True, "revision": 0, "responses": []}


async def test_a_put_in_a_transaction_takes_a_lease_or_a_ttl(client: AsyncClient, store: PickleStore) -> None:
    lease = (await store.grant(60)).id
    body = {
        "success": [
            {"op": "put", "key": "a", "value": "1", "lease": lease},
            {"op": "put", "key": "b", "value": "2", "ttl": 30},
            {"op": "get", "key": "a"},
        ]
    }
    responses = (await txn(client, body)).json()["responses"]
    assert responses[0]["lease"] == lease == responses[2]["lease"]
    granted = await store.lease(responses[1]["lease"])
    assert (granted.ttl, granted.keys) == (30, ("b",))


async def test_a_transaction_naming_an_unknown_lease_is_a_404_and_runs_nothing(
    client: AsyncClient, store: PickleStore
) -> None:
    before = state(store)
    body = {"success": [{"op": "put", "key": "a", "value": "1"}, {"op": "put", "key": "b", "value": "2", "lease": 42}]}
    response = await txn(client, body)
    assert response.status_code == 404
    assert response.json() == {"error": response.json()["error"], "lease": 42}
    assert state(store) == before, "the put before the bad one did not happen either"


OP = {"op": "get", "key": "k"}

# (body, status): each is refused whole, before anything runs.
BAD_TRANSACTIONS: list[tuple[Any, int]] = [
    ("{not json", 400),
    ("", 400),
    ([], 400),
    ("null", 400),
    ({"sucess": []}, 400),
    ({"compare": {}}, 400),
    ({"compare": [{"key": "k", "target": "version", "op": "==", "value": 1}]}, 400),
    ({"compare": [{"key": "k", "target": "revision", "op": ">=", "value": 1}]}, 400),
    ({"compare": [{"key": "k", "target": "revision", "op": "==", "value": "1"}]}, 400),
    ({"compare": [{"key": "k", "target": "revision", "op": "==", "value": -1}]}, 400),
    ({"compare": [{"key": "k", "target": "value", "op": "==", "value": 5}]}, 400),
    ({"compare": [{"key": "k", "target": "value", "op": "=="}]}, 400),
    ({"compare": [{"key": "", "target": "value", "op": "==", "value": None}]}, 400),
    ({"success": [{"op": "range", "key": "k"}]}, 400),
    ({"success": [{"op": "put", "key": "k"}]}, 400),
    ({"success": [{"op": "put", "key": "k", "value": 1}]}, 400),
    ({"success": [{"op": "get", "key": "k", "value": "x"}]}, 400),
    ({"success": [{"op": "put", "key": "k", "value": "x", "lease": 1, "ttl": 5}]}, 400),
    ({"success": [{"op": "put", "key": "k", "value": "x", "ttl": 0}]}, 400),
    ({"success": [{"op": "put", "key": "k", "value": "x", "ttl": 86_401}]}, 400),
    ({"success": [{"op": "put", "key": "bad\u0000key", "value": "x"}]}, 400),
    ({"success": [{"op": "put", "key": "k" * 1025, "value": "x"}]}, 400),
    ({"success": [{"op": "put", "key": "k", "value": "1"}, {"op": "delete", "key": "k"}]}, 400),
    ({"failure": [{"op": "delete", "key": "k"}, {"op": "delete", "key": "k"}]}, 400),  # the branch not taken too
    ({"success": [OP] * 129}, 400),
    ({"compare": [{"key": "k", "target": "lease", "op": "==", "value": 0}] * 129}, 400),
    ({"success": [{"op": "put", "key": "k", "value": "v" * (1024 * 1024 + 1)}]}, 413),
]


def with_a_write(body: Any) -> Any:
    """``body`` with a valid put as its success branch if it has none, so a refusal that ran
    anything would show in the store."""
    if isinstance(body, dict) and "success" not in body:
        return {**body, "success": [{"op": "put", "key": "first", "value": "x"}]}
    return body


@pytest.mark.parametrize(("body", "status"), BAD_TRANSACTIONS)
async def test_a_bad_transaction_is_refused_whole_and_changes_nothing(
    client: AsyncClient, store: PickleStore, body: Any, status: int
) -> None:
    await put(client, "k", {"value": "kept"})
    before = state(store)
    response = await txn(client, with_a_write(body))
    assert response.status_code == status
    assert response.json()["error"]
    assert state(store) == before


async def test_ops_per_branch_follow_kv_txn_max_ops(client: AsyncClient, settings: Any) -> None:
    settings.KV_TXN_MAX_OPS = 2
    refused = await txn(client, {"success": [OP] * 3})
    assert (refused.status_code, "at most 2" in refused.json()["error"]) == (400, True)
    assert (await txn(client, {"success": [OP] * 2})).status_code == 200


async def test_a_body_over_the_limit_is_a_413(client: AsyncClient, store: PickleStore, settings: Any) -> None:
    settings.KV_MAX_BODY_BYTES = settings.DATA_UPLOAD_MAX_MEMORY_SIZE = 2048
    response = await txn(client, {"success": [{"op": "put", "key": "k", "value": "x" * 3000}]})
    assert response.status_code == 413
    assert "2048" in response.json()["error"]
    assert store.index.revision == 0


async def test_a_ttl_put_beyond_kv_max_leases_is_a_429_and_runs_nothing(tmp_path: Path) -> None:
    with installed_store(tmp_path / "store.pickle", max_leases=1) as store:
        client = AsyncClient()
        await store.grant(60)
        before = state(store)
        body = {"success": [{"op": "put", "key": "a", "value": "1"}, {"op": "put", "key": "b", "value": "2", "ttl": 9}]}
        response = await txn(client, body)
        assert response.status_code == 429
        assert state(store) == before


async def test_an_empty_body_is_told_what_a_transaction_looks_like(client: AsyncClient, store: PickleStore):
    response = await txn(client, b"")
    assert response.status_code == 400
    assert response.json() == {
        "error": 'the body is empty; send a JSON object like {"compare": [...], "success": [...], "failure": [...]}'
    }


async def test_a_transactions_put_takes_lease_ids_only_within_the_documented_range(
    client: AsyncClient, store: PickleStore
):
    body = {"success": [{"op": "put", "key": "a", "value": "x", "lease": 2**60}]}
    response = await txn(client, body)
    assert response.status_code == 400
    assert "from 1 to 9007199254740991" in response.json()["error"]
    assert (await store.list()).items == []
