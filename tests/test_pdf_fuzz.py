"""Fuzzing of PDF sealing and inspection: damaged PDFs (flipped bytes, truncation, inserted
junk, spliced sections, random bytes) give facts or ``MalformedPdf`` with a message —
never a stray exception from deep inside pyHanko or asn1crypto.

Bounded in `make test`; ESEAL_FUZZ_EXAMPLES raises the count for long runs.
"""
from __future__ import annotations

from hypothesis import given

from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner, make_hierarchy
from seal.pdf import MalformedPdf, inspect_pdf_signatures, seal_pdf
from seal.pdf_errors import PdfSealError
from tests.fuzz.mutate import examples, mutated
from tests.test_pdf_seal import make_pdf

HIER = make_hierarchy()
SIGNER = LocalSigner()
CERT = (CertificateBuilder("organization", HIER.config)
        .subject({"C": "CN", "O": "模糊测试局", "CN": "模糊测试局"}).identity(organization_code="91350100M000100Y43")
        .public_key(SIGNER.public_key).issuer(HIER.issuing).sign(HIER.issuing_signer))
PLAIN = make_pdf(1)
SEALED = seal_pdf(seal_pdf(PLAIN, sign=SIGNER.sign, certificate=CERT, box_mm=(10, 10, 20, 20)),
                  sign=SIGNER.sign, certificate=CERT)


ORIGINAL = {f.field_name: f.byte_range for f in inspect_pdf_signatures(SEALED)}


def _covered(data: bytes, byte_range: tuple[int, ...]) -> bytes:
    a, b, c, d = byte_range
    return data[a:a + b] + data[c:c + d]


@examples(150)
@given(mutated(SEALED))
def test_inspect_damaged_sealed_pdf(data: bytes) -> None:
    try:
        facts = inspect_pdf_signatures(data)
    except MalformedPdf as exc:
        assert str(exc)
        return
    for f in facts:
        # a seal that still reads ok over its original byte range covers the original bytes
        if f.ok and f.byte_range == ORIGINAL.get(f.field_name):
            assert _covered(data, f.byte_range) == _covered(SEALED, f.byte_range)


@examples(60)
@given(mutated(PLAIN))
def test_seal_damaged_pdf(data: bytes) -> None:
    try:
        out = seal_pdf(data, sign=SIGNER.sign, certificate=CERT)
    except PdfSealError as exc:
        assert str(exc)
    else:
        assert out.startswith(data)
