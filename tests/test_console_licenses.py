"""Console pages for e-licenses and trust lists (Flask test client, SQLite and PostgreSQL):
an agency sees and revokes only its own licenses through the dialog (CSRF, reason and
confirmation required), the auditor reads without a dialog; the trust-list page shows this
region's published TL and its services; both pages are in the nav, in Chinese and English."""
from __future__ import annotations

import re

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from seal.license.service import issue_license, license_status
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token
from verify.trustlist.service import publish_region_tl

PASSPHRASE = "console licenses passphrase"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


@pytest.fixture
def console(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    mine = issue_license(eseal_home, ks, type="YYZZ", data=BUSINESS, agency="a1", actor="test").license_id
    theirs = issue_license(eseal_home, ks, type="YYZZ", data={**BUSINESS, "name": "别家公司"}, agency="a2",
                           actor="test").license_id
    tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)[0]
              for role in ("admin", "ra_operator", "agency", "auditor")}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens, (mine, theirs), ks
    app.extensions["eseal"].home.close()


def _csrf(html: str) -> str:
    return re.search(r'name="csrf" value="([^"]+)"', html).group(1)


def _signed_in(app, token: str):
    client = app.test_client()
    page = client.get("/console/login").get_data(as_text=True)
    assert client.post("/console/login", data={"token": token, "csrf": _csrf(page)}).status_code == 302
    return client


def test_agency_sees_and_revokes_only_its_own_licenses(console) -> None:
    app, tokens, (mine, theirs), _ = console
    home = app.extensions["eseal"].home
    agency = _signed_in(app, tokens["agency"])
    landing = agency.get("/console/", follow_redirects=True).get_data(as_text=True)
    assert "电子证照" in landing and "信任列表" in landing  # the nav links; an agency lands on its seals
    listing = agency.get("/console/licenses").get_data(as_text=True)
    assert mine in listing and theirs not in listing and "深圳某某科技有限公司" in listing
    assert agency.get(f"/console/licenses/{theirs}").status_code == 404
    page = agency.get(f"/console/licenses/{mine}").get_data(as_text=True)
    assert 'id="revoke-dialog"' in page and "有效" in page and "软件开发" in page and "法定代表人" in page

    # no CSRF token, a forged one, no confirmation, no reason: nothing happens
    agency.post(f"/console/licenses/{mine}/revoke", data={"reason": "注销", "confirm": "yes"})
    agency.post(f"/console/licenses/{mine}/revoke", data={"csrf": "forged", "reason": "注销", "confirm": "yes"})
    agency.post(f"/console/licenses/{mine}/revoke", data={"csrf": _csrf(page), "reason": "注销"})
    agency.post(f"/console/licenses/{mine}/revoke", data={"csrf": _csrf(page), "reason": " ", "confirm": "yes"})
    agency.post(f"/console/licenses/{theirs}/revoke", data={"csrf": _csrf(page), "reason": "x", "confirm": "yes"})
    assert license_status(home, mine).status == "valid" and license_status(home, theirs).status == "valid"

    done = agency.post(f"/console/licenses/{mine}/revoke",
                       data={"csrf": _csrf(page), "reason": "企业注销", "confirm": "yes"}, follow_redirects=True)
    html = done.get_data(as_text=True)
    assert "证照已吊销" in html and "已吊销 (企业注销)" in html and 'id="revoke-dialog"' not in html
    assert license_status(home, mine).status == "revoked"
    revoked_only = agency.get("/console/licenses", query_string={"status": "revoked"}).get_data(as_text=True)
    assert mine in revoked_only


def test_auditor_reads_licenses_without_a_dialog(console) -> None:
    app, tokens, (mine, theirs), _ = console
    auditor = _signed_in(app, tokens["auditor"])
    listing = auditor.get("/console/licenses").get_data(as_text=True)
    assert mine in listing and theirs in listing
    page = auditor.get(f"/console/licenses/{theirs}").get_data(as_text=True)
    assert 'id="revoke-dialog"' not in page and "别家公司" in page
    refused = auditor.post(f"/console/licenses/{theirs}/revoke",
                           data={"csrf": _csrf(page), "reason": "x", "confirm": "yes"})
    assert refused.status_code == 302
    assert license_status(app.extensions["eseal"].home, theirs).status == "valid"


def test_trust_list_page(console) -> None:
    app, tokens, _, ks = console
    admin = _signed_in(app, tokens["admin"])
    empty = admin.get("/console/trust-lists").get_data(as_text=True)
    assert "尚未发布" in empty and "尚未导入信任列表" in empty
    publish_region_tl(app.extensions["eseal"].home, ks, actor="test")
    page = admin.get("/console/trust-lists").get_data(as_text=True)
    assert 'id="region-tl"' in page and "验证通过" in page and "root_ca" in page and "已认可" in page
    assert "CN-440000" in page
    admin.get("/console/lang/en")
    english = admin.get("/console/trust-lists").get_data(as_text=True)
    assert "This region&#39;s trust list" in english and "granted" in english and "verified" in english
    admin.post("/console/audit/verify", data={"csrf": _csrf(admin.get("/console/audit").get_data(as_text=True))})
    audit_page = admin.get("/console/audit").get_data(as_text=True)
    assert "transparency log entries 0–" in audit_page and "Chain verified" in audit_page
    assert _signed_in(app, tokens["agency"]).get("/console/trust-lists").status_code == 200
