"""verify/path.py and verify/engine.py on validation items the other tests touch only in part:

* validity at the time a timestamp proves: an SES_Signature whose signer certificate has
  expired by now is PASSED when an RFC 3161 token of the region's TSA (seal/tsa.py, key in a
  real key store, on SQLite and PostgreSQL) proves it was made inside the validity; without
  the token (a claimed signing time only) it is INDETERMINATE / EXPIRED; signed after the
  expiry it is FAILED / EXPIRED. A signer not yet valid gives NOT_YET_VALID in the report;
* key usage: a leaf without digitalSignature / nonRepudiation used for document signing
  (X509_PURPOSE), an intermediate CA without keyCertSign (X509_CA_KEY_USAGE);
* name chaining: a leaf whose issuer name is no CA's subject, though signed by the CA's key
  and naming its key identifier, has no path (X509_PATH_BUILT / NO_CERTIFICATE_CHAIN_FOUND).

Certificates come from the CA's builder (ca/certificate.py via verify.testing.TestPKI) or,
for shapes that builder rightly refuses, are built field by field and signed with SM2.
"""
from __future__ import annotations

import base64
import datetime as dt
import time

import pytest
from asn1crypto import x509

from ca.certificate import key_identifier
from ca.keystore_signer import KeyStoreSigner
from ca.profiles import build_name
from ca.signer import sm2_spki
from ca.testing import LocalSigner, make_hierarchy
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import structures as st
from seal import tsa
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.engine import Verifier
from verify.path import StaticTrust, cert_label, validate_path
from verify.report import CheckResult, Indication, SubIndication, summarise
from verify.testing import TestPKI

UTC = dt.timezone.utc
SM2_WITH_SM3 = "1.2.156.10197.1.501"
PNG = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAJJRU5ErkJggg==")
DATA = "营业执照 91350100M000100Y43".encode()


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def failed_checks(checks) -> list[tuple[str, SubIndication | None, CheckResult]]:
    return [(c.code, c.sub_indication, c.result) for c in checks if c.failed]


# --------------------------------------------------------------------------- builders


