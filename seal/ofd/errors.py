"""Typed errors of the OFD package reader, writer and sealer.

Broken or hostile input raises one of these with a message naming the entry or path at
fault; a bad *signature* never raises here — reference mismatches are facts reported by
:mod:`seal.ofd.references` for the verifier to judge.
"""
from __future__ import annotations


class OFDError(Exception):
    """Base of every OFD error."""


class OFDFormatError(OFDError):
    """The file is not a well-formed OFD package (bad zip, missing OFD.xml, bad XML shape)."""


class OFDLimitError(OFDFormatError):
    """The package exceeds a safety limit (entries, sizes, compression ratio)."""


class ZipBombError(OFDLimitError):
    """An entry inflates beyond its declared size or beyond the allowed compression ratio."""


class OFDPathError(OFDFormatError):
    """An entry name or an OFD location is unsafe: absolute, traversal, backslash, duplicate."""


class OFDXMLError(OFDFormatError):
    """An XML part is malformed, too large, or carries a DTD / entity declarations."""


class OFDMissingPartError(OFDFormatError):
    """A part that the structure requires (OFD.xml, a DocRoot, a page) is absent."""


class OFDUsageError(OFDError):
    """The caller asked for something impossible (no such document or page, bad boundary)."""


class OFDPageOutOfRange(OFDUsageError):
    """No page ``page_index`` (from 0): the document has ``pages``."""

    def __init__(self, page_index: int, pages: int) -> None:
        super().__init__(f"page_index {page_index} out of range: the document has {pages} page(s)")
        self.page_index, self.pages = page_index, pages


# HTTP problem types (status, slug, title) for api.problems.register, most specific first;
# the API maps every OFDError through this table in its one error handler.
PROBLEMS: tuple[tuple[type[OFDError], int, str, str], ...] = (
    (OFDError, 400, "ofd-error", "OFD request refused"),
    (OFDFormatError, 422, "malformed-ofd", "Not a well-formed OFD (GB/T 33190) package"),
    (OFDLimitError, 413, "ofd-too-large", "OFD package exceeds a safety limit"),
    (ZipBombError, 413, "ofd-zip-bomb", "OFD package inflates beyond the allowed ratio or size"),
    (OFDPathError, 422, "unsafe-ofd-path", "OFD package names an unsafe or duplicate path"),
    (OFDXMLError, 422, "malformed-ofd-xml", "OFD XML part malformed, too large, or with a DTD"),
    (OFDMissingPartError, 422, "incomplete-ofd", "A required OFD part is missing"),
    (OFDUsageError, 400, "invalid-ofd-request", "The OFD request is invalid (document, page, boundary)"),
    (OFDPageOutOfRange, 400, "ofd-page-out-of-range", "The OFD document has no such page"),
)
