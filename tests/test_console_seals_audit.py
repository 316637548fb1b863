"""Console pages for seals (with their pictures), the audit log (with its verification status)
and the license type's name (Flask test client, SQLite and PostgreSQL).

Seals: /console/seals lists every seal the role may see (name, esID, agency, status) with an
<img> pointing at /console/seals/<es_id>/picture, which answers the picture stored in the
seal byte for byte with its content type (a drawn PNG, a Pillow JPEG); an agency sees only
its own seals and another agency's picture is a 404; a revoked seal reads revoked in Chinese
and English. Audit: admin and auditor see the chain verified on an untouched region, and a
failed verification naming the seq of a record edited in the database; agency and
ra_operator are refused. Licenses: the type's name from seal.license.types, not only its code.

Referees: seal.structures.parse_seal reads the picture out of the stored seal; Pillow writes
the JPEG; seal.license.types.get_type gives the license type's names."""
from __future__ import annotations

import io
import re

import pytest
from PIL import Image
from sqlalchemy import select

from api import create_app
from ca import service as ca_service
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal.license.service import issue_license
from seal.license.types import get_type
from seal.structures import parse_seal
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token
from tests.helpers.pictures import cross_image
from tests.test_api_workflow_audit import _tamper
from tests.test_console_audit_verification import _section, _verify_now
from tests.test_console_licenses import _signed_in

PASSPHRASE = "console seals audit passphrase"
CREDIT_CODE = "91350100M000100Y43"
BUSINESS = {"credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


JPEG = cross_image("JPEG")


@pytest.fixture
def console(eseal_home):
    """A region with three seals — a1's drawn PNG seal, a2's JPEG seal, a1's revoked seal —
    one YYZZ license of a1, and a token per role (the agency token is a1's)."""
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    key_ref = ks.generate("console-seal-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(eseal_home, ks, profile="organization", key_ref=key_ref,
                                       subject="C=CN,O=某某市人民政府,CN=某某市人民政府", credit_code=CREDIT_CODE)
    drawn = seal_service.make_seal(eseal_home, ks, seal_type="organization", name="甲市人民政府", agency="a1",
                                   holder_certs=[cert.dump()], actor="test")
    jpeg = seal_service.make_seal(eseal_home, ks, seal_type="organization", name="乙县市场监督管理局", agency="a2",
                                  holder_certs=[cert.dump()], picture=JPEG, picture_type="jpg", actor="test")
    revoked = seal_service.make_seal(eseal_home, ks, seal_type="organization", name="丙镇人民政府", agency="a1",
                                     holder_certs=[cert.dump()], actor="test")
    seal_service.revoke_seal(eseal_home, revoked, reason="印章遗失", actor="test")
    license_id = issue_license(eseal_home, ks, type="YYZZ", data=BUSINESS, agency="a1", actor="test").license_id
    tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)[0]
              for role in ("admin", "ra_operator", "agency", "auditor")}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens, {"drawn": drawn, "jpeg": jpeg, "revoked": revoked}, license_id, sessions
    app.extensions["eseal"].home.close()


def _figures(html: str) -> dict[str, str]:
    """esID -> the <figure> of that seal on the seals page."""
    out = {}
    for figure in re.findall(r"<figure\b.*?</figure>", html, flags=re.S):
        es_id = re.search(r"<code>([^<]+)</code>", figure).group(1)
        assert es_id not in out, f"seal {es_id} listed twice"
        out[es_id] = figure
    return out


def _stored_picture(app, es_id: str):
    return parse_seal(seal_service.get_seal(app.extensions["eseal"].home, es_id).der).picture


def _audit_status(html: str) -> str:
    return re.search(r'<p id="audit-status"[^>]*>(.*?)</p>', html, flags=re.S).group(0)


# ----------------------------------------------------------------------------- seals


def test_admin_sees_every_seal_with_its_picture(console) -> None:
    app, tokens, ids, _, _ = console
    admin = _signed_in(app, tokens["admin"])
    resp = admin.get("/console/seals")
    assert resp.status_code == 200
    figures = _figures(resp.get_data(as_text=True))
    assert set(figures) == set(ids.values())
    for key, name, agency in (("drawn", "甲市人民政府", "a1"), ("jpeg", "乙县市场监督管理局", "a2"),
                              ("revoked", "丙镇人民政府", "a1")):
        figure = figures[ids[key]]
        assert f"<strong>{name}</strong>" in figure and f"单位: {agency}" in figure
        assert re.search(rf'<img src="/console/seals/{ids[key]}/picture"', figure), figure
    assert "状态: 有效" in figures[ids["drawn"]] and "状态: 有效" in figures[ids["jpeg"]]

    # the drawn seal: a PNG, the very bytes stored in the seal
    drawn = admin.get(f"/console/seals/{ids['drawn']}/picture")
    stored = _stored_picture(app, ids["drawn"])
    assert drawn.status_code == 200 and drawn.mimetype == "image/png"
    assert stored.type == "PNG" and drawn.data == stored.data and drawn.data.startswith(b"\x89PNG\r\n\x1a\n")

    # the JPEG seal made with Pillow's picture: image/jpeg and the same bytes as given and stored
    jpeg = admin.get(f"/console/seals/{ids['jpeg']}/picture")
    stored = _stored_picture(app, ids["jpeg"])
    assert jpeg.status_code == 200 and jpeg.mimetype == "image/jpeg"
    assert jpeg.data == stored.data == JPEG
    assert Image.open(io.BytesIO(jpeg.data)).format == "JPEG"

    assert admin.get("/console/seals/44000020990000000001/picture").status_code == 404  # no such seal
    assert app.test_client().get(f"/console/seals/{ids['drawn']}/picture").status_code == 302  # not signed in