def raw_cert(subject: dict, key: LocalSigner, issuer_name: x509.Name | None, issuer_signer: LocalSigner, *,
             ca: bool | None = None, key_usage=("digital_signature",), not_before=None,
             not_after=None) -> x509.Certificate:
    """An SM2 certificate built field by field (as tests/test_verify_path.py's raw_cert), with
    any issuer name: ``issuer_name`` None makes it self-issued. SKI of ``key``, AKI of
    ``issuer_signer``'s key, signed by ``issuer_signer``."""
    name = build_name(subject)
    now = _now()
    exts = [{"extn_id": "key_identifier", "critical": False, "extn_value": key_identifier(key.public_key)},
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": key_identifier(issuer_signer.public_key)}}]
    if ca is not None:
        exts.append({"extn_id": "basic_constraints", "critical": True, "extn_value": {"ca": ca}})
    if key_usage:
        exts.append({"extn_id": "key_usage", "critical": True, "extn_value": set(key_usage)})
    tbs = x509.TbsCertificate({
        "version": "v3", "serial_number": int.from_bytes(key_identifier(key.public_key)[:8], "big"),
        "signature": {"algorithm": SM2_WITH_SM3},
        "issuer": issuer_name if issuer_name is not None else name,
        "validity": {"not_before": x509.Time(name="utc_time", value=not_before or now - dt.timedelta(hours=1)),
                     "not_after": x509.Time(name="utc_time", value=not_after or now + dt.timedelta(days=30))},
        "subject": name, "subject_public_key_info": sm2_spki(key.public_key), "extensions": exts,
    })
    return x509.Certificate({"tbs_certificate": tbs, "signature_algorithm": {"algorithm": SM2_WITH_SM3},
                             "signature_value": issuer_signer.sign(tbs.dump())})


def make_seal(pki: TestPKI, signer: x509.Certificate, *, start: dt.datetime) -> bytes:
    """A seal made by the region's seal maker, bound to ``signer``, valid for a year from ``start``."""
    maker, maker_key = pki.issue("seal_maker", f"{pki.region_name}制章人")
    info = st.build_seal_info(es_id="44000020260000001", seal_type=1, name="测试市市场监督管理局",
                              valid_start=start, valid_end=start + dt.timedelta(days=365),
                              picture=st.Picture("PNG", PNG, 40, 40), certificates=[signer.dump()])
    return st.assemble_seal(info, maker.dump(), maker_key.sign(info))


def ses_signature(seal: bytes, signer: x509.Certificate, key, *, time_info=None, stamp=None) -> bytes:
    """An SES_Signature over DATA; ``stamp(signature value) -> token`` adds an RFC 3161 timestamp."""
    tbs = st.build_tbs_sign(seal, data_hash=sm3(DATA), property_info="license.ofd", time_info=time_info)
    value = key.sign(tbs)
    return st.assemble_signature(tbs, signer.dump(), value, stamp(value) if stamp else None)


def signer_validity(sig, signer: x509.Certificate):
    """The X509_VALIDITY check of the signer's own certificate in a signature report."""
    label = cert_label(signer)
    return next(c for c in sig.checks if c.code == "X509_VALIDITY" and c.subject == label)


# --------------------------------------------------------------------------- 1. validity at the proven time


def test_expired_signer_passes_at_the_time_its_timestamp_proves(eseal_home, pki) -> None:
    """The signer certificate's validity ends about three seconds after the signatures are made. Once
    it has expired: the timestamped signature is PASSED, validated at genTime; the one with only a
    claimed signing time inside the validity is INDETERMINATE / EXPIRED; one made (and
    claimed) after the expiry is FAILED / EXPIRED."""
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin",
                                 passphrase="pw for the test").store
    tsa_ref = ks.generate("region-tsa-key", "tsa", actor="admin")
    tsa_cert, _ = pki.issue("tsa", "测试省时间戳服务", signer=KeyStoreSigner(ks, tsa_ref, actor="admin", role="tsa"))
    stamp = tsa.tsa_callable(eseal_home, ks, actor="tsa-client",
                             tsa=tsa.TsaIdentity(tsa_ref, tsa_cert, (pki.issuing,)))

    start = _now()
    expires = start + dt.timedelta(seconds=3)
    signer, key = pki.issue("device", "测试市市场监督管理局", not_before=start - dt.timedelta(days=1),
                            not_after=expires)
    seal = make_seal(pki, signer, start=start - dt.timedelta(days=1))
    stamped = ses_signature(seal, signer, key, stamp=stamp)
    untimed = ses_signature(seal, signer, key, time_info=start)
    time.sleep(max(0.0, (expires - dt.datetime.now(UTC)).total_seconds()) + 1.1)
    assert dt.datetime.now(UTC) > expires
    late = ses_signature(seal, signer, key, time_info=_now())      # made and claimed after the expiry

    verifier = Verifier(StaticTrust([pki.root], [pki.issuing]))

    ok = verifier.verify_ses_signature(stamped, DATA).signatures[0]
    assert (ok.indication, ok.sub_indication) == (Indication.PASSED, None), failed_checks(ok.checks)
    assert ok.timestamp_time is not None and start <= ok.timestamp_time <= expires
    assert ok.validation_time == ok.timestamp_time
    assert ok.check("TIMESTAMP").result is CheckResult.PASSED
    assert signer_validity(ok, signer).result is CheckResult.PASSED
    assert ok.signer.serial == format(signer.serial_number, "x")

    unproven = verifier.verify_ses_signature(untimed, DATA).signatures[0]
    assert (unproven.indication, unproven.sub_indication) == (Indication.INDETERMINATE, SubIndication.EXPIRED), \
        failed_checks(unproven.checks)
    assert unproven.timestamp_time is None and unproven.claimed_signing_time == start
    assert unproven.check("TIMESTAMP") is None
    validity = signer_validity(unproven, signer)
    assert (validity.result, validity.sub_indication) == (CheckResult.INDETERMINATE, SubIndication.EXPIRED)
    assert "nothing proves the signature existed then" in validity.message
    assert failed_checks(unproven.checks) == [("X509_VALIDITY", SubIndication.EXPIRED, CheckResult.INDETERMINATE)]

    after = verifier.verify_ses_signature(late, DATA).signatures[0]
    assert (after.indication, after.sub_indication) == (Indication.FAILED, SubIndication.EXPIRED), \
        failed_checks(after.checks)
    assert failed_checks(after.checks) == [("X509_VALIDITY", SubIndication.EXPIRED, CheckResult.FAILED)]


def test_signer_not_yet_valid_in_a_signature_report(pki) -> None:
    """A signer certificate valid only from tomorrow: the SES_Signature report is FAILED /
    NOT_YET_VALID, from the signer's X509_VALIDITY check (no claimed time softens it)."""
    signer, key = pki.issue("device", "测试市市场监督管理局", not_before=_now() + dt.timedelta(days=1))
    seal = make_seal(pki, signer, start=_now() - dt.timedelta(days=1))
    sig = Verifier(StaticTrust([pki.root], [pki.issuing])).verify_ses_signature(
        ses_signature(seal, signer, key), DATA).signatures[0]
    assert (sig.indication, sig.sub_indication) == (Indication.FAILED, SubIndication.NOT_YET_VALID), \
        failed_checks(sig.checks)
    validity = signer_validity(sig, signer)
    assert (validity.result, validity.sub_indication) == (CheckResult.FAILED, SubIndication.NOT_YET_VALID)
    assert failed_checks(sig.checks) == [("X509_VALIDITY", SubIndication.NOT_YET_VALID, CheckResult.FAILED)]


# --------------------------------------------------------------------------- 2. key usage


@pytest.fixture(scope="module")
def region():
    return make_hierarchy()


