"""Facts about every signature embedded in a PDF, for the verifier (issue 6).

``inspect_pdf_signatures`` gathers facts; it judges nothing beyond the cryptographic checks
and never raises for a bad signature (only ``MalformedPdf`` for a file or a signature
dictionary it cannot read). For each signature, in signing order:

* the byte range: it must start at 0 and leave out exactly the /Contents hex string; then
  pyHanko's coverage check (``EmbeddedPdfSignature.evaluate_signature_coverage``) says
  whether it covers the entire file or the entire signed revision (its xref section and
  %%EOF included) with later incremental updates following;
* SM3 of the byte range, computed here with gm.sm3 over the bytes sliced from the file
  (not pyHanko's digest), against the messageDigest signed attribute;
* the SM2 signature over DER(SET OF signed attributes) with the signer certificate's key
  and the default signer ID (gm.sm2.PublicKey), the signer found by issuer and serial (or
  subject key identifier) among the embedded certificates;
* signing time (signed attribute, else the dictionary's /M), the signatureTimeStampToken
  if any (and whether its message imprint is the hash of this signature value);
* later revisions, judged twice: (1) pyHanko's difference analysis
  (``pyhanko.sign.diff_analysis.DEFAULT_DIFF_POLICY`` via ``evaluate_modifications``),
  which allows new signatures, their fields and appearances, DSS and document timestamps
  and rejects other changes; (2) our own page comparison between the signed revision and
  the last one — page count, the content streams, the image / form XObjects the page's
  resources name (streams compared as stored, filters included), and the page boxes and
  rotation — so the report can say *which* page changed. Either one finding a change sets
  ``modified_after_signing``.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import io
from dataclasses import field
from typing import Any

from asn1crypto import cms, tsp, x509
from pyhanko.pdf_utils import generic, misc
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields
from pyhanko.sign.diff_analysis import DEFAULT_DIFF_POLICY, DiffResult, ModificationLevel, SuspiciousModification
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel

import gm  # noqa: F401  (ShangMi OIDs named in asn1crypto)
from gm.asn1 import cms_gm
from gm.errors import GMError
from gm.records import frozen_record
from gm.sm2 import DEFAULT_UID, PublicKey, signature_from_rs
from gm.sm3 import sm3
from seal.cms import signed_attrs_der
from seal.pdf_errors import READ_ERRORS, MalformedPdf, describe

__all__ = ["PdfSignatureFacts", "inspect_pdf_signatures", "Later"]


class Later:
    """Values of ``PdfSignatureFacts.later_revisions``."""

    NONE = "none"  # the signature covers the whole file
    SIGNATURES = "allowed signature-only changes"  # later seals, DSS, document timestamps
    FORM_FILLING = "allowed form filling"  # other form fields filled in as well
    MODIFIED = "modified"  # anything else: content, annotations, structure


@frozen_record
class PdfSignatureFacts:
    """What one embedded signature says and what was checked (``ok`` sums it up)."""

    field_name: str
    subfilter: str | None
    byte_range: tuple[int, ...]
    byte_range_ok: bool  # [0, a, b, c]: the gap is exactly the /Contents string, inside the file
    coverage: str  # pyHanko SignatureCoverageLevel name: ENTIRE_FILE, ENTIRE_REVISION, ...
    covers_whole_revision: bool
    covers_whole_file: bool
    signed_revision: int  # 0-based revision that introduced the signature
    total_revisions: int
    later_revisions: str  # a Later value
    modified_after_signing: bool
    pages_changed: tuple[int, ...]  # 0-based pages whose content differs in the last revision
    modification_detail: str
    digest_algorithm: str
    message_digest: bytes | None
    computed_digest: bytes | None
    digest_ok: bool
    signature_algorithm: str
    signature_ok: bool
    signature_detail: str
    signer_certificate: x509.Certificate | None = field(repr=False)
    certificates: tuple[x509.Certificate, ...] = field(repr=False)
    signing_time: _dt.datetime | None
    signing_time_source: str | None  # "signed-attribute" or "pdf-M"
    timestamp_token: bytes | None  # DER ContentInfo of the signatureTimeStampToken
    timestamp_time: _dt.datetime | None
    timestamp_imprint_ok: bool | None  # token's imprint == hash(signature value)
    reason: str | None
    location: str | None
    cms: bytes = field(repr=False, default=b"")  # the CMS ContentInfo DER from /Contents (padding removed)
    signature_value: bytes = field(repr=False, default=b"")  # SignerInfo.signature (what a timestamp covers)

    @property
    def has_timestamp(self) -> bool:
        return self.timestamp_token is not None

    @property
    def ok(self) -> bool:
        """Byte range sane and covering its revision, digest and signature good, nothing but
        allowed changes after it. Chains, validity and revocation are the verifier's job."""
        return (self.byte_range_ok and self.covers_whole_revision and self.digest_ok
                and self.signature_ok and not self.modified_after_signing)


