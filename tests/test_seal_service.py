"""seal/service.py on SQLite and PostgreSQL: making seals with the region's seal maker, the
registry's status changes, every seal-use refusal with its audit record, and sealing."""
from __future__ import annotations

import base64
import datetime as dt
import json
import subprocess

import pytest
from sqlalchemy import select, update

from ca import service as ca_service
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import service, structures
from seal.errors import (
    InvalidSealTransition,
    NotAuthorised,
    SealBuildError,
    SealExpired,
    SealMakerUnavailable,
    SealNotFound,
    SealRevoked,
    SealSuspended,
    SignerCertificateInvalid,
    SignerNotBound,
    WrongPin,
)
from store import audit
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.models.ca import IssuedCertificate
from store.models.seal import SealRecord
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"
CREDIT_CODE = "91350100M000100Y43"
CITIZEN_ID = "11010519491231002X"
AGENCY = "440000-某某市人民政府"
PIN = "246810"
UTC = dt.timezone.utc
# make_seal checks a given picture against its type (seal.picture.check_picture): real ones
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAAJJRU5ErkJggg==")
SVG = b'<svg xmlns="http://www.w3.org/2000/svg" width="40mm" height="40mm"/>'


@pytest.fixture
def region(eseal_home):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                           base_url="http://pki.gd.example.gov.cn")
    return eseal_home, ks


def _signer(home, ks, label, *, personal=False):
    if personal:
        key_ref = ks.generate(label, "personal-seal", actor="admin", pin=PIN)
        serial, cert = ca_service.issue_for_key(home, ks, profile="personal", key_ref=key_ref,
                                                subject="C=CN,CN=张三", id_number=CITIZEN_ID)
    else:
        key_ref = ks.generate(label, "seal", actor="admin")
        serial, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                                subject="C=CN,O=某某市人民政府,CN=某某市人民政府",
                                                credit_code=CREDIT_CODE)
    return serial, cert


@pytest.fixture
def org_seal(region):
    home, ks = region
    serial, cert = _signer(home, ks, "agency-signer")
    es_id = service.make_seal(home, ks, seal_type="organization", name="某某市人民政府", agency=AGENCY,
                              holder_certs=[cert.dump()], actor="ra-operator")
    return home, ks, es_id, serial, cert


def _records(home, action=None):
    with transaction(home.engine, readonly=True) as s:
        q = select(AuditRecord).order_by(AuditRecord.seq)
        if action:
            q = q.where(AuditRecord.action == action)
        return [(r.action, r.subject, json.loads(r.details)) for r in s.scalars(q)]


def _audit_clean(home):
    with transaction(home.engine, readonly=True) as s:
        report = audit.verify(s)
    assert report.ok, report.findings


# ----------------------------------------------------------------------------- identifiers


def test_es_id_format_and_check_character():
    es_id = service.make_es_id("440000", 2026, 17)
    # by hand: ISO 7064 MOD 11-2 weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2 over 44000020260000017
    # give 116; 116 mod 11 = 6; the check characters 1 0 X 9 8 7 6 5 4 3 2 give "6"
    assert es_id == "440000202600000176"
    assert service.es_id_valid(es_id)
    wrong = es_id[:17] + ("0" if es_id[17] != "0" else "1")
    assert not service.es_id_valid(wrong)
    with pytest.raises(SealBuildError, match="6 digits"):
        service.make_es_id("44", 2026, 1)


# ----------------------------------------------------------------------------- making


