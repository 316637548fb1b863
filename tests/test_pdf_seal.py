"""PDF sealing (seal/pdf.py) judged by tools no one here wrote: qpdf --check, pyHanko's
own reader and coverage analysis, OpenSSL (CMS parsing, SM3 of the byte range, the SM2
signature over the signed attributes), and MuPDF (PyMuPDF) rendering the seal picture
where box_mm says. Input PDFs are drawn with reportlab in the test."""
from __future__ import annotations

import datetime as dt
import hashlib
import io
import shutil
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms
from PIL import Image, ImageDraw
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign.validation.status import SignatureCoverageLevel
from reportlab.lib.pagesizes import A4
from reportlab.pdfgen import canvas

from ca.certificate import to_pem
from ca.testing import LocalSigner, make_hierarchy, organization_signer
from gm.sm3 import sm3
from seal.pdf import (MalformedPdf, PdfSealArgumentError, PdfSigningError, inspect_pdf_signatures,
                      seal_pdf)
from seal.pdf_inspect import Later
from tests.conftest import require

MM = 72 / 25.4
DISTID = "distid:1234567812345678"


@pytest.fixture(scope="module")
def pki():
    h = make_hierarchy()
    signer, cert = organization_signer(h)
    return h, signer, cert


def make_pdf(pages: int = 2) -> bytes:
    """An A4 PDF with uncompressed page content (so a test can find and alter the text)."""
    buf = io.BytesIO()
    c = canvas.Canvas(buf, pagesize=A4, pageCompression=0)
    for i in range(pages):
        c.drawString(72, 760, f"Certificate of business registration, page {i + 1}")
        c.showPage()
    c.save()
    return buf.getvalue()


def seal_png(size: int = 200) -> bytes:
    """A filled red disc on a transparent square, like an official seal picture."""
    img = Image.new("RGBA", (size, size), (0, 0, 0, 0))
    ImageDraw.Draw(img).ellipse((4, 4, size - 4, size - 4), fill=(220, 0, 0, 255))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.fixture(scope="module")
def sealed(pki):
    h, signer, cert = pki
    return seal_pdf(make_pdf(), sign=signer.sign, certificate=cert, chain=[h.issuing, h.root], page=0,
                    box_mm=(120, 30, 40, 40), picture_png=seal_png(), reason="核准登记", location="福州")


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, **kw)


def qpdf_check(tmp_path: Path, data: bytes) -> subprocess.CompletedProcess:
    qpdf = shutil.which("qpdf")
    require(qpdf, "qpdf")
    f = tmp_path / "check.pdf"
    f.write_bytes(data)
    return run([qpdf, "--check", f], text=True)


# --------------------------------------------------------------------------- external readers


