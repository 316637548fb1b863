"""Reading a Signature.xml (TextTemplate) or an OFD.xml (MarkupTemplate) by comparing its
bytes with one of the same shape read before.

A producer writes every Signature.xml the same way; from one document to the next only a few
element texts change (the CheckValue of each per-document file, SignatureDateTime). Walking
the lxml tree costs far more than comparing bytes, so a Signature.xml once walked becomes a
template: its bytes with those texts cut out as slots. A later Signature.xml made of exactly
the same bytes around the slots, with slot texts of a few plain characters, then says what the
template says, the slot texts aside.

Why that is exact, so that such a document is neither parsed nor walked: a template is cut only
from a UTF-8 (or ASCII) document without ``&``, comments, CDATA, DTD or processing instructions
other than the XML declaration, so its bytes are its text. A slot is cut only where the text
occurs once in the whole document, right after a ``>`` and right before ``</``: that is the
whole text of the element the walk read it from. A document matching the template has the same
bytes (so the same elements, attributes and other texts) except in the slots, and a slot text
of the plain characters below contains no markup, entity or line end to normalise: it is that
element's whole text, as lxml reads it. Replacing one element's whole text by such characters
keeps a well-formed document well-formed (and free of DTDs), so the parse the template's
document passed would pass again.
"""
from __future__ import annotations

import re
from collections.abc import Sequence
from operator import itemgetter

# Characters of base64 values and date-times: no "<", "&", "]" or line end.
_PLAIN = re.compile(rb"[A-Za-z0-9+/=:. -]*")
_ENCODINGS = frozenset(("UTF-8", "US-ASCII", "ASCII"))


class TextTemplate:
    """The bytes of one document with some element texts cut out as slots."""

    __slots__ = ("pieces", "positions", "size", "_fixed", "_slots")

    def __init__(self, pieces: tuple[bytes, ...], positions: tuple[int, ...], spans: list[tuple[int, int]]) -> None:
        self.pieces = pieces          # the bytes around the slots: one more than there are slots
        self.positions = positions    # per slot, its index in the texts given to cut()
        self.size = spans[-1][1] + len(pieces[-1])
        # A document as long as the template (slot texts of the template's lengths, as digests
        # always are) is taken apart at the template's offsets, in one call for each side.
        ends = [0, *(end for _, end in spans)]
        starts = [start for start, _ in spans] + [self.size]
        self._fixed = itemgetter(*(slice(a, b) for a, b in zip(ends, starts)))
        self._slots = itemgetter(slice(0, 0), *(slice(a, b) for a, b in spans))   # two items at least: a tuple

    @classmethod
    def cut(cls, xml: bytes, encoding: str | None, texts: Sequence[str | None]) -> TextTemplate | None:
        """A template of ``xml`` with a slot for each non-empty text of ``texts`` (texts the
        walk read from its elements, stripped), or None when that cannot be done exactly."""
        if (encoding or "").upper() not in _ENCODINGS or not xml.startswith(b"<") or b"&" in xml \
                or b"<!" in xml or xml.count(b"<?") != xml.startswith(b"<?xml "):
            return None
        found = []
        for position, text in enumerate(texts):
            if not text:
                continue                       # kept as it is, in the bytes around the slots
            value = text.encode("ascii", "replace")
            if not _PLAIN.fullmatch(value) or xml.count(value) != 1:
                return None
            start = xml.find(value)
            if xml[start - 1:start] != b">" or not xml.startswith(b"</", start + len(value)):
                return None
            found.append((start, start + len(value), position))
        if not found:
            return None
        found.sort()
        pieces, end = [], 0
        for start, stop, _ in found:
            pieces.append(xml[end:start])
            end = stop
        pieces.append(xml[end:])
        return cls(tuple(pieces), tuple(position for _, _, position in found),
                   [(start, stop) for start, stop, _ in found])

    def fill(self, xml: bytes) -> list[str] | None:
        """The slot texts of ``xml``, unstripped, in the order of ``positions``; None unless
        ``xml`` is the template's bytes with plain slot texts."""
        if len(xml) == self.size:
            if self._fixed(xml) != self.pieces:
                return None
            slots = self._slots(xml)
        else:
            slots = self._find_slots(xml)
            if slots is None:
                return None
        # One check of all slot texts at once: the join is plain exactly when each one is.
        if not _PLAIN.fullmatch(b"".join(slots)):
            return None
        return [slot.decode("ascii") for slot in slots[1:]]

    def _find_slots(self, xml: bytes) -> list[bytes] | None:
        """The slot texts of ``xml`` (after an empty first one, as _slots gives them) when it
        is the template's bytes around them, whatever their lengths."""
        slots = _texts_between(self.pieces, xml)
        return None if slots is None else [b"", *slots]