# --------------------------------------------------------------------------- helpers


def _reader(pdf_bytes: bytes) -> PdfFileReader:
    if not isinstance(pdf_bytes, (bytes, bytearray, memoryview)):
        raise MalformedPdf("pdf_bytes must be bytes")
    data = bytes(pdf_bytes)
    if data.lstrip(b"\x00\t\n\r\x0c ")[:5] != b"%PDF-":
        raise MalformedPdf("not a PDF: the file does not start with %PDF-")
    try:
        reader = PdfFileReader(io.BytesIO(data), strict=False)
        reader.root["/Pages"]
    except READ_ERRORS as exc:
        raise MalformedPdf(f"unreadable PDF: {describe(exc)}") from None
    if reader.encrypted:
        raise MalformedPdf("encrypted PDF: its signatures cannot be inspected without decrypting it")
    return reader


def _text(obj: Any) -> str | None:
    if obj is None:
        return None
    if isinstance(obj, generic.NameObject):
        return str(obj)[1:]
    return str(obj)


def _digest(name: str, data: bytes) -> bytes | None:
    if name == "sm3":
        return sm3(data)
    try:
        return hashlib.new(name, data).digest()
    except (ValueError, TypeError):
        return None


def _byte_range(data: bytes, br: Any, contents_len: int) -> tuple[tuple[int, ...], bool, bytes]:
    try:
        values = tuple(int(v) for v in br)
    except (TypeError, ValueError):
        return (), False, b""
    if len(values) != 4:
        return values, False, b""
    a, b_len, b, c = values
    ok = (a == 0 and b_len >= 0 and c >= 0 and b == b_len + 2 * contents_len + 2 and b + c <= len(data)
          and data[b_len:b_len + 1] == b"<" and data[b - 1:b] == b">")
    if not (0 <= a <= a + b_len <= len(data) and 0 <= b <= b + c <= len(data)):
        return values, False, b""
    return values, ok, data[a:a + b_len] + data[b:b + c]


