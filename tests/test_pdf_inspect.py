"""inspect_pdf_signatures (seal/pdf_inspect.py): the facts the verifier builds its PDF
report on, and the tampering cases of issue 6 — a byte changed in the signed range, a
signature value from another key, and incremental updates after signing that change what
the page shows (flagged), next to one that only adds a seal (allowed)."""
from __future__ import annotations

import datetime as dt
import hashlib
import io

import pytest
from asn1crypto import x509 as ax509
from cryptography import x509 as cx509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko_certvalidator.registry import SimpleCertificateStore

from ca.testing import LocalSigner
from seal.pdf import inspect_pdf_signatures, seal_pdf
from seal.pdf_inspect import Later
from tests.test_pdf_seal import make_pdf, pki, seal_png  # noqa: F401  (pki is a fixture)

UTC = dt.timezone.utc


@pytest.fixture(scope="module")
def sealed(pki):  # noqa: F811
    h, signer, cert = pki
    before = dt.datetime.now(UTC).replace(microsecond=0)
    out = seal_pdf(make_pdf(2), sign=signer.sign, certificate=cert, chain=[h.issuing, h.root],
                   box_mm=(120, 30, 40, 40), picture_png=seal_png(), reason="核准登记", location="福州")
    return out, before


def contents_span(pdf: bytes) -> tuple[int, int]:
    """Where the hex of the last signature's /Contents sits (between < and >)."""
    emb = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[-1]
    _, a, b, _ = (int(v) for v in emb.byte_range)
    return a + 1, b - 1


# --------------------------------------------------------------------------- facts


def test_facts_of_a_good_seal(pki, sealed):  # noqa: F811
    h, _, cert = pki
    pdf, before = sealed
    (f,) = inspect_pdf_signatures(pdf)
    assert f.ok
    assert f.field_name == "Seal1" and f.subfilter == "adbe.pkcs7.detached"
    assert (f.reason, f.location) == ("核准登记", "福州")
    assert f.byte_range_ok and f.covers_whole_file and f.coverage == "ENTIRE_FILE"
    assert (f.signed_revision, f.total_revisions, f.later_revisions) == (1, 2, Later.NONE)
    a, b, c, d = f.byte_range
    assert a == 0 and c + d == len(pdf)
    # the digest, recomputed here with hashlib's (OpenSSL's) SM3
    assert f.digest_algorithm == "sm3"
    assert f.message_digest == hashlib.new("sm3", pdf[:b] + pdf[c:c + d]).digest() == f.computed_digest
    assert f.signature_ok and f.signature_detail == "SM2 signature verifies"
    assert f.signature_algorithm == "sm2_sm3"
    assert f.signer_certificate.dump() == cert.dump()
    assert {c.dump() for c in f.certificates} == {cert.dump(), h.issuing.dump(), h.root.dump()}
    assert f.signing_time_source == "signed-attribute"
    assert before <= f.signing_time <= dt.datetime.now(UTC)
    assert not f.has_timestamp and f.timestamp_imprint_ok is None
    assert PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0].pkcs7_content == f.cms


def test_pades_signing_time_comes_from_the_dictionary(pki):  # noqa: F811
    _, signer, cert = pki
    out = seal_pdf(make_pdf(1), sign=signer.sign, certificate=cert, subfilter="ETSI.CAdES.detached")
    (f,) = inspect_pdf_signatures(out)
    assert f.ok and f.subfilter == "ETSI.CAdES.detached"
    assert f.signing_time_source == "pdf-M"
    assert abs(f.signing_time - dt.datetime.now(UTC)) < dt.timedelta(minutes=5)


def test_unsigned_pdf_has_no_facts():
    assert inspect_pdf_signatures(make_pdf(1)) == []


# --------------------------------------------------------------------------- tampering


def test_one_byte_changed_in_the_signed_range_fails_the_digest(sealed):
    pdf, _ = sealed
    i = pdf.index(b"registration, page 1")
    assert i < contents_span(pdf)[0]  # inside the first signed part of the ByteRange
    tampered = pdf[:i] + b"R" + pdf[i + 1:]
    (f,) = inspect_pdf_signatures(tampered)
    assert not f.digest_ok and f.computed_digest != f.message_digest
    assert f.signature_ok  # the signed attributes themselves are intact
    assert f.byte_range_ok and f.covers_whole_file
    assert not f.ok


def _same_length_signature(other: LocalSigner, tbs: bytes, length: int) -> bytes:
    while True:  # SM2 DER signatures are 70-72 bytes; draw until the length matches
        sig = other.sign(tbs)
        if len(sig) == length:
            return sig


