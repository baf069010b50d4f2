"""Result lines: a key is quoted, as values are, whenever it would make its line ambiguous."""

from __future__ import annotations

import re
from datetime import UTC, timedelta, timezone

import pytest

from kvapp.testing.server import ServerProcess
from kvcli.output import (
    format_event,
    format_history_item,
    format_key,
    format_lease,
    format_pair,
    format_stored,
    format_time,
    format_txn_response,
)
from tests.cli.inprocess import run_cli


@pytest.mark.parametrize("key", ["app/db/host", "a", "ключ", "a?b#c%20", "..", "-x", "(x)", "a+b&c:d,e@f"])
def test_a_plain_key_prints_bare(key: str) -> None:
    assert format_key(key) == key


@pytest.mark.parametrize(
    ("key", "shown"),
    [
        ("a key with spaces", '"a key with spaces"'),
        (" lead", '" lead"'),
        ("trail ", '"trail "'),
        ('say "hi"', '"say \\"hi\\""'),
        ("it's", '"it\'s"'),
        ("a=b", '"a=b"'),
        ("back\\slash", '"back\\\\slash"'),
        ("tab\there", '"tab\\there"'),
        ("new\nline", '"new\\nline"'),
        ("", '""'),
        ("\u200b", '"\\u200b"'),  # zero width: would print as nothing, and look like the empty key
        ("line\u2028separator", '"line\\u2028separator"'),
        ("c1\u009bcontrol", '"c1\\u009bcontrol"'),
        ("tag\U000e0041", '"tag\\udb40\\udc41"'),
        ("no\u00a0break", '"no\\u00a0break"'),  # a no-break space looks like a space
        ("\u0301accent", '"\u0301accent"'),  # a leading combining mark joins the space before it
    ],
)
def test_a_key_that_would_be_ambiguous_is_quoted_as_a_value_is(key: str, shown: str) -> None:
    assert format_key(key) == shown


def test_an_invisible_character_in_a_value_is_escaped_too() -> None:
    assert format_pair({"key": "k", "value": "a\u200bb\ufeff"}) == 'k = "a\\u200bb\\ufeff"'
    assert format_pair({"key": "k", "value": "tab\t ü €"}) == 'k = "tab\\t ü €"'


def test_pair_and_event_lines_quote_the_key_only_when_needed() -> None:
    assert format_pair({"key": "a b", "value": "v"}) == '"a b" = "v"'
    assert format_pair({"key": "a = b", "value": "c"}) == '"a = b" = "c"'
    assert format_event({"type": "put", "key": "x y", "value": "1", "revision": 4}) == 'put "x y" = "1" (rev 4)'
    assert format_event({"type": "delete", "key": "x y", "revision": 5}) == 'delete "x y" (rev 5)'
    assert format_event({"type": "delete", "key": "app/x", "revision": 6}) == "delete app/x (rev 6)"


def test_put_delete_and_getall_quote_a_key_with_spaces(server: ServerProcess) -> None:
    stored = run_cli("--url", server.url, "put", "quoted/a key", "v")
    assert re.fullmatch(r'stored "quoted/a key" = "v" \(rev \d+\)\n', stored.out), stored
    run_cli("--url", server.url, "put", "quoted/plain", "w")
    listing = run_cli("--url", server.url, "getall", "quoted/")
    assert listing.out == '"quoted/a key" = "v"\nquoted/plain = "w"\n'
    deleted = run_cli("--url", server.url, "delete", "quoted/a key")
    assert re.fullmatch(r'deleted "quoted/a key" \(rev \d+\)\n', deleted.out), deleted


def test_a_leased_pair_names_its_lease_and_a_lease_delete_says_why() -> None:
    put = {"type": "put", "key": "svc/a", "value": "up", "revision": 7, "lease": 42}
    assert format_event(put) == 'put svc/a = "up" (rev 7, lease 42)'
    assert format_stored(put) == 'stored svc/a = "up" (rev 7, lease 42)'
    expired = {"type": "delete", "key": "svc/a", "revision": 9, "lease": 42, "reason": "expired"}
    assert format_event(expired) == "delete svc/a (rev 9, lease 42 expired)"
    assert format_stored({"key": "k", "value": "v", "revision": 3}) == 'stored k = "v" (rev 3)'


@pytest.mark.parametrize(
    ("response", "line"),
    [
        ({"op": "put", "key": "a", "value": "1", "revision": 11, "prev": None}, 'put a = "1" (rev 11)'),
        ({"op": "put", "key": "a", "value": "1", "revision": 11, "lease": 3}, 'put a = "1" (rev 11, lease 3)'),
        ({"op": "delete", "key": "b", "revision": 12, "prev": "x"}, "delete b (rev 12)"),
        ({"op": "delete", "key": "b", "revision": None, "prev": None}, "delete b: not found"),
        ({"op": "get", "key": "c", "value": "x", "revision": 5}, 'get c = "x" (rev 5)'),
        ({"op": "get", "key": "c d", "value": None, "revision": 0}, 'get "c d": not found'),
    ],
)
def test_each_transaction_response_is_one_line(response: dict, line: str) -> None:
    assert format_txn_response(response) == line


def test_a_history_line_is_revision_local_time_type_and_value() -> None:
    cet = timezone(timedelta(hours=1), "CET")
    put = {"type": "put", "value": "v 2", "revision": 12, "time": "2026-12-02T07:40:12.345Z"}
    assert format_history_item(put, cet) == '    12  2026-12-02 08:40:12.345 CET  put     "v 2"'
    gone = {"type": "delete", "revision": 13, "lease": 7, "reason": "expired", "time": "2026-12-02T07:40:13.000Z"}
    assert format_history_item(gone, UTC) == "    13  2026-12-02 07:40:13.000 UTC  delete  (lease 7 expired)"
    old = {"type": "delete", "revision": 1, "time": None}
    assert format_history_item(old) == "     1  (time not kept)              delete"
    assert format_time("not a time") == "not a time"  # shown as the server sent it rather than lost


def test_a_lease_line_counts_its_keys_whether_listed_or_shown() -> None:
    assert format_lease({"id": 7, "ttl": 30, "remaining": 12.345, "keys": 1}) == "lease 7: ttl 30s, 12.3s left, 1 key"
    assert (
        format_lease({"id": 7, "ttl": 30, "remaining": 30, "keys": ["a", "b"]})
        == "lease 7: ttl 30s, 30.0s left, 2 keys"
    )