def _find_cert(sid: cms.SignerIdentifier, certs: tuple[x509.Certificate, ...]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
        return next((c for c in certs if c.serial_number == serial and c.issuer == issuer), None)
    ski = sid.chosen.native
    return next((c for c in certs if c.key_identifier == ski), None)


def _attr(attrs: Any, name: str) -> list[Any] | None:
    if not isinstance(attrs, cms.CMSAttributes):
        return None
    for a in attrs:
        if a["type"].native == name:
            return list(a["values"])
    return None


def _sm2_key(cert: x509.Certificate) -> PublicKey | None:
    spki = cert.public_key
    if spki.algorithm != "ec":
        return None
    if spki["algorithm"]["parameters"].chosen.native not in ("sm2p256v1", "1.2.156.10197.1.301"):
        return None
    return PublicKey.shared(spki["public_key"].native)


def _check_signature(si: cms.SignerInfo, cert: x509.Certificate | None, signed_bytes: bytes) -> tuple[bool, str]:
    sig_alg = si["signature_algorithm"]["algorithm"].native
    if cert is None:
        return False, "no embedded certificate matches the signer identifier"
    if sig_alg not in cms_gm.SM2_SIGNATURE_ALGORITHMS:
        return False, f"signature algorithm {sig_alg} is not SM2"
    try:
        key = _sm2_key(cert)
    except GMError as exc:
        return False, f"the signer certificate's SM2 key is invalid: {exc}"
    if key is None:
        return False, "the signer certificate's key is not an SM2 key"
    sig = si["signature"].native
    note = ""
    if len(sig) == 64 and sig[:1] != b"\x30":
        sig = signature_from_rs(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        note = " (raw r||s signature value, not DER)"
    try:
        good = key.verify(sig, signed_bytes, DEFAULT_UID)
    except GMError as exc:
        return False, f"signature value is not an SM2 signature: {exc}"
    if not good:
        return False, "SM2 signature does not verify with the signer certificate's key"
    return True, "SM2 signature verifies" + note


def _timestamp(si: cms.SignerInfo) -> tuple[bytes | None, _dt.datetime | None, bool | None]:
    tokens = _attr(si["unsigned_attrs"], "signature_time_stamp_token")
    if not tokens:
        return None, None, None
    token = tokens[0]
    der = token.dump()
    try:
        encap = token["content"]["encap_content_info"]
        tst = encap["content"].parsed
        if not isinstance(tst, tsp.TSTInfo):
            tst = tsp.TSTInfo.load(bytes(encap["content"]))
        imprint = tst["message_imprint"]
        expected = _digest(imprint["hash_algorithm"]["algorithm"].native, si["signature"].native)
        return der, tst["gen_time"].native, expected is not None and expected == imprint["hashed_message"].native
    except (ValueError, TypeError, KeyError):
        return der, None, False


def _page_nodes(root: Any) -> list[generic.DictionaryObject]:
    pages: list[generic.DictionaryObject] = []
    stack = [(root["/Pages"].get_object(), 0)]
    while stack:
        node, depth = stack.pop()
        if depth > 64 or len(pages) > 100_000:
            raise MalformedPdf("the page tree is too deep or too large")
        if node.get("/Type") == "/Pages" or "/Kids" in node:
            stack.extend((k.get_object(), depth + 1) for k in reversed(list(node["/Kids"])))
        else:
            pages.append(node)
    return pages


def _stream_bytes(obj: Any) -> bytes:
    """A stream as stored (filters named, bytes still encoded): identical stored bytes mean
    identical content, and not decoding spares pyHanko's pure-Python filters (decoding an
    ASCII85 image took seconds). A re-encoded but equal stream counts as changed — a
    rewrite of signed page content is worth reporting anyway."""
    obj = obj.get_object() if hasattr(obj, "get_object") else obj
    if isinstance(obj, generic.StreamObject):
        filters = repr(obj.get("/Filter")).encode() + repr(obj.get("/DecodeParms")).encode()
        return filters + b"\x00" + obj.encoded_data
    if isinstance(obj, generic.ArrayObject):
        return b"\n".join(_stream_bytes(o) for o in obj)
    return b""


def _inherited(page: generic.DictionaryObject, key: str) -> Any:
    node = page
    for _ in range(64):
        if key in node:
            return node[key]
        parent = node.get("/Parent")
        if parent is None:
            return None
        node = parent.get_object()
    return None


def _page_fingerprint(page: generic.DictionaryObject) -> bytes:
    """SM3 over what the page shows: content streams, named XObjects, boxes, rotation."""
    parts = [b"C", _stream_bytes(page.get("/Contents", generic.NullObject()))]
    resources = _inherited(page, "/Resources")
    xobjects = resources.get_object().get("/XObject") if resources is not None else None
    if xobjects is not None:
        xobjects = xobjects.get_object()
        for name in sorted(xobjects.keys()):
            parts += [b"X", name.encode(), _stream_bytes(xobjects.raw_get(name))]
    for key in ("/MediaBox", "/CropBox", "/Rotate"):
        value = _inherited(page, key)
        parts += [key.encode(), repr(value.get_object() if hasattr(value, "get_object") else value).encode()]
    return sm3(b"\x00".join(parts))


def _pages_changed(reader: PdfFileReader, revision: int) -> tuple[tuple[int, ...], str]:
    then = _page_nodes(reader.get_historical_resolver(revision).root)
    now = _page_nodes(reader.root)
    changed = [i for i, (a, b) in enumerate(zip(then, now)) if _page_fingerprint(a) != _page_fingerprint(b)]
    if len(then) != len(now):
        changed += list(range(min(len(then), len(now)), max(len(then), len(now))))
        return tuple(changed), f"page count changed from {len(then)} to {len(now)}"
    return tuple(changed), ""


def _later(emb: EmbeddedPdfSignature, reader: PdfFileReader, coverage: SignatureCoverageLevel,
           sig_fields: set[str]) -> tuple[str, bool, tuple[int, ...], str]:
    """(Later value, modified_after_signing, pages changed, detail)."""
    if coverage == SignatureCoverageLevel.ENTIRE_FILE:
        return Later.NONE, False, (), "the signature covers the whole file"
    if coverage < SignatureCoverageLevel.ENTIRE_REVISION:
        return Later.MODIFIED, True, (), f"the byte range does not cover its whole revision ({coverage.name})"
    emb.coverage = coverage
    try:
        diff = emb.evaluate_modifications(DEFAULT_DIFF_POLICY)
    except READ_ERRORS as exc:
        diff = SuspiciousModification(f"difference analysis failed: {describe(exc)}")
    try:
        pages, page_note = _pages_changed(reader, emb.signed_revision)
    except READ_ERRORS as exc:
        pages, page_note = (), f"page comparison failed: {describe(exc)}"
    notes = []
    if pages:
        notes.append("content of page(s) " + ", ".join(str(p) for p in pages) + " changed after signing")
    if page_note:
        notes.append(page_note)
    if isinstance(diff, DiffResult):
        level = diff.modification_level
        others = sorted(set(diff.changed_form_fields) - sig_fields)
        if level <= ModificationLevel.LTA_UPDATES or (level == ModificationLevel.FORM_FILLING and not others):
            later = Later.SIGNATURES
        elif level == ModificationLevel.FORM_FILLING:
            later = Later.FORM_FILLING
            notes.append("form fields filled after signing: " + ", ".join(others))
        else:
            later = Later.MODIFIED
            notes.append(f"pyHanko difference analysis: modification level {level.name}")
    else:
        later = Later.MODIFIED
        notes.append(f"pyHanko difference analysis: {diff}")
    if pages or page_note:
        later = Later.MODIFIED
    modified = later == Later.MODIFIED
    detail = "; ".join(notes) if notes else f"later revisions: {later}"
    return later, modified, tuple(pages), detail


# --------------------------------------------------------------------------- public


def _inspect_one(emb: EmbeddedPdfSignature, reader: PdfFileReader, data: bytes, sig_fields: set[str]) -> PdfSignatureFacts:
    sig = emb.sig_object
    si = emb.signer_info
    sd = emb.signed_data
    certs = tuple(c.chosen for c in sd["certificates"] if c.name == "certificate") if sd["certificates"] else ()
    cert = _find_cert(si["sid"], certs)
    br, br_ok, signed = _byte_range(data, emb.byte_range, len(emb.pkcs7_content))
    digest_alg = si["digest_algorithm"]["algorithm"].native
    attrs = si["signed_attrs"]
    has_attrs = isinstance(attrs, cms.CMSAttributes) and attrs.contents is not None and len(attrs) > 0
    md_values = _attr(attrs, "message_digest") if has_attrs else None
    message_digest = md_values[0].native if md_values else None
    computed = _digest(digest_alg, signed) if br else None
    digest_ok = message_digest is not None and computed is not None and computed == message_digest
    if has_attrs:
        sig_ok, sig_detail = _check_signature(si, cert, signed_attrs_der(si))
    else:  # no signed attributes: the signature covers the byte range itself
        sig_ok, sig_detail = _check_signature(si, cert, signed)
        digest_ok = sig_ok
    try:
        coverage = emb.evaluate_signature_coverage()
    except READ_ERRORS as exc:
        raise MalformedPdf(f"signature {emb.field_name}: cannot locate its revision: {describe(exc)}") from None
    later, modified, pages, detail = _later(emb, reader, coverage, sig_fields)
    times = _attr(attrs, "signing_time") if has_attrs else None
    if times:
        signing_time, source = times[0].native, "signed-attribute"
    else:
        try:
            signing_time = generic.parse_pdf_date(sig["/M"], strict=False) if "/M" in sig else None
        except (misc.PdfError, ValueError, TypeError):
            signing_time = None
        source = "pdf-M" if signing_time is not None else None
    token, ts_time, imprint_ok = _timestamp(si)
    return PdfSignatureFacts(
        field_name=emb.field_name,
        subfilter=_text(sig.get("/SubFilter")),
        byte_range=br, byte_range_ok=br_ok, coverage=coverage.name,
        covers_whole_revision=coverage >= SignatureCoverageLevel.ENTIRE_REVISION,
        covers_whole_file=coverage == SignatureCoverageLevel.ENTIRE_FILE,
        signed_revision=emb.signed_revision, total_revisions=reader.xrefs.total_revisions,
        later_revisions=later, modified_after_signing=modified, pages_changed=pages, modification_detail=detail,
        digest_algorithm=digest_alg, message_digest=message_digest, computed_digest=computed, digest_ok=digest_ok,
        signature_algorithm=si["signature_algorithm"]["algorithm"].native, signature_ok=sig_ok,
        signature_detail=sig_detail, signer_certificate=cert, certificates=certs,
        signing_time=signing_time, signing_time_source=source,
        timestamp_token=token, timestamp_time=ts_time, timestamp_imprint_ok=imprint_ok,
        reason=_text(sig.get("/Reason")), location=_text(sig.get("/Location")), cms=emb.pkcs7_content,
        signature_value=si["signature"].native)


def inspect_pdf_signatures(pdf_bytes: bytes) -> list[PdfSignatureFacts]:
    """Facts for every signature field that holds a signature, in signing order.

    Raises ``MalformedPdf`` when the PDF, or a signature dictionary in it (ByteRange,
    Contents, CMS), cannot be read; a bad digest or signature is a fact, not an error.
    """
    reader = _reader(pdf_bytes)
    data = bytes(pdf_bytes)
    try:
        embedded = list(reader.embedded_signatures)
        sig_fields = {name for name, _, _ in fields.enumerate_sig_fields(reader, filled_status=None)}
    except READ_ERRORS as exc:
        raise MalformedPdf(f"unreadable signature field: {describe(exc)}") from None
    out = []
    for emb in embedded:
        if emb.sig_object_type != "/Sig":
            continue  # document timestamps (/DocTimeStamp) are not seals
        try:
            out.append(_inspect_one(emb, reader, data, sig_fields))
        except MalformedPdf:
            raise
        except READ_ERRORS as exc:
            raise MalformedPdf(f"signature {emb.field_name}: unreadable: {describe(exc)}") from None
    return out

