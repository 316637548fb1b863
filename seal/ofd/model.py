"""The parsed structure of an OFD package: OFD.xml -> DocBody -> Document.xml, Signatures.

Only what sealing and verification need is modelled: pages, the files a reader must open
to draw them (the "shown" set), and every signature with its SignedInfo. Every location is
resolved to an entry name (see :mod:`seal.ofd.paths`); lenient about producer quirks
(namespace prefixes, ``SignValue.dat``, letter case of folders), strict about safety.
"""
from __future__ import annotations

import binascii
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

from lxml import etree

from gm.digits import ascii_whole_number
from gm.records import frozen_record
from seal.ofd import xmlns as X
from seal.ofd.errors import OFDFormatError, OFDLimitError, OFDMissingPartError, OFDPathError, OFDXMLError
from seal.ofd.package import OFDPackage
from seal.ofd.paths import resolve
from seal.ofd.templates import MarkupTemplate, TextTemplate

OFD_ENTRY = "OFD.xml"

# Locations repeat across documents (the same producer writes the same names): resolving is
# a pure function of the two strings, so remember it (ordinary lengths only, so the memory
# held stays small). Bad locations raise and are not kept. Keyed by position: lru_cache builds
# and hashes a keyword key more slowly, and every Reference resolves its FileRef.
@lru_cache(maxsize=8192)
def _resolve_cached(loc: str, base: str) -> str:
    return resolve(loc, base=base)


def _resolve(loc: str, *, base: str = "") -> str:
    if len(loc) + len(base) <= 512:
        return _resolve_cached(loc, base)
    return resolve(loc, base=base)


# Lookups by local name, any namespace or none (as seal.ofd.xmlns), done by lxml itself:
# the "{*}" wildcard matches elements only, so comments and PIs are skipped as there.
def _children(el: etree._Element, name: str) -> Iterator[etree._Element]:
    return el.iterchildren("{*}" + name)


def _child(el: etree._Element, name: str) -> etree._Element | None:
    return next(el.iterchildren("{*}" + name), None)


def _descendants(el: etree._Element, name: str) -> Iterator[etree._Element]:
    return el.iter("{*}" + name)


# An ID (ST_ID, GB/T 33190) is ASCII digits; ofdrw holds one in a Java long, which every 18-digit number fits.
ID_DIGITS = 18


def read_id(text: str | None) -> int | None:
    """An ID (a listed signature's, MaxSignId) as a number; None for text that is none ("²",
    "٣", "-1", 5,000 digits)."""
    return None if text is None else ascii_whole_number(text, ID_DIGITS)


def _text(el: etree._Element | None, name: str | None = None) -> str | None:
    """Stripped text of ``el`` (or of its child ``name``); None when absent or empty."""
    if el is not None and name is not None:
        el = _child(el, name)
    if el is None or el.text is None:
        return None
    return el.text.strip() or None


# Outlines: what an XML part says (locations resolved), by its entry name and exact bytes.
# Documents from one producer repeat most parts byte for byte (Document.xml, PublicRes.xml,
# Signatures.xml of a template), so each is parsed once. An outline is a pure function of
# (name, bytes); a part that does not read cleanly gets None, and the caller then walks it
# the long way, which raises the same error at the same point as before.
_OUTLINES: dict[tuple[str, str, bytes], Any] = {}
_OUTLINE_LIMIT = 1024
_OUTLINE_MAX_PART = 32 * 1024      # larger parts are parsed each time: at most 32 MiB held
_UNKNOWN = object()                # not looked at yet (None is the outline of an unreadable part)


