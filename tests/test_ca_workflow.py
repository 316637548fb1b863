"""Registration workflow (apply -> review -> approve/reject) and renew / rekey, on SQLite and
PostgreSQL: transitions, separation of duties, audit records in order, CLI round trip."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl as acrl
from asn1crypto import pem, x509

from ca import renewal, service, workflow
from ca.errors import (
    AlreadyRevoked,
    CAError,
    InvalidCSR,
    InvalidIdentifier,
    InvalidTransition,
    ProfileViolation,
    SeparationOfDuties,
    UnknownApplication,
    UnknownSerial,
)
from ca.testing import soft_region
from store import audit
from store.db import transaction
from store.models import AuditRecord
from store.models.ca import IssuedCertificate
from store.testing import *  # noqa: F401,F403
from tests.helpers.locks import meanwhile

DISTID = "distid:1234567812345678"
PASSPHRASE = "correct horse battery staple"
CREDIT_CODE = "91350100M000100Y43"
CITIZEN_ID = "11010519491231002X"


@pytest.fixture
def region(eseal_home):
    return eseal_home, soft_region(eseal_home, PASSPHRASE)[0]


def _req(openssl_bin: str, d: Path, name: str, subj: str) -> Path:
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / f"{name}.key")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / f"{name}.key"), "-sm3", "-sigopt", DISTID,
                    "-utf8", "-subj", subj, "-out", str(d / f"{name}.csr")], check=True, capture_output=True)
    return d / f"{name}.csr"


@pytest.fixture(scope="module")
def reqs(openssl_bin, tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("reqs")
    return {"org": _req(openssl_bin, d, "org", "/C=CN/O=某某局/CN=某某局"),
            "new": _req(openssl_bin, d, "new", "/C=CN/O=某某局/CN=某某局"),
            "person": _req(openssl_bin, d, "person", "/C=CN/CN=张三")}


def _records(home, subject: str | None = None) -> list[tuple[str, str, dict]]:
    with transaction(home.engine, readonly=True) as s:
        assert audit.verify(s).ok
        rows = s.query(AuditRecord).order_by(AuditRecord.seq).all()
        return [(r.action, r.actor, json.loads(r.details)) for r in rows if subject is None or r.subject == subject]


def _point(cert: x509.Certificate) -> bytes:
    return cert.public_key["public_key"].contents[1:]


def test_application_reviewed_approved_issued(region, reqs) -> None:
    home, ks = region
    app = workflow.submit_application(home, profile="organization", csr_pem=reqs["org"].read_bytes(),
                                      credit_code=CREDIT_CODE, operator="clerk")
    assert workflow.get_application(home, app).status == "submitted"
    with pytest.raises(InvalidTransition, match="submitted; it can be approved only when reviewed"):
        workflow.approve_application(home, ks, app, approver="boss")
    assert workflow.review_application(home, app, reviewer="checker", note="licence seen").status == "reviewed"
    with pytest.raises(InvalidTransition, match="reviewed; it can be reviewed only when submitted"):
        workflow.review_application(home, app, reviewer="checker")
    # four eyes: the operator who entered an organization application cannot approve it
    with pytest.raises(SeparationOfDuties, match="submitted by clerk"):
        workflow.approve_application(home, ks, app, approver="clerk")
    assert workflow.get_application(home, app).status == "reviewed"
    serial, cert = workflow.approve_application(home, ks, app, approver="boss")
    info = workflow.get_application(home, app)
    assert (info.status, info.serial, info.decided_by, info.reviewer) == ("issued", serial, "boss", "checker")
    assert service.certificate_status(home, serial).profile == "organization"
    assert "某某局" in cert.subject.human_friendly
    with pytest.raises(InvalidTransition, match="issued"):
        workflow.approve_application(home, ks, app, approver="boss")
    with pytest.raises(InvalidTransition, match="issued"):
        workflow.reject_application(home, app, actor="boss", reason="late")
    steps = [(a, who) for a, who, _ in _records(home, f"application:{app}")]
    assert steps == [("cert.application.submit", "clerk"), ("cert.application.review", "checker"),
                     ("cert.application.refused", "clerk"), ("cert.application.approve", "boss")]
    [(_, who, details)] = _records(home, f"cert:{serial}")
    assert who == "boss" and details["application"] == app


def test_operator_may_approve_other_profiles(region, reqs) -> None:
    home, ks = region
    app = workflow.submit_application(home, profile="personal", csr_pem=reqs["person"].read_bytes(),
                                      id_number=CITIZEN_ID, operator="clerk")
    workflow.review_application(home, app, reviewer="clerk")
    serial, _ = workflow.approve_application(home, ks, app, approver="clerk")
    assert workflow.get_application(home, app).serial == serial


def test_rejection_and_refusals(region, reqs) -> None:
    home, ks = region
    csr = reqs["org"].read_bytes()
    a1 = workflow.submit_application(home, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE,
                                     operator="clerk")
    a2 = workflow.submit_application(home, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE,
                                     operator="clerk")
    with pytest.raises(CAError, match="needs a reason"):
        workflow.reject_application(home, a1, actor="boss", reason="  ")
    info = workflow.reject_application(home, a1, actor="boss", reason="licence expired")
    assert (info.status, info.rejection_reason, info.decided_by) == ("rejected", "licence expired", "boss")
    for step in (lambda: workflow.review_application(home, a1, reviewer="x"),
                 lambda: workflow.approve_application(home, ks, a1, approver="boss"),
                 lambda: workflow.reject_application(home, a1, actor="boss", reason="again")):
        with pytest.raises(InvalidTransition, match="rejected"):
            step()
    workflow.review_application(home, a2, reviewer="checker")
    assert workflow.reject_application(home, a2, actor="boss", reason="duplicate").status == "rejected"
    with pytest.raises(UnknownApplication, match="no certificate application 999"):
        workflow.review_application(home, 999, reviewer="x")
    with pytest.raises(CAError, match="actor"):
        workflow.submit_application(home, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE,
                                    operator=" ")
    # bad applications are refused when submitted, not at approval
    before = len(_records(home))
    with pytest.raises(InvalidIdentifier):
        workflow.submit_application(home, profile="organization", csr_pem=csr, credit_code="91350100M000100Y44",
                                    operator="clerk")
    tampered = bytearray(pem.unarmor(csr)[2])
    tampered[40] ^= 1
    with pytest.raises(InvalidCSR):
        workflow.submit_application(home, profile="organization", csr_pem=bytes(tampered), operator="clerk")
    assert len(_records(home)) == before
    assert [a.id for a in workflow.list_applications(home, status="rejected")] == [a1, a2]
    assert [a.id for a in workflow.list_applications(home)] == [a1, a2]
    with pytest.raises(CAError, match="unknown application status"):
        workflow.list_applications(home, status="lost")
    with transaction(home.engine, readonly=True) as s:
        assert s.query(IssuedCertificate).filter(IssuedCertificate.profile == "organization").count() == 0


def test_an_application_that_does_not_fit_its_columns_is_refused(region, reqs) -> None:
    """ca_applications.subject is VARCHAR(1000) and holds the DN as entered; operator, reviewer
    and decided_by VARCHAR(200). Longer -- blanks between attributes, many OUs, a long --actor --
    was a driver error on PostgreSQL (a 500 through the API) and stored whole on SQLite."""
    home, _ = region
    csr = reqs["org"].read_bytes()
    apply = dict(profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    many_ous = "C=CN,O=某某局," + ",".join(f"OU=第{i}处{'科' * 60}" for i in range(16)) + ",CN=某某局"
    for subject in ("C=CN," + " " * 1000 + "O=某某局,CN=某某局", many_ous):
        with pytest.raises(ProfileViolation, match="the subject is longer than 1000 characters"):
            workflow.submit_application(home, subject=subject, operator="clerk", **apply)
    clerk = "受理员" * 67  # 201 characters
    with pytest.raises(CAError, match="the actor is longer than 200 characters"):
        workflow.submit_application(home, operator=clerk, **apply)
    # under 1000 characters as entered, over as the certificate list's text ("Organizational Unit: ..."):
    # refused now, not approved into a certificate listed under a subject cut short
    with pytest.raises(ProfileViolation, match="as text .* is longer than 1000 characters"):
        workflow.submit_application(home, subject=many_ous[:990] + ",CN=某某局", operator="clerk", **apply)
    assert workflow.list_applications(home) == [] and _records(home, "application:1") == []
    a1 = workflow.submit_application(home, operator=clerk[:200], subject="C=CN," + " " * 950 + "O=某某局,CN=某某局",
                                     **apply)
    with pytest.raises(CAError, match="the actor is longer than 200 characters"):
        workflow.review_application(home, a1, reviewer=clerk)
    with pytest.raises(CAError, match="the actor is longer than 200 characters"):
        workflow.reject_application(home, a1, actor=clerk, reason="no")
    assert workflow.get_application(home, a1).status == "submitted"


def test_renew_keeps_key_and_content(region, reqs) -> None:
    home, ks = region
    old_serial, old = service.issue_certificate(home, ks, profile="personal", csr_pem=reqs["person"].read_bytes(),
                                                id_number=CITIZEN_ID, san=[("email", "zs@example.gov.cn")], days=30)
    new_serial, new = renewal.renew(home, ks, old_serial, actor="ra")
    assert new_serial != old_serial and _point(new) == _point(old)
    assert new.subject == old.subject
    assert renewal.identity_of(new).citizen_id == CITIZEN_ID
    assert renewal.san_of(new) == [("email", "zs@example.gov.cn")]
    old_v, new_v = (c["tbs_certificate"]["validity"] for c in (old, new))
    assert new_v["not_after"].native > old_v["not_after"].native  # the profile default, not 30 days
    assert service.certificate_status(home, old_serial).status == "good"  # the old stays valid
    with transaction(home.engine, readonly=True) as s:
        assert s.query(IssuedCertificate).filter_by(serial=new_serial).one().supersedes == old_serial
    service.suspend(home, old_serial)
    with pytest.raises(InvalidTransition, match="resume it"):
        renewal.renew(home, ks, old_serial)
    service.revoke(home, old_serial, "keyCompromise")
    with pytest.raises(AlreadyRevoked, match="revoked"):
        renewal.renew(home, ks, old_serial)
    with pytest.raises(UnknownSerial, match="no certificate"):
        renewal.renew(home, ks, "abcdef0123456789")


def test_rekey_revokes_the_old_certificate_as_superseded(region, reqs) -> None:
    home, ks = region
    old_serial, old = service.issue_certificate(home, ks, profile="organization", csr_pem=reqs["org"].read_bytes(),
                                                credit_code=CREDIT_CODE)
    with pytest.raises(CAError, match="needs a new key"):
        renewal.rekey(home, ks, old_serial, csr_pem=reqs["org"].read_bytes())
    new_serial, new = renewal.rekey(home, ks, old_serial, csr_pem=reqs["new"].read_bytes(), actor="ra")
    assert _point(new) != _point(old) and new.subject == old.subject
    assert renewal.identity_of(new).organization_code == CREDIT_CODE
    row = service.certificate_status(home, old_serial)
    assert (row.status, row.reason) == ("revoked", "superseded")
    # the new certificate and the old one's revocation were written together
    actions = [(a, d.get("supersedes"), d.get("superseded_by")) for a, _, d in _records(home)][-2:]
    assert actions == [("cert.revoke", None, new_serial), ("cert.issue", old_serial, None)]
    crl = acrl.CertificateList.load(service.generate_crl(home, ks))
    assert [(e["user_certificate"].native, e.crl_reason_value.native)
            for e in crl["tbs_cert_list"]["revoked_certificates"]] == [(int(old_serial, 16), "superseded")]
    with pytest.raises(AlreadyRevoked):
        renewal.rekey(home, ks, old_serial, csr_pem=reqs["person"].read_bytes())
    with pytest.raises(UnknownSerial):
        renewal.rekey(home, ks, "abcdef0123456789", csr_pem=reqs["person"].read_bytes())
    tsa = service.service_certificate(home, "tsa")
    with pytest.raises(CAError, match="key-store key"):
        renewal.rekey(home, ks, tsa.serial, csr_pem=reqs["person"].read_bytes())
    # a service certificate is renewed for its key-store key and stays findable
    renewed, _ = renewal.renew(home, ks, tsa.serial)
    assert service.service_certificate(home, "tsa").serial == renewed


@pytest.mark.interop
def test_cli_workflow_renew_rekey(eseal_cli, tmp_path, monkeypatch, openssl_bin, reqs) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    home = str(tmp_path / "H")
    eseal = eseal_cli

    eseal("init", "--home", home, "--region-code", "440000", "--region-name", "广东省")
    app = eseal("cert", "apply", "--home", home, "--profile", "organization", "--csr", str(reqs["org"]),
                "--credit-code", CREDIT_CODE, "--actor", "clerk").strip()
    eseal("cert", "review", "--home", home, "--id", app, "--actor", "checker")
    refused = eseal("cert", "approve", "--home", home, "--id", app, "--out", str(tmp_path / "c.pem"),
                    "--actor", "clerk", code=1)
    assert "someone else" in refused and not (tmp_path / "c.pem").exists()
    serial = eseal("cert", "approve", "--home", home, "--id", app, "--out", str(tmp_path / "c.pem"),
                   "--actor", "boss").strip()
    listing = eseal("cert", "applications", "--home", home, "--status", "issued")
    assert listing.split("\t")[0] == app and listing.strip().endswith(serial)
    app2 = eseal("cert", "apply", "--home", home, "--profile", "organization", "--csr", str(reqs["org"]),
                 "--credit-code", CREDIT_CODE, "--actor", "clerk").strip()
    assert "licence expired" in eseal("cert", "reject", "--home", home, "--id", app2, "--reason", "licence expired")
    renewed = eseal("cert", "renew", "--home", home, "--serial", serial, "--out", str(tmp_path / "r.pem")).strip()
    rekeyed = eseal("cert", "rekey", "--home", home, "--serial", renewed, "--csr", str(reqs["new"]),
                    "--out", str(tmp_path / "k.pem")).strip()
    assert len({serial, renewed, rekeyed}) == 3
    assert "revoked" in eseal("cert", "rekey", "--home", home, "--serial", renewed, "--csr", str(reqs["new"]),
                              "--out", str(tmp_path / "k2.pem"), code=1)
    eseal("ca", "chain", "--home", home, "--out", str(tmp_path / "chain.pem"))
    issuing = pem.unarmor((tmp_path / "chain.pem").read_bytes(), multiple=True)
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", next(issuing)[2]))
    for name in ("c.pem", "r.pem", "k.pem"):
        r = subprocess.run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile",
                            str(tmp_path / "issuing.pem"), str(tmp_path / name)], capture_output=True, text=True)
        assert r.returncode == 0, r.stdout + r.stderr


@pytest.mark.parametrize("step", ["approve", "rekey"])
def test_an_approval_or_rekey_meeting_a_rejection_or_revocation_under_way_waits_for_it(region, reqs, step) -> None:
    # Two requests at once on PostgreSQL (tests/test_api_races.py): a rejection (or revocation)
    # locks its row, then the audit head; the approval (rekey) locked the audit head, then the
    # row: a deadlock, answered 503 database-unavailable. Now every change locks its row first.
    from sqlalchemy import select

    from store.models.ca_workflow import CertificateApplication

    home, ks = region
    if home.engine.dialect.name != "postgresql":
        pytest.skip("SQLite's writers queue before BEGIN IMMEDIATE: no two hold locks at once")
    if step == "approve":
        target = workflow.submit_application(home, profile="organization", csr_pem=reqs["org"].read_bytes(),
                                             credit_code=CREDIT_CODE, operator="clerk")
        workflow.review_application(home, target, reviewer="checker")
        locked = select(CertificateApplication).where(CertificateApplication.id == target).with_for_update()
        call = lambda: workflow.approve_application(home, ks, target, approver="boss")  # noqa: E731
    else:
        target, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=reqs["org"].read_bytes(),
                                              credit_code=CREDIT_CODE)
        locked = select(IssuedCertificate).where(IssuedCertificate.serial == target).with_for_update()
        call = lambda: renewal.rekey(home, ks, target, csr_pem=reqs["new"].read_bytes())  # noqa: E731
    with transaction(home.engine) as s:  # what reject_application / revoke do, step by step
        row = s.scalar(locked)
        other = meanwhile(call, s)
        audit.append(s, actor="boss", action="cert.application.reject" if step == "approve" else "cert.revoke",
                     subject="race", details={})
        if step == "approve":
            row.status, row.decided_by, row.rejection_reason = "rejected", "boss", "papers incomplete"
        else:
            row.status, row.reason = "revoked", "keyCompromise"
    outcome = other()
    wanted = InvalidTransition if step == "approve" else AlreadyRevoked
    assert type(outcome) is wanted, outcome
    with transaction(home.engine, readonly=True) as s:
        assert audit.verify(s).ok
