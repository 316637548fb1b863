"""Certificate applications (submit, review, approve, reject) and the audit log over REST, on
SQLite and PostgreSQL: an organization application is refused to the token that submitted it
(403 separation-of-duties, audited) and approved by another; every step shows in the audit
list; a record edited in the database turns the verification status to not ok."""
from __future__ import annotations

import pytest
from asn1crypto import pem
from sqlalchemy import text

from api import create_app
from ca.csr import build_csr
from ca.testing import LocalSigner, soft_region
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "workflow api passphrase"
PROBLEM = "https://eseal.example/problems/"
CREDIT_CODE = "91350100M000100Y43"


@pytest.fixture
def api(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
    tokens = {name: create_token(sessions, role=role)[0]
              for name, role in (("clerk", "ra_operator"), ("boss", "ra_operator"), ("admin", "admin"),
                                 ("auditor", "auditor"))}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app.test_client(), tokens, sessions
    app.extensions["eseal"].home.close()


def _tamper(sessions, seq: int) -> None:
    """Edit one record as someone with DDL rights would: drop the append-only triggers first."""
    engine = sessions.kw["bind"]
    with engine.begin() as conn:
        for table in ("audit_record", "audit_checkpoint"):
            if conn.dialect.name == "postgresql":
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
            else:
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
        conn.execute(text("UPDATE audit_record SET actor = 'someone else' WHERE seq = :seq"), {"seq": seq})


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csr(subject: str) -> str:
    return pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), subject).dump()).decode("ascii")


def test_organization_application_needs_a_second_token(api) -> None:
    client, tokens, _ = api
    body = {"profile": "organization", "csr": _csr("C=CN,O=某某科技有限公司,CN=某某科技有限公司"),
            "credit_code": CREDIT_CODE}
    made = client.post("/api/v1/applications", headers={**_auth(tokens["clerk"]), "Idempotency-Key": "app-1"},
                       json=body)
    assert made.status_code == 201, made.json
    app_id = made.json["id"]
    assert made.json["status"] == "submitted" and made.json["operator"].startswith("api:ra_operator:")
    again = client.post("/api/v1/applications", headers={**_auth(tokens["clerk"]), "Idempotency-Key": "app-1"},
                        json=body)
    assert again.status_code == 200 and again.json["id"] == app_id  # no second application
    assert client.get("/api/v1/applications", headers=_auth(tokens["auditor"])).json["total"] == 1

    too_early = client.post(f"/api/v1/applications/{app_id}/approve", headers=_auth(tokens["boss"]))
    assert too_early.status_code == 409 and too_early.json["type"] == PROBLEM + "invalid-transition"
    reviewed = client.post(f"/api/v1/applications/{app_id}/review", headers=_auth(tokens["clerk"]),
                           json={"note": "营业执照已核对"})
    assert reviewed.status_code == 200 and reviewed.json["status"] == "reviewed"

    own = client.post(f"/api/v1/applications/{app_id}/approve", headers=_auth(tokens["clerk"]))
    assert own.status_code == 403 and own.json["type"] == PROBLEM + "separation-of-duties"
    assert own.mimetype == "application/problem+json"
    assert client.get(f"/api/v1/applications/{app_id}", headers=_auth(tokens["clerk"])).json["status"] == "reviewed"

    approved = client.post(f"/api/v1/applications/{app_id}/approve", headers=_auth(tokens["boss"]))
    assert approved.status_code == 200, approved.json
    serial = approved.json["certificate"]["serial"]
    assert approved.json["application"]["status"] == "issued" and approved.json["application"]["serial"] == serial
    assert approved.json["certificate"]["profile"] == "organization"
    assert client.get(f"/api/v1/certificates/{serial}", headers=_auth(tokens["auditor"])).json["status"] == "good"

    # the audit trail of the application, refusal included, through the audit endpoint
    trail = client.get("/api/v1/audit", headers=_auth(tokens["auditor"]),
                       query_string={"subject": f"application:{app_id}", "per_page": 2})
    assert trail.status_code == 200
    assert trail.json["total"] == 4 and len(trail.json["items"]) == 2 and trail.json["next"]
    rest = client.get(trail.json["next"], headers=_auth(tokens["auditor"])).json
    actions = [r["action"] for r in trail.json["items"] + rest["items"]]
    assert actions == ["cert.application.approve", "cert.application.refused", "cert.application.review",
                       "cert.application.submit"]


