"""Whole documents through the verification engine (verify/engine.py ``Verifier``), each
changed in exactly one place, and the verdict the engine gives for it.

Covered here, end to end (the lower levels have their own tests in test_cms_sign.py,
test_ofd_signing.py, test_seal_structures.py):

1. an attached (not detached) CMS SignedData, through ``verify_cms`` and ``verify_bytes``:
   PASSED, and FAILED / HASH_FAILURE with one octet of the content changed;
2. an OFD sealed with a GB/T 38540 SES_Signature, made with real builders (seal/structures,
   seal/ofd) and a local PKI serving OCSP and CRLs (verify/testing.py), with one octet of:
   the seal picture carried in SignedValue.dat, the seal picture in Seal.esl, the signer
   certificate carried in SignedValue.dat, a page's Content.xml; a referenced file removed;
   a file added that the signature does not cover but a page draws;
3. ofdrw's SESV4SignDoc.ofd (../shared/vectors) with no trust anchors.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
from collections.abc import Callable

import pytest
from asn1crypto import x509
from PIL import Image as PILImage

from gm.sm3 import sm3
from seal import structures as st
from seal.cms import sign_data
from seal.ofd.document import Image, Page, Text, build_ofd
from seal.ofd.signing import seal_ofd, signature_location
from tests.helpers.zip_records import entries, rezip
from verify.engine import Verifier
from verify.path import StaticTrust
from verify.report import LENIENT, CheckResult, Indication, SubIndication
from verify.revocation import RevocationChecker

UTC = dt.timezone.utc
SIGNER_CN = "测试市市场监督管理局"
CONTENT = "Doc_0/Pages/Page_0/Content.xml"
SEAL_FILE = "Doc_0/Signs/Sign_0/Seal.esl"
SIGNED_VALUE = "Doc_0/Signs/Sign_0/SignedValue.dat"
CMS_DATA = "营业执照 统一社会信用代码 91350100M000100Y43".encode()


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def _png(colour: tuple[int, int, int] = (200, 0, 0)) -> bytes:
    buf = io.BytesIO()
    PILImage.new("RGB", (24, 24), colour).save(buf, "PNG")
    return buf.getvalue()


PICTURE = _png()


# --------------------------------------------------------------------------- builders


@dataclasses.dataclass
class Party:
    """A seal maker and a signer from the test region, and what they make."""

    maker: x509.Certificate
    maker_key: object
    signer: x509.Certificate
    signer_key: object

    def seal(self) -> bytes:
        start = _now() - dt.timedelta(days=1)
        info = st.build_seal_info(es_id="44000020260000001", seal_type=1, name=SIGNER_CN, valid_start=start,
                                  valid_end=start + dt.timedelta(days=365),
                                  picture=st.Picture("PNG", PICTURE, 40, 40), certificates=[self.signer.dump()])
        return st.assemble_seal(info, self.maker.dump(), self.maker_key.sign(info))

    def signed_value(self, seal: bytes) -> Callable[[bytes], bytes]:
        def make(xml: bytes) -> bytes:
            tbs = st.build_tbs_sign(seal, data_hash=sm3(xml), property_info=signature_location(xml))
            return st.assemble_signature(tbs, self.signer.dump(), self.signer_key.sign(tbs))

        return make

    def sealed(self, plain: bytes) -> bytes:
        seal = self.seal()
        return seal_ofd(plain, page_index=0, boundary_mm=(100, 100, 40, 40), seal_der=seal,
                        make_signed_value=self.signed_value(seal))


@pytest.fixture
def party(pki) -> Party:
    maker, maker_key = pki.issue("seal_maker", "测试省制章人")
    signer, signer_key = pki.issue("device", SIGNER_CN)
    return Party(maker, maker_key, signer, signer_key)


@pytest.fixture
def verifier(pki) -> Verifier:
    return Verifier(StaticTrust([pki.root], [pki.issuing]))


@pytest.fixture
def good_ofd(party) -> bytes:
    return party.sealed(build_ofd([Page([Text(20, 20, "营业执照 ABC", size=6)])]))


# --------------------------------------------------------------------------- helpers


def _flip(data: bytes, index: int, new: int | None = None) -> bytes:
    """``data`` with the octet at ``index`` changed (its low bit flipped, or set to ``new``)."""
    out = bytearray(data)
    out[index] = out[index] ^ 0x01 if new is None else new
    return bytes(out)


def _one_octet_apart(a: bytes, b: bytes) -> bool:
    return len(a) == len(b) and sum(x != y for x, y in zip(a, b)) == 1


def _with_entry(package: bytes, entry: str, edit: Callable[[bytes], bytes]) -> bytes:
    files = entries(package)
    before = files[entry]
    files[entry] = edit(before)
    assert _one_octet_apart(before, files[entry])        # the case is exactly one changed octet
    return rezip(files)


def _verdict(report) -> tuple[Indication, SubIndication | None]:
    [sig] = report.signatures
    assert (report.indication, report.sub_indication) == (sig.indication, sig.sub_indication)
    return sig.indication, sig.sub_indication


def _result(report, code: str) -> tuple[CheckResult, SubIndication | None]:
    check = report.signatures[0].check(code)
    assert check is not None, f"no {code} check in {[c.code for c in report.signatures[0].checks]}"
    return check.result, check.sub_indication


def _failed(report) -> dict[str, SubIndication | None]:
    return {c.code: c.sub_indication for c in report.signatures[0].checks if c.failed}


PASSED = (CheckResult.PASSED, None)


# --------------------------------------------------------------------------- 1. attached CMS


def test_attached_cms_passes_and_fails_on_one_changed_content_octet(verifier, party) -> None:
    der = sign_data(CMS_DATA, party.signer, party.signer_key.sign, detached=False)
    assert der.count(CMS_DATA) == 1                      # the content is carried in the SignedData
    for report in (verifier.verify_cms(der), verifier.verify_bytes(der, name="attached.p7s")):
        assert report.input_kind == "cms"
        assert _verdict(report) == (Indication.PASSED, None), _failed(report)
        assert _result(report, "CMS_CONTENT") == PASSED

    at = der.index(CMS_DATA) + CMS_DATA.index(b"M000")
    tampered = _flip(der, at, ord("N"))                  # ...M000100Y43 -> ...N000100Y43
    assert _one_octet_apart(der, tampered)
    for report in (verifier.verify_cms(tampered), verifier.verify_bytes(tampered, name="attached.p7s")):
        assert _verdict(report) == (Indication.FAILED, SubIndication.HASH_FAILURE)
        assert _failed(report) == {"CMS_CONTENT": SubIndication.HASH_FAILURE}
        assert _result(report, "SIGNATURE_VALUE") == PASSED      # the signed attributes are intact
        assert report.exit_code == 1


# --------------------------------------------------------------------------- 2. sealed OFD


def test_the_untampered_sealed_ofd_passes(verifier, good_ofd) -> None:
    report = verifier.verify_ofd(good_ofd)
    assert _verdict(report) == (Indication.PASSED, None), _failed(report)
    for code in ("DOCUMENT_REFERENCES", "DATA_HASH", "SIGNATURE_VALUE", "SEAL_SIGNATURE", "SEAL_BINDING"):
        assert _result(report, code) == PASSED
    assert SEAL_FILE in entries(good_ofd)


def test_one_octet_of_the_seal_picture_in_signed_value(verifier, good_ofd) -> None:
    value = entries(good_ofd)[SIGNED_VALUE]
    assert value.count(PICTURE) == 1
    at = value.index(PICTURE) + len(PICTURE) // 2
    report = verifier.verify_ofd(_with_entry(good_ofd, SIGNED_VALUE, lambda b: _flip(b, at)))
    assert _verdict(report) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    # the seal maker's signature over SES_SealInfo, and the signer's over TBS_Sign (which holds the seal)
    assert _failed(report) == {"SEAL_SIGNATURE": SubIndication.SEAL_INVALID,
                               "SIGNATURE_VALUE": SubIndication.SIG_CRYPTO_FAILURE}
    assert _result(report, "DOCUMENT_REFERENCES") == PASSED      # Seal.esl itself is untouched


def test_one_octet_of_the_seal_picture_in_seal_esl(verifier, good_ofd) -> None:
    esl = entries(good_ofd)[SEAL_FILE]
    at = esl.index(PICTURE) + len(PICTURE) // 2
    report = verifier.verify_ofd(_with_entry(good_ofd, SEAL_FILE, lambda b: _flip(b, at)))
    assert _verdict(report) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert _failed(report) == {"DOCUMENT_REFERENCES": SubIndication.HASH_FAILURE}
    assert report.signatures[0].check("DOCUMENT_REFERENCES").message == f"/{SEAL_FILE}: mismatch"
    assert _result(report, "SEAL_SIGNATURE") == PASSED           # the seal inside SignedValue.dat is intact


def test_one_octet_of_the_signer_certificate_in_signed_value(verifier, party, good_ofd) -> None:
    """The certificate after TBS_Sign (the seal's bound copy comes first and stays intact):
    the last octet of its subject CN, a UTF-8 continuation octet, so the DER stays valid."""
    value, cert = entries(good_ofd)[SIGNED_VALUE], party.signer.dump()
    start = value.rindex(cert)
    assert value.index(cert) < start                     # the seal's copy of the certificate, and the carried one
    subject = cert.rindex(party.signer.subject.dump())
    at = start + cert.index(SIGNER_CN.encode(), subject) + len(SIGNER_CN.encode()) - 1
    tampered = _with_entry(good_ofd, SIGNED_VALUE, lambda b: _flip(b, at))
    forged = x509.Certificate.load(entries(tampered)[SIGNED_VALUE][start:start + len(cert)])
    assert forged.subject.native["common_name"] != SIGNER_CN
    assert forged.public_key.dump() == party.signer.public_key.dump()

    report = verifier.verify_ofd(tampered)
    assert _verdict(report) == (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)
    failed = _failed(report)
    assert failed == {"X509_SIGNATURE": SubIndication.SIG_CRYPTO_FAILURE,
                      "X509_PATH_BUILT": SubIndication.NO_CERTIFICATE_CHAIN_FOUND,
                      "SEAL_BINDING": SubIndication.SIGNER_NOT_BOUND_TO_SEAL}
    assert _result(report, "X509_PATH_BUILT") == (CheckResult.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
    # the certificate is outside TBS_Sign and its key is unchanged: the signature value still verifies
    assert _result(report, "SIGNATURE_VALUE") == PASSED
    assert _result(report, "SEAL_SIGNATURE") == PASSED


def test_one_octet_of_a_page(verifier, good_ofd) -> None:
    page = entries(good_ofd)[CONTENT]
    at = page.index(b"ABC</ofd:TextCode>")
    report = verifier.verify_ofd(_with_entry(good_ofd, CONTENT, lambda b: _flip(b, at, ord("X"))))
    assert _verdict(report) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert _failed(report) == {"DOCUMENT_REFERENCES": SubIndication.HASH_FAILURE}
    assert report.signatures[0].check("DOCUMENT_REFERENCES").message == f"/{CONTENT}: mismatch"
    assert _result(report, "DATA_HASH") == PASSED and _result(report, "SIGNATURE_VALUE") == PASSED


@pytest.mark.parametrize("entry", [CONTENT, SEAL_FILE])
def test_a_referenced_file_removed(verifier, good_ofd, entry) -> None:
    files = entries(good_ofd)
    del files[entry]
    report = verifier.verify_ofd(rezip(files))
    assert _verdict(report) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert _result(report, "DOCUMENT_REFERENCES") == (CheckResult.FAILED, SubIndication.HASH_FAILURE)
    assert report.signatures[0].check("DOCUMENT_REFERENCES").message == f"/{entry}: missing"
    assert _result(report, "SIGNATURE_VALUE") == PASSED


def _sealed_drawing_a_missing_image(party: Party) -> bytes:
    """A sealed OFD whose page draws Doc_0/Res/late.png, a resource absent when it is sealed."""
    files = entries(build_ofd([Page([Text(10, 10, "正文", size=5), Image(50, 50, 20, 20, _png())])]))
    files["Doc_0/DocumentRes.xml"] = files["Doc_0/DocumentRes.xml"].replace(
        b"</ofd:MultiMedias>", b'<ofd:MultiMedia ID="90" Type="Image" Format="PNG"><ofd:MediaFile>late.png'
                               b"</ofd:MediaFile></ofd:MultiMedia></ofd:MultiMedias>")
    return party.sealed(rezip(files))


def test_an_added_unreferenced_file_that_a_page_draws(verifier, party) -> None:
    sealed = _sealed_drawing_a_missing_image(party)
    before = verifier.verify_ofd(sealed)
    assert _verdict(before) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert _failed(before) == {"MISSING_SHOWN": SubIndication.HASH_FAILURE}
    assert "Doc_0/Res/late.png" in before.signatures[0].check("MISSING_SHOWN").message

    files = entries(sealed)
    files["Doc_0/Res/late.png"] = _png((0, 200, 0))      # now the page shows an image nobody signed
    report = verifier.verify_ofd(rezip(files))
    assert _verdict(report) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert _failed(report) == {"UNREFERENCED_SHOWN": SubIndication.HASH_FAILURE}
    assert report.signatures[0].check("UNREFERENCED_SHOWN").message.endswith(": Doc_0/Res/late.png")
    assert _result(report, "DOCUMENT_REFERENCES") == PASSED      # no referenced file changed


def test_an_added_file_no_page_draws_is_not_a_failure(verifier, good_ofd) -> None:
    files = entries(good_ofd)
    files["Doc_0/Res/notes.txt"] = b"not drawn by any page"
    report = verifier.verify_ofd(rezip(files))
    assert _verdict(report) == (Indication.PASSED, None), _failed(report)
    assert report.signatures[0].check("UNREFERENCED_SHOWN") is None


# --------------------------------------------------------------------------- 3. real-world vector


def test_sesv4signdoc_vector_without_trust_anchors(shared_vectors) -> None:
    """ofdrw's SESV4SignDoc.ofd: intact and correctly signed (README: every CheckValue
    matches, the signature verifies) by a test CA that is not ours (NO_CERTIFICATE_CHAIN_FOUND).
    Its overall verdict is not INDETERMINATE: ofdrw writes References CheckMethod="SM3" (an
    encoding quirk, FAILED under the strict policy), and it was signed (SignatureDateTime
    2026-08-04) with ofdrw's test seal, which expired on 2022-04-22 -> SEAL_EXPIRED."""
    package = (shared_vectors / "ofd" / "SESV4SignDoc.ofd").read_bytes()
    strict = Verifier(StaticTrust(), RevocationChecker(online=False)).verify_bytes(package, name="SESV4SignDoc.ofd")
    lenient = Verifier(StaticTrust(), RevocationChecker(online=False, policy=LENIENT),
                       policy=LENIENT).verify_ofd(package)
    assert strict.input_kind == "ofd"
    for report in (strict, lenient):
        for code in ("DOCUMENT_REFERENCES", "DATA_HASH", "SIGNATURE_VALUE", "SEAL_SIGNATURE", "SEAL_BINDING"):
            assert _result(report, code) == PASSED, code
        assert _result(report, "X509_PATH_BUILT") == (CheckResult.INDETERMINATE,
                                                      SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
        assert _result(report, "SEAL_MAKER_CERTIFICATE") == (CheckResult.INDETERMINATE,
                                                             SubIndication.NO_CERTIFICATE_CHAIN_FOUND)
        assert _result(report, "SEAL_VALIDITY") == (CheckResult.FAILED, SubIndication.SEAL_EXPIRED)
    assert _verdict(strict) == (Indication.FAILED, SubIndication.FORMAT_FAILURE)
    assert _result(strict, "ENCODING_QUIRK") == (CheckResult.FAILED, SubIndication.FORMAT_FAILURE)
    assert _verdict(lenient) == (Indication.FAILED, SubIndication.SEAL_EXPIRED)
    assert _result(lenient, "ENCODING_QUIRK") == (CheckResult.WARNING, SubIndication.FORMAT_FAILURE)
