"""OFD XML namespace and a hardened lxml parser.

OFD parts are plain XML in the namespace ``http://www.ofdspec.org/2016``. Producers differ
in prefixes (and a few omit the namespace), so lookups here match on the local name.
Parsing refuses anything an attacker could use against the reader: DTDs (hence entity
expansion and XXE), network access, oversized documents, and libxml2's "huge" mode.
"""
from __future__ import annotations

import threading
from collections.abc import Iterator

from lxml import etree

from seal.ofd.errors import OFDXMLError

OFD_NS = "http://www.ofdspec.org/2016"
NSMAP = {"ofd": OFD_NS}
MAX_XML_SIZE = 16 * 1024 * 1024


def q(local: str) -> str:
    """Qualified tag in the OFD namespace, for building elements."""
    return f"{{{OFD_NS}}}{local}"


_local = threading.local()


def _parser() -> etree.XMLParser:
    # One parser per thread: lxml parsers may not be shared between threads, and building one
    # per document costs more than parsing a small OFD part.
    parser = getattr(_local, "parser", None)
    if parser is None:
        parser = _local.parser = etree.XMLParser(resolve_entities=False, no_network=True, huge_tree=False,
                                                 load_dtd=False, dtd_validation=False, remove_blank_text=False)
    return parser


def parse_xml(data: bytes, *, name: str, max_size: int = MAX_XML_SIZE) -> etree._Element:
    """Parse one XML part of a package; ``name`` is used in error messages."""
    if len(data) > max_size:
        raise OFDXMLError(f"{name}: XML part of {len(data)} bytes exceeds the {max_size}-byte limit")
    # A DTD is never needed in OFD; refusing it up front also refuses entity expansion (billion
    # laughs) and external entities (XXE) before libxml2 sees them.
    # XML keywords are case-sensitive, so a plain byte search is exact for ASCII-compatible encodings.
    # Most parts hold no "!" at all, and one byte is found far faster than a keyword.
    if b"!" in data and (b"<!DOCTYPE" in data or b"<!ENTITY" in data):
        raise OFDXMLError(f"{name}: DTD / entity declarations are not allowed in OFD parts")
    try:
        root = etree.fromstring(data, _parser())
    except etree.XMLSyntaxError as exc:
        raise OFDXMLError(f"{name}: malformed XML: {exc}") from None
    info = root.getroottree().docinfo
    # Catches a DOCTYPE hidden from the byte scan by a UTF-16 encoding.
    if info.doctype or info.internalDTD is not None:
        raise OFDXMLError(f"{name}: DTD / entity declarations are not allowed in OFD parts")
    return root


def local(el: etree._Element) -> str:
    """Local name of an element ("" for comments and processing instructions)."""
    tag = el.tag
    if not isinstance(tag, str):
        return ""
    return tag.rpartition("}")[2]


def children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    for child in el:
        if local(child) == name:
            yield child


def child(el: etree._Element, name: str) -> etree._Element | None:
    return next(children(el, name), None)


def text(el: etree._Element | None, name: str | None = None) -> str | None:
    """Stripped text of ``el`` (or of its child ``name``); None when absent or empty."""
    if el is not None and name is not None:
        el = child(el, name)
    if el is None or el.text is None:
        return None
    value = el.text.strip()
    return value or None


def serialize(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8")
