"""Per-signature and per-package facts of an OFD package, for the verifier (verify/).

Gathered once, judged elsewhere: which References match (and how), the bytes a Seal- or
Sign-type check needs (Signature.xml, SignedValue.dat, Seal.esl), where each stamp sits,
and which files escape the signature — especially those a page draws (content added or
changed after signing without touching a referenced file). Only a broken or hostile package
raises (an OFDFormatError subclass); a bad signature is a fact, never an exception.
"""
from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import field

from gm.oids import SM3, SM3_WITH_KEY
from gm.records import frozen_record
from seal.ofd.model import DocumentInfo, SignatureInfo, StampAnnot, parse_package
from seal.ofd.package import DEFAULT_LIMITS, Limits, OFDPackage
from seal.ofd.references import ReferenceResult, RefStatus, check_references

# z_a(signature, signed_value) -> the signer's Z_A (from the certificate in SignedValue.dat), or None.
ZaLookup = Callable[[SignatureInfo, bytes | None], bytes | None]
_SIGNATURE_FILE = re.compile(r"(^|/)Sign_\d+/Signature\.xml$")


@frozen_record
class SignatureFacts:
    """What the package says about one signature; the verifier (verify/) judges it."""

    doc_index: int
    signature: SignatureInfo
    references: tuple[ReferenceResult, ...]
    signature_xml: bytes
    signed_value: bytes | None            # None: SignedValue.dat missing
    seal: bytes | None                    # Seal.esl when the signature names one
    stamp_pages: tuple[tuple[StampAnnot, int | None], ...]  # (annot, 0-based page index or None if unknown)
    unreferenced: tuple[str, ...]         # files no Reference covers (own and later signature files left out)
    unreferenced_shown: tuple[str, ...]   # of those, files a page draws: content changed/added after signing
    missing_shown: tuple[str, ...] = ()   # files a page draws that the package lacks
    quirks: tuple[str, ...] = field(default=())

    @property
    def references_ok(self) -> bool:
        return bool(self.references) and all(r.status is RefStatus.OK for r in self.references)

    @property
    def signed_value_path(self) -> str | None:
        return self.signature.signed_value_path


@frozen_record
class PackageFacts:
    """Facts of a whole package: per-signature facts, and signature files no listing names
    (a Signatures.xml entry deleted to hide a signature, or a half-written one)."""

    signatures: tuple[SignatureFacts, ...]
    unlisted_signature_files: tuple[str, ...]
    page_counts: tuple[int, ...]   # per document
    document_errors: tuple[str, ...] = ()   # damaged Document.xml / Signatures.xml, one message each


def _signature_facts(pkg: OFDPackage, doc: DocumentInfo, position: int, listing_files: set[str],
                     z_a: ZaLookup | None) -> SignatureFacts:
    sig = doc.signatures[position]
    value_entry = pkg.find(sig.signed_value_path) if sig.signed_value_path else None
    signed_value = pkg.read(value_entry) if value_entry else None
    needs_key = z_a is not None and (sig.check_method or "").strip() == SM3_WITH_KEY
    key = z_a(sig, signed_value) if needs_key else None  # type: ignore[misc]
    results = check_references(pkg, sig, z_a=key) if sig.error is None else []
    covered = {r.path for r in results if r.path}
    # A later signature's own files were added after this one; they are judged in its facts.
    later: set[str] = set()
    for other in doc.signatures[position + 1:]:
        later |= {p for p in (other.path, other.signed_value_path, other.seal_path) if p}
    own = {p for p in (sig.path, sig.signed_value_path) if p}
    excluded = covered | own | listing_files | later
    names = pkg.names
    unreferenced = tuple([n for n in names if n not in excluded])
    # Judged without the exclusions above: a drawn file is never a signature's own file, and a
    # forged "later signature" must not hide one.
    shown = doc.shown
    unreferenced_shown = tuple([n for n in names if n in shown and n not in covered])
    # Only a drawn file absent under its exact name can be missing (find also tries letter case).
    missing_shown = tuple(sorted([n for n in shown.difference(names) if pkg.find(n) is None]))
    seal = pkg.read(sig.seal_path) if sig.seal_path and sig.seal_path in pkg else None
    quirks = list(sig.quirks)
    if sig.check_method not in (SM3, None):
        quirks.append(f"References CheckMethod {sig.check_method!r}")
    quirks.extend(r.note for r in results if r.note and r.status is RefStatus.OK)
    page_by_id = {p.id: i for i, p in enumerate(doc.pages)}
    stamps = tuple((a, page_by_id.get(a.page_ref or "")) for a in sig.stamp_annots)
    return SignatureFacts(doc.index, sig, tuple(results), sig.xml, signed_value, seal, stamps,
                          unreferenced, unreferenced_shown, missing_shown, tuple(quirks))