def _outline(kind: str, name: str, data: bytes, read: Callable[[etree._Element], Any],
             texts_read: frozenset[str] | None = None) -> Any:
    """``read`` of the parsed part, by (kind, name, bytes). With ``texts_read`` (the local names
    of the only elements whose text ``read`` looks at), a part that differs from the last one
    read under (kind, name) only in other elements' texts (seal.ofd.templates.MarkupTemplate)
    gets that part's outline without being parsed."""
    key = (kind, name, data)
    facts = _OUTLINES.get(key, _UNKNOWN)
    if facts is not _UNKNOWN:
        return facts
    shape = _SHAPES.get((kind, name)) if texts_read is not None else None
    if shape is not None and shape.template.fits(data):
        shape.misses = 0
        return shape.facts
    try:
        root = X.parse_xml(data, name=name, max_size=max(len(data), 1))
        facts = read(root)
    except OFDFormatError:
        facts = None
    if len(data) <= _OUTLINE_MAX_PART:
        if len(_OUTLINES) >= _OUTLINE_LIMIT:
            _OUTLINES.clear()
        _OUTLINES[key] = facts
        if texts_read is not None and facts is not None and _recut_due(shape):
            template = MarkupTemplate.cut(data, root.getroottree().docinfo.encoding, texts_read)
            if template is not None:
                if len(_SHAPES) >= _SHAPE_LIMIT:
                    _SHAPES.clear()
                _SHAPES[(kind, name)] = _Shape(template, facts)
    return facts


class _Shape:
    """The markup template of a part read under (kind, entry name), its outline, and the parts
    of that name it has not fitted since."""

    __slots__ = ("template", "facts", "misses")

    def __init__(self, template: MarkupTemplate, facts: Any) -> None:
        self.template, self.facts, self.misses = template, facts, 0


def _recut_due(kept: _Shape | _Known | None) -> bool:
    """Whether to cut a new template after a part did not fit the one ``kept`` (an OFD.xml's
    markup template, a Signature.xml's text template): at once when none is kept, else only
    every _RECUT_AFTER misses, so documents of alternating shapes seldom pay a cut."""
    if kept is None:
        return True
    kept.misses += 1                   # unlocked: a count lost between threads only delays a cut
    return kept.misses >= _RECUT_AFTER


# Per (kind, entry name), the markup template of the last part cut and its outline (see _outline).
_SHAPES: dict[tuple[str, str], _Shape] = {}
_SHAPE_LIMIT = 64
# The only element texts _bodies reads: OFD.xml differs from document to document in DocInfo.
_BODIES_TEXTS = frozenset(("DocRoot", "Signatures"))


@frozen_record
class Provider:
    name: str | None
    company: str | None
    version: str | None


@frozen_record
class Reference:
    file_ref: str                 # as written in Signature.xml
    path: str | None              # resolved entry name; None when the location itself is unsafe
    check_value: bytes | None     # decoded CheckValue; None when it is not valid base64
    check_value_text: str


@frozen_record
class StampAnnot:
    id: str | None
    page_ref: str | None
    boundary: tuple[float, float, float, float] | None
    clip: tuple[float, float, float, float] | None


@frozen_record
class SignatureInfo:
    """One ``<Signature>`` of a Signatures.xml, with its Signature.xml parsed."""

    id: str | None
    type: str                      # "Seal" (default per GB/T 33190) or "Sign"
    path: str                      # entry name of Signature.xml
    xml: bytes                     # Signature.xml exactly as stored (what dataHash covers)
    provider: Provider | None
    signature_method: str | None
    signature_datetime: str | None
    check_method: str | None
    references: tuple[Reference, ...]
    stamp_annots: tuple[StampAnnot, ...]
    seal_path: str | None
    signed_value_path: str | None  # resolved entry name as declared (may be absent from the package)
    quirks: tuple[str, ...] = ()
    # Set when this signature's own files cannot be read (Signature.xml missing or malformed):
    # the signature is then unverifiable, the rest of the package still is.
    error: str | None = None


@frozen_record
class PageInfo:
    id: str
    path: str


@dataclass
class DocumentInfo:
    """One DocBody: its Document.xml, pages, the files drawing them, and its signatures."""

    index: int
    doc_root: str
    signatures_path: str | None
    pages: list[PageInfo]
    shown: set[str]
    signatures: list[SignatureInfo] = field(default_factory=list)
    max_sign_id: int = 0
    listed_ids: list[str] = field(default_factory=list)   # ID attributes in Signatures.xml
    error: str | None = None              # Document.xml (or a part it needs) unreadable: no pages known
    signatures_error: str | None = None   # Signatures.xml unreadable: no signature listed


def _floats(value: str | None, count: int) -> tuple[float, ...] | None:
    if not value:
        return None
    try:
        numbers = tuple(float(v) for v in value.split())
    except ValueError:
        return None
    return numbers if len(numbers) == count else None


