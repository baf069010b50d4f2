"""A snapshot or journal record that unpickles but holds the wrong shapes or types stops the start (issue #15.4)."""

from __future__ import annotations

import pickle
from pathlib import Path
from typing import Any

import pytest

from kvapp.store.base import Event
from kvapp.store.errors import CorruptStore
from kvapp.store.pickle import records, shapes
from kvapp.store.pickle.store import PickleStore

GOOD_EVENTS = [(4, "put", "a", "1", 4, None), (5, "delete", "a", None, None, "1")]


def snapshot_with(**fields: Any) -> dict[str, Any]:
    """A valid format-1 document at revision 5, with ``fields`` replaced."""
    document = {"kvstore": 1, "revision": 5, "pairs": {"b": ("x", 3, 2), "c": ("", 1, 1)}, "events": GOOD_EVENTS}
    return {**document, **fields}


@pytest.mark.parametrize(
    ("document", "said"),
    [
        (snapshot_with(pairs={"k": (["list"], "notint", None)}), "pair 'k'"),
        (snapshot_with(pairs={"k": (b"bytes", 1, 1)}), "pair 'k'"),
        (snapshot_with(pairs={"k": ("v", "1", 1)}), "pair 'k'"),
        (snapshot_with(pairs={"k": ("v", 1, 2)}), "pair 'k'"),  # created after its last write
        (snapshot_with(pairs={"k": ("v", 9, 1)}), "pair 'k'"),  # beyond the snapshot's revision
        (snapshot_with(pairs={"k": ("v", True, True)}), "pair 'k'"),
        (snapshot_with(pairs={"k": ("v", 0, 0)}), "pair 'k'"),
        (snapshot_with(pairs={"k": ("v", 1, 1, 0)}), "pair 'k'"),
        (snapshot_with(pairs={"k": ["v", 1, 1]}), "pair 'k'"),
        (snapshot_with(pairs={1: ("v", 1, 1)}), "pair 1"),
        (snapshot_with(pairs={"": ("v", 1, 1)}), "empty key"),
        (snapshot_with(pairs=[("k", "v", 1, 1)]), "pairs must be a dict"),
        (snapshot_with(revision="5"), "revision must be a whole number"),
        (snapshot_with(revision=-1), "revision must be a whole number"),
        (snapshot_with(events=["x"]), "an event must be a tuple"),
        (snapshot_with(events=[(5, "put")]), "an event must be a tuple"),
        (snapshot_with(events=[(5, "bogus", "a", "1", 5, None)]), "neither a put"),
        (snapshot_with(events=[(5, "put", "a", None, 5, None)]), "neither a put"),
        (snapshot_with(events=[(5, "put", "a", "1", 6, None)]), "neither a put"),
        (snapshot_with(events=[(5, "delete", "a", "1", None, "1")]), "neither a put"),
        (snapshot_with(events=[(5, "put", 7, "1", 5, None)]), "str key"),
        (snapshot_with(events=[("5", "put", "a", "1", 5, None)]), "revision >= 1"),
        (snapshot_with(events=GOOD_EVENTS[:1]), "the last event is at revision 4, the snapshot at 5"),
        (snapshot_with(events=[(3, "put", "a", "1", 3, None), GOOD_EVENTS[1]]), "jump from revision 3 to 5"),
        (snapshot_with(events=tuple(GOOD_EVENTS)), "events must be a list"),
        ({"kvstore": 1, "revision": 5, "pairs": {}}, "it has no 'events'"),
    ],
)
def test_a_snapshot_with_wrong_inner_types_refuses_to_start_saying_what_is_wrong(
    tmp_path: Path, document: dict[str, Any], said: str
) -> None:
    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps(document, protocol=5))
    with pytest.raises(CorruptStore, match="refusing to start") as refused:
        PickleStore(path)
    assert said in str(refused.value) and str(path) in str(refused.value)
    assert pickle.loads(path.read_bytes()) == document, "left as it was"


async def test_a_well_formed_snapshot_loads(tmp_path: Path) -> None:
    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps(snapshot_with(), protocol=5))
    store = PickleStore(path)
    assert (await store.get("b")).as_dict() == {"key": "b", "value": "x", "revision": 3, "created": 2}
    assert [tuple(event)[:6] for event in await store.events_since(3)] == GOOD_EVENTS  # plus the fields it adds
    store.close()


@pytest.mark.parametrize(
    "fields",
    [(1, "put", "a", b"bytes", 1, None), (1, "put", "a", "x", 1), ["list"], (1, "put", ["a"], "x", 1, None)],
    ids=["bytes-value", "five-fields", "a-list", "list-key"],
)
def test_a_journal_record_of_the_wrong_shape_refuses_to_start(tmp_path: Path, fields: Any) -> None:
    journal = tmp_path / "store.pickle.journal"
    journal.write_bytes(records.FILE_HEADER + records.frame(pickle.dumps(fields, protocol=5)))
    with pytest.raises(CorruptStore, match="not a kvstore event"):
        PickleStore(tmp_path / "store.pickle")


def test_shapes_event_is_the_one_check_of_a_decoded_event_tuple() -> None:
    assert shapes.event((2, "put", "k", "v", 1, "old")) == Event(2, "put", "k", "v", 1, "old")
    assert shapes.event((3, "delete", "k", None, None, "v")).type == "delete"
    with pytest.raises(ValueError, match="neither a put"):
        shapes.event((3, "delete", "k", None, None, None))


def _format_2(**overrides: Any) -> dict[str, Any]:
    document = {
        "kvstore": 2,
        "revision": 2,
        "pairs": {"a": ("x", 1, 1, 7), "b": ("y", 2, 2)},
        "events": [],
        "leases": {7: 30},
        "lease_seq": 9,
    }
    return {**document, **overrides}


async def test_a_format_2_snapshot_with_leases_loads(tmp_path: Path) -> None:
    path = tmp_path / "store.pickle"
    path.write_bytes(pickle.dumps(_format_2(), protocol=5))
    store = PickleStore(path)
    assert (await store.get("a")).lease == 7
    assert (await store.lease(7)).keys == ("a",)
    assert (await store.grant(5)).id == 10, "ids continue above lease_seq"
    store.close()


@pytest.mark.parametrize(
    ("overrides", "message"),
    [
        ({"pairs": {"a": ("x", 1, 1, 8)}}, "lease 8, which is not live"),
        ({"pairs": {"a": ("x", 1, 1, "7")}}, "is not a str key to a tuple|is not"),
        ({"leases": {7: 0}}, "TTL >= 1"),
        ({"leases": {12: 30}, "pairs": {}}, "an id up to 9"),
        ({"lease_seq": "9"}, "lease_seq a whole number"),
        ({"events": [(1, "put", "a", "x", 1, None, 0, "expired", None, 0, 0, 0, 1)], "revision": 1}, "reason"),
        ({"events": [(1, "put", "a", "x", 1, None, 0, None, "noon", 0, 0, 0, 1)], "revision": 1}, "time"),
    ],
)
def test_a_format_2_snapshot_of_the_wrong_shape_refuses_to_start(
    tmp_path: Path, overrides: dict[str, Any], message: str
) -> None:
    path = tmp_path / "store.pickle"
    document = _format_2(**overrides)
    if "revision" in overrides:
        document["pairs"] = {"a": ("x", 1, 1)}
    path.write_bytes(pickle.dumps(document, protocol=5))
    with pytest.raises(CorruptStore, match=message):
        PickleStore(path)