def test_signature_value_from_another_key_fails_the_signature(sealed):
    pdf, _ = sealed
    emb = PdfFileReader(io.BytesIO(pdf)).embedded_signatures[0]
    si = emb.signer_info
    tbs = b"\x31" + si["signed_attrs"].dump()[1:]  # DER SET OF the signed attributes
    old = si["signature"].native
    new = _same_length_signature(LocalSigner(), tbs, len(old))
    cms_der = emb.pkcs7_content
    assert cms_der.count(old) == 1
    start, end = contents_span(pdf)
    new_hex = cms_der.replace(old, new).hex().encode()
    tampered = pdf[:start] + new_hex + b"0" * (end - start - len(new_hex)) + pdf[end:]
    assert len(tampered) == len(pdf)
    (f,) = inspect_pdf_signatures(tampered)
    assert f.digest_ok and f.byte_range_ok  # the /Contents gap is outside the ByteRange
    assert not f.signature_ok and "does not verify" in f.signature_detail
    assert not f.ok


def _incremental_page_update(pdf: bytes, how: str) -> bytes:
    """An incremental update made with pyHanko's writer after the seal."""
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page_ref = w.root["/Pages"].raw_get("/Kids")[0]
    page = page_ref.get_object()
    stamp = generic.StreamObject(stream_data=b"BT /F1 48 Tf 100 500 Td (PAID) Tj ET")
    if how == "replace":
        page["/Contents"] = w.add_object(stamp)
    else:  # overlay: keep the original content and draw over it
        page["/Contents"] = generic.ArrayObject([page.raw_get("/Contents"), w.add_object(stamp)])
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


@pytest.mark.parametrize("how", ["replace", "overlay"])
def test_incremental_update_changing_the_page_is_flagged(sealed, how):
    pdf, _ = sealed
    changed = _incremental_page_update(pdf, how)
    assert changed.startswith(pdf)
    (f,) = inspect_pdf_signatures(changed)
    # the signed revision itself is intact...
    assert f.digest_ok and f.signature_ok and f.byte_range_ok
    assert f.covers_whole_revision and not f.covers_whole_file
    # ...but what the page shows changed afterwards
    assert f.modified_after_signing and not f.ok
    assert f.later_revisions == Later.MODIFIED
    assert f.pages_changed == (0,)
    assert "content of page(s) 0 changed after signing" in f.modification_detail
    # pyHanko's own difference analysis agrees that this is not an allowed change
    emb = PdfFileReader(io.BytesIO(changed)).embedded_signatures[0]
    emb.compute_integrity_info()
    assert emb.summarise_integrity_info()["docmdp_ok"] is False


def test_second_page_untouched_update_on_first_page_names_only_that_page(pki, sealed):  # noqa: F811
    """A second seal on page 1 (allowed), then content changed on page 0: both seals see
    the change; the report names page 0 only."""
    h, signer, cert = pki
    pdf, _ = sealed
    two = seal_pdf(pdf, sign=signer.sign, certificate=cert, page=1, box_mm=(20, 20, 30, 30))
    first, second = inspect_pdf_signatures(two)
    assert first.ok and first.later_revisions == Later.SIGNATURES and first.pages_changed == ()
    changed = _incremental_page_update(two, "overlay")
    first, second = inspect_pdf_signatures(changed)
    assert first.pages_changed == second.pages_changed == (0,)
    assert first.modified_after_signing and second.modified_after_signing


# --------------------------------------------------------------------------- foreign signatures


def p256_simple_signer() -> signers.SimpleSigner:
    """A pyHanko SimpleSigner with a cryptography P-256 key and self-signed certificate."""
    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "ECDSA P-256 signer")])
    now = dt.datetime.now(UTC)
    cert = (cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(cx509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(days=30)).sign(key, hashes.SHA256()))
    from pyhanko.keys import load_private_key_from_pemder_data

    key_pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                serialization.NoEncryption())
    acert = ax509.Certificate.load(cert.public_bytes(serialization.Encoding.DER))
    return signers.SimpleSigner(signing_cert=acert, signing_key=load_private_key_from_pemder_data(key_pem, None),
                                cert_registry=SimpleCertificateStore.from_certs([acert]))


def sign_with_pyhanko(pdf: bytes, signer: signers.Signer, field: str = "Other") -> bytes:
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    meta = signers.PdfSignatureMetadata(field_name=field, md_algorithm="sha256")
    return signers.sign_pdf(w, meta, signer=signer, new_field_spec=fields.SigFieldSpec(field)).getvalue()