def load_xml(pkg: OFDPackage, name: str) -> etree._Element:
    real = pkg.find(name)
    if real is None:
        raise OFDMissingPartError(f"{name} is missing from the package")
    return X.parse_xml(pkg.read_xml_bytes(real), name=real, max_size=pkg.limits.max_xml_size)


def doc_bodies(pkg: OFDPackage) -> list[tuple[str, str | None]]:
    """(DocRoot entry, Signatures entry or None) per DocBody of OFD.xml."""
    real = pkg.find(OFD_ENTRY)
    if real is not None:
        bodies = _outline("bodies", real, pkg.read_xml_bytes(real), _bodies, _BODIES_TEXTS)
        if bodies is not None:
            return list(bodies)
    return _bodies(load_xml(pkg, OFD_ENTRY))


def _bodies(root: etree._Element) -> list[tuple[str, str | None]]:
    if X.local(root) != "OFD":
        raise OFDFormatError(f"OFD.xml: root element is <{X.local(root)}>, not <ofd:OFD>")
    bodies = []
    for body in _children(root, "DocBody"):
        doc_root = _text(body, "DocRoot")
        if doc_root is None:
            raise OFDFormatError("OFD.xml: a DocBody has no DocRoot")
        sigs = _text(body, "Signatures")
        bodies.append((_resolve(doc_root, base=OFD_ENTRY), _resolve(sigs, base=OFD_ENTRY) if sigs else None))
    if not bodies:
        raise OFDFormatError("OFD.xml has no DocBody")
    return bodies


def _res_files(pkg: OFDPackage, res_path: str, shown: set[str]) -> None:
    """Add a resource file and the media / font files it names to ``shown``."""
    real = pkg.find(res_path)
    if real is None:
        return
    shown.add(real)
    try:
        data = pkg.read_xml_bytes(real)
    except OFDLimitError:
        raise
    except OFDFormatError:
        return
    targets = _outline("res", real, data, lambda root: _res_targets(root, real))
    if targets is None:
        return       # an unreadable resource part: a reference mismatch, judged there
    for target in targets:
        shown.add(pkg.find(target) or target)


def _res_targets(root: etree._Element, real: str) -> tuple[str, ...]:
    """The media and font files a resource part names (as _res_files reads them)."""
    base_loc = root.get("BaseLoc")
    origin = real
    if base_loc:
        try:
            origin = _resolve(base_loc.rstrip("/") + "/_", base=real)
        except OFDPathError:
            origin = real
    out = []
    for tag in ("MediaFile", "FontFile"):
        for node in _descendants(root, tag):
            loc = _text(node)
            if not loc:
                continue
            try:
                out.append(_resolve(loc, base=origin))
            except OFDPathError:
                continue
    return tuple(out)


def _page_files(pkg: OFDPackage, content: str, shown: set[str]) -> list[str]:
    """The page's own resource files (PageRes) and template ids it uses."""
    real = pkg.find(content)
    if real is None:
        return []
    data = pkg.read_xml_bytes(real)
    # Most pages name neither: skip parsing them (content pages are the bulk of a document).
    if b"PageRes" not in data and b"Template" not in data:
        return []
    try:
        root = X.parse_xml(data, name=real, max_size=pkg.limits.max_xml_size)
    except OFDXMLError:
        return []  # a damaged page is a reference mismatch, judged there
    for node in _children(root, "PageRes"):
        loc = _text(node)
        if loc:
            try:
                _res_files(pkg, _resolve(loc, base=content), shown)
            except OFDPathError:
                pass
    return [t.get("TemplateID", "") for t in _children(root, "Template")]


