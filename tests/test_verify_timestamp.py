"""Proof of existence on SQLite and PostgreSQL: a region (ca.service) issues the signer
certificate, its seal maker signs the seal, its TSA (seal.tsa, RFC 3161) timestamps the
signatures; after the signer certificate is revoked, the signature timestamped before the
revocation stays PASSED with the revocation shown, the one timestamped after is REVOKED,
one without a timestamp is REVOKED_NO_POE. Revocation from the region's own CRLs (offline)."""
from __future__ import annotations

import base64
import datetime as dt
import time

import pytest

from ca import service as ca_service
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import structures as st
from seal import tsa
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.engine import Verifier
from verify.path import StaticTrust, load_certificate
from verify.report import CheckResult, Indication, SubIndication
from verify.revocation import RevocationChecker

UTC = dt.timezone.utc
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAJJRU5ErkJggg==")
DATA = b"<ofd:Signature>...</ofd:Signature>"


def _region(home):
    """Shenzhen's region with an agency's seal key and its certificate: (key store, key
    reference, serial, certificate)."""
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="pw for the test").store
    ca_service.init_region(home, ks, region_code="440300", region_name="深圳市", base_url="http://pki.sz.example")
    signer_ref = ks.generate("agency-seal-key", "seal", actor="admin")
    serial, signer = ca_service.issue_for_key(home, ks, profile="device", key_ref=signer_ref,
                                              subject="C=CN,O=深圳市某局,CN=深圳市某局签章")
    return ks, signer_ref, serial, signer


def _seal(home, ks, signer) -> str:
    from seal import service as seal_service

    return seal_service.make_seal(home, ks, seal_type="organization", name="深圳市某局", agency="深圳市某局",
                                  holder_certs=[signer.dump()], picture=PNG)


def test_timestamp_before_revocation_keeps_the_signature(eseal_home) -> None:
    home = eseal_home
    ks, signer_ref, serial, signer = _region(home)
    maker = ca_service.service_certificate(home, "seal_maker")
    now = dt.datetime.now(UTC).replace(microsecond=0)
    info = st.build_seal_info(es_id="44030020260000001", seal_type=1, name="深圳市某局", valid_start=now,
                              valid_end=now + dt.timedelta(days=365), picture=st.Picture("PNG", PNG, 40, 40),
                              certificates=[signer.dump()])
    seal = st.assemble_seal(info, maker.certificate.dump(), ks.sign(maker.key_ref, info, actor="admin", role="seal"))

    def stamp(value: bytes) -> bytes:
        request, _ = tsa.request_for(value)
        return tsa.parse_response(tsa.timestamp(home, ks, request, actor="tsa-client")).token

    def make(with_timestamp: bool, time_info=None) -> bytes:
        tbs = st.build_tbs_sign(seal, data_hash=sm3(DATA), property_info="/Doc_0/Signs/Sign_0/Signature.xml",
                                time_info=time_info)
        value = ks.sign(signer_ref, tbs, actor="agency", role="seal")
        return st.assemble_signature(tbs, signer.dump(), value, stamp(value) if with_timestamp else None)

    before = make(True)
    untimed = make(False, time_info=now)
    time.sleep(1.1)          # genTime and revocation time have whole seconds: keep them apart
    ca_service.revoke(home, serial, "keyCompromise")
    time.sleep(1.1)
    after = make(True)

    root = load_certificate((home.path / "root.pem").read_bytes())
    issuing = maker.chain[0]      # the seal signature carries only the signer's certificate
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    verifier = Verifier(StaticTrust([root], [issuing]), RevocationChecker(online=False, offline_crls=crls))

    ok = verifier.verify_ses_signature(before, DATA).signatures[0]
    assert (ok.indication, ok.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in ok.checks if c.failed]
    assert ok.timestamp_time is not None and ok.check("TIMESTAMP").result is CheckResult.PASSED
    leaf_evidence = next(r for r in ok.revocation if r.certificate_serial == serial)
    assert leaf_evidence.status == "revoked" and leaf_evidence.revoked_at > ok.timestamp_time
    assert "after the signature's proven existence" in next(
        c.message for c in ok.checks if c.code == "REVOCATION_STATUS" and c.subject.endswith(f"{serial})"))

    late = verifier.verify_ses_signature(after, DATA).signatures[0]
    assert (late.indication, late.sub_indication) == (Indication.FAILED, SubIndication.REVOKED)

    unproven = verifier.verify_ses_signature(untimed, DATA).signatures[0]
    assert (unproven.indication, unproven.sub_indication) == (Indication.INDETERMINATE, SubIndication.REVOKED_NO_POE)

    # a timestamp over other bytes is no proof at all
    tampered = st.parse_signature(before)
    assert tampered.timestamp is not None
    forged = st.assemble_signature(tampered.tbs, signer.dump(), ks.sign(signer_ref, tampered.tbs, actor="x", role="seal"),
                                   tampered.timestamp)
    bad_ts = verifier.verify_ses_signature(forged, DATA).signatures[0]
    assert bad_ts.check("TIMESTAMP").result is CheckResult.FAILED
    assert bad_ts.indication is Indication.FAILED


