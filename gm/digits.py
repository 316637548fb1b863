"""Reading a whole number that someone else wrote as text: a page number in a URL, an id in a
path, a signature ID (ST_ID) in an OFD someone uploaded.

Not ``str.isdigit()`` then ``int()``: isdigit() also takes "²", which int() refuses; int()
reads other scripts' digits ("٣" is 3), blanks, a sign and "_", none of which such a number is
written with; and int() refuses more than 4300 digits (``sys.get_int_max_str_digits``) with a
ValueError that nothing expects there.
"""
from __future__ import annotations

__all__ = ["ascii_whole_number"]


def ascii_whole_number(text: str, max_digits: int) -> int | None:
    """``text`` as a non-negative integer when it is 1 to ``max_digits`` ASCII digits; None
    otherwise."""
    if not 0 < len(text) <= max_digits or not text.isascii() or not text.isdigit():
        return None
    return int(text)