@pytest.mark.parametrize("subfilter", ["adbe.pkcs7.detached", "ETSI.CAdES.detached"])
def test_sealed_pdf_passes_qpdf_and_pyhanko_reader(pki, tmp_path, subfilter):
    h, signer, cert = pki
    out = seal_pdf(make_pdf(), sign=signer.sign, certificate=cert, chain=[h.issuing], subfilter=subfilter,
                   field_name="机构公章", box_mm=(20, 20, 40, 40), picture_png=seal_png())
    check = qpdf_check(tmp_path, out)
    assert check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout, check.stdout + check.stderr

    sigs = PdfFileReader(io.BytesIO(out)).embedded_signatures
    assert [s.field_name for s in sigs] == ["机构公章"]
    emb = sigs[0]
    assert emb.sig_object["/SubFilter"] == "/" + subfilter
    assert emb.signer_cert.dump() == cert.dump()
    emb.compute_integrity_info()
    assert emb.coverage == SignatureCoverageLevel.ENTIRE_FILE
    si = emb.signer_info
    assert si["digest_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.401"
    assert si["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    # pyHanko's own ByteRange digest (hashlib 'sm3') is the signed messageDigest
    md = next(a for a in si["signed_attrs"] if a["type"].native == "message_digest")["values"][0].native
    assert emb.compute_digest() == md
    names = {a["type"].native for a in si["signed_attrs"]}
    if subfilter == "ETSI.CAdES.detached":  # PAdES: signing certificate signed, no signingTime
        assert "signing_certificate_v2" in names and "signing_time" not in names
        scv2 = next(a for a in si["signed_attrs"] if a["type"].native == "signing_certificate_v2")
        ess = scv2["values"][0]["certs"][0]
        alg = ess["hash_algorithm"]["algorithm"].native
        assert ess["cert_hash"].native == hashlib.new(alg, cert.dump()).digest()
    else:
        assert "signing_time" in names


def test_openssl_checks_digest_and_sm2_signature(pki, sealed, tmp_path, openssl_bin):
    """OpenSSL parses our CMS, its SM3 of the ByteRange equals messageDigest, and its
    pkeyutl verifies the SM2 signature (ID 1234567812345678) over DER(signed attributes)."""
    _, _, cert = pki
    emb = PdfFileReader(io.BytesIO(sealed)).embedded_signatures[0]
    (tmp_path / "sig.p7").write_bytes(emb.pkcs7_content)
    printed = run([openssl_bin, "cms", "-cmsout", "-print", "-inform", "DER", "-in", tmp_path / "sig.p7"], text=True)
    assert printed.returncode == 0, printed.stderr
    assert "sm3 (1.2.156.10197.1.401)" in printed.stdout
    assert "SM2-with-SM3 (1.2.156.10197.1.501)" in printed.stdout

    a, b, c, d = (int(v) for v in emb.byte_range)
    (tmp_path / "range.bin").write_bytes(sealed[a:a + b] + sealed[c:c + d])
    dgst = run([openssl_bin, "dgst", "-sm3", "-r", tmp_path / "range.bin"], text=True)
    si = emb.signer_info
    md = next(x for x in si["signed_attrs"] if x["type"].native == "message_digest")["values"][0].native
    assert dgst.stdout.split()[0] == md.hex()

    attrs = si["signed_attrs"]
    (tmp_path / "tbs.der").write_bytes(cms.CMSAttributes.load(b"\x31" + attrs.dump()[1:]).dump(force=False))
    (tmp_path / "sig.der").write_bytes(si["signature"].native)
    (tmp_path / "cert.pem").write_bytes(to_pem(cert))
    run([openssl_bin, "x509", "-in", tmp_path / "cert.pem", "-pubkey", "-noout", "-out", tmp_path / "pub.pem"],
        check=True)
    verify = [openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin", "-digest",
              "sm3", "-pkeyopt", DISTID, "-in", tmp_path / "tbs.der", "-sigfile", tmp_path / "sig.der"]
    ok = run(verify, text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    (tmp_path / "tbs.der").write_bytes((tmp_path / "tbs.der").read_bytes()[:-1] + b"\x00")
    assert run(verify, text=True).returncode != 0


def test_mupdf_shows_the_seal_picture_in_the_box(sealed):
    """MuPDF (another PDF engine) finds the signature widget at 120 mm / 30 mm from the
    top-left, 40 mm square, and renders the red picture there, transparent corners and all."""
    pymupdf = pytest.importorskip("pymupdf")
    doc = pymupdf.open(stream=sealed, filetype="pdf")
    widgets = list(doc[0].widgets())
    assert [w.field_name for w in widgets] == ["Seal1"]
    r = widgets[0].rect  # MuPDF coordinates: top-left origin, points
    assert (r.x0, r.y0, r.width, r.height) == pytest.approx((120 * MM, 30 * MM, 40 * MM, 40 * MM), abs=0.01)
    assert list(doc[1].widgets()) == []
    pix = doc[0].get_pixmap(dpi=72)

    def rgb(x_mm: float, y_mm: float) -> tuple[int, int, int]:
        return pix.pixel(int(x_mm * MM), int(y_mm * MM))

    red = rgb(140, 50)  # centre of the box
    assert red[0] > 180 and red[1] < 60 and red[2] < 60, red
    assert rgb(121.5, 31.5) == (255, 255, 255)  # box corner: outside the disc, transparent
    assert rgb(60, 50) == (255, 255, 255)  # elsewhere on the page


def test_palette_png_keeps_its_transparent_colour(pki):
    """A palette PNG whose background is its transparent colour (tRNS) is embedded with
    a soft mask: the text under the seal's corner stays visible in MuPDF."""
    pymupdf = pytest.importorskip("pymupdf")
    _, signer, cert = pki
    img = Image.new("P", (100, 100), 0)
    img.putpalette([255, 255, 255, 200, 0, 0] + [0] * 762)
    ImageDraw.Draw(img).ellipse((2, 2, 98, 98), fill=1)
    png = io.BytesIO()
    img.save(png, "PNG", transparency=0)
    pdf = make_pdf(1)
    # the seal box's top-left corner sits on the page's text line (y = 760 pt from the bottom)
    out = seal_pdf(pdf, sign=signer.sign, certificate=cert, box_mm=(25, 28, 30, 30), picture_png=png.getvalue())
    before = pymupdf.open(stream=pdf, filetype="pdf")[0].get_pixmap(dpi=72)
    after = pymupdf.open(stream=out, filetype="pdf")[0].get_pixmap(dpi=72)
    x0, y0 = int(25 * MM), int(28 * MM)
    corner = [(x, y) for x in range(x0, x0 + 12) for y in range(y0, y0 + 12)]
    assert any(before.pixel(x, y) != (255, 255, 255) for x, y in corner)  # text is there
    # and not covered (compositing through the soft mask may round a grey level by one)
    assert all(max(abs(p - q) for p, q in zip(after.pixel(x, y), before.pixel(x, y))) <= 2 for x, y in corner)
    centre = after.pixel(int(40 * MM), int(43 * MM))
    assert centre[0] > 180 and centre[1] < 60, centre


# --------------------------------------------------------------------------- two seals


def test_second_seal_keeps_the_first_valid(pki, sealed, tmp_path):
    h, signer, cert = pki
    second, cert2 = organization_signer(h, name="某某市税务局", credit_code="91350100M000200Y4T")
    both = seal_pdf(sealed, sign=second.sign, certificate=cert2, chain=[h.issuing], page=1,
                    box_mm=(20, 200, 40, 40), picture_png=seal_png(), subfilter="ETSI.CAdES.detached")
    assert both.startswith(sealed)  # incremental: the first signed revision is untouched
    check = qpdf_check(tmp_path, both)
    assert check.returncode == 0 and "No syntax or stream encoding errors" in check.stdout, check.stdout

    sigs = PdfFileReader(io.BytesIO(both)).embedded_signatures
    assert [s.field_name for s in sigs] == ["Seal1", "Seal2"]
    sigs[0].compute_integrity_info()
    sigs[1].compute_integrity_info()
    assert sigs[0].coverage == SignatureCoverageLevel.ENTIRE_REVISION
    assert sigs[1].coverage == SignatureCoverageLevel.ENTIRE_FILE

    first, other = inspect_pdf_signatures(both)
    assert first.ok and other.ok
    assert first.later_revisions == Later.SIGNATURES == "allowed signature-only changes"
    assert (first.covers_whole_revision, first.covers_whole_file) == (True, False)
    assert (first.signed_revision, other.signed_revision, first.total_revisions) == (1, 2, 3)
    assert first.signer_certificate.dump() == cert.dump()
    assert other.signer_certificate.dump() == cert2.dump()
    assert other.later_revisions == Later.NONE and other.pages_changed == ()


def test_default_field_names_count_up(pki):
    _, signer, cert = pki
    one = seal_pdf(make_pdf(1), sign=signer.sign, certificate=cert, box_mm=None)
    two = seal_pdf(one, sign=signer.sign, certificate=cert, box_mm=None)
    assert [f.field_name for f in inspect_pdf_signatures(two)] == ["Seal1", "Seal2"]
    with pytest.raises(PdfSealArgumentError, match="signature field 'Seal1' is already signed"):
        seal_pdf(two, sign=signer.sign, certificate=cert, field_name="Seal1")


# --------------------------------------------------------------------------- timestamp hook


def _tst_token(signature: bytes, tsa_signer: LocalSigner, tsa_cert) -> bytes:
    """A TimeStampToken over SM3(signature), built here from asn1crypto parts and signed
    with seal.cms (a stand-in for the region's TSA)."""
    from asn1crypto import tsp

    from seal.cms import sign_data

    info = tsp.TSTInfo({
        "version": "v1", "policy": "1.2.156.10197.6.1.4.2.99", "serial_number": 7,
        "message_imprint": {"hash_algorithm": {"algorithm": "sm3"}, "hashed_message": sm3(signature)},
        "gen_time": dt.datetime(2026, 5, 1, 8, 0, 0, tzinfo=dt.timezone.utc),
    })
    return sign_data(info.dump(), tsa_cert, tsa_signer.sign, flavour="pkcs7", detached=False,
                     content_type="tst_info")


def test_timestamp_token_is_embedded_over_the_signature(pki):
    h, signer, cert = pki
    calls: list[bytes] = []

    def tsa(signature: bytes) -> bytes:
        calls.append(signature)
        return _tst_token(signature, h.issuing_signer, h.issuing)

    out = seal_pdf(make_pdf(1), sign=signer.sign, certificate=cert, timestamp=tsa)
    (facts,) = inspect_pdf_signatures(out)
    assert facts.ok and facts.has_timestamp and facts.timestamp_imprint_ok is True
    assert facts.timestamp_time == dt.datetime(2026, 5, 1, 8, 0, 0, tzinfo=dt.timezone.utc)
    # the TSA was called once, with exactly the signature value in the file
    emb = PdfFileReader(io.BytesIO(out)).embedded_signatures[0]
    assert calls == [emb.signer_info["signature"].native]
    token = emb.signer_info["unsigned_attrs"][0]
    assert token["type"].native == "signature_time_stamp_token"
    assert token["values"][0].dump() == facts.timestamp_token


def test_broken_timestamp_callable_is_a_signing_error(pki):
    _, signer, cert = pki
    with pytest.raises(PdfSigningError, match="no TimeStampToken"):
        seal_pdf(make_pdf(1), sign=signer.sign, certificate=cert, timestamp=lambda sig: b"not a token")


# --------------------------------------------------------------------------- refusals


def test_signer_with_another_key_is_refused(pki):
    _, _, cert = pki
    with pytest.raises(PdfSigningError, match="does not verify with the certificate"):
        seal_pdf(make_pdf(1), sign=LocalSigner().sign, certificate=cert)

    def failing(data: bytes) -> bytes:
        raise PermissionError("key locked")

    with pytest.raises(PdfSigningError, match="the signer failed: key locked"):
        seal_pdf(make_pdf(1), sign=failing, certificate=cert)


def test_the_key_signs_once_per_seal(pki):
    """pyHanko sizes the signature with a dry run; that run must not reach the key (each
    use of a key store key is audited), so the signer is called exactly once."""
    _, signer, cert = pki
    calls: list[bytes] = []

    def counting(data: bytes) -> bytes:
        calls.append(data)
        return signer.sign(data)

    out = seal_pdf(make_pdf(1), sign=counting, certificate=cert, box_mm=(10, 10, 30, 30), picture_png=seal_png())
    emb = PdfFileReader(io.BytesIO(out)).embedded_signatures[0]
    assert calls == [b"\x31" + emb.signer_info["signed_attrs"].dump()[1:]]


def test_bad_arguments_are_specific_errors(pki):
    h, signer, cert = pki
    pdf = make_pdf(2)
    kw = dict(sign=signer.sign, certificate=cert)
    box = (10, 10, 30, 30)
    with pytest.raises(PdfSealArgumentError, match="page 2 does not exist: the PDF has 2 page"):
        seal_pdf(pdf, page=2, **kw)
    with pytest.raises(PdfSealArgumentError, match="does not fit on page 0 \\(210.0 x 297.0 mm as displayed\\)"):
        seal_pdf(pdf, box_mm=(190, 10, 40, 40), **kw)
    with pytest.raises(PdfSealArgumentError, match="width and height must be > 0"):
        seal_pdf(pdf, box_mm=(10, 10, 0, 40), **kw)
    with pytest.raises(PdfSealArgumentError, match="four numbers"):
        seal_pdf(pdf, box_mm=(10, 10, 40), **kw)
    jpeg = io.BytesIO()
    Image.new("RGB", (10, 10), (255, 0, 0)).save(jpeg, "JPEG")
    with pytest.raises(PdfSealArgumentError, match="must be a PNG image, not JPEG"):
        seal_pdf(pdf, picture_png=jpeg.getvalue(), box_mm=box, **kw)
    with pytest.raises(PdfSealArgumentError, match="not a readable image"):
        seal_pdf(pdf, picture_png=b"\x89PNG\r\n\x1a\nbroken", box_mm=box, **kw)
    with pytest.raises(PdfSealArgumentError, match="unknown SubFilter 'adbe.x509.rsa_sha1'"):
        seal_pdf(pdf, subfilter="adbe.x509.rsa_sha1", **kw)
    with pytest.raises(PdfSealArgumentError, match="without '.'"):
        seal_pdf(pdf, field_name="a.b", **kw)


def test_non_sm2_certificate_is_refused(pki, tmp_path, openssl_bin):
    from asn1crypto import pem, x509

    _, signer, _ = pki
    run([openssl_bin, "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-keyout", tmp_path / "k.pem", "-subj", "/CN=p256", "-days", "1", "-out", tmp_path / "c.pem"], check=True)
    p256 = x509.Certificate.load(pem.unarmor((tmp_path / "c.pem").read_bytes())[2])
    with pytest.raises(PdfSealArgumentError, match="not an SM2 key"):
        seal_pdf(make_pdf(1), sign=signer.sign, certificate=p256)


@pytest.mark.parametrize("data, message", [
    (b"hello, not a pdf", "does not start with %PDF-"),
    (b"%PDF-1.7\n1 0 obj << /Type /Catalog >> endobj\n%%EOF\n", "unreadable PDF"),
    (b"", "does not start with %PDF-"),
])
def test_malformed_pdf_is_a_clear_error(pki, data, message):
    _, signer, cert = pki
    with pytest.raises(MalformedPdf, match=message):
        seal_pdf(data, sign=signer.sign, certificate=cert)
    with pytest.raises(MalformedPdf, match=message):
        inspect_pdf_signatures(data)


def test_truncated_sealed_pdf_is_a_clear_error(sealed):
    with pytest.raises(MalformedPdf, match="unreadable PDF: EOF marker not found"):
        inspect_pdf_signatures(sealed[: len(sealed) // 2])


# --------------------------------------------------------------------------- prepared forms, odd pages


def _with_empty_field(pdf: bytes, name: str, page: int, box: tuple[int, int, int, int]) -> bytes:
    from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
    from pyhanko.sign import fields

    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    fields.append_signature_field(w, fields.SigFieldSpec(name, on_page=page, box=box))
    out = io.BytesIO()
    w.write(out)
    return out.getvalue()


def test_prepared_empty_field_is_filled_where_the_form_put_it(pki):
    pymupdf = pytest.importorskip("pymupdf")
    _, signer, cert = pki
    form = _with_empty_field(make_pdf(2), "盖章处", 1, (300, 100, 420, 220))
    with pytest.raises(PdfSealArgumentError, match="already placed in the PDF; leave box_mm out"):
        seal_pdf(form, sign=signer.sign, certificate=cert, field_name="盖章处", box_mm=(10, 10, 30, 30))
    out = seal_pdf(form, sign=signer.sign, certificate=cert, field_name="盖章处", picture_png=seal_png())
    (f,) = inspect_pdf_signatures(out)
    assert f.ok and f.field_name == "盖章处"
    doc = pymupdf.open(stream=out, filetype="pdf")
    (w,) = doc[1].widgets()
    page_h = doc[1].rect.height
    assert (w.rect.x0, page_h - w.rect.y1, w.rect.x1, page_h - w.rect.y0) == pytest.approx((300, 100, 420, 220))
    red = doc[1].get_pixmap(dpi=72).pixel(360, int(page_h - 160))
    assert red[0] > 180 and red[1] < 60, red
    with pytest.raises(PdfSealArgumentError, match="'盖章处' is already signed"):
        seal_pdf(out, sign=signer.sign, certificate=cert, field_name="盖章处")


def test_picture_without_a_box_is_refused(pki):
    _, signer, cert = pki
    with pytest.raises(PdfSealArgumentError, match="a seal picture needs box_mm"):
        seal_pdf(make_pdf(1), sign=signer.sign, certificate=cert, picture_png=seal_png())


def test_encrypted_input_is_refused(pki, tmp_path):
    _, signer, cert = pki
    qpdf = shutil.which("qpdf")
    require(qpdf, "qpdf")
    (tmp_path / "in.pdf").write_bytes(make_pdf(2))
    run([qpdf, "--encrypt", "user", "owner", "256", "--", tmp_path / "in.pdf", tmp_path / "enc.pdf"], check=True)
    enc = (tmp_path / "enc.pdf").read_bytes()
    with pytest.raises(MalformedPdf, match="encrypted"):
        seal_pdf(enc, sign=signer.sign, certificate=cert)
    with pytest.raises(MalformedPdf, match="encrypted"):
        inspect_pdf_signatures(enc)


def two_colour_png() -> bytes:
    """200 x 100 px: red top half, blue bottom half — shows which way up it is drawn."""
    img = Image.new("RGB", (200, 100), (0, 0, 230))
    ImageDraw.Draw(img).rectangle((0, 0, 199, 49), fill=(230, 0, 0))
    out = io.BytesIO()
    img.save(out, "PNG")
    return out.getvalue()


@pytest.mark.parametrize("rotate", [0, 90, 180, 270])
def test_rotated_page_gets_the_seal_where_the_reader_sees_it_upright(pki, tmp_path, rotate):
    """qpdf rotates page 1; box_mm is measured on the page as displayed, and MuPDF shows the
    picture there with its red half on top, whatever the rotation."""
    pymupdf = pytest.importorskip("pymupdf")
    qpdf = shutil.which("qpdf")
    require(qpdf, "qpdf")
    _, signer, cert = pki
    (tmp_path / "in.pdf").write_bytes(make_pdf(2))
    run([qpdf, f"--rotate=+{rotate}:2", tmp_path / "in.pdf", tmp_path / "rot.pdf"], check=True)
    out = seal_pdf((tmp_path / "rot.pdf").read_bytes(), sign=signer.sign, certificate=cert, page=1,
                   box_mm=(30, 40, 60, 30), picture_png=two_colour_png())
    assert inspect_pdf_signatures(out)[0].ok
    check = qpdf_check(tmp_path, out)
    assert check.returncode == 0, check.stdout
    page = pymupdf.open(stream=out, filetype="pdf")[1]
    assert page.rotation == rotate
    pix = page.get_pixmap(dpi=72)  # the page as displayed, top-left origin

    def rgb(x_mm: float, y_mm: float) -> tuple[int, int, int]:
        return pix.pixel(int(x_mm * MM), int(y_mm * MM))

    top, bottom = rgb(60, 47), rgb(60, 63)  # upper and lower quarter of the 60 x 30 mm box
    assert top[0] > 180 and top[2] < 60, top  # red on top
    assert bottom[2] > 180 and bottom[0] < 60, bottom  # blue below
    for outside in (rgb(27, 55), rgb(93, 55), rgb(60, 37), rgb(60, 73)):  # just outside each edge
        assert outside == (255, 255, 255), outside


def test_prepared_field_on_a_rotated_page_shows_the_picture_upright(pki, tmp_path):
    pymupdf = pytest.importorskip("pymupdf")
    qpdf = shutil.which("qpdf")
    require(qpdf, "qpdf")
    _, signer, cert = pki
    (tmp_path / "in.pdf").write_bytes(make_pdf(2))
    run([qpdf, "--rotate=+90:2", tmp_path / "in.pdf", tmp_path / "rot.pdf"], check=True)
    form = _with_empty_field((tmp_path / "rot.pdf").read_bytes(), "Prepared", 1, (300, 100, 420, 220))
    out = seal_pdf(form, sign=signer.sign, certificate=cert, field_name="Prepared", picture_png=two_colour_png())
    assert inspect_pdf_signatures(out)[0].ok
    pix = pymupdf.open(stream=out, filetype="pdf")[1].get_pixmap(dpi=72)
    # user (x, y) shows at (y, x) on this A4 page turned by 90 degrees: the field's centre
    # (360, 160) at (160, 360); the 2:1 picture fills 120 x 60 pt of it, red half on top
    top, bottom = pix.pixel(160, 345), pix.pixel(160, 375)
    assert top[0] > 180 and top[2] < 60, top
    assert bottom[2] > 180 and bottom[0] < 60, bottom