def test_foreign_ecdsa_signature_is_reported_not_sm2(sealed):
    """A P-256 signature added by pyHanko after our seal: the digest facts hold, the
    signature is reported as not SM2 (nothing raised), and our seal sees an allowed
    signature-only change."""
    pdf, _ = sealed
    out = sign_with_pyhanko(pdf, p256_simple_signer())
    ours, other = inspect_pdf_signatures(out)
    assert ours.ok and ours.later_revisions == Later.SIGNATURES
    assert other.field_name == "Other" and other.digest_algorithm == "sha256" and other.digest_ok
    assert not other.signature_ok and "is not SM2" in other.signature_detail


# --------------------------------------------------------------------------- hand-made updates


def _pdf_with_image() -> bytes:
    from PIL import Image
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.utils import ImageReader
    from reportlab.pdfgen import canvas

    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4)
    c.drawString(72, 760, "photo of the licence holder:")
    c.drawImage(ImageReader(Image.new("RGB", (16, 16), (0, 90, 200))), 72, 600, width=120, height=120)
    c.showPage()
    c.save()
    return buf.getvalue()


def _replace_object_by_hand(pdf: bytes, ref, body: bytes) -> bytes:
    """Append an incremental update that redefines object ``ref`` — written byte by byte
    here (classic xref table), not by pyHanko."""
    import re as _re

    reader = PdfFileReader(io.BytesIO(pdf))
    trailer = reader.trailer_view
    root = trailer.raw_get("/Root")
    prev = int(_re.findall(rb"startxref\s+(\d+)", pdf)[-1])
    offset = len(pdf)
    obj = b"%d %d obj\n" % (ref.idnum, ref.generation) + body + b"\nendobj\n"
    xref_at = offset + len(obj)
    xref = b"xref\n%d 1\n%010d %05d n \n" % (ref.idnum, offset, ref.generation)
    tail = (b"trailer\n<< /Size %d /Root %d %d R /Prev %d >>\nstartxref\n%d\n%%%%EOF\n"
            % (int(trailer["/Size"]), root.idnum, root.generation, prev, xref_at))
    return pdf + obj + xref + tail


def test_image_swapped_in_place_after_signing_is_flagged(pki):  # noqa: F811
    """The page dictionary and its resources stay as signed; only the image XObject they
    name is redefined in a later revision. The page comparison names page 0."""
    _, signer, cert = pki
    pdf = seal_pdf(_pdf_with_image(), sign=signer.sign, certificate=cert)
    reader = PdfFileReader(io.BytesIO(pdf))
    page = reader.root["/Pages"]["/Kids"][0].get_object()
    xobjects = page["/Resources"]["/XObject"]
    name = next(iter(xobjects.keys()))
    ref = xobjects.raw_get(name).reference
    red = bytes([200, 0, 0]) * 16 * 16
    body = (b"<< /Type /XObject /Subtype /Image /Width 16 /Height 16 /ColorSpace /DeviceRGB "
            b"/BitsPerComponent 8 /Length %d >>\nstream\n" % len(red)) + red + b"\nendstream"
    swapped = _replace_object_by_hand(pdf, ref, body)
    pymupdf = pytest.importorskip("pymupdf")  # another engine sees the new revision's picture
    pix = pymupdf.open(stream=swapped, filetype="pdf")[0].get_pixmap(dpi=72)
    assert pix.pixel(130, 842 - 660)[:3] == (200, 0, 0)
    (f,) = inspect_pdf_signatures(swapped)
    assert f.digest_ok and f.signature_ok and f.covers_whole_revision
    assert f.modified_after_signing and f.pages_changed == (0,) and not f.ok


def test_zeroed_signature_contents_is_a_clear_error(sealed):
    pdf, _ = sealed
    start, end = contents_span(pdf)
    broken = pdf[:start] + b"0" * (end - start) + pdf[end:]
    from seal.pdf import MalformedPdf

    with pytest.raises(MalformedPdf, match="unreadable signature field: Error parsing asn1crypto.cms.ContentInfo"):
        inspect_pdf_signatures(broken)


def test_malformed_number_in_the_signature_dictionary(sealed):
    """Found by the fuzzer: pyHanko reads PDF numbers with Decimal, which raises
    InvalidOperation (an ArithmeticError, not a ValueError) for '.'."""
    pdf, _ = sealed
    i = pdf.index(b"/ByteRange [0 ")
    broken = pdf[:i] + b"/ByteRange [. " + pdf[i + 14:]
    from seal.pdf import MalformedPdf

    with pytest.raises(MalformedPdf, match="unreadable signature field: malformed number"):
        inspect_pdf_signatures(broken)
