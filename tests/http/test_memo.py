"""Bounded memos: what is remembered, and what happens when one is full."""

from __future__ import annotations

from kvapp.http.memo import remember


def test_a_value_is_kept_and_handed_back() -> None:
    memo: dict[str, int] = {}
    assert remember(memo, "a", 1, limit=4) == 1
    assert memo == {"a": 1}


def test_a_full_memo_is_emptied_before_the_next_key() -> None:
    memo: dict[int, int] = {}
    for key in range(9):
        remember(memo, key, key, limit=4)
        assert len(memo) <= 4
    assert memo == {8: 8}