def test_make_seal_signed_by_the_region_seal_maker(org_seal, openssl_bin, tmp_path):
    home, _, es_id, serial, cert = org_seal
    assert service.es_id_valid(es_id) and es_id.startswith("440000" + str(dt.datetime.now(UTC).year))
    info = service.get_seal(home, es_id)
    assert info.status == "valid" and info.agency == AGENCY and info.holders == (serial,)
    assert info.agencies == (AGENCY,)
    seal = structures.parse_seal(info.der)
    assert seal.version == 4 and seal.es_id == es_id and seal.name == "某某市人民政府"
    assert seal.seal_type == 1 and seal.binds(cert.dump())
    assert seal.picture.type == "PNG" and seal.picture.data.startswith(b"\x89PNG")
    assert (seal.picture.width_mm, seal.picture.height_mm) == (42, 42)
    maker = ca_service.service_certificate(home, "seal_maker")
    assert seal.maker_cert == maker.certificate.dump() and info.maker_cert_serial == maker.serial
    assert structures.verify_seal_signature(seal).ok
    # OpenSSL checks the maker signature over DER(SES_SealInfo) with the maker's public key
    (tmp_path / "maker.der").write_bytes(seal.maker_cert)
    subprocess.run([openssl_bin, "x509", "-inform", "DER", "-in", str(tmp_path / "maker.der"), "-pubkey",
                    "-noout", "-out", str(tmp_path / "pub.pem")], check=True)
    (tmp_path / "tbs").write_bytes(seal.tbs)
    (tmp_path / "sig").write_bytes(seal.signed_value)
    out = subprocess.run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
                          "-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
                          "-in", str(tmp_path / "tbs"), "-sigfile", str(tmp_path / "sig")],
                         capture_output=True, text=True)
    assert "Signature Verified Successfully" in out.stdout, out.stderr
    (made,) = _records(home, "seal.make")
    assert made[1] == f"seal:{es_id}" and made[2]["holders"] == [serial] and made[2]["agency"] == AGENCY
    assert made[2]["seal_sm3"] == sm3(info.der).hex()
    _audit_clean(home)


def test_seal_ids_are_unique_and_sequential(region):
    home, ks = region
    _, cert = _signer(home, ks, "s1")
    ids = [service.make_seal(home, ks, seal_type="organization", name=f"单位{i}", agency=AGENCY,
                             holder_certs=[cert.dump()], picture=PNG_1x1, valid_days=30)
           for i in range(3)]
    assert len(set(ids)) == 3
    assert [int(i[10:17]) for i in ids] == [1, 2, 3]
    assert all(service.es_id_valid(i) for i in ids)
    assert [s.es_id for s in service.list_seals(home)] == ids
    assert [s.es_id for s in service.list_seals(home, agency="someone else")] == []


def test_bind_by_digest_and_pem_input(region):
    home, ks = region
    _, cert = _signer(home, ks, "s-digest")
    from ca.certificate import to_pem
    es_id = service.make_seal(home, ks, seal_type="organization", name="某局", agency=AGENCY,
                              holder_certs=[to_pem(cert)], bind_by="digest", picture=SVG, picture_type="svg",
                              width_mm=40, height_mm=40)
    seal = structures.parse_seal(service.get_seal(home, es_id).der)
    assert seal.cert_list_type == 2 and seal.certificates == ()
    assert seal.cert_digests[0].value == sm3(cert.dump()) and seal.binds(cert.dump())
    assert seal.picture.type == "SVG" and seal.picture.data == SVG


def test_make_seal_refusals(region):
    home, ks = region
    serial, cert = _signer(home, ks, "s-bad")
    base = dict(seal_type="organization", name="某局", agency=AGENCY, holder_certs=[cert.dump()])
    with pytest.raises(SealBuildError, match="picture type"):
        service.make_seal(home, ks, **{**base, "picture_type": "tiff"})
    with pytest.raises(SealBuildError, match="organization or personal"):
        service.make_seal(home, ks, **{**base, "seal_type": "department"})
    with pytest.raises(SealBuildError, match="neither PEM nor DER"):
        service.make_seal(home, ks, **{**base, "holder_certs": [b"not a certificate"]})
    with pytest.raises(SealBuildError, match="exactly one"):
        _, cert2 = _signer(home, ks, "s-bad-2")
        service.make_seal(home, ks, **{**base, "seal_type": "personal", "holder_certs": [cert.dump(), cert2.dump()]})
    with pytest.raises(SealBuildError, match="usage personal-seal"):
        service.make_seal(home, ks, **{**base, "seal_type": "personal"})
    with pytest.raises(SealBuildError, match=r"seal name contains U\+0007: control characters"):
        service.make_seal(home, ks, **{**base, "name": "某\x07局"})
    with pytest.raises(SealBuildError, match=r"agency contains U\+0000"):
        service.make_seal(home, ks, **{**base, "agency": "局\x00"})
    ca_service.revoke(home, serial, "keyCompromise")
    with pytest.raises(SignerCertificateInvalid, match="revoked"):
        service.make_seal(home, ks, **base)
    assert _records(home, "seal.make") == []


