"""gm.digits.ascii_whole_number: the one reader of whole numbers written by others (the console's
page numbers, the API's application ids and tree sizes, an OFD's listed signature IDs)."""
from __future__ import annotations

import pytest

from gm.digits import ascii_whole_number


@pytest.mark.parametrize(("text", "max_digits", "expected"), [
    ("0", 1, 0), ("7", 1, 7), ("007", 3, 7), ("123456789", 9, 123456789), ("9" * 18, 18, 10 ** 18 - 1),
])
def test_ascii_digits_within_the_bound_are_read(text: str, max_digits: int, expected: int) -> None:
    assert ascii_whole_number(text, max_digits) == expected


@pytest.mark.parametrize("text", [
    "", "²", "٣", "３", "+1", "-1", " 1", "1 ", "1_0", "1.0", "0x1", "1" * 5000, "1" * 10,
], ids=["empty", "superscript", "arabic-indic", "fullwidth", "plus", "minus", "lead-blank", "trail-blank",
        "underscore", "decimal", "hex", "5000-digits", "past-the-bound"])
def test_anything_else_is_none(text: str) -> None:
    """int() reads "٣", "３", "+1", " 1", "1_0" and refuses "²" and 5,000 digits with ValueError."""
    assert ascii_whole_number(text, 9) is None