def test_reject_and_refusals(api) -> None:
    client, tokens, _ = api
    body = {"profile": "device", "csr": _csr("C=CN,O=某某局,CN=设备-1")}
    app_id = client.post("/api/v1/applications", headers=_auth(tokens["clerk"]), json=body).json["id"]
    blank = client.post(f"/api/v1/applications/{app_id}/reject", headers=_auth(tokens["boss"]), json={"reason": " "})
    assert blank.status_code == 400
    rejected = client.post(f"/api/v1/applications/{app_id}/reject", headers=_auth(tokens["boss"]),
                           json={"reason": "材料不全"})
    assert rejected.json["status"] == "rejected" and rejected.json["rejection_reason"] == "材料不全"
    twice = client.post(f"/api/v1/applications/{app_id}/review", headers=_auth(tokens["clerk"]))
    assert twice.status_code == 409
    assert client.get("/api/v1/applications/99999", headers=_auth(tokens["admin"])).json["type"] == \
        PROBLEM + "unknown-application"
    bad_csr = client.post("/api/v1/applications", headers=_auth(tokens["clerk"]),
                          json={"profile": "device", "csr": "not a csr"})
    assert bad_csr.status_code == 400 and bad_csr.json["type"] == PROBLEM + "invalid-csr"
    listed = client.get("/api/v1/applications", headers=_auth(tokens["admin"]), query_string={"status": "rejected"})
    assert [a["id"] for a in listed.json["items"]] == [app_id]
    assert client.post("/api/v1/applications", headers=_auth(tokens["auditor"]), json=body).status_code == 403


def test_audit_verification_status_turns_on_an_edited_record(api) -> None:
    client, tokens, sessions = api
    clean = client.get("/api/v1/audit/verify", headers=_auth(tokens["auditor"]))
    assert clean.status_code == 200 and clean.json["ok"] is True and clean.json["findings"] == []
    assert clean.json["records"] >= 3 and clean.json["transparency_log"]["ok"] is True
    newest = client.get("/api/v1/audit", headers=_auth(tokens["admin"]), query_string={"per_page": 1}).json
    seq = newest["items"][0]["seq"]
    assert len(newest["items"][0]["hash"]) == 64 and newest["total"] == clean.json["records"]
    _tamper(sessions, seq)
    tampered = client.get("/api/v1/audit/verify", headers=_auth(tokens["auditor"])).json
    assert tampered["ok"] is False
    assert any(f["kind"] == "edited" and f["seq"] == seq for f in tampered["findings"])
    assert client.get("/api/v1/audit/verify", headers=_auth(tokens["clerk"])).status_code == 403
    assert client.get("/api/v1/audit", query_string={"per_page": 0},
                      headers=_auth(tokens["admin"])).status_code == 400


def test_an_application_id_of_more_digits_than_int_reads_is_unknown(api) -> None:
    """int() refuses more than 4300 digits (sys.get_int_max_str_digits): that was a ValueError 500."""
    client, tokens, _ = api
    resp = client.get(f"/api/v1/applications/{'1' * 5000}", headers=_auth(tokens["admin"]))
    assert resp.status_code == 404 and resp.json["type"] == PROBLEM + "unknown-application"
    assert resp.json["detail"].startswith("no certificate application '1111")


def test_a_subject_longer_than_an_application_keeps_is_a_400(api) -> None:
    """The application keeps its subject as entered (VARCHAR(1000)): blanks between the
    attributes made a valid DN too long for it -- a 500 on PostgreSQL, stored on SQLite."""
    client, tokens, _ = api
    subject = "C=CN," + " " * 1000 + "O=某某局,CN=设备-1"
    body = {"profile": "device", "csr": _csr("C=CN,O=某某局,CN=设备-1"), "subject": subject}
    answer = client.post("/api/v1/applications", headers=_auth(tokens["clerk"]), json=body)
    assert answer.status_code == 400 and answer.mimetype == "application/problem+json", answer.status_code
    assert answer.json["type"] == PROBLEM + "profile-violation"
    assert "the subject is longer than 1000 characters (1018)" in answer.json["detail"]
    assert client.get("/api/v1/applications", headers=_auth(tokens["clerk"])).json["items"] == []
    body["subject"] = "C=CN," + " " * 980 + "O=某某局,CN=设备-1"
    assert client.post("/api/v1/applications", headers=_auth(tokens["clerk"]), json=body).status_code == 201