def test_no_seal_maker_certificate(region):
    home, ks = region
    _, cert = _signer(home, ks, "s-nomaker")
    ca_service.revoke(home, ca_service.service_certificate(home, "seal_maker").serial, "cessationOfOperation")
    with pytest.raises(SealMakerUnavailable, match="no valid seal_maker certificate"):
        service.make_seal(home, ks, seal_type="organization", name="某局", agency=AGENCY, holder_certs=[cert.dump()])


# ----------------------------------------------------------------------------- status


def test_status_changes_are_audited_and_checked(org_seal):
    home, _, es_id, _, _ = org_seal
    assert service.suspend_seal(home, es_id, reason="seal lost").status == "suspended"
    with pytest.raises(InvalidSealTransition, match="suspended"):
        service.suspend_seal(home, es_id)
    assert service.resume_seal(home, es_id).status == "valid"
    with pytest.raises(InvalidSealTransition, match="needs status suspended"):
        service.resume_seal(home, es_id)
    assert service.revoke_seal(home, es_id, reason="agency merged").status == "revoked"
    with pytest.raises(InvalidSealTransition, match="revocation is final"):
        service.resume_seal(home, es_id)
    with pytest.raises(SealNotFound, match="no seal"):
        service.seal_status(home, "440000202600000999")
    actions = [a for a, subject, _ in _records(home) if subject == f"seal:{es_id}"]
    assert actions == ["seal.make", "seal.suspend", "seal.resume", "seal.revoke"]
    assert service.seal_status(home, es_id).status_reason == "agency merged"
    assert [s.es_id for s in service.list_seals(home, status="revoked")] == [es_id]


def test_a_status_reason_is_one_line_that_fits_its_column(org_seal):
    """A reason longer than the column (VARCHAR(500)) was a driver error on PostgreSQL -- a 500
    through the API -- and stored whole on SQLite; control characters and line breaks went in
    as they came. Each is refused and changes nothing; blanks around a reason are dropped."""
    home, _, es_id, _, _ = org_seal
    for reason, message in (("x" * 501, "the reason to suspend seal .* is longer than 500 characters"),
                            ("lost\nfound", r"contains U\+000A: control characters and line breaks"),
                            ("lost\x01", r"contains U\+0001"), ("lo\x85st", r"contains U\+0085")):
        with pytest.raises(SealBuildError, match=message):
            service.suspend_seal(home, es_id, reason=reason)
    assert service.seal_status(home, es_id).status == "valid"
    assert [a for a, subject, _ in _records(home) if subject == f"seal:{es_id}"] == ["seal.make"]
    assert service.suspend_seal(home, es_id, reason="  " + "y" * 497 + " ").status_reason == "y" * 497


def test_an_actor_longer_than_its_column_is_refused(org_seal):
    """created_by and granted_by are VARCHAR(200) (the audit log's actor 255): an actor of
    201-255 characters (the CLI's --actor) was a driver error on PostgreSQL, stored on SQLite."""
    home, ks, es_id, _, cert = org_seal
    actor = "经办人" * 67  # 201 characters
    with pytest.raises(SealBuildError, match="the actor is longer than 200 characters"):
        service.make_seal(home, ks, seal_type="organization", name="某某市人民政府", agency=AGENCY,
                          holder_certs=[cert.dump()], actor=actor)
    with pytest.raises(SealBuildError, match="the actor is longer than 200 characters"):
        service.grant_use(home, es_id, agency="另一局", actor=actor)
    with pytest.raises(SealBuildError, match="the actor contains U\\+000A"):
        service.grant_use(home, es_id, agency="另一局", actor="ops\nadmin")
    assert [a for a, *_ in _records(home)].count("seal.make") == 1
    assert "另一局" not in service.get_seal(home, es_id).agencies
    service.grant_use(home, es_id, agency="另一局", actor=actor[:200])
    assert "另一局" in service.get_seal(home, es_id).agencies


