"""The Redis backend's stored forms, read and written without a Redis: pairs, events, transactions."""

from __future__ import annotations

import orjson
import pytest

from kvapp.store.base import Event, Pair
from kvapp.store.redis.codec import decode_event, encode_txn, lex_range, pack_pair, unpack_pair
from kvapp.store.txn import Compare, Op, Txn


@pytest.mark.parametrize(
    ("pair", "packed"),
    [
        (Pair("k", "v", 7, 3), "7:3:v"),
        (Pair("k", "a:b/c", 7, 3), "7:3:a:b/c"),  # colons and slashes in the value are the value's
        (Pair("k", "", 7, 3, 12), "7:3/12:"),
        (Pair("k", "x/y:z", 2**53 - 1, 1, 2**53 - 1), f"{2**53 - 1}:1/{2**53 - 1}:x/y:z"),
    ],
)
def test_a_pair_packs_with_its_lease_only_when_it_has_one_and_reads_back(pair: Pair, packed: str) -> None:
    assert pack_pair(pair) == packed
    assert unpack_pair("k", packed.encode()) == pair
    assert unpack_pair("k", packed) == pair


def test_an_event_of_twelve_fields_carries_lease_reason_time_and_the_replaced_pair() -> None:
    raw = orjson.dumps(["9", "delete", "k", None, None, "old", "4", "expired", "1764657612345", "8", "2", "4"])
    assert decode_event(raw) == Event(9, "delete", "k", None, None, "old", 4, "expired", 1764657612.345, 8, 2, 4)
    assert decode_event(raw).as_message()["time"] == "2025-12-02T06:40:12.345Z"


def test_an_event_written_by_older_code_reads_with_its_new_fields_unknown() -> None:
    event = decode_event(orjson.dumps(["3", "put", "a", "a2", "1", "a1"]))
    assert event == Event(3, "put", "a", "a2", 1, "a1")
    assert (event.lease, event.time, event.prev_revision, event.prev_created, event.prev_lease) == (
        0,
        None,
        None,
        None,
        None,
    )


def test_a_transaction_travels_with_numbers_as_text_and_empty_strings_for_none() -> None:
    txn = Txn(
        compare=(Compare("a", "revision", "==", 5), Compare("b", "value", "!=", None), Compare("c", "value", "<", "x")),
        success=(Op("put", "a", "1", lease=7), Op("put", "t", "2", ttl=30), Op("delete", "b"), Op("get", "c")),
        failure=(Op("put", "a", "", lease=0),),
    )
    assert orjson.loads(encode_txn(txn)) == {
        "compare": [["a", "revision", "==", "5"], ["b", "value", "!=", None], ["c", "value", "<", "x"]],
        "success": [
            ["put", "a", "1", "7", ""],
            ["put", "t", "2", "", "30"],
            ["delete", "b", "", "", ""],
            ["get", "c", "", "", ""],
        ],
        "failure": [["put", "a", "", "0", ""]],
    }


@pytest.mark.parametrize(
    ("prefix", "after", "bounds"),
    [
        ("", None, (b"[", b"+")),
        ("app/", None, (b"[app/", b"(app/\xff")),
        ("app/", "app/b", (b"(app/b", b"(app/\xff")),
        ("app/", "a", (b"[app/", b"(app/\xff")),  # after sorts before the prefix: start at the prefix
    ],
)
def test_lex_ranges_cover_the_prefix_strictly_after_after(prefix: str, after: str | None, bounds: tuple) -> None:
    assert lex_range(prefix, after) == bounds
