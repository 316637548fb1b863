"""Seals and e-licenses over the REST API (Flask test client, SQLite and PostgreSQL): make a
seal, seal an OFD and data as the agency (multipart and JSON), issue and revoke a license;
an agency token cannot use another agency's seal; refusals are problem+json."""
from __future__ import annotations

import base64
import io

import pytest

from api import create_app
from ca import service as ca_service
from ca.certificate import to_pem
from keystore.soft import SoftKeyStore
from seal.cms import verify_cms
from seal.ofd.document import Page, Text, build_ofd
from seal.ofd.facts import verify_package
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "seal api passphrase"
PROBLEM = "https://eseal.example/problems/"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


@pytest.fixture
def api(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    key_ref = ks.generate("agency-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(eseal_home, ks, profile="organization", key_ref=key_ref,
                                       subject="C=CN,O=某某局,CN=某某局", credit_code="91350100M000100Y43")
    tokens = {"admin": create_token(sessions, role="admin")[0],
              "a1": create_token(sessions, role="agency", agency="A1")[0],
              "a2": create_token(sessions, role="agency", agency="A2")[0]}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app.test_client(), tokens, cert
    app.extensions["eseal"].home.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_make_seal_then_seal_documents_as_the_agency(api) -> None:
    client, tokens, cert = api
    made = client.post("/api/v1/seals", headers=_auth(tokens["admin"]),
                       json={"type": "organization", "name": "某某局", "agency": "A1",
                             "holder_certs": [to_pem(cert).decode()]})
    assert made.status_code == 201, made.json
    es_id = made.json["es_id"]
    assert client.get(f"/api/v1/seals/{es_id}").json["status"] == "valid"  # public status
    assert [s["es_id"] for s in client.get("/api/v1/seals", headers=_auth(tokens["a1"])).json["items"]] == [es_id]
    assert client.get("/api/v1/seals", headers=_auth(tokens["a2"])).json["items"] == []

    ofd = build_ofd([Page([Text(20, 20, "通知", size=6)])])
    sealed = client.post(f"/api/v1/seals/{es_id}/sign", headers=_auth(tokens["a1"]),
                         data={"file": (__import__("io").BytesIO(ofd), "doc.ofd"), "x": "100", "y": "150"},
                         content_type="multipart/form-data")
    assert sealed.status_code == 200, sealed.get_data(as_text=True)[:500]
    assert sealed.mimetype == "application/ofd"
    (facts,) = verify_package(sealed.data)
    assert all(r.status == "ok" for r in facts.references)

    data = "数据".encode()
    as_json = client.post(f"/api/v1/seals/{es_id}/sign", headers=_auth(tokens["a1"]),
                          json={"document": base64.b64encode(data).decode(), "cms": True})
    assert as_json.status_code == 200 and as_json.json["format"] == "cms"
    assert verify_cms(base64.b64decode(as_json.json["document"]), data).ok

    other = client.post(f"/api/v1/seals/{es_id}/sign", headers=_auth(tokens["a2"]),
                        json={"document": base64.b64encode(data).decode()})
    assert other.status_code == 403 and other.json["type"] == PROBLEM + "seal-not-authorised"  # audited refusal
    revoked = client.post(f"/api/v1/seals/{es_id}/revoke", headers=_auth(tokens["admin"]), json={"reason": "lost"})
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    refused = client.post(f"/api/v1/seals/{es_id}/sign", headers=_auth(tokens["a1"]),
                          json={"document": base64.b64encode(data).decode()})
    assert refused.status_code == 409 and refused.json["type"] == PROBLEM + "seal-revoked"
    unknown = client.post("/api/v1/seals/440000209900000001/sign", headers=_auth(tokens["a1"]),
                          json={"document": base64.b64encode(data).decode()})
    assert unknown.status_code == 404 and unknown.json["type"] == PROBLEM + "unknown-seal", unknown.json


def test_a_disabled_key_is_a_conflict_not_an_outage(api, eseal_home) -> None:
    # Found sealing while a key admin disabled the key (tests/test_api_races.py): the refusal
    # was 503 keystore-unavailable with Retry-After, as if the store were down.
    client, tokens, cert = api
    made = client.post("/api/v1/seals", headers=_auth(tokens["admin"]), json={
        "type": "organization", "name": "某某局", "agency": "A1", "holder_certs": [to_pem(cert).decode()]})
    ks = SoftKeyStore.from_home(eseal_home)
    key_ref = ks.find("agency-signer").key_ref
    body = {"document": base64.b64encode("数据".encode()).decode(), "cms": True}
    for change, slug in (("disable", "key-disabled"), ("destroy", "key-destroyed")):
        getattr(ks, change)(key_ref, actor="key-admin", role="key-admin")
        refused = client.post(f"/api/v1/seals/{made.json['es_id']}/sign", headers=_auth(tokens["a1"]), json=body)
        assert (refused.status_code, refused.json["type"]) == (409, PROBLEM + slug), refused.json
        assert "Retry-After" not in refused.headers


def test_license_types_issue_and_revoke(api) -> None:
    client, tokens, cert = api
    types = client.get("/api/v1/license-types").json
    assert "YYZZ" in {t["code"] for t in types}
    es_id = client.post("/api/v1/seals", headers=_auth(tokens["admin"]),
                        json={"type": "organization", "name": "某某局", "agency": "A1",
                              "holder_certs": [to_pem(cert).decode()]}).json["es_id"]
    values = BUSINESS
    issued = client.post("/api/v1/licenses", headers=_auth(tokens["a1"]),
                         json={"type": "YYZZ", "data": values, "seal_id": es_id, "external_id": "row-1"})
    assert issued.status_code == 201, issued.json
    license_id = issued.json["license_id"]
    assert client.get(f"/api/v1/licenses/{license_id}").json["status"] == "valid"
    gone = client.post(f"/api/v1/licenses/{license_id}/revoke", headers=_auth(tokens["admin"]), json={"reason": "吊销"})
    assert gone.status_code == 200 and gone.json["status"] == "revoked"
    bad = client.get("/api/v1/licenses/440000YYZZ20260000001X")
    assert bad.status_code in (400, 404) and bad.mimetype == "application/problem+json"


def test_a_control_character_in_a_license_is_a_named_problem(api) -> None:
    """lxml refuses it when the face is rendered: that was a 500 (one request) and the end of
    a batch (all the rows after it); now a problem naming the field, and the batch goes on."""
    client, tokens, _ = api
    answer = client.post("/api/v1/licenses", headers=_auth(tokens["a1"]),
                         json={"type": "YYZZ", "data": {**BUSINESS, "address": "深圳\u0007"}, "unsealed": True})
    assert answer.status_code == 422 and answer.mimetype == "application/problem+json", answer.status_code
    assert "address: contains U+0007 at position 3" in answer.json["detail"]
    header = "external_id," + ",".join(BUSINESS)
    lines = [header, "R1," + ",".join(v if k != "name" else "a\u000bb" for k, v in BUSINESS.items()),
             "R2," + ",".join(BUSINESS.values())]
    batch = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                        data={"type": "YYZZ", "unsealed": "true",
                              "file": (io.BytesIO("\n".join(lines).encode()), "rows.csv")},
                        content_type="multipart/form-data")
    assert batch.status_code == 200, (batch.status_code, batch.get_data(as_text=True)[:300])
    assert [r["status"] for r in batch.json["rows"]] == ["error", "issued"]