def _document_outline(root: etree._Element, real: str) -> tuple[Any, ...]:
    """(resource parts, template locations by ID, (page ID, location) per page, annotations
    location or None) of a Document.xml; raises where _walk_document would."""
    common = _child(root, "CommonData")
    res: list[str] = []
    templates: dict[str, str] = {}
    if common is not None:
        for tag in ("PublicRes", "DocumentRes"):
            for node in _children(common, tag):
                loc = _text(node)
                if loc:
                    res.append(_resolve(loc, base=real))
        for tpl in _children(common, "TemplatePage"):
            if tpl.get("BaseLoc"):
                templates[tpl.get("ID", "")] = _resolve(tpl.get("BaseLoc"), base=real)
    pages = []
    pages_el = _child(root, "Pages")
    for page in (_children(pages_el, "Page") if pages_el is not None else ()):
        loc = page.get("BaseLoc")
        if not loc:
            raise OFDFormatError(f"{real}: a Page has no BaseLoc")
        pages.append((page.get("ID", ""), _resolve(loc, base=real)))
    annots = _text(root, "Annotations")
    return tuple(res), templates, tuple(pages), _resolve(annots, base=real) if annots else None


def _walk_document(pkg: OFDPackage, doc_root: str, deep: bool) -> tuple[list[PageInfo], set[str]]:
    """Pages of a Document.xml and (when ``deep``) every file drawing them."""
    real = pkg.find(doc_root)
    if real is not None:
        outline = _outline("document", real, pkg.read_xml_bytes(real), lambda root: _document_outline(root, real))
        if outline is not None:
            return _walk_outline(pkg, real, outline, deep)
    return _walk_document_tree(pkg, doc_root, deep)


def _walk_outline(pkg: OFDPackage, real: str, outline: tuple[Any, ...], deep: bool) -> tuple[list[PageInfo], set[str]]:
    res, templates, page_locs, annots = outline
    shown: set[str] = {OFD_ENTRY, real}
    if deep:
        for path in res:
            _res_files(pkg, path, shown)
    pages: list[PageInfo] = []
    for page_id, loc in page_locs:
        path = pkg.find(loc) or loc
        pages.append(PageInfo(id=page_id, path=path))
        shown.add(path)
        if not deep:
            continue
        for tid in _page_files(pkg, path, shown):
            if tid in templates:
                tpath = pkg.find(templates[tid]) or templates[tid]
                shown.add(tpath)
                _page_files(pkg, tpath, shown)
    if deep and annots:
        _annotation_files(pkg, annots, shown)
    return pages, shown


def _walk_document_tree(pkg: OFDPackage, doc_root: str, deep: bool) -> tuple[list[PageInfo], set[str]]:
    """_walk_document for a Document.xml without a clean outline: raises where it breaks."""
    root = load_xml(pkg, doc_root)
    doc_root = pkg.find(doc_root) or doc_root
    shown: set[str] = {OFD_ENTRY, doc_root}
    common = _child(root, "CommonData")
    templates: dict[str, str] = {}
    if common is not None and deep:
        for tag in ("PublicRes", "DocumentRes"):
            for node in _children(common, tag):
                loc = _text(node)
                if loc:
                    _res_files(pkg, _resolve(loc, base=doc_root), shown)
        for tpl in _children(common, "TemplatePage"):
            if tpl.get("BaseLoc"):
                templates[tpl.get("ID", "")] = _resolve(tpl.get("BaseLoc"), base=doc_root)
    pages: list[PageInfo] = []
    pages_el = _child(root, "Pages")
    for page in (_children(pages_el, "Page") if pages_el is not None else ()):
        loc = page.get("BaseLoc")
        if not loc:
            raise OFDFormatError(f"{doc_root}: a Page has no BaseLoc")
        path = _resolve(loc, base=doc_root)
        path = pkg.find(path) or path
        pages.append(PageInfo(id=page.get("ID", ""), path=path))
        shown.add(path)
        if not deep:
            continue
        for tid in _page_files(pkg, path, shown):
            if tid in templates:
                tpath = pkg.find(templates[tid]) or templates[tid]
                shown.add(tpath)
                _page_files(pkg, tpath, shown)
    annots = _text(root, "Annotations") if deep else None
    if annots:
        _annotation_files(pkg, _resolve(annots, base=doc_root), shown)
    return pages, shown


