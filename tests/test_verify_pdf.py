"""The engine on PDF signatures (facts from seal/pdf_inspect.py): a sealed PDF passes with
its chain and revocation; a byte changed in the signed range is HASH_FAILURE; an
incremental update that changes the page after signing is FAILED (modified after signing)."""
from __future__ import annotations

import io

import pytest
from pyhanko.pdf_utils import generic
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter

from seal.pdf import seal_pdf
from tests.test_pdf_seal import make_pdf, seal_png
from verify.engine import Verifier
from verify.path import StaticTrust
from verify.report import CheckResult, Indication, SubIndication
from verify.testing import PKIServer, TestPKI


@pytest.fixture(scope="module")
def world():
    with PKIServer() as srv:
        pki = TestPKI(srv)
        cert, signer = pki.issue("device", "福州市市场监督管理局")
        pdf = seal_pdf(make_pdf(2), sign=signer.sign, certificate=cert, chain=[pki.issuing],
                       box_mm=(120, 30, 40, 40), picture_png=seal_png())
        yield pki, pdf


def verify(pki, pdf):
    return Verifier(StaticTrust([pki.root])).verify_pdf(pdf).signatures[0]


def test_sealed_pdf_passes(world) -> None:
    pki, pdf = world
    sig = verify(pki, pdf)
    assert (sig.indication, sig.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in sig.checks if c.failed]
    assert sig.kind == "pdf" and len(sig.trust_path) == 3 and sig.revocation[0].source == "ocsp"
    assert sig.check("PDF_MODIFIED_AFTER_SIGNING").result is CheckResult.PASSED


def test_byte_changed_in_signed_range(world) -> None:
    pki, pdf = world
    i = pdf.index(b"page 1")
    tampered = pdf[:i] + b"PAGE 1" + pdf[i + 6:]
    sig = verify(pki, tampered)
    assert (sig.indication, sig.sub_indication) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert sig.check("PDF_DIGEST").result is CheckResult.FAILED


def test_page_changed_after_signing(world) -> None:
    pki, pdf = world
    w = IncrementalPdfFileWriter(io.BytesIO(pdf))
    page = w.root["/Pages"].raw_get("/Kids")[0].get_object()
    page["/Contents"] = w.add_object(generic.StreamObject(stream_data=b"BT /F1 48 Tf 100 500 Td (PAID) Tj ET"))
    w.update_container(page)
    out = io.BytesIO()
    w.write(out)
    sig = verify(pki, out.getvalue())
    assert (sig.indication, sig.sub_indication) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert sig.check("PDF_MODIFIED_AFTER_SIGNING").result is CheckResult.FAILED