def test_expiry_is_derived_from_validity(org_seal):
    home, _, es_id, _, _ = org_seal
    with transaction(home.engine) as s:
        s.execute(update(SealRecord).where(SealRecord.es_id == es_id)
                  .values(valid_to=dt.datetime.now(UTC) - dt.timedelta(days=1)))
    info = service.seal_status(home, es_id)
    assert info.status == "expired" and info.stored_status == "valid"


# ----------------------------------------------------------------------------- use


def _assert_refused(home, code, agency=AGENCY):
    action, subject, details = _records(home)[-1]
    assert action == "seal.use_refused"
    assert details["reason"] == code and details["agency"] == agency
    return subject


def test_sealing_produces_a_verifiable_signature(org_seal, openssl_bin, tmp_path):
    home, ks, es_id, serial, cert = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    assert grant.key_ref and grant.signer_serial == serial and not grant.personal
    digest = sm3(b"<ofd:Signature/>")
    der = service.make_signature(home, ks, grant, digest, "/Doc_0/Signs/Sign_0/Signature.xml",
                                 timestamp=lambda value: b"\x30\x03\x02\x01" + bytes([len(value) % 100]))
    sig = structures.parse_signature(der)
    assert sig.data_hash == digest and sig.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert sig.signer_cert == cert.dump() and sig.seal.es_id == es_id and sig.seal.binds(sig.signer_cert)
    assert sig.timestamp is not None and sig.timestamp.startswith(b"\x30\x03")
    assert abs((sig.time_info - dt.datetime.now(UTC)).total_seconds()) < 120
    assert structures.verify_signature_value(sig).ok and structures.verify_seal_signature(sig.seal).ok
    (tmp_path / "c.der").write_bytes(sig.signer_cert)
    subprocess.run([openssl_bin, "x509", "-inform", "DER", "-in", str(tmp_path / "c.der"), "-pubkey", "-noout",
                    "-out", str(tmp_path / "pub.pem")], check=True)
    (tmp_path / "tbs").write_bytes(sig.tbs)
    (tmp_path / "sig").write_bytes(sig.signature)
    out = subprocess.run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"),
                          "-rawin", "-digest", "sm3", "-pkeyopt", "distid:1234567812345678",
                          "-in", str(tmp_path / "tbs"), "-sigfile", str(tmp_path / "sig")],
                         capture_output=True, text=True)
    assert "Signature Verified Successfully" in out.stdout, out.stderr
    (signed,) = _records(home, "seal.sign")
    assert signed[1] == f"seal:{es_id}"
    assert signed[2]["data_hash"] == digest.hex() and signed[2]["signature_sm3"] == sm3(der).hex()
    assert signed[2]["timestamped"] is True
    # by certificate instead of serial
    grant2 = service.authorise_use(home, ks, es_id, agency=AGENCY, cert=cert.dump())
    assert grant2.signer_serial == serial
    _audit_clean(home)