def test_an_agency_sees_only_its_own_seals_and_pictures(console) -> None:
    app, tokens, ids, _, _ = console
    agency = _signed_in(app, tokens["agency"])
    figures = _figures(agency.get("/console/seals").get_data(as_text=True))
    assert set(figures) == {ids["drawn"], ids["revoked"]}  # a1's seals only
    page = agency.get("/console/seals").get_data(as_text=True)
    assert ids["jpeg"] not in page and "乙县市场监督管理局" not in page
    own = agency.get(f"/console/seals/{ids['drawn']}/picture")
    assert own.status_code == 200 and own.mimetype == "image/png"
    assert own.data == _stored_picture(app, ids["drawn"]).data
    theirs = agency.get(f"/console/seals/{ids['jpeg']}/picture")
    assert theirs.status_code == 404 and JPEG not in theirs.data


def test_a_revoked_seal_reads_revoked_in_both_languages(console) -> None:
    app, tokens, ids, _, _ = console
    for role in ("admin", "agency"):
        client = _signed_in(app, tokens[role])
        figure = _figures(client.get("/console/seals").get_data(as_text=True))[ids["revoked"]]
        assert 'class="seal status-revoked"' in figure and "状态: 已吊销" in figure
        assert "已吊销" not in _figures(client.get("/console/seals").get_data(as_text=True))[ids["drawn"]]
        client.get("/console/lang/en")
        figures = _figures(client.get("/console/seals").get_data(as_text=True))
        assert "Status: revoked" in figures[ids["revoked"]] and "Agency: a1" in figures[ids["revoked"]]
        assert "Status: valid" in figures[ids["drawn"]]


# ----------------------------------------------------------------------------- audit log


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_audit_page_shows_the_verification_and_a_tampered_record(console, role) -> None:
    app, tokens, ids, _, sessions = console
    client = _signed_in(app, tokens[role])
    never = _audit_status(client.get("/console/audit").get_data(as_text=True))
    assert 'class="warning"' in never and "从未完整校验" in never  # a view reads no history
    _verify_now(client)
    clean = client.get("/console/audit")
    assert clean.status_code == 200
    html = clean.get_data(as_text=True)
    status = _audit_status(html)
    assert 'class="ok"' in status and "哈希链校验通过" in status and "发现篡改" not in status
    assert "发现的问题" not in html and "seal.make" in html and "seal.revoke" in html
    client.get("/console/lang/en")
    status = _audit_status(client.get("/console/audit").get_data(as_text=True))
    assert "Chain verified" in status and "TAMPERED" not in status

    with transaction(sessions, readonly=True) as s:
        seq = s.scalar(select(AuditRecord.seq).where(AuditRecord.action == "seal.make",
                                                     AuditRecord.subject == f"seal:{ids['jpeg']}"))
    _tamper(sessions, seq)
    _verify_now(client)  # an edit of a record the last verification covered is the next one's finding

    english = client.get("/console/audit").get_data(as_text=True)
    status = _audit_status(english)
    assert 'class="error"' in status and "TAMPERED" in status and "Chain verified" not in status
    assert f"edited at seq {seq}:" in _section(english, "last-verification")  # names the edited record
    assert "someone else" in english  # and the edited row shows what it says now
    client.get("/console/lang/zh")
    chinese = client.get("/console/audit").get_data(as_text=True)
    status = _audit_status(chinese)
    assert "发现篡改" in status and "哈希链校验通过" not in status
    assert f"edited at seq {seq}:" in _section(chinese, "last-verification")


@pytest.mark.parametrize("role", ["agency", "ra_operator"])
def test_audit_page_is_refused_to_agency_and_ra_operator(console, role) -> None:
    app, tokens, _, _, _ = console
    client = _signed_in(app, tokens[role])
    refused = client.get("/console/audit")
    assert refused.status_code == 302 and not refused.headers["Location"].endswith("/console/audit")
    landing = client.get("/console/audit", follow_redirects=True).get_data(as_text=True)
    assert "您的角色无权执行此操作" in landing
    assert 'id="audit-status"' not in landing and "哈希链校验通过" not in landing
    assert "/console/audit" not in landing  # no nav link to the audit page either


# ----------------------------------------------------------------------------- license type name


def test_license_page_shows_the_type_name(console) -> None:
    app, tokens, _, license_id, _ = console
    kind = get_type("YYZZ")
    assert kind.name_zh == "营业执照"
    client = _signed_in(app, tokens["agency"])
    page = client.get(f"/console/licenses/{license_id}").get_data(as_text=True)
    assert f"<dd>{kind.name_zh} (YYZZ)</dd>" in page
    client.get("/console/lang/en")
    english = client.get(f"/console/licenses/{license_id}").get_data(as_text=True)
    assert f"<dd>{kind.name_en} (YYZZ)</dd>" in english


def test_license_list_shows_the_type_name(console) -> None:
    app, tokens, _, license_id, _ = console
    kind = get_type("YYZZ")
    client = _signed_in(app, tokens["agency"])
    listing = client.get("/console/licenses").get_data(as_text=True)
    assert license_id in listing
    row = re.search(rf"<tr[^>]*>(?:(?!</tr>).)*{license_id}(?:(?!</tr>).)*</tr>", listing, flags=re.S).group(0)
    assert kind.name_zh in row
    client.get("/console/lang/en")
    assert kind.name_en in client.get("/console/licenses").get_data(as_text=True)
