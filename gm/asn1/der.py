"""A minimal strict DER walker: tag, and where the contents start and end.

For hot paths that need a few fields of a structure whose shape they know (an OFD seal
signature per document): slicing the original bytes costs microseconds where building
asn1crypto objects costs a hundred. It accepts only the plain DER form — low tag numbers,
definite minimal lengths, children that exactly fill their parent — and answers None for
anything else, so its caller falls back to the full asn1crypto reading, which then judges
(and names) whatever is unusual.

The writing half (``encode``, ``integer``) is for hot paths that write a known structure
(a CMS SignerInfo, a TSTInfo per timestamp) around parts encoded once by asn1crypto.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Sequence

__all__ = ["TLV", "tlv", "children", "children_of", "whole", "contents", "integer_value", "time_value",
           "length", "encode", "integer"]

# (tag octet, start of the TLV, start of the contents, end of the contents)
TLV = tuple[int, int, int, int]


def tlv(data: bytes, pos: int, end: int) -> TLV | None:
    """The TLV at ``pos`` that ends by ``end``; None when it is not plain DER."""
    if pos + 2 > end:
        return None
    tag = data[pos]
    if tag & 0x1F == 0x1F:             # high tag number form: not in the structures read here
        return None
    first = data[pos + 1]
    if first < 0x80:
        start, length = pos + 2, first
    else:
        count = first & 0x7F
        if count == 0 or count > 3 or pos + 2 + count > end:   # indefinite, or beyond 16 MiB
            return None
        length = int.from_bytes(data[pos + 2:pos + 2 + count], "big")
        if length < 0x80 or length >> (8 * (count - 1)) == 0:  # not the minimal length encoding
            return None
        start = pos + 2 + count
    if start + length > end:
        return None
    return tag, pos, start, start + length


def children(data: bytes, start: int, end: int) -> list[TLV] | None:
    """The TLVs that exactly fill ``data[start:end]`` (a constructed value's contents)."""
    out: list[TLV] = []
    pos = start
    while pos < end:
        item = tlv(data, pos, end)
        if item is None:
            return None
        out.append(item)
        pos = item[3]
    return out


def children_of(data: bytes, item: TLV | None, tags: Sequence[int] | None = None) -> list[TLV] | None:
    """The children of ``item`` (None: none to read), if plain DER and, given ``tags``,
    exactly those tags in that order."""
    if item is None:
        return None
    got = children(data, item[2], item[3])
    if got is None or tags is not None and [t[0] for t in got] != list(tags):
        return None
    return got


def whole(data: bytes, item: TLV) -> bytes:
    """The TLV's bytes, header included."""
    return data[item[1]:item[3]]


def contents(data: bytes, item: TLV) -> bytes:
    return data[item[2]:item[3]]


def integer_value(data: bytes, item: TLV) -> int | None:
    """An INTEGER's value; None for another tag or empty contents."""
    body = data[item[2]:item[3]]
    return int.from_bytes(body, "big", signed=True) if item[0] == 0x02 and body else None


def time_value(data: bytes, item: TLV) -> _dt.datetime | None:
    """UTCTime YYMMDDHHMMSSZ or GeneralizedTime YYYYMMDDHHMMSSZ as an aware datetime, read
    as asn1crypto reads them; None for another tag or form (fractions, offsets, no seconds),
    or a date that does not exist."""
    tag, text = item[0], data[item[2]:item[3]]
    if tag == 0x17 and len(text) == 13 and text[:2].isdigit():
        year = int(text[:2]) + (2000 if int(text[:2]) < 50 else 1900)
        rest = text[2:12]
    elif tag == 0x18 and len(text) == 15 and text[:4].isdigit():
        year, rest = int(text[:4]), text[4:14]
    else:
        return None
    if year < 1 or not rest.isdigit() or text[-1:] != b"Z":
        return None
    try:
        return _dt.datetime(year, int(rest[0:2]), int(rest[2:4]), int(rest[4:6]), int(rest[6:8]), int(rest[8:10]),
                            tzinfo=_dt.timezone.utc)
    except ValueError:
        return None


def length(n: int) -> bytes:
    """DER definite length octets of ``n``."""
    if n < 0x80:
        return bytes([n])
    body = n.to_bytes((n.bit_length() + 7) // 8, "big")
    return bytes([0x80 | len(body)]) + body


def encode(tag: int, content: bytes) -> bytes:
    """One TLV: a low-number tag octet, the DER length, ``content``."""
    return bytes([tag]) + length(len(content)) + content


def integer(value: int) -> bytes:
    """DER INTEGER: minimal two's complement."""
    size = ((value if value >= 0 else ~value).bit_length() + 8) // 8
    return encode(0x02, value.to_bytes(size, "big", signed=True))
