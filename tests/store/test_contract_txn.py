"""Transactions and delete by prefix, the same on every backend (pickle and Redis)."""

from __future__ import annotations

import asyncio

import pytest

from kvapp.store.base import Pair, PrefixDeleted, Store
from kvapp.store.errors import InvalidRequest, LeaseNotFound, ValueTooLarge
from kvapp.store.txn import Compare, Op, Txn, TxnLimits, parse_txn
from kvapp.store.validation import Limits
from tests.store.conftest import Recorder

LIMITS = TxnLimits(Limits(max_key_bytes=64, max_value_bytes=1024), max_ops=4, max_ttl=60)


def txn(document: dict) -> Txn:
    return parse_txn(document, LIMITS)


async def test_a_transaction_whose_compares_hold_runs_success_with_consecutive_revisions(any_store: Store) -> None:
    await any_store.put("a", "5")
    await any_store.put("b", "x")
    result = await any_store.txn(
        txn(
            {
                "compare": [
                    {"key": "a", "target": "revision", "op": "==", "value": 1},
                    {"key": "b", "target": "value", "op": "!=", "value": "y"},
                ],
                "success": [
                    {"op": "put", "key": "a", "value": "1"},
                    {"op": "delete", "key": "b"},
                    {"op": "get", "key": "a"},
                    {"op": "delete", "key": "never"},
                ],
                "failure": [{"op": "get", "key": "a"}],
            }
        )
    )
    assert result.succeeded is True
    assert result.revision == 4
    assert result.responses == [
        {"op": "put", "key": "a", "value": "1", "revision": 3, "created": 1, "prev": "5"},
        {"op": "delete", "key": "b", "revision": 4, "prev": "x"},
        {"op": "get", "key": "a", "value": "1", "revision": 3, "created": 1},
        {"op": "delete", "key": "never", "revision": None, "prev": None},
    ]
    assert await any_store.revision() == 4
    assert [event.revision for event in await any_store.events_since(2)] == [3, 4]


async def test_a_failed_compare_runs_failure_and_changes_nothing_else(any_store: Store) -> None:
    await any_store.put("a", "5")
    result = await any_store.txn(
        txn(
            {
                "compare": [{"key": "a", "target": "value", "op": "==", "value": "6"}],
                "success": [{"op": "put", "key": "a", "value": "won"}],
                "failure": [{"op": "get", "key": "a"}, {"op": "get", "key": "absent"}],
            }
        )
    )
    assert result.succeeded is False
    assert result.revision == 1
    assert result.responses == [
        {"op": "get", "key": "a", "value": "5", "revision": 1, "created": 1},
        {"op": "get", "key": "absent", "value": None, "revision": 0, "created": 0},
    ]
    assert await any_store.get("a") == Pair("a", "5", 1, 1)


@pytest.mark.parametrize(
    ("compare", "holds"),
    [
        ({"key": "absent", "target": "value", "op": "==", "value": None}, True),
        ({"key": "absent", "target": "revision", "op": "==", "value": 0}, True),
        ({"key": "absent", "target": "created", "op": "<", "value": 1}, True),
        ({"key": "absent", "target": "lease", "op": "==", "value": 0}, True),
        ({"key": "absent", "target": "value", "op": "<", "value": "z"}, False),
        ({"key": "absent", "target": "value", "op": ">", "value": "a"}, False),
        ({"key": "k", "target": "value", "op": "==", "value": None}, False),
        ({"key": "k", "target": "value", "op": "!=", "value": None}, True),
        ({"key": "k", "target": "value", "op": "<", "value": None}, False),
        ({"key": "k", "target": "value", "op": ">", "value": "Z"}, True),  # "b" > "Z" by code point
        ({"key": "k", "target": "value", "op": "<", "value": "é"}, True),
        ({"key": "k", "target": "revision", "op": ">", "value": 0}, True),
        ({"key": "k", "target": "revision", "op": "<", "value": 1}, False),
        ({"key": "k", "target": "created", "op": "==", "value": 1}, True),
        ({"key": "k", "target": "lease", "op": "!=", "value": 0}, False),
    ],
)
async def test_compares_against_present_and_absent_keys(any_store: Store, compare: dict, holds: bool) -> None:
    await any_store.put("k", "b")
    result = await any_store.txn(txn({"compare": [compare]}))
    assert result.succeeded is holds


