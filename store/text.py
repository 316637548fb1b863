"""Text that a database column can hold, whatever the database.

PostgreSQL refuses U+0000 in text (SQLite stores it), and no UTF-8 encoder -- the driver's,
SQLite's -- takes a surrogate code point, which JSON's \\uD800 escapes and Python's reading
of arguments that are not UTF-8 (PEP 383) can both produce unpaired. Text from outside
(a request, a fetched trust list) is checked with :func:`unstorable` before it can reach a
query, so the caller answers with its own clear error instead of the driver's.
"""
from __future__ import annotations

import re

__all__ = ["unstorable"]

_UNSTORABLE = re.compile("[\\x00\\ud800-\\udfff]")


def unstorable(text: str) -> str | None:
    """What in ``text`` no database column takes (None when nothing), in words for an error."""
    found = _UNSTORABLE.search(text)
    if found is None:
        return None
    char = found.group()
    return "a NUL character (U+0000)" if char == "\x00" else f"an unpaired surrogate (U+{ord(char):04X})"