@pytest.mark.parametrize("step", ["grant", "withdraw"])
def test_a_grant_or_withdrawal_meeting_the_same_one_under_way_changes_nothing_twice(org_seal, step):
    # Two requests at once on PostgreSQL (tests/test_api_races.py): both grants found no grant
    # and the second insert failed on the unique constraint (a 500); both withdrawals found the
    # grant and the second deleted nothing (a 500). Now the seal's row is locked first.
    from sqlalchemy import delete, func

    from store.models.seal import SealAuthorisation
    from tests.helpers.locks import meanwhile

    home, ks, es_id, serial, _ = org_seal
    if home.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue before BEGIN IMMEDIATE: no two hold locks at once")
    other = "another agency"
    if step == "withdraw":
        service.grant_use(home, es_id, agency=other)
    call = getattr(service, f"{step}_use")
    with transaction(home.engine) as s:  # the same change, under way in another request
        s.scalar(select(SealRecord).where(SealRecord.es_id == es_id).with_for_update())
        if step == "grant":
            s.add(SealAuthorisation(es_id=es_id, agency=other, granted_at=dt.datetime.now(UTC), granted_by="admin"))
        else:
            s.execute(delete(SealAuthorisation).where(SealAuthorisation.es_id == es_id,
                                                      SealAuthorisation.agency == other))
        s.flush()
        second = meanwhile(lambda: call(home, es_id, agency=other), s)
    assert second() in (None, False)  # granted already / nothing left to withdraw: as if it came later
    assert _records(home, f"seal.{step}_use") == []  # the change under way wrote none: neither did the second
    with transaction(home.engine, readonly=True) as s:
        held = s.scalar(select(func.count()).select_from(SealAuthorisation).where(SealAuthorisation.agency == other))
    assert held == (1 if step == "grant" else 0)


def test_refused_unauthorised_agency(org_seal):
    home, ks, es_id, serial, _ = org_seal
    with pytest.raises(NotAuthorised, match="not authorised"):
        service.authorise_use(home, ks, es_id, agency="another agency", signer_cert_serial=serial)
    assert _assert_refused(home, "not-authorised", "another agency") == f"seal:{es_id}"
    service.grant_use(home, es_id, agency="another agency")
    assert service.authorise_use(home, ks, es_id, agency="another agency", signer_cert_serial=serial)
    assert service.withdraw_use(home, es_id, agency="another agency")
    with pytest.raises(NotAuthorised):
        service.authorise_use(home, ks, es_id, agency="another agency", signer_cert_serial=serial)
    with pytest.raises(NotAuthorised, match="no seal"):
        service.authorise_use(home, ks, "440000202600009999", agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "not-authorised")


def test_refused_suspended_then_revoked_seal(org_seal):
    home, ks, es_id, serial, _ = org_seal
    service.suspend_seal(home, es_id)
    with pytest.raises(SealSuspended, match="suspended"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "seal-suspended")
    service.revoke_seal(home, es_id)
    with pytest.raises(SealRevoked, match="revoked"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "seal-revoked")


def test_refused_expired_seal(org_seal):
    home, ks, es_id, serial, _ = org_seal
    with transaction(home.engine) as s:
        s.execute(update(SealRecord).where(SealRecord.es_id == es_id)
                  .values(valid_to=dt.datetime.now(UTC) - dt.timedelta(seconds=5)))
    with pytest.raises(SealExpired, match="not at"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "seal-expired")


def test_refused_signer_not_bound(org_seal):
    home, ks, es_id, _, _ = org_seal
    other_serial, other = _signer(home, ks, "unbound")
    with pytest.raises(SignerNotBound, match="not bound"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=other_serial)
    _assert_refused(home, "signer-not-bound")
    with pytest.raises(SignerNotBound):
        service.authorise_use(home, ks, es_id, agency=AGENCY, cert=other.dump())


@pytest.mark.parametrize("change", ["revoke", "suspend", "expire"])
def test_refused_signer_certificate_invalid(org_seal, change):
    home, ks, es_id, serial, _ = org_seal
    if change == "revoke":
        ca_service.revoke(home, serial, "keyCompromise")
        match = "revoked"
    elif change == "suspend":
        ca_service.suspend(home, serial)
        match = "suspended"
    else:
        with transaction(home.engine) as s:
            s.execute(update(IssuedCertificate).where(IssuedCertificate.serial == serial)
                      .values(not_after=dt.datetime.now(UTC) - dt.timedelta(seconds=5)))
        match = "not now"
    with pytest.raises(SignerCertificateInvalid, match=match):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "signer-certificate-invalid")