def test_seal_revoked_in_the_registry(eseal_home) -> None:
    """A seal made, authorised and used through seal/service.py; the verifier asks the
    home's seal registry: PASSED, then SEAL_REVOKED once the registry revokes the seal."""
    from seal import service as seal_service
    from verify.engine import home_seal_status

    home = eseal_home
    ks, _, _, signer = _region(home)
    es_id = _seal(home, ks, signer)
    grant = seal_service.authorise_use(home, ks, es_id, agency="深圳市某局", cert=signer.dump())
    signature = seal_service.make_signature(home, ks, grant, sm3(DATA), "/Doc_0/Signs/Sign_0/Signature.xml")
    maker = ca_service.service_certificate(home, "seal_maker")
    root = load_certificate((home.path / "root.pem").read_bytes())
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    verifier = Verifier(StaticTrust([root], [maker.chain[0]]), RevocationChecker(online=False, offline_crls=crls),
                        seal_status=home_seal_status(home))
    good = verifier.verify_ses_signature(signature, DATA).signatures[0]
    assert (good.indication, good.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in good.checks if c.failed]
    assert good.seal.esid == es_id and good.check("SEAL_STATUS").result is CheckResult.PASSED
    seal_service.revoke_seal(home, es_id, reason="印章遗失")
    bad = verifier.verify_ses_signature(signature, DATA).signatures[0]
    assert (bad.indication, bad.sub_indication) == (Indication.FAILED, SubIndication.SEAL_REVOKED)
    assert "印章遗失" in bad.check("SEAL_STATUS").message


@pytest.mark.parametrize("reason, kept", [("cessationOfOperation", True), ("keyCompromise", False)])
def test_tsa_revoked_after_the_token(eseal_home, reason, kept) -> None:
    """RFC 3161 section 4: a TSA certificate revoked after a token (not for a key compromise)
    leaves the token valid, so the signature it proves stays PASSED (docs/verification.md
    "Time": the TSA certificate is checked at the token's time); revoked for a key
    compromise, the token proves nothing. The region answers from its registry and from its CRLs."""
    from seal import sealing
    from verify.service import verifier_for_home

    home = eseal_home
    ks, _, _, signer = _region(home)
    es_id = _seal(home, ks, signer)
    sealed = sealing.seal_document(home, ks, sealing.authorise(home, ks, es_id), DATA, cms=True).data
    time.sleep(1.1)          # genTime and revocation time have whole seconds: keep them apart
    ca_service.revoke(home, ca_service.service_certificate(home, "tsa").serial, reason)

    root = load_certificate((home.path / "root.pem").read_bytes())
    issuing = ca_service.service_certificate(home, "seal_maker").chain[0]
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    for verifier in (verifier_for_home(home, online=False),
                     Verifier(StaticTrust([root], [issuing]), RevocationChecker(online=False, offline_crls=crls))):
        sig = verifier.verify_cms(sealed, DATA).signatures[0]
        got = (sig.indication, sig.sub_indication)
        if kept:
            assert got == (Indication.PASSED, None), [(c.code, c.message) for c in sig.checks if c.failed]
            assert sig.timestamp_time is not None and sig.check("TIMESTAMP").result is CheckResult.PASSED
        else:
            assert got == (Indication.INDETERMINATE, SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE)
            assert sig.timestamp_time is None and sig.check("TIMESTAMP").failed


def test_seal_maker_revoked_after_the_token(eseal_home) -> None:
    """A seal maker certificate revoked after a signature's proven time leaves the seal (made
    before that time) good: PASSED, as for the signer's certificate (docs/verification.md
    "Time"); a signature without a timestamp has no such proof: REVOKED."""
    from seal import service as seal_service
    from verify.service import verifier_for_home

    home = eseal_home
    ks, _, _, signer = _region(home)
    es_id = _seal(home, ks, signer)
    grant = seal_service.authorise_use(home, ks, es_id, agency="深圳市某局", cert=signer.dump())
    location = "/Doc_0/Signs/Sign_0/Signature.xml"
    proven = seal_service.make_signature(home, ks, grant, sm3(DATA), location, timestamp=tsa.tsa_callable(home, ks))
    unproven = seal_service.make_signature(home, ks, grant, sm3(DATA), location)
    time.sleep(1.1)          # genTime and revocation time have whole seconds: keep them apart
    ca_service.revoke(home, ca_service.service_certificate(home, "seal_maker").serial, "keyCompromise")

    verifier = verifier_for_home(home, online=False)
    ok = verifier.verify_ses_signature(proven, DATA).signatures[0]
    assert (ok.indication, ok.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in ok.checks if c.failed]
    assert ok.check("SEAL_MAKER_CERTIFICATE").result is CheckResult.PASSED
    bad = verifier.verify_ses_signature(unproven, DATA).signatures[0]
    assert (bad.indication, bad.sub_indication) == (Indication.FAILED, SubIndication.REVOKED)
    assert bad.check("SEAL_MAKER_CERTIFICATE").failed
