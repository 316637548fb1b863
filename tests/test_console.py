"""The web console in process (Flask test client) on SQLite and PostgreSQL: sign-in with a
token (never stored in the cookie), lockout after failed sign-ins, CSRF on every form,
roles, certificate search and the revoke dialog, audit page, secure headers, both languages."""
from __future__ import annotations

import re

import pytest

from api import create_app
from ca import service
from ca.csr import build_csr
from ca.testing import LocalSigner, soft_region
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token, revoke_token

PASSPHRASE = "console passphrase"


@pytest.fixture
def console(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks, _ = soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
    csr = build_csr(LocalSigner(), "C=CN,O=某某局,CN=设备").dump()
    serials = [service.issue_certificate(eseal_home, ks, profile="device", csr_pem=csr,
                                         subject=f"C=CN,O=某某局,CN=设备-{i}")[0] for i in range(3)]
    tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)
              for role in ("admin", "ra_operator", "agency", "auditor")}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens, serials, sessions
    app.extensions["eseal"].home.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _sign_in(client, token: str) -> None:
    page = client.get("/console/login").get_data(as_text=True)
    resp = client.post("/console/login", data={"token": token, "csrf": _csrf(page)})
    assert resp.status_code == 302, resp.get_data(as_text=True)


def test_sign_in_search_and_revoke_through_the_dialog(console) -> None:
    app, tokens, serials, _ = console
    client = app.test_client()
    assert client.get("/console/certificates").status_code == 302  # not signed in -> login
    _sign_in(client, tokens["ra_operator"][0])
    cookie = client.get_cookie("session").value
    assert tokens["ra_operator"][0].split("_", 2)[2] not in cookie  # the secret never travels in the cookie
    listing = client.get("/console/certificates", query_string={"q": "设备-1"}).get_data(as_text=True)
    assert serials[1] in listing and serials[0] not in listing
    page = client.get(f"/console/certificates/{serials[1]}").get_data(as_text=True)
    assert 'id="revoke-dialog"' in page
    unconfirmed = client.post(f"/console/certificates/{serials[1]}/revoke",
                              data={"csrf": _csrf(page), "reason": "keyCompromise"}, follow_redirects=True)
    assert "有效" in unconfirmed.get_data(as_text=True)
    assert service.certificate_status(app.extensions["eseal"].home, serials[1]).status == "good"
    done = client.post(f"/console/certificates/{serials[1]}/revoke",
                       data={"csrf": _csrf(page), "reason": "keyCompromise", "confirm": "yes"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "证书已吊销" in html and "已吊销 (keyCompromise)" in html
    row = service.certificate_status(app.extensions["eseal"].home, serials[1])
    assert row.status == "revoked" and row.reason == "keyCompromise"


def test_forms_without_the_csrf_token_change_nothing(console) -> None:
    app, tokens, serials, _ = console
    client = app.test_client()
    _sign_in(client, tokens["admin"][0])
    client.post(f"/console/certificates/{serials[0]}/revoke", data={"reason": "keyCompromise", "confirm": "yes"})
    client.post(f"/console/certificates/{serials[0]}/revoke",
                data={"csrf": "forged", "reason": "keyCompromise", "confirm": "yes"})
    assert service.certificate_status(app.extensions["eseal"].home, serials[0]).status == "good"
    assert client.post("/console/login", data={"token": tokens["admin"][0]}).status_code == 302  # bounced, not signed in again


def test_roles_and_revoked_tokens(console) -> None:
    app, tokens, serials, sessions = console
    auditor = app.test_client()
    _sign_in(auditor, tokens["auditor"][0])
    page = auditor.get(f"/console/certificates/{serials[0]}").get_data(as_text=True)
    assert 'id="revoke-dialog"' not in page  # read-only role: no dialog
    auditor.post(f"/console/certificates/{serials[0]}/revoke",
                 data={"csrf": _csrf(page), "reason": "keyCompromise", "confirm": "yes"})
    assert service.certificate_status(app.extensions["eseal"].home, serials[0]).status == "good"
    audit_page = auditor.get("/console/audit").get_data(as_text=True)
    assert "从未完整校验" in audit_page and "cert.issue" in audit_page
    auditor.post("/console/audit/verify", data={"csrf": _csrf(audit_page)})  # the auditor's "Verify now"
    assert "哈希链校验通过" in auditor.get("/console/audit").get_data(as_text=True)
    agency = app.test_client()
    _sign_in(agency, tokens["agency"][0])
    assert agency.get("/console/certificates").status_code == 302  # agencies see seals, not the CA
    revoke_token(sessions, tokens["auditor"][1].token_id)
    assert auditor.get("/console/audit").status_code == 302  # a revoked token ends the session


def test_failed_sign_ins_lock_the_client_out(console) -> None:
    app, tokens, _, _ = console
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    for _ in range(app.extensions["eseal"].console_lockout.max_failures):
        assert client.post("/console/login", data={"token": "esk_0000000000000000_nope", "csrf": _csrf(page)}).status_code == 401
    locked = client.post("/console/login", data={"token": tokens["admin"][0], "csrf": _csrf(page)})
    assert locked.status_code == 429  # even the right token, until the lockout ends


def test_secure_headers_and_english(console) -> None:
    app, tokens, _, _ = console
    client = app.test_client()
    resp = client.get("/console/login")
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    assert resp.headers["X-Frame-Options"] == "DENY" and resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "登录" in resp.get_data(as_text=True)
    client.get("/console/lang/en")
    assert "Sign in" in client.get("/console/login").get_data(as_text=True)
