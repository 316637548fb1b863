"""Seal a PDF with SM2/SM3 (ISO 32000 CMS signature) through pyHanko, and read its seals.

``seal_pdf`` adds one signature field and signs it in an incremental update, so a second
seal leaves the first signed revision byte-for-byte intact and the first stays valid.
The CMS SignedData is SM2/SM3 (see seal/pdf_signer.py for the algorithm identifiers and
why); SubFilter ``adbe.pkcs7.detached`` (signingTime signed attribute) or
``ETSI.CAdES.detached`` (PAdES baseline: signing-certificate-v2 signed, no signingTime).

Placement and picture (seal/pdf_appearance.py): ``box_mm = (x, y, width, height)`` in
millimetres from the top-left corner of the page as displayed, like OFD (GB/T 33190), so
that one ``--x --y`` means the same on both formats; rotated pages included, the picture
standing upright. ``box_mm=None`` makes an invisible seal. A form prepared with an empty
signature field is sealed by naming that field: the field keeps its own page and
rectangle, and the seal picture fills it (upright too when the widget names its page
with /P, as pyHanko and most form tools write it).

Reading: see seal/pdf_inspect.py (``inspect_pdf_signatures``), re-exported here.
"""
from __future__ import annotations

import io
import re
from collections.abc import Sequence

from asn1crypto import x509
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError

from seal.pdf_appearance import field_rotation, place, seal_style
from seal.pdf_errors import (
    READ_ERRORS,
    MalformedPdf,
    PdfPageOutOfRange,
    PdfSealArgumentError,
    PdfSealError,
    PdfSigningError,
    describe,
)
from seal.pdf_inspect import PdfSignatureFacts, inspect_pdf_signatures
from seal.pdf_signer import DIGEST, SignFn, SM2PdfSigner, TimestampFn

__all__ = ["seal_pdf", "inspect_pdf_signatures", "PdfSignatureFacts", "SUBFILTERS",
           "MalformedPdf", "PdfSealArgumentError", "PdfSealError", "PdfSigningError"]

SUBFILTERS = {
    "adbe.pkcs7.detached": fields.SigSeedSubFilter.ADOBE_PKCS7_DETACHED,
    "ETSI.CAdES.detached": fields.SigSeedSubFilter.PADES,
}
_FIELD_NAME = re.compile(r"^[^.\x00-\x1f]{1,64}$")  # no '.' (it separates partial names)
_TIMESTAMP_RESERVE = 12_288  # bytes kept for a TimeStampToken (with the TSA's certificates)


def _open(pdf_bytes: bytes) -> IncrementalPdfFileWriter:
    if not isinstance(pdf_bytes, (bytes, bytearray, memoryview)):
        raise PdfSealArgumentError("pdf_bytes must be bytes")
    data = bytes(pdf_bytes)
    if not data.lstrip(b"\x00\t\n\r\x0c ")[:5] == b"%PDF-":
        raise MalformedPdf("not a PDF: the file does not start with %PDF-")
    try:
        writer = IncrementalPdfFileWriter(io.BytesIO(data), strict=False)
        writer.root["/Pages"]  # force the catalog and page tree to resolve
    except READ_ERRORS as exc:
        raise MalformedPdf(f"unreadable PDF: {describe(exc)}") from None
    if writer.prev.encrypted:
        raise MalformedPdf("encrypted PDFs cannot be sealed: decrypt it first")
    return writer


def _page_count(writer: IncrementalPdfFileWriter) -> int:
    try:
        return int(writer.root["/Pages"]["/Count"])
    except READ_ERRORS as exc:
        raise MalformedPdf(f"the page tree has no usable /Count: {describe(exc)}") from None


def _existing_fields(writer: IncrementalPdfFileWriter) -> dict[str, tuple[bool, generic.PdfObject]]:
    """Signature field name -> (already signed, field reference)."""
    found: dict[str, tuple[bool, generic.PdfObject]] = {}
    try:
        for name, value, ref in fields.enumerate_sig_fields(writer, filled_status=None):
            found[name] = (value is not None, ref)
    except READ_ERRORS as exc:
        raise MalformedPdf(f"unreadable form fields: {describe(exc)}") from None
    return found