def _annotation_files(pkg: OFDPackage, path: str, shown: set[str]) -> None:
    real = pkg.find(path)
    if real is None:
        shown.add(path)
        return
    shown.add(real)
    for node in _descendants(load_xml(pkg, real), "FileLoc"):
        loc = _text(node)
        if not loc:
            continue
        try:
            target = _resolve(loc, base=real)
        except OFDPathError:
            continue
        target = pkg.find(target) or target
        shown.add(target)
        if target not in pkg:
            continue
        try:
            annot_root = load_xml(pkg, target)
        except OFDLimitError:
            raise
        except OFDFormatError:
            continue
        for res in _descendants(annot_root, "PageRes"):
            if _text(res):
                try:
                    _res_files(pkg, _resolve(_text(res), base=target), shown)  # type: ignore[arg-type]
                except OFDPathError:
                    continue


def parse_document(pkg: OFDPackage, index: int, doc_root: str, signatures_path: str | None, *,
                   deep: bool = True) -> DocumentInfo:
    """Parse one DocBody. ``deep=False`` (what sealing needs) skips the shown-file walk and the
    Signature.xml files, reading only pages and the Signatures.xml listing, and raises for any
    damage. ``deep=True`` (verification) records damage in ``error`` / ``signatures_error`` and
    carries on: a page or Document.xml edited into malformed XML is then a reference mismatch
    of the signatures that cover it, not an unreadable package."""
    error = None
    try:
        pages, shown = _walk_document(pkg, doc_root, deep)
    except OFDLimitError:
        raise
    except OFDFormatError as exc:
        if not deep:
            raise
        error = str(exc)
        pages, shown = [], {OFD_ENTRY, pkg.find(doc_root) or doc_root}
    info = DocumentInfo(index=index, doc_root=pkg.find(doc_root) or doc_root, signatures_path=signatures_path,
                        pages=pages, shown=shown, error=error)
    if signatures_path is not None:
        real = pkg.find(signatures_path)
        if real is not None:
            info.signatures_path = real
            try:
                info.max_sign_id, info.listed_ids, info.signatures = parse_signatures(pkg, real, deep=deep)
            except OFDLimitError:
                raise
            except OFDFormatError as exc:
                if not deep:
                    raise
                info.signatures_error = str(exc)
    return info


def parse_signatures(pkg: OFDPackage, path: str, *, deep: bool = True) -> tuple[int, list[str], list[SignatureInfo]]:
    """(MaxSignId, listed IDs, parsed signatures — empty unless ``deep``) of a Signatures.xml."""
    real = pkg.find(path)
    listing = None
    if real is not None:
        listing = _outline("signatures", path, pkg.read_xml_bytes(real), lambda root: _listing(root, path))
    if listing is None:
        return _parse_signatures_tree(pkg, path, deep=deep)
    max_id, entries = listing
    listed = [sig_id or "" for sig_id, _, _ in entries]
    if not deep:
        return max_id, listed, []
    result = []
    for sig_id, sig_type, target in entries:
        try:
            result.append(parse_signature(pkg, target, sig_id=sig_id, sig_type=sig_type))
        except OFDLimitError:
            raise
        except OFDFormatError as exc:
            result.append(_unreadable_signature(pkg, target, sig_id, sig_type, exc))
    return max_id, listed, result


def _listing(root: etree._Element, path: str) -> tuple[int, tuple[tuple[str | None, str, str], ...]]:
    """(MaxSignId, (ID, Type, Signature.xml location) per entry) of a Signatures.xml."""
    if X.local(root) != "Signatures":
        raise OFDFormatError(f"{path}: root element is <{X.local(root)}>, not <ofd:Signatures>")
    max_id = read_id(_text(root, "MaxSignId")) or 0
    entries = []
    for entry in _children(root, "Signature"):
        loc = entry.get("BaseLoc")
        if not loc:
            raise OFDFormatError(f"{path}: a Signature entry has no BaseLoc")
        entries.append((entry.get("ID"), entry.get("Type") or "Seal", _resolve(loc, base=path)))
    return max_id, tuple(entries)


def _unreadable_signature(pkg: OFDPackage, target: str, sig_id: str | None, sig_type: str,
                          exc: OFDFormatError) -> SignatureInfo:
    real = pkg.find(target)
    raw = pkg.read(real) if real is not None and pkg.size(real) <= pkg.limits.max_xml_size else b""
    return SignatureInfo(
        id=sig_id, type=sig_type, path=real or target, xml=raw, provider=None,
        signature_method=None, signature_datetime=None, check_method=None, references=(),
        stamp_annots=(), seal_path=None, signed_value_path=None, error=str(exc))