def test_leaf_without_signing_key_usage_is_refused_for_document_signing(region) -> None:
    """keyUsage {keyEncipherment, keyAgreement}: no digitalSignature nor nonRepudiation."""
    leaf = raw_cert({"C": "CN", "O": "某某局", "CN": "某某局加密"}, LocalSigner(), region.issuing.subject,
                    region.issuing_signer, key_usage=("key_encipherment", "key_agreement"))
    trust = StaticTrust([region.root], [region.issuing])
    result = validate_path(leaf, trust=trust, purpose="document_signing")
    assert len(result.path) == 3, "the path is built; the purpose refuses it"
    assert failed_checks(result.checks) == [
        ("X509_PURPOSE", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE)]
    purpose = next(c for c in result.checks if c.code == "X509_PURPOSE")
    assert purpose.subject == cert_label(leaf) and "document_signing" in purpose.message
    assert summarise(result.checks) == (Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    # the same certificate is acceptable where no purpose is asked, and one with nonRepudiation alone is
    assert validate_path(leaf, trust=trust, purpose="any").ok
    nr_only = raw_cert({"C": "CN", "O": "某某局", "CN": "某某局签章"}, LocalSigner(), region.issuing.subject,
                       region.issuing_signer, key_usage=("non_repudiation",))
    assert validate_path(nr_only, trust=trust, purpose="document_signing").ok


def test_encryption_certificate_from_the_ca_is_no_document_signer(pki) -> None:
    """The CA's own device_encryption profile (GM/T 0015 encryption twin) used as a signer:
    verify_certificate for document_signing is INDETERMINATE / CHAIN_CONSTRAINTS_FAILURE."""
    cert, _ = pki.issue("device_encryption", "测试市市场监督管理局")
    assert "digital_signature" not in cert.key_usage_value.native
    report = Verifier(StaticTrust([pki.root], [pki.issuing])).verify_certificate(cert, purpose="document_signing")
    sig = report.signatures[0]
    assert (sig.indication, sig.sub_indication) == (Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE)
    assert failed_checks(sig.checks) == [
        ("X509_PURPOSE", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE)]


def test_intermediate_ca_without_key_cert_sign_is_refused() -> None:
    """root -> intermediate CA (cA true, keyUsage cRLSign only) -> leaf: X509_CA_KEY_USAGE on
    the intermediate, and nothing else; with keyCertSign the same shape passes."""
    root_key, sub_key = LocalSigner(), LocalSigner()
    root = raw_cert({"C": "CN", "O": "测试", "CN": "测试根CA"}, root_key, None, root_key, ca=True,
                    key_usage=("key_cert_sign", "crl_sign"))

    def chain(sub_usage):
        sub = raw_cert({"C": "CN", "O": "测试", "CN": "测试中间CA"}, sub_key, root.subject, root_key, ca=True,
                       key_usage=sub_usage)
        leaf = raw_cert({"C": "CN", "O": "测试", "CN": "终端"}, LocalSigner(), sub.subject, sub_key)
        return sub, leaf

    sub, leaf = chain(("crl_sign",))
    result = validate_path(leaf, trust=StaticTrust([root], [sub]))
    assert len(result.path) == 3
    assert failed_checks(result.checks) == [
        ("X509_CA_KEY_USAGE", SubIndication.CHAIN_CONSTRAINTS_FAILURE, CheckResult.INDETERMINATE)]
    assert next(c for c in result.checks if c.code == "X509_CA_KEY_USAGE").subject == cert_label(sub)
    assert summarise(result.checks) == (Indication.INDETERMINATE, SubIndication.CHAIN_CONSTRAINTS_FAILURE)

    good_sub, good_leaf = chain(("key_cert_sign", "crl_sign"))
    good = validate_path(good_leaf, trust=StaticTrust([root], [good_sub]))
    assert good.ok, failed_checks(good.checks)


# --------------------------------------------------------------------------- 3. name chaining


def test_issuer_name_matching_no_ca_has_no_path(region) -> None:
    """Signed by the issuing CA's key and naming its key identifier, but with an issuer name
    that is no CA's subject: no path. The control with the right issuer name passes."""
    other_issuer = build_name({"C": "CN", "O": "测试省电子认证中心", "CN": "测试省另一签发CA"})
    key = LocalSigner()
    subject = {"C": "CN", "O": "某某局", "CN": "某某局签章"}
    stray = raw_cert(subject, key, other_issuer, region.issuing_signer)
    trust = StaticTrust([region.root], [region.issuing])
    result = validate_path(stray, trust=trust, extra_certs=[region.issuing])
    assert result.path == () and result.anchor is None
    assert failed_checks(result.checks) == [
        ("X509_PATH_BUILT", SubIndication.NO_CERTIFICATE_CHAIN_FOUND, CheckResult.INDETERMINATE)]
    assert [c.code for c in result.checks] == ["X509_PATH_BUILT"]     # no signature was even tried
    assert "测试省另一签发CA" in result.checks[0].message
    assert summarise(result.checks) == (Indication.INDETERMINATE, SubIndication.NO_CERTIFICATE_CHAIN_FOUND)

    control = raw_cert(subject, key, region.issuing.subject, region.issuing_signer)
    assert validate_path(control, trust=trust).ok
