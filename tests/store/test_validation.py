"""kvapp.store.validation and kvapp.params: the rules for keys, values and revisions, and query numbers."""

from __future__ import annotations

import pytest

from kvapp.params import MAX_NUMBER_DIGITS, parse_whole_number


@pytest.mark.parametrize(("text", "number"), [("0", 0), ("7", 7), ("0042", 42), ("9" * 19, 10**19 - 1)])
def test_ascii_digits_are_a_whole_number(text: str, number: int) -> None:
    assert parse_whole_number(text) == number
    assert parse_whole_number(text, signed=True) == number


FULL_WIDTH_THREE = "\uff13"  # int() reads it as 3
NOT_NUMBERS = ["", "-", "1_0", " 5", "5 ", "+2", FULL_WIDTH_THREE, "\u00b2", "1.5", "1e3", "0x1", "5\n", "--5"]


@pytest.mark.parametrize("text", [*NOT_NUMBERS, "1" * (MAX_NUMBER_DIGITS + 1)])
def test_anything_else_int_would_take_or_choke_on_is_none(text: str) -> None:
    assert parse_whole_number(text) is None
    assert parse_whole_number(text, signed=True) is None


def test_a_minus_sign_only_when_signed() -> None:
    assert parse_whole_number("-5") is None
    assert parse_whole_number("-5", signed=True) == -5
    assert parse_whole_number("-" + "1" * MAX_NUMBER_DIGITS, signed=True) == -int("1" * MAX_NUMBER_DIGITS)


def test_far_past_int_s_own_limit_is_none_not_valueerror() -> None:
    assert parse_whole_number("1" * 5000) is None
