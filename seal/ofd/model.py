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
from typing import Any

from lxml import etree

from seal.ofd import xmlns as X
from seal.ofd.errors import OFDFormatError, OFDLimitError, OFDMissingPartError, OFDPathError, OFDXMLError
from seal.ofd.package import OFDPackage
from seal.ofd.paths import resolve

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


def _outline(kind: str, name: str, data: bytes, read: Callable[[etree._Element], Any]) -> Any:
    key = (kind, name, data)
    if key in _OUTLINES:
        return _OUTLINES[key]
    try:
        facts = read(X.parse_xml(data, name=name, max_size=max(len(data), 1)))
    except OFDFormatError:
        facts = None
    if len(data) <= _OUTLINE_MAX_PART:
        if len(_OUTLINES) >= _OUTLINE_LIMIT:
            _OUTLINES.clear()
        _OUTLINES[key] = facts
    return facts


@dataclass(frozen=True)
class Provider:
    name: str | None
    company: str | None
    version: str | None


@dataclass(frozen=True)
class Reference:
    file_ref: str                 # as written in Signature.xml
    path: str | None              # resolved entry name; None when the location itself is unsafe
    check_value: bytes | None     # decoded CheckValue; None when it is not valid base64
    check_value_text: str


@dataclass(frozen=True)
class StampAnnot:
    id: str | None
    page_ref: str | None
    boundary: tuple[float, float, float, float] | None
    clip: tuple[float, float, float, float] | None


@dataclass(frozen=True)
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


@dataclass(frozen=True)
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
        bodies = _outline("bodies", real, pkg.read_xml_bytes(real), _bodies)
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
    try:
        max_id = int(_text(root, "MaxSignId") or 0)
    except ValueError:
        max_id = 0
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
    try:
        max_id = int(_text(root, "MaxSignId") or 0)
    except ValueError:
        max_id = 0
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


# A Reference is a pure function of (Signature.xml entry, FileRef, CheckValue text), and the
# References of files a producer repeats (Document.xml, resources, the seal) repeat exactly.
_REFERENCES: dict[tuple[str, str, str], Reference] = {}
_REFERENCE_LIMIT = 8192
_SIGNED_INFO_PARTS = frozenset(("Provider", "References", "Seal", "SignatureMethod", "SignatureDateTime"))


def parse_signature(pkg: OFDPackage, path: str, *, sig_id: str | None, sig_type: str) -> SignatureInfo:
    real = pkg.find(path)
    if real is None:
        raise OFDMissingPartError(f"signature file {path} (listed in Signatures.xml) is missing")
    xml = pkg.read_xml_bytes(real)
    root = X.parse_xml(xml, name=real, max_size=pkg.limits.max_xml_size)
    if X.local(root) != "Signature":
        raise OFDFormatError(f"{real}: root element is <{X.local(root)}>, not <ofd:Signature>")
    quirks: list[str] = []
    # Signature.xml differs in every document, so it is walked each time: one pass per level
    # over the children (the first of each single element, as _child finds it; every
    # StampAnnot and Reference in order), without an lxml lookup set up per name.
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
    annots = []
    for node in signed_info:
        name = _local_tag(node.tag)
        if name == "StampAnnot":
            annots.append(node)
        elif name in _SIGNED_INFO_PARTS and name not in info:
            info[name] = node
    prov_el = info.get("Provider")
    provider = None
    if prov_el is not None:
        provider = Provider(prov_el.get("ProviderName"), prov_el.get("Company"), prov_el.get("Version"))
    refs_el = info.get("References")
    references: list[Reference] = []
    check_method = None
    if refs_el is not None:
        check_method = refs_el.get("CheckMethod")
        a2b, known = binascii.a2b_base64, _REFERENCES
        for ref in refs_el:
            tag = ref.tag           # _local_tag, inline: this loop runs for every Reference
            if tag.__class__ is not str or tag[tag.rfind("}") + 1:] != "Reference":
                continue
            file_ref = ref.get("FileRef", "")
            value_text = ""
            for node in ref:
                tag = node.tag
                if tag.__class__ is str and tag[tag.rfind("}") + 1:] == "CheckValue":
                    value_text = (node.text or "").strip()
                    break
            key = (real, file_ref, value_text)
            reference = known.get(key)
            if reference is None:
                try:
                    target: str | None = _resolve(file_ref, base=real)
                except OFDPathError:
                    target = None
                try:
                    # What b64decode(validate=True) does, without its wrapper's cost.
                    value: bytes | None = a2b(value_text, strict_mode=True)
                except (binascii.Error, ValueError):
                    value = None
                reference = Reference(file_ref, target, value, value_text)
                if len(file_ref) + len(value_text) <= 512:
                    if len(known) >= _REFERENCE_LIMIT:
                        known.clear()
                    known[key] = reference
            references.append(reference)
    stamps = tuple(StampAnnot(annot.get("ID"), annot.get("PageRef"), _floats(annot.get("Boundary"), 4),  # type: ignore[arg-type]
                              _floats(annot.get("Clip"), 4)) for annot in annots)  # type: ignore[arg-type]
    seal_path = None
    seal_el = info.get("Seal")
    if seal_el is not None:
        seal_loc = _text(seal_el, "BaseLoc")
        if seal_loc:
            seal_path = _resolve(seal_loc, base=real)
            seal_path = pkg.find(seal_path) or seal_path
    signed_value = _text(signed_value_el)
    signed_value_path = None
    if signed_value:
        signed_value_path = _resolve(signed_value, base=real)
        found = pkg.find(signed_value_path)
        if found is None and signed_value_path.endswith("SignedValue.dat"):
            alt = pkg.find(signed_value_path[: -len("SignedValue.dat")] + "SignValue.dat")
            if alt is not None:
                quirks.append("signed value file named SignValue.dat")
                found = alt
        signed_value_path = found or signed_value_path
    return SignatureInfo(
        id=sig_id, type=sig_type, path=real, xml=xml, provider=provider,
        signature_method=_text(info.get("SignatureMethod")),
        signature_datetime=_text(info.get("SignatureDateTime")),
        check_method=check_method, references=tuple(references), stamp_annots=stamps,
        seal_path=seal_path, signed_value_path=signed_value_path, quirks=tuple(quirks))


def parse_package(pkg: OFDPackage, *, deep: bool = True) -> list[DocumentInfo]:
    """Every DocBody of the package, parsed (pages, shown files, signatures; see parse_document)."""
    return [parse_document(pkg, i, root, sigs, deep=deep) for i, (root, sigs) in enumerate(doc_bodies(pkg))]