def _parse_signatures_tree(pkg: OFDPackage, path: str, *, deep: bool) -> tuple[int, list[str], list[SignatureInfo]]:
    """parse_signatures for a Signatures.xml without a clean listing: raises where it breaks."""
    root = load_xml(pkg, path)
    if X.local(root) != "Signatures":
        raise OFDFormatError(f"{path}: root element is <{X.local(root)}>, not <ofd:Signatures>")
    max_id = read_id(_text(root, "MaxSignId")) or 0
    result = []
    listed: list[str] = []
    for entry in _children(root, "Signature"):
        loc = entry.get("BaseLoc")
        if not loc:
            raise OFDFormatError(f"{path}: a Signature entry has no BaseLoc")
        listed.append(entry.get("ID") or "")
        if not deep:
            continue
        target = _resolve(loc, base=path)
        sig_type = entry.get("Type") or "Seal"
        try:
            result.append(parse_signature(pkg, target, sig_id=entry.get("ID"), sig_type=sig_type))
        except OFDLimitError:
            raise
        except OFDFormatError as exc:
            result.append(_unreadable_signature(pkg, target, entry.get("ID"), sig_type, exc))
    return max_id, listed, result


def _local_tag(tag: Any) -> str:
    """X.local of an element's tag ("" for comments and processing instructions)."""
    return tag[tag.rfind("}") + 1:] if tag.__class__ is str else ""


# Tags as nearly every producer writes them (in the OFD namespace): an equal tag is known to
# have that local name without taking the tag apart; any other tag is then judged by _local_tag.
_Q_REFERENCE = X.q("Reference")
_Q_CHECK_VALUE = X.q("CheckValue")
_Q_BASE_LOC = X.q("BaseLoc")


def _first_text(el: etree._Element, name: str, qualified: str) -> str | None:
    """_text(el, name), looking at the first child before walking them all: producers write
    the one child these elements hold (CheckValue, BaseLoc) first."""
    if len(el):
        first = el[0]
        if first.tag == qualified:
            return _text(first)
    for node in el:
        if _local_tag(node.tag) == name:
            return _text(node)
    return None


# A Reference is a pure function of (Signature.xml entry, FileRef, CheckValue text), and the
# References of files a producer repeats (Document.xml, resources, the seal) repeat exactly.
_REFERENCES: dict[tuple[str, str, str], Reference] = {}
_REFERENCE_LIMIT = 8192
_SIGNED_INFO_PARTS = frozenset(("Provider", "References", "Seal", "SignatureMethod", "SignatureDateTime"))


class _SignatureXML(NamedTuple):
    """What a Signature.xml says, before any location in it is looked up in the package."""

    provider: tuple[str | None, str | None, str | None] | None   # ProviderName, Company, Version
    signature_method: str | None
    signature_datetime: str | None
    check_method: str | None
    references: tuple[tuple[str, str], ...]                      # (FileRef, CheckValue text)
    stamps: tuple[tuple[str | None, str | None, str | None, str | None], ...]  # ID, PageRef, Boundary, Clip
    seal_loc: str | None
    signed_value: str | None


def _walk_signature_xml(root: etree._Element, real: str) -> _SignatureXML:
    """Read a Signature.xml tree: one pass per level over the children (the first of each
    single element, as _child finds it; every StampAnnot and Reference in order), without
    an lxml lookup per name."""
    signed_info = signed_value_el = None
    for node in root:
        name = _local_tag(node.tag)
        if name == "SignedInfo":
            if signed_info is None:
                signed_info = node
        elif name == "SignedValue" and signed_value_el is None:
            signed_value_el = node
    if signed_info is None:
        raise OFDFormatError(f"{real}: no SignedInfo")
    info: dict[str, etree._Element] = {}
    stamps = []
    for node in signed_info:
        name = _local_tag(node.tag)
        if name == "StampAnnot":
            stamps.append((node.get("ID"), node.get("PageRef"), node.get("Boundary"), node.get("Clip")))
        elif name in _SIGNED_INFO_PARTS and name not in info:
            info[name] = node
    prov_el = info.get("Provider")
    refs_el = info.get("References")
    seal_el = info.get("Seal")
    return _SignatureXML(
        provider=None if prov_el is None else (prov_el.get("ProviderName"), prov_el.get("Company"),
                                               prov_el.get("Version")),
        signature_method=_text(info.get("SignatureMethod")),
        signature_datetime=_text(info.get("SignatureDateTime")),
        check_method=None if refs_el is None else refs_el.get("CheckMethod"),
        references=() if refs_el is None else _reference_texts(refs_el),
        stamps=tuple(stamps),
        seal_loc=None if seal_el is None else _first_text(seal_el, "BaseLoc", _Q_BASE_LOC),
        signed_value=_text(signed_value_el))


