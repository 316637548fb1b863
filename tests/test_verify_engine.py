"""verify/engine.py on signatures: one test per sub-indication, with seals and seal
signatures built by seal/structures.py, keys and certificates from a local PKI whose CRLs
and OCSP are served over HTTP, and (on SQLite and PostgreSQL) real RFC 3161 timestamps
from the region's TSA proving existence before a revocation."""
from __future__ import annotations

import base64
import dataclasses
import datetime as dt

import pytest

from gm.sm3 import sm3
from seal import structures as st
from seal.cms import sign_data
from verify.engine import StatusAnswer, Verifier
from verify.path import StaticTrust
from verify.report import CheckResult, Indication, SubIndication
from verify.revocation import RevocationChecker
from verify.testing import TestPKI

UTC = dt.timezone.utc
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAJJRU5ErkJggg==")
DATA = "营业执照 91350100M000100Y43".encode()


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass
class Sealer:
    pki: TestPKI
    maker: object
    maker_key: object
    signer: object
    signer_key: object

    def seal(self, *, bound=None, start=None, end=None, maker_key=None, es_id="44000020260000001") -> bytes:
        start = start or _now() - dt.timedelta(days=1)
        info = st.build_seal_info(es_id=es_id, seal_type=1, name="测试市市场监督管理局", valid_start=start,
                                  valid_end=end or start + dt.timedelta(days=365),
                                  picture=st.Picture("PNG", PNG, 40, 40),
                                  certificates=[(bound or self.signer).dump()])
        return st.assemble_seal(info, self.maker.dump(), (maker_key or self.maker_key).sign(info))

    def sign(self, data: bytes = DATA, *, seal: bytes | None = None, key=None, time_info=None,
             timestamp=None) -> bytes:
        tbs = st.build_tbs_sign(seal or self.seal(), data_hash=sm3(data), property_info="license.ofd",
                                time_info=time_info)
        signature = (key or self.signer_key).sign(tbs)
        token = timestamp(signature) if timestamp else None
        return st.assemble_signature(tbs, self.signer.dump(), signature, token)


@pytest.fixture
def sealer(pki):
    maker, maker_key = pki.issue("seal_maker", "测试省制章人")
    signer, signer_key = pki.issue("device", "测试市市场监督管理局")
    return Sealer(pki, maker, maker_key, signer, signer_key)


def verifier(pki, **kw) -> Verifier:
    return Verifier(StaticTrust([pki.root], [pki.issuing]), **kw)


def verdict(report):
    sig = report.signatures[0]
    return sig.indication, sig.sub_indication


def test_good_seal_signature_passes_with_evidence(pki, sealer) -> None:
    report = verifier(pki).verify_ses_signature(sealer.sign(), DATA)
    assert verdict(report) == (Indication.PASSED, None), [c.message for c in report.signatures[0].checks if c.failed]
    sig = report.signatures[0]
    assert sig.seal.name == "测试市市场监督管理局" and sig.seal.picture == PNG
    assert sig.signer.serial == format(sealer.signer.serial_number, "x")
    assert sig.claimed_signing_time is not None and sig.timestamp_time is None
    codes = {c.code for c in sig.checks}
    assert {"DATA_HASH", "SIGNATURE_VALUE", "SEAL_SIGNATURE", "SEAL_VALIDITY", "SEAL_BINDING",
            "SEAL_MAKER_CERTIFICATE", "X509_PATH_BUILT", "REVOCATION_STATUS"} <= codes
    assert "data:image/png;base64," in report.html()


@pytest.mark.parametrize("case, expected", [
    ("data_changed", (Indication.FAILED, SubIndication.HASH_FAILURE)),
    ("wrong_signer_key", (Indication.FAILED, SubIndication.SIG_CRYPTO_FAILURE)),
    ("seal_forged", (Indication.FAILED, SubIndication.SEAL_INVALID)),
    ("seal_expired", (Indication.FAILED, SubIndication.SEAL_EXPIRED)),
    ("not_bound", (Indication.FAILED, SubIndication.SIGNER_NOT_BOUND_TO_SEAL)),
    ("garbage", (Indication.FAILED, SubIndication.FORMAT_FAILURE)),
    ("no_anchor", (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)),
    ("status_unavailable", (Indication.INDETERMINATE, SubIndication.TRY_LATER)),
    ("signer_revoked_no_poe", (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)),
    ("signed_after_revocation", (Indication.FAILED, SubIndication.REVOKED)),
])
def test_each_sub_indication(pki, sealer, case, expected) -> None:
    v = verifier(pki)
    data = DATA
    if case == "data_changed":
        sig, data = sealer.sign(), DATA + b" "
    elif case == "wrong_signer_key":
        from ca.testing import LocalSigner

        sig = sealer.sign(key=LocalSigner())
    elif case == "seal_forged":
        from ca.testing import LocalSigner

        sig = sealer.sign(seal=sealer.seal(maker_key=LocalSigner()))
    elif case == "seal_expired":
        past = _now() - dt.timedelta(days=400)
        sig = sealer.sign(seal=sealer.seal(start=past, end=past + dt.timedelta(days=30)))
    elif case == "not_bound":
        other, _ = pki.issue("device", "别的单位")
        sig = sealer.sign(seal=sealer.seal(bound=other))
    elif case == "garbage":
        sig = b"\x30\x03\x02\x01\x07"
    elif case == "no_anchor":
        sig, v = sealer.sign(), Verifier(StaticTrust([], [pki.issuing]))
    elif case == "status_unavailable":
        sig = sealer.sign()
        pki.server.routes.clear()
    elif case == "signer_revoked_no_poe":
        sig = sealer.sign(time_info=_now() - dt.timedelta(hours=1))
        pki.revoke(sealer.signer, _now() - dt.timedelta(minutes=10))
    elif case == "signed_after_revocation":
        pki.revoke(sealer.signer, _now() - dt.timedelta(hours=2))
        sig = sealer.sign(time_info=_now() - dt.timedelta(hours=1))
    report = v.verify_ses_signature(sig, data)
    assert verdict(report) == expected, [(c.code, c.message) for c in report.signatures[0].checks if c.failed]
    assert report.exit_code == {Indication.FAILED: 1, Indication.INDETERMINATE: 2}[expected[0]]