def _field_name(requested: str | None, existing: dict[str, tuple[bool, generic.PdfObject]]) -> tuple[str, bool]:
    """(field name, True when it is an empty signature field already in the PDF)."""
    if requested is not None:
        if not isinstance(requested, str) or not _FIELD_NAME.match(requested):
            raise PdfSealArgumentError("field_name must be 1-64 printable characters without '.'")
        if requested in existing and existing[requested][0]:
            raise PdfSealArgumentError(f"the PDF's signature field {requested!r} is already signed")
        return requested, requested in existing
    n = 1
    while f"Seal{n}" in existing:
        n += 1
    return f"Seal{n}", False


def seal_pdf(
    pdf_bytes: bytes,
    *,
    sign: SignFn,
    certificate: x509.Certificate,
    chain: Sequence[x509.Certificate] = (),
    page: int = 0,
    box_mm: Sequence[float] | None = None,
    picture_png: bytes | None = None,
    subfilter: str = "adbe.pkcs7.detached",
    field_name: str | None = None,
    timestamp: TimestampFn | None = None,
    reason: str | None = None,
    location: str | None = None,
) -> bytes:
    """Return ``pdf_bytes`` with one more SM2/SM3 seal, appended as an incremental update.

    ``sign(data) -> DER SM2 signature`` signs DER(signed attributes) with the key of
    ``certificate`` (e.g. ``seal.cms.keystore_signer``); ``chain`` certificates are
    embedded too. ``page`` is 0-based (negative counts from the end). ``timestamp``
    (``signature value -> TimeStampToken DER``) adds a signatureTimeStampToken.
    ``field_name`` defaults to the first free ``SealN``; naming an empty signature field
    already in the PDF fills that field (then ``box_mm`` must be left out and ``page`` is
    the field's own). ``box_mm=None`` for a new field makes an invisible seal.

    Raises ``MalformedPdf`` for input that is not a readable PDF,
    ``PdfSealArgumentError`` for arguments that do not fit this PDF and
    ``PdfSigningError`` when the signer fails or signs with another key.
    """
    if subfilter not in SUBFILTERS:
        raise PdfSealArgumentError(f"unknown SubFilter {subfilter!r}; choose one of {sorted(SUBFILTERS)}")
    signer = SM2PdfSigner(sign, certificate, chain, timestamp=timestamp)
    writer = _open(pdf_bytes)
    pages = _page_count(writer)
    if not isinstance(page, int) or not -pages <= page < pages:
        raise PdfPageOutOfRange(page, pages)
    page %= pages
    existing = _existing_fields(writer)
    name, prepared = _field_name(field_name, existing)
    if prepared and box_mm is not None:
        raise PdfSealArgumentError(f"signature field {name!r} is already placed in the PDF; leave box_mm out")
    if not prepared and box_mm is None and picture_png is not None:
        raise PdfSealArgumentError("a seal picture needs box_mm (where to put it); without box_mm the seal is invisible")
    placement = place(writer, page, box_mm) if box_mm is not None else None
    box = placement.rect if placement is not None else None
    rotate = placement.rotate if placement is not None else field_rotation(existing[name][1]) if prepared else 0
    style = seal_style(picture_png, rotate)
    meta = signers.PdfSignatureMetadata(
        field_name=name, md_algorithm=DIGEST, subfilter=SUBFILTERS[subfilter],
        reason=reason, location=location, certify=False)
    spec = None if prepared else fields.SigFieldSpec(sig_field_name=name, on_page=page, box=box)
    pdf_signer = signers.PdfSigner(meta, signer=signer, stamp_style=style, new_field_spec=spec)
    reserve = None
    if timestamp is not None:
        certs = sum(len(c.dump()) for c in (certificate, *chain))
        reserve = 4096 + certs + _TIMESTAMP_RESERVE
        reserve += reserve % 2  # pyHanko reserves whole hex pairs
    out = io.BytesIO()
    try:
        pdf_signer.sign_pdf(writer, output=out, bytes_reserved=reserve)
    except PdfSealError:
        raise
    except SigningError as exc:
        cause = exc.__cause__ or exc.__context__
        if isinstance(cause, PdfSealError):
            raise cause from None
        raise PdfSigningError(f"pyHanko could not sign: {exc}") from None
    except READ_ERRORS as exc:
        raise MalformedPdf(f"cannot add a signature to this PDF: {describe(exc)}") from None
    return out.getvalue()