def _texts_between(pieces: tuple[bytes, ...], xml: bytes) -> list[bytes] | None:
    """The texts of ``xml`` between ``pieces`` (each after the first starts with "</"), when
    ``xml`` is those pieces around texts without a "<"; None otherwise."""
    if not xml.startswith(pieces[0]):
        return None
    slots = []
    pos = len(pieces[0])
    for piece in pieces[1:]:
        end = xml.find(b"<", pos)          # a slot text holds no "<": it ends at the next piece
        if end < 0 or not xml.startswith(piece, end):
            return None
        slots.append(xml[pos:end])
        pos = end + len(piece)
    return slots if pos == len(xml) else None


# An element's text right before its end tag: no markup, no quote or ">" (so never part of an
# attribute value that holds a ">"), then the end tag's name.
_TEXT_BEFORE_END = re.compile(rb'>([^<>"\'&]*)</([^\s>/]+)')
# What a slot text of a fitting document may not hold: markup, an entity or character
# reference, quotes, and characters XML 1.0 does not allow (U+FFFE / U+FFFF below).
_UNSAFE = re.compile(rb'[<>&"\'\x00-\x08\x0b\x0c\x0e-\x1f]|\xef\xbf[\xbe\xbf]')


class MarkupTemplate:
    """The bytes of one document with the texts of every element but a few named ones cut
    out as slots: its markup (tags, attributes, namespaces) and the texts of those elements.

    A document that is the template's bytes around slot texts of plain character data (valid
    UTF-8, no markup, reference, quote or disallowed character) is well-formed exactly as the
    template's document was, and reads as the same tree but for the texts of elements other
    than the named ones (and tails, which a walk by element never reads). A walk that reads
    no other text than those of the named elements therefore reads the same from both.

    Cut only from a UTF-8 (or ASCII) document without comments, CDATA, DTD or processing
    instructions other than the XML declaration, so that every ``>text</`` is character data
    followed by an end tag."""

    __slots__ = ("pieces",)

    def __init__(self, pieces: tuple[bytes, ...]) -> None:
        self.pieces = pieces          # the bytes around the slots; each after the first starts with "</"

    @classmethod
    def cut(cls, xml: bytes, encoding: str | None, keep: frozenset[str]) -> MarkupTemplate | None:
        """A template of ``xml`` keeping the texts of elements whose local name is in ``keep``;
        None when it cannot be done exactly or there would be no slot."""
        if (encoding or "UTF-8").upper() not in _ENCODINGS or not xml.startswith(b"<") or b"<!" in xml \
                or xml.count(b"<?") != xml.startswith(b"<?xml "):
            return None
        pieces, end = [], 0
        for match in _TEXT_BEFORE_END.finditer(xml):
            local = match.group(2).rpartition(b":")[2].decode("ascii", "replace")
            if local in keep:
                continue
            pieces.append(xml[end:match.start(1)])
            end = match.end(1)
        if not pieces:
            return None
        pieces.append(xml[end:])
        return cls(tuple(pieces))

    def fits(self, xml: bytes) -> bool:
        """Whether ``xml`` is the template's bytes around slot texts of plain character data."""
        slots = _texts_between(self.pieces, xml)
        if slots is None:
            return False
        # All slots checked at once, joined by a line end: it keeps a character split across two
        # slots from reading as whole, and is itself neither unsafe nor able to make a "\xef\xbf\xbe".
        joined = b"\n".join(slots)
        if _UNSAFE.search(joined):
            return False
        try:
            joined.decode("utf-8")
        except UnicodeDecodeError:
            return False
        return True
