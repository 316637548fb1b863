"""A minimal strict DER walker: tag, and where the contents start and end.

For hot paths that need a few fields of a structure whose shape they know (an OFD seal
signature per document): slicing the original bytes costs microseconds where building
asn1crypto objects costs a hundred. It accepts only the plain DER form — low tag numbers,
definite minimal lengths, children that exactly fill their parent — and answers None for
anything else, so its caller falls back to the full asn1crypto reading, which then judges
(and names) whatever is unusual.
"""
from __future__ import annotations

__all__ = ["TLV", "tlv", "children"]

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