def test_organization_seal_refuses_a_persons_pin_key(region):
    """An organization seal over a person's key (usage personal-seal, PIN) would be granted
    without the PIN, then fail in the key store at signing, or seal as the organization with
    the person's key when the PIN is given: make_seal refuses it, as the reverse."""
    home, ks = region
    _, cert = _signer(home, ks, "zhangsan-org", personal=True)
    with pytest.raises(SealBuildError, match="an organization seal needs a holder key of usage seal"):
        service.make_seal(home, ks, seal_type="organization", name="某某市人民政府", agency=AGENCY,
                          holder_certs=[cert.dump()])
    assert _records(home, "seal.make") == []


def test_personal_seal_needs_the_holders_pin(region):
    home, ks = region
    serial, cert = _signer(home, ks, "zhangsan", personal=True)
    es_id = service.make_seal(home, ks, seal_type="personal", name="张三", agency=AGENCY,
                              holder_certs=[cert.dump()])
    seal = structures.parse_seal(service.get_seal(home, es_id).der)
    assert seal.seal_type == 2
    # drawn: the square name seal, 20 mm
    assert seal.picture.type == "PNG" and (seal.picture.width_mm, seal.picture.height_mm) == (20, 20)
    assert seal.picture.data.startswith(b"\x89PNG")
    for pin in ("000000", None):
        with pytest.raises(WrongPin, match="PIN"):
            service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial, pin=pin)
        _assert_refused(home, "wrong-pin")
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial, pin=PIN)
    assert grant.personal and grant.consent_signature
    der = service.make_signature(home, ks, grant, sm3(b"x"), "/Doc_0/Signs/Sign_1/Signature.xml")
    assert structures.verify_signature_value(structures.parse_signature(der)).ok
    assert len(_records(home, "seal.sign")) == 1
    _audit_clean(home)


def test_make_signature_checks_its_inputs(org_seal):
    home, ks, es_id, serial, _ = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    with pytest.raises(SealBuildError, match="32-byte SM3"):
        service.make_signature(home, ks, grant, b"short", "p")
    with pytest.raises(SealBuildError, match="UseGrant"):
        service.make_signature(home, ks, {"es_id": es_id}, sm3(b"x"), "p")
    import dataclasses
    stale = dataclasses.replace(grant, expires_at=dt.datetime.now(UTC) - dt.timedelta(seconds=1))
    with pytest.raises(SealBuildError, match="expired"):
        service.make_signature(home, ks, stale, sm3(b"x"), "p")
    assert _records(home, "seal.sign") == []


def test_seal_numbers_stay_unique_under_concurrent_makers(region):
    """Two threads take 15 seal numbers each from the locked counter: 30 distinct, 1..30."""
    import threading

    home, _ = region
    sessions = make_sessionmaker(home.engine)
    now = dt.datetime.now(UTC)
    taken: list[str] = []
    errors: list[BaseException] = []

    def worker() -> None:
        try:
            for _ in range(15):
                taken.append(service._next_es_id(sessions, now))
        except BaseException as exc:  # pragma: no cover - reported below
            errors.append(exc)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    assert sorted(int(i[10:17]) for i in taken) == list(range(1, 31))
    assert all(service.es_id_valid(i) for i in taken)


def test_refused_when_the_key_store_holds_no_key_for_the_signer(region):
    """A certificate issued from a CSR (key held by the agency elsewhere): bound, but not usable here."""
    from gm import sm2

    home, ks = region
    serial, cert = ca_service.issue_for_public_key(
        home, ks, profile="organization", public_key=sm2.PrivateKey.generate().public_key,
        subject=ca_service.parse_dn("C=CN,O=某某局,CN=某某局"), credit_code=CREDIT_CODE)
    es_id = service.make_seal(home, ks, seal_type="organization", name="某某局", agency=AGENCY,
                              holder_certs=[cert.dump()], picture=PNG_1x1)
    with pytest.raises(SignerCertificateInvalid, match="holds no key"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "signer-certificate-invalid")