async def test_a_get_in_a_branch_sees_the_earlier_writes_of_that_branch(any_store: Store) -> None:
    result = await any_store.txn(
        txn(
            {
                "success": [
                    {"op": "get", "key": "k"},
                    {"op": "put", "key": "k", "value": "new"},
                    {"op": "get", "key": "k"},
                    {"op": "delete", "key": "other"},
                ]
            }
        )
    )
    assert [response.get("value") for response in result.responses] == [None, "new", "new", None]


async def test_a_put_in_a_transaction_keeps_or_attaches_a_lease_like_a_put(any_store: Store) -> None:
    lease = await any_store.grant(30)
    await any_store.put("k", "v", lease=lease.id)
    result = await any_store.txn(txn({"success": [{"op": "put", "key": "k", "value": "w"}]}))
    assert result.responses[0]["lease"] == lease.id
    result = await any_store.txn(txn({"success": [{"op": "put", "key": "t", "value": "w", "ttl": 5}]}))
    granted = result.responses[0]["lease"]
    assert granted > lease.id
    assert (await any_store.lease(granted)).keys == ("t",)


async def test_a_transaction_naming_an_unknown_lease_is_refused_whole(any_store: Store) -> None:
    await any_store.put("a", "1")
    with pytest.raises(LeaseNotFound) as refused:
        await any_store.txn(
            txn(
                {
                    "success": [
                        {"op": "put", "key": "a", "value": "2"},
                        {"op": "put", "key": "b", "value": "2", "lease": 987654},
                    ]
                }
            )
        )
    assert refused.value.lease == 987654
    assert await any_store.revision() == 1
    assert (await any_store.get("a")).value == "1"


async def test_a_transaction_s_events_are_published_together_in_order(any_store: Store) -> None:
    recorder = Recorder()
    any_store.set_publisher(recorder)
    await any_store.txn(
        txn({"success": [{"op": "put", "key": "x", "value": "1"}, {"op": "put", "key": "y", "value": "2"}]})
    )
    assert [[event.revision for event in batch] for batch in recorder.batches] == [[1, 2]]
    assert len({event.time for event in recorder.events}) == 1, "the events of one commit share one time"


async def test_an_empty_transaction_succeeds_and_writes_nothing(any_store: Store) -> None:
    result = await any_store.txn(Txn())
    assert (result.succeeded, result.revision, result.responses) == (True, 0, [])


async def test_concurrent_transactions_moving_units_keep_the_sum(any_store: Store) -> None:
    await any_store.put("a", "50")
    await any_store.put("b", "50")

    async def move(amount: int) -> None:
        while True:
            a, b = await any_store.get("a"), await any_store.get("b")
            result = await any_store.txn(
                Txn(
                    compare=(Compare("a", "revision", "==", a.revision), Compare("b", "revision", "==", b.revision)),
                    success=(Op("put", "a", str(int(a.value) - amount)), Op("put", "b", str(int(b.value) + amount))),
                )
            )
            if result.succeeded:
                return

    await asyncio.gather(*(move(amount) for amount in (1, 2, 3, -4, 5, -6, 7, 8)))
    a, b = await any_store.get("a"), await any_store.get("b")
    assert int(a.value) + int(b.value) == 100
    assert int(a.value) == 50 - 16


# --- parsing: the whole request is checked before anything runs --------------------------------