def inspect_package(package_bytes: bytes | OFDPackage, *, limits: Limits = DEFAULT_LIMITS,
                    z_a: ZaLookup | None = None) -> PackageFacts:
    """All facts a verifier needs about an OFD package.

    Raises :class:`~seal.ofd.errors.OFDFormatError` subclasses only for a broken or hostile
    package (bad zip, limits, unsafe names, malformed OFD.xml / Document.xml / Signatures.xml);
    a changed, missing or added file, or an unreadable Signature.xml, is reported in the facts.
    ``z_a(signature, signed_value)`` supplies the signer's Z_A for CheckMethod
    1.2.156.10197.1.401.2 (called only for such signatures; the signer certificate is inside
    ``signed_value``). An :class:`OFDPackage` already opened (with its own limits) is read
    as it is, so a caller that reads other parts too opens the zip once.
    """
    pkg = package_bytes if isinstance(package_bytes, OFDPackage) else OFDPackage(package_bytes, limits=limits)
    docs = parse_package(pkg)
    listing_files = {d.signatures_path for d in docs if d.signatures_path}
    facts = [_signature_facts(pkg, doc, i, listing_files, z_a) for doc in docs for i in range(len(doc.signatures))]
    listed = {f.signature.path for f in facts}
    unlisted = tuple(n for n in pkg.names
                     if n.endswith("Signature.xml") and n not in listed and _SIGNATURE_FILE.search(n))
    errors = tuple(e for d in docs for e in (d.error, d.signatures_error) if e)
    return PackageFacts(tuple(facts), unlisted, tuple(len(d.pages) for d in docs), errors)


def verify_package(package_bytes: bytes | OFDPackage, *, limits: Limits = DEFAULT_LIMITS,
                   z_a: ZaLookup | None = None) -> list[SignatureFacts]:
    """Per-signature facts of every signature of every document, in document order
    (see :func:`inspect_package` for the package-level facts too)."""
    return list(inspect_package(package_bytes, limits=limits, z_a=z_a).signatures)


def signed_parts(package_bytes: bytes, *, limits: Limits = DEFAULT_LIMITS) -> list[tuple[str, bytes, bytes | None]]:
    """(Signature.xml entry, its bytes, SignedValue.dat bytes or None) per signature — the two
    byte strings a Seal-type check needs (dataHash = SM3(Signature.xml))."""
    return [(f.signature.path, f.signature_xml, f.signed_value) for f in verify_package(package_bytes, limits=limits)]


def clear_read_caches() -> None:
    """Forget what reading OFD packages keeps across packages (entries by their stored bytes,
    part outlines, Signature.xml templates, References, stamps and matched results): a cold
    start, for benchmarks."""
    from seal.ofd import model, package, references

    package.clear_part_cache()
    model._OUTLINES.clear()
    model._SHAPES.clear()
    model._REFERENCES.clear()
    model._stamp_annot_cached.cache_clear()
    model._TEMPLATES.clear()
    references._MATCHED.clear()


__all__ = ["SignatureFacts", "PackageFacts", "inspect_package", "verify_package", "signed_parts",
           "clear_read_caches"]