def test_every_seal_error_has_one_problem_row():
    import inspect

    from seal import errors

    classes = {c for _, c in inspect.getmembers(errors, inspect.isclass) if issubclass(c, errors.SealError)}
    rows = [row[0] for row in errors.PROBLEMS]
    assert len(rows) == len(set(rows)) and set(rows) == classes
    slugs = [row[2] for row in errors.PROBLEMS]
    assert len(slugs) == len(set(slugs))
    refusal_codes = {c.code for c in classes if issubclass(c, errors.SealUseRefused)}
    assert len(refusal_codes) == 8


def test_made_seals_and_signatures_are_in_the_transparency_log(org_seal):
    from gm.sm2 import PrivateKey
    from store import translog
    from store.audit import SM2AuditSigner

    home, ks, es_id, serial, _ = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    der = service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    sessions = make_sessionmaker(home.engine)
    log_key = PrivateKey.generate()
    translog.sign_tree_head(sessions, SM2AuditSigner(log_key, "log"))
    seal_der = service.get_seal(home, es_id).der
    seal_proof = translog.prove_inclusion(sessions, f"seal:{es_id}")
    assert seal_proof.kind == "seal"
    assert translog.check_inclusion(seal_proof, seal_der, log_key.public_key) == []
    sig_proof = translog.prove_inclusion(sessions, f"signature:{sm3(der).hex()}")
    assert sig_proof.kind == "sealed-document"
    assert translog.check_inclusion(sig_proof, der, log_key.public_key) == []


# ----------------------------------------------------------------------------- fast path


def test_a_sealing_commits_once_with_its_key_use_record_and_log_entry(org_seal):
    from sqlalchemy import event, func

    from store.models.translog import TransLogEntry

    home, ks, es_id, serial, cert = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    commits = []

    def count(conn):
        commits.append(conn)

    event.listen(home.engine, "commit", count)
    try:
        der = service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    finally:
        event.remove(home.engine, "commit", count)
    assert len(commits) == 1
    sig = structures.parse_signature(der)
    assert structures.verify_signature_value(sig).ok
    key_use, sealing = _records(home)[-2:]
    assert key_use[0] == "key.sign_digest" and key_use[1] == grant.key_ref
    # the key store recorded the digest it signed: e = SM3(Z_A || TBS_Sign) under the signer's key
    assert key_use[2]["e"] == structures.public_key_of(cert.dump()).digest(sig.tbs).hex()
    assert sealing[0] == "seal.sign" and sealing[2]["signature_sm3"] == sm3(der).hex()
    with transaction(home.engine, readonly=True) as s:
        logged = s.scalar(select(func.count()).select_from(TransLogEntry)
                          .where(TransLogEntry.subject == f"signature:{sm3(der).hex()}"))
    assert logged == 1
    _audit_clean(home)


def test_a_seal_or_certificate_revoked_after_cached_uses_is_refused_at_once(org_seal, tmp_path):
    from store.home import Home

    home, ks, es_id, serial, _ = org_seal
    for _ in range(2):  # the seal's facts are cached from here on
        grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
        service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    # another process (its own engine, so its own cache) suspends the signer certificate
    with Home.open(home.path) as other:
        ca_service.suspend(other, serial)
    with pytest.raises(SignerCertificateInvalid, match="suspended"):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "signer-certificate-invalid")
    with Home.open(home.path) as other:
        ca_service.resume(other, serial)
        service.revoke_seal(other, es_id, reason="seal lost")
    with pytest.raises(SealRevoked):
        service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    _assert_refused(home, "seal-revoked")