@pytest.mark.parametrize(
    ("document", "message"),
    [
        ([], "must be a JSON object"),
        ({"compare": {}}, '"compare" must be a list'),
        ({"sucess": []}, "unknown field"),
        ({"compare": [{"key": "a", "target": "version", "op": "==", "value": 1}]}, '"target" must be one of'),
        ({"compare": [{"key": "a", "target": "value", "op": "=", "value": "x"}]}, '"op" must be one of'),
        ({"compare": [{"key": "a", "target": "revision", "op": "==", "value": "1"}]}, "whole number"),
        ({"compare": [{"key": "a", "target": "revision", "op": "==", "value": True}]}, "whole number"),
        ({"compare": [{"key": "a", "target": "value", "op": "=="}]}, 'needs a "value"'),
        ({"compare": [{"target": "value", "op": "==", "value": "x"}]}, 'needs a "key"'),
        ({"success": [{"op": "patch", "key": "a"}]}, '"op" must be one of'),
        ({"success": [{"op": "put", "key": "a"}]}, 'a put needs a "value"'),
        ({"success": [{"op": "put", "key": "a", "value": 1}]}, "must be a string"),
        ({"success": [{"op": "put", "key": "", "value": "x"}]}, "must not be empty"),
        ({"success": [{"op": "put", "key": "a\n", "value": "x"}]}, "control characters"),
        ({"success": [{"op": "put", "key": "a", "value": "x", "lease": 1, "ttl": 5}]}, "not both"),
        ({"success": [{"op": "put", "key": "a", "value": "x", "ttl": 0}]}, '"ttl" must be'),
        ({"success": [{"op": "put", "key": "a", "value": "x", "ttl": 61}]}, '"ttl" must be'),
        ({"success": [{"op": "put", "key": "a", "value": "x", "lease": -1}]}, '"lease" must be'),
        ({"success": [{"op": "delete", "key": "a", "value": "x"}]}, "unknown field"),
        ({"success": [{"op": "put", "key": "a", "value": "1"}, {"op": "delete", "key": "a"}]}, "twice"),
        ({"failure": [{"op": "delete", "key": "a"}, {"op": "delete", "key": "a"}]}, "twice"),
        ({"success": [{"op": "get", "key": "a"}] * 5}, "at most 4"),
        ({"compare": [{"key": "a", "target": "lease", "op": "==", "value": 0}] * 5}, "at most 4"),
    ],
)
def test_a_malformed_transaction_is_refused_saying_what_is_wrong(document: object, message: str) -> None:
    with pytest.raises(InvalidRequest, match=message):
        parse_txn(document, LIMITS)


def test_a_value_over_the_limit_in_a_transaction_is_a_413_naming_the_op() -> None:
    with pytest.raises(ValueTooLarge, match=r"success\[1\]"):
        parse_txn(
            {"success": [{"op": "get", "key": "a"}, {"op": "put", "key": "b", "value": "x" * 1025}]},
            LIMITS,
        )


def test_reading_a_key_twice_or_writing_it_in_both_branches_is_allowed() -> None:
    parsed = parse_txn(
        {
            "success": [{"op": "get", "key": "a"}, {"op": "put", "key": "a", "value": "1"}, {"op": "get", "key": "a"}],
            "failure": [{"op": "put", "key": "a", "value": "2"}],
        },
        LIMITS,
    )
    assert [op.kind for op in parsed.success] == ["get", "put", "get"]


# --- delete by prefix -------------------------------------------------------------------------


async def test_delete_by_prefix_removes_a_bounded_batch_in_key_order_atomically(any_store: Store) -> None:
    for key in ("app/c", "app/a", "app/b", "apple", "b"):
        await any_store.put(key, "v")
    recorder = Recorder()
    any_store.set_publisher(recorder)
    done = await any_store.delete_prefix("app/", 2)
    assert done == PrefixDeleted(deleted=2, revision=7, more=True)
    assert [(event.type, event.key, event.revision) for event in recorder.events] == [
        ("delete", "app/a", 6),
        ("delete", "app/b", 7),
    ]
    assert len(recorder.batches) == 1
    assert await any_store.delete_prefix("app/", 2) == PrefixDeleted(deleted=1, revision=8, more=False)
    assert [pair.key for pair in (await any_store.list()).items] == ["apple", "b"]


async def test_a_prefix_is_a_string_prefix_and_nothing_matching_changes_nothing(any_store: Store) -> None:
    await any_store.put("food", "1")
    await any_store.put("fo", "2")
    assert await any_store.delete_prefix("bar", 10) == PrefixDeleted(0, 2, False)
    assert await any_store.delete_prefix("foo", 10) == PrefixDeleted(1, 3, False)
    assert [pair.key for pair in (await any_store.list()).items] == ["fo"]


async def test_delete_by_the_empty_prefix_takes_every_key(any_store: Store) -> None:
    for key in ("a", "b", "c"):
        await any_store.put(key, "v")
    assert await any_store.delete_prefix("", 10) == PrefixDeleted(3, 6, False)
    assert (await any_store.stats()).keys == 0
