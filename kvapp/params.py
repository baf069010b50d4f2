"""Numbers written in query strings, read the same way by the HTTP API and the watch socket."""

from __future__ import annotations

# Digits a number written in a query may have: far past any revision (19) or page size, and
# far below the 4300 past which int() refuses (ValueError) after spending time on it.
MAX_NUMBER_DIGITS = 64


def parse_whole_number(text: str, *, signed: bool = False) -> int | None:
    """``text`` as an int if it is 1 to MAX_NUMBER_DIGITS ASCII digits, after one ``-`` when
    ``signed``; else None.

    For numbers in query strings: int() also reads "1_0", " 5 ", "+2" and full-width digits.
    """
    digits = text[1:] if signed and text.startswith("-") else text
    if 0 < len(digits) <= MAX_NUMBER_DIGITS and digits.isascii() and digits.isdigit():
        return int(text)
    return None