def _reference_texts(refs_el: etree._Element) -> tuple[tuple[str, str], ...]:
    """(FileRef, CheckValue text) of every Reference child of ``refs_el``, in order."""
    texts = []
    for ref in refs_el:
        tag = ref.tag
        if tag != _Q_REFERENCE and _local_tag(tag) != "Reference":
            continue
        texts.append((ref.get("FileRef", ""), _first_text(ref, "CheckValue", _Q_CHECK_VALUE) or ""))
    return tuple(texts)


# Signature.xml differs in every document, but only in a few texts (see seal.ofd.templates):
# one walked under each entry name is kept as a template for the next.
class _Known:
    """The template of a Signature.xml entry name (None when its document could not give one),
    what the walk read from that document, and the documents it has not fitted since."""

    __slots__ = ("template", "fields", "texts", "file_refs", "misses")

    def __init__(self, template: TextTemplate | None, fields: _SignatureXML, texts: list[str | None]) -> None:
        self.template, self.fields, self.texts = template, fields, tuple(texts)
        self.file_refs = tuple(file_ref for file_ref, _ in fields.references)
        self.misses = 0


_TEMPLATES: dict[str, _Known] = {}
_TEMPLATE_LIMIT = 256
_TEMPLATE_MAX_PART = 32 * 1024
# Cutting a template costs about two walks: after a miss, a new one is cut only every so often,
# so a producer whose Signature.xml changes elsewhere too (other attributes) pays little.
_RECUT_AFTER = 16


def _fitted_signature_xml(real: str, xml: bytes) -> _SignatureXML | None:
    """What ``xml`` says when it fits the template kept for ``real``, without parsing it: it
    is then a well-formed document (see seal.ofd.templates) whose tree is the template's but
    for the slot texts. None when no template is kept or ``xml`` does not fit."""
    known = _TEMPLATES.get(real)
    if known is None or known.template is None:
        return None
    texts = known.template.fill(xml)
    if texts is None:
        return None
    known.misses = 0
    return _with_texts(known, known.template, texts)


def _read_signature_xml(root: etree._Element, real: str, xml: bytes) -> _SignatureXML:
    """_walk_signature_xml(root, real) of a Signature.xml that did not fit the template kept
    for ``real``; now and then it is cut as the template of ``real`` instead."""
    fields = _walk_signature_xml(root, real)
    if not _recut_due(_TEMPLATES.get(real)):
        return fields
    if len(xml) <= _TEMPLATE_MAX_PART:
        texts = _slot_texts(fields)
        if len(_TEMPLATES) >= _TEMPLATE_LIMIT:
            _TEMPLATES.clear()
        _TEMPLATES[real] = _Known(TextTemplate.cut(xml, root.getroottree().docinfo.encoding, texts), fields, texts)
    return fields


def _slot_texts(fields: _SignatureXML) -> list[str | None]:
    """The texts that change from document to document: SignatureDateTime, then each CheckValue."""
    return [fields.signature_datetime, *(value for _, value in fields.references)]


def _with_texts(known: _Known, template: TextTemplate, texts: list[str]) -> _SignatureXML:
    """What the template's walk read, with the slot texts of another document stripped as the
    walk strips them."""
    values = list(known.texts)
    for position, text in zip(template.positions, texts):
        values[position] = text.strip()
    fields = known.fields
    references = tuple(zip(known.file_refs, values[1:]))     # CheckValue texts: str, never None
    return _SignatureXML(fields.provider, fields.signature_method, values[0] or None, fields.check_method,
                         references, fields.stamps, fields.seal_loc, fields.signed_value)  # type: ignore[arg-type]