def test_seal_revoked_and_license_revoked_from_registries(pki, sealer) -> None:
    sig = sealer.sign()
    revoked_seal = verifier(pki, seal_status=lambda es_id: StatusAnswer("revoked", _now() - dt.timedelta(minutes=1),
                                                                           "lost", "seal registry"))
    assert verdict(revoked_seal.verify_ses_signature(sig, DATA)) == (Indication.FAILED, SubIndication.SEAL_REVOKED)
    unknown_seal = verifier(pki, seal_status=lambda es_id: None)
    assert verdict(unknown_seal.verify_ses_signature(sig, DATA)) == (Indication.PASSED, None)
    from verify.documents import ses_facts

    facts = dataclasses.replace(ses_facts(sig, DATA), license_id="44030020260000001X")
    revoked_licence = verifier(pki, license_status=lambda lid: StatusAnswer("revoked", _now(), "吊销", "license directory"))
    out = revoked_licence.evaluate(facts)
    assert (out.indication, out.sub_indication) == (Indication.FAILED, SubIndication.LICENSE_REVOKED)
    assert out.check("LICENSE_STATUS").details["revoked_at"] is not None
    valid_licence = verifier(pki, license_status=lambda lid: StatusAnswer("valid"))
    assert valid_licence.evaluate(facts).indication is Indication.PASSED


def test_lenient_policy_turns_quirks_into_warnings(pki, sealer) -> None:
    from verify.documents import ses_facts
    from verify.report import LENIENT

    facts = dataclasses.replace(ses_facts(sealer.sign(), DATA), quirks=("signature as raw 64-byte r||s",))
    strict = verifier(pki).evaluate(facts)
    lenient = verifier(pki, policy=LENIENT).evaluate(facts)
    assert (strict.indication, strict.sub_indication) == (Indication.FAILED, SubIndication.FORMAT_FAILURE)
    assert lenient.indication is Indication.PASSED
    assert [c.result for c in lenient.checks if c.code == "ENCODING_QUIRK"] == [CheckResult.WARNING]


def test_cms_with_signed_attributes_hash_failure(pki, sealer) -> None:
    der = sign_data(DATA, sealer.signer, sealer.signer_key.sign, detached=True)
    v = verifier(pki)
    assert verdict(v.verify_cms(der, DATA)) == (Indication.PASSED, None)
    assert verdict(v.verify_cms(der, DATA + b"!")) == (Indication.FAILED, SubIndication.HASH_FAILURE)


def test_real_seal_signature_vector(shared_vectors) -> None:
    """ofdrw's SignedValueV4.dat: the signature and the seal verify; the ofdrw test root is
    not ours, so the chain is not found; the data it was made over is not in the vectors."""
    from verify.documents import ses_facts

    der = (shared_vectors / "seals" / "SignedValueV4.dat").read_bytes()
    facts = ses_facts(der, b"not the signed Signature.xml")
    out = Verifier(StaticTrust(), RevocationChecker(online=False)).evaluate(facts)
    assert out.check("SIGNATURE_VALUE").result is CheckResult.PASSED
    assert out.check("SEAL_SIGNATURE").result is CheckResult.PASSED
    assert out.check("DATA_HASH").result is CheckResult.FAILED
    assert out.check("X509_PATH_BUILT").sub_indication is SubIndication.NO_CERTIFICATE_CHAIN_FOUND


def test_a_seal_on_its_own(pki, sealer, shared_vectors) -> None:
    ours = verifier(pki).verify_bytes(sealer.seal(), name="seal.esl")
    assert ours.input_kind == "seal" and ours.indication is Indication.PASSED, \
        [(c.code, c.message) for c in ours.signatures[0].checks if c.failed]
    assert ours.signatures[0].signer.serial == format(sealer.maker.serial_number, "x")   # the maker's path
    from ca.testing import LocalSigner

    forged = verifier(pki).verify_bytes(sealer.seal(maker_key=LocalSigner()), name="forged.esl")
    assert forged.sub_indication in (SubIndication.SEAL_INVALID, SubIndication.SIG_CRYPTO_FAILURE)
    assert forged.signatures[0].check("SEAL_SIGNATURE").result is CheckResult.FAILED
    # ofdrw's test seals: the maker's signature verifies, the seals expired long ago
    for name in ("UserV4.esl", "UserV1.esl"):
        real = Verifier(StaticTrust(), RevocationChecker(online=False)).verify_bytes(
            (shared_vectors / "seals" / name).read_bytes(), name=name)
        sig = real.signatures[0]
        assert sig.check("SEAL_SIGNATURE").result is CheckResult.PASSED
        assert (real.indication, real.sub_indication) == (Indication.FAILED, SubIndication.SEAL_EXPIRED)