@pytest.mark.parametrize("change,error", [
    (lambda home, es_id, serial: service.revoke_seal(home, es_id, reason="seal lost"), SealRevoked),
    (lambda home, es_id, serial: service.suspend_seal(home, es_id, reason="audit"), SealSuspended),
    (lambda home, es_id, serial: ca_service.suspend(home, serial), SignerCertificateInvalid),
], ids=["seal-revoked", "seal-suspended", "signer-suspended"])
def test_a_use_granted_before_a_revocation_is_refused_when_it_is_recorded(org_seal, change, error):
    # Two requests at once (tests/test_api_races.py): one seals, the other revokes between
    # the sealing's use check and its commit. The sealing must not be recorded after the
    # revocation: it is refused, and the refusal audited, as if it had come a moment later.
    from sqlalchemy import func

    from store.models.translog import TransLogEntry

    home, ks, es_id, serial, _ = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    change(home, es_id, serial)
    with transaction(home.engine, readonly=True) as s:
        logged = s.scalar(select(func.count()).select_from(TransLogEntry))
    with pytest.raises(error):
        service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    assert _records(home, "seal.sign") == []
    _assert_refused(home, error.code)
    with transaction(home.engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(TransLogEntry)) == logged
    _audit_clean(home)


@pytest.mark.parametrize("what", ["seal", "key"])
def test_a_revocation_committing_while_a_sealing_is_recorded_is_never_followed_by_it(org_seal, what):
    # On PostgreSQL the recording transaction read the seal's (key's) state, then the revocation
    # (a key admin's disable) committed, then the sealing took the audit head and was recorded
    # after it (tests/test_api_races.py). Now it share-locks the rows it read until its COMMIT.
    from keystore.errors import KeyDisabled
    from store.models.keys import KeyRecord
    from tests.helpers.locks import meanwhile

    home, ks, es_id, serial, _ = org_seal
    if home.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue before BEGIN IMMEDIATE: no two hold locks at once")
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    with transaction(home.engine) as s:  # revoke_seal / the key store's disable, under way
        if what == "seal":
            s.scalar(select(SealRecord).where(SealRecord.es_id == es_id).with_for_update()).status = "revoked"
        else:
            s.scalar(select(KeyRecord).where(KeyRecord.id == grant.key_ref).with_for_update()).status = "disabled"
        s.flush()
        audit.append(s, actor="admin", action="seal.revoke" if what == "seal" else "key.disable",
                     subject=f"seal:{es_id}" if what == "seal" else grant.key_ref, details={})
        sealing = meanwhile(
            lambda: service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml"), s)
    assert type(sealing()) is (SealRevoked if what == "seal" else KeyDisabled)
    assert _records(home, "seal.sign") == []
    _audit_clean(home)


def test_a_key_disabled_after_cached_uses_is_refused_and_the_refusal_recorded(org_seal):
    from sqlalchemy import func

    from store.models.translog import TransLogEntry

    home, ks, es_id, serial, _ = org_seal
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    ks.disable(grant.key_ref, actor="admin", role="key-admin", reason="compromise suspected")
    with transaction(home.engine, readonly=True) as s:
        logged = s.scalar(select(func.count()).select_from(TransLogEntry))
    sealings = len(_records(home, "seal.sign"))
    from keystore.errors import KeyDisabled

    with pytest.raises(KeyDisabled):
        service.make_signature(home, ks, grant, sm3(b"doc"), "/Doc_0/Signs/Sign_0/Signature.xml")
    action, subject, details = _records(home)[-1]
    assert action == "key.denied" and subject == grant.key_ref and details["reason"] == "KeyDisabled"
    assert len(_records(home, "seal.sign")) == sealings
    with transaction(home.engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(TransLogEntry)) == logged
    _audit_clean(home)


def test_a_verifier_asks_the_registry_only_for_esids_in_its_format(org_seal) -> None:
    """seal_state gets the esID of any document being verified: another vendor's format, or
    text PostgreSQL refuses (a NUL, from an IA5String), is no seal of this registry -- not a
    database error (a 500 on the public verification endpoint, on PostgreSQL)."""
    home, _, es_id, _, _ = org_seal
    assert service.seal_state(home, es_id).status == "valid"
    for foreign in ("44\x000000", es_id[:-1] + "\x00", "SEAL-2026-0001", es_id.lower() + "x", ""):
        assert service.seal_state(home, foreign) is None