def _references(texts: tuple[tuple[str, str], ...], real: str) -> list[Reference]:
    """A Reference per (FileRef, CheckValue text) of the Signature.xml entry ``real``."""
    references = []
    known = _REFERENCES
    for file_ref, value_text in texts:
        key = (real, file_ref, value_text)
        reference = known.get(key)
        if reference is None:
            reference = _new_reference(real, file_ref, value_text)
            if len(file_ref) + len(value_text) <= 512:
                if len(known) >= _REFERENCE_LIMIT:
                    known.clear()
                known[key] = reference
        references.append(reference)
    return references


def _new_reference(real: str, file_ref: str, value_text: str) -> Reference:
    try:
        target: str | None = _resolve(file_ref, base=real)
    except OFDPathError:
        target = None
    try:
        # What b64decode(validate=True) does, without its wrapper's cost.
        value: bytes | None = binascii.a2b_base64(value_text, strict_mode=True)
    except (binascii.Error, ValueError):
        value = None
    return Reference(file_ref, target, value, value_text)


@lru_cache(maxsize=1024)
def _stamp_annot_cached(annot_id: str | None, page_ref: str | None, boundary: str | None,
                        clip: str | None) -> StampAnnot:
    return StampAnnot(annot_id, page_ref, _floats(boundary, 4), _floats(clip, 4))  # type: ignore[arg-type]


def _stamp_annot(fields: tuple[str | None, str | None, str | None, str | None]) -> StampAnnot:
    """A StampAnnot is a pure function of its four attributes, which repeat across the
    documents of one producer (ordinary lengths only are remembered, as _resolve)."""
    if sum(len(f) for f in fields if f) <= 512:
        return _stamp_annot_cached(*fields)
    return _stamp_annot_cached.__wrapped__(*fields)


def parse_signature(pkg: OFDPackage, path: str, *, sig_id: str | None, sig_type: str) -> SignatureInfo:
    real = pkg.find(path)
    if real is None:
        raise OFDMissingPartError(f"signature file {path} (listed in Signatures.xml) is missing")
    xml = pkg.read_xml_bytes(real)
    fields = _fitted_signature_xml(real, xml)
    if fields is None:
        root = X.parse_xml(xml, name=real, max_size=pkg.limits.max_xml_size)
        if X.local(root) != "Signature":
            raise OFDFormatError(f"{real}: root element is <{X.local(root)}>, not <ofd:Signature>")
        fields = _read_signature_xml(root, real, xml)
    quirks: list[str] = []
    seal_path = None
    if fields.seal_loc:
        seal_path = _resolve(fields.seal_loc, base=real)
        seal_path = pkg.find(seal_path) or seal_path
    signed_value_path = None
    if fields.signed_value:
        signed_value_path = _resolve(fields.signed_value, base=real)
        found = pkg.find(signed_value_path)
        if found is None and signed_value_path.endswith("SignedValue.dat"):
            alt = pkg.find(signed_value_path[: -len("SignedValue.dat")] + "SignValue.dat")
            if alt is not None:
                quirks.append("signed value file named SignValue.dat")
                found = alt
        signed_value_path = found or signed_value_path
    return SignatureInfo(
        id=sig_id, type=sig_type, path=real, xml=xml,
        provider=None if fields.provider is None else Provider(*fields.provider),
        signature_method=fields.signature_method, signature_datetime=fields.signature_datetime,
        check_method=fields.check_method, references=tuple(_references(fields.references, real)),
        stamp_annots=tuple(_stamp_annot(stamp) for stamp in fields.stamps),
        seal_path=seal_path, signed_value_path=signed_value_path, quirks=tuple(quirks))


def parse_package(pkg: OFDPackage, *, deep: bool = True) -> list[DocumentInfo]:
    """Every DocBody of the package, parsed (pages, shown files, signatures; see parse_document)."""
    return [parse_document(pkg, i, root, sigs, deep=deep) for i, (root, sigs) in enumerate(doc_bodies(pkg))]
