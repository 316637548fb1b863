"""Trust lists and e-license batch / list / OFD over REST (Flask test client, SQLite and
PostgreSQL).

Trust lists: the admin publishes the region's TL and a LOTL naming it; anyone fetches both
and they verify; a second home imports the LOTL over HTTP (its fetcher is the first app's WSGI
client, so the bytes are the served ones) and its public status page lists the region's
services as granted; a wrong pin is 403 trust-list-not-pinned.
E-licenses: a CSV batch issues one license per good row, reports the bad rows, and run again
issues nothing twice; an agency lists, downloads and revokes only its own licenses."""
from __future__ import annotations

import csv
import io
from dataclasses import dataclass

import pytest

from api import create_app
from ca import service
from ca.certificate import to_pem
from keystore.soft import SoftKeyStore
from seal.ofd.package import OFDPackage
from store.db import make_sessionmaker
from store.home import Home
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token
from verify.trustlist.model import open_list
from verify.trustlist.service import list_signer

PASSPHRASE = "trust list api passphrase"
PROBLEM = "https://eseal.example/problems/"
BASE = "http://pki.example"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


@pytest.fixture
def api(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url=BASE)
    tokens = {"admin": create_token(sessions, role="admin")[0], "ra": create_token(sessions, role="ra_operator")[0],
              "auditor": create_token(sessions, role="auditor")[0],
              "a1": create_token(sessions, role="agency", agency="A1")[0],
              "a2": create_token(sessions, role="agency", agency="A2")[0]}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens, ks
    app.extensions["eseal"].home.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@dataclass
class _Answer:
    body: bytes


class WsgiFetcher:
    """verify.fetch.Fetcher's get(), answered by an app in this process instead of a socket."""

    def __init__(self, client) -> None:
        self.client = client

    def get(self, url: str) -> _Answer:
        resp = self.client.get(url.removeprefix(BASE))
        assert resp.status_code == 200, (url, resp.status_code)
        return _Answer(resp.data)


def test_publish_serve_and_import_trust_lists(api, tmp_path, monkeypatch) -> None:
    app, tokens, ks = api
    client = app.test_client()
    assert client.get("/api/v1/trust-lists/tl").status_code == 404
    assert client.post("/api/v1/trust-lists/tl", headers=_auth(tokens["ra"])).status_code == 403
    published = client.post("/api/v1/trust-lists/tl", headers=_auth(tokens["admin"]), json={"days": 10})
    assert published.status_code == 201, published.get_data(as_text=True)
    served = client.get("/api/v1/trust-lists/tl")  # public
    assert served.status_code == 200 and served.data == published.data
    tl, signer = open_list(served.data, None)
    assert tl.type == "TL" and tl.scheme_territory == "CN-440000"
    assert {s.type for s in tl.services} >= {"root_ca", "issuing_ca"}

    home = app.extensions["eseal"].home
    _, tl_signer = list_signer(home, ks, "tl")
    assert tl_signer.dump() == signer.dump()
    lotl = client.post("/api/v1/trust-lists/lotl", headers=_auth(tokens["admin"]), json={"add": [{
        "url": f"{BASE}/api/v1/trust-lists/tl", "signer_certificate": to_pem(tl_signer).decode(),
        "territory": "CN-440000", "scheme_operator": "广东省电子认证中心"}]})
    assert lotl.status_code == 201, lotl.get_data(as_text=True)
    assert client.get("/api/v1/trust-lists/lotl").data == lotl.data
    _, lotl_signer = list_signer(home, ks, "lotl")

    status = client.get("/api/v1/trust-lists/status").json
    assert status["published"]["tl"]["sequence_number"] == 1 and status["published"]["tl"]["signature_ok"]
    assert status["published"]["lotl"]["entries"][0]["territory"] == "CN-440000"
    assert status["imported"] == []

    # a relying party's home imports the LOTL and the TL it names, fetched from this app
    import verify.fetch

    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    relying = Home.create(tmp_path / "relying")  # its own embedded SQLite, whatever the first home uses
    try:
        rsessions = make_sessionmaker(relying.engine)
        rks = SoftKeyStore.initialise(rsessions, actor="admin", passphrase=PASSPHRASE).store
        service.init_region(relying, rks, region_code="110000", region_name="北京市", base_url="http://bj.example")
        rtoken = create_token(rsessions, role="admin")[0]
        rapp = create_app(relying.path, passphrase=PASSPHRASE)
        fetcher = WsgiFetcher(client)
        monkeypatch.setattr(verify.fetch, "Fetcher", lambda: fetcher)  # http(s) only, served in process
        rclient = rapp.test_client()
        wrong = rclient.post("/api/v1/trust-lists/import", headers=_auth(rtoken),
                             json={"lotl_url": f"{BASE}/api/v1/trust-lists/lotl", "pin": to_pem(tl_signer).decode()})
        assert wrong.status_code == 403 and wrong.json["type"] == PROBLEM + "trust-list-not-pinned"
        local = rclient.post("/api/v1/trust-lists/import", headers=_auth(rtoken),
                             json={"lotl_url": "/etc/passwd", "pin": to_pem(lotl_signer).decode()})
        assert local.status_code == 400  # never a path on the server
        done = rclient.post("/api/v1/trust-lists/import", headers=_auth(rtoken),
                            json={"lotl_url": f"{BASE}/api/v1/trust-lists/lotl", "pin": to_pem(lotl_signer).decode()})
        assert done.status_code == 200, done.json
        assert done.json["imported"][0]["territory"] == "CN-440000" and done.json["failures"] == []
        imported = rclient.get("/api/v1/trust-lists/status").json["imported"]
        assert [i["kind"] for i in imported] == ["tl", "lotl"]
        region_tl = imported[0]
        assert region_tl["signature_ok"] and not region_tl["due"]
        assert {(e["type"], e["status"]) for e in region_tl["entries"]} >= {("root_ca", "granted"),
                                                                          ("issuing_ca", "granted")}
        nothing = rclient.post("/api/v1/trust-lists/refresh", headers=_auth(rtoken),
                               json={"pin": to_pem(lotl_signer).decode()})
        assert nothing.status_code == 200 and nothing.json["nothing_due"] is True
        rapp.extensions["eseal"].home.close()
    finally:
        relying.close()


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["external_id", *BUSINESS])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def test_license_batch_list_ofd_and_agency_scope(api) -> None:
    app, tokens, _ = api
    client = app.test_client()
    rows = [{"external_id": "R1", **BUSINESS}, {"external_id": "R2", **BUSINESS, "name": "第二家"},
            {"external_id": "BAD", **BUSINESS, "credit_code": "91350100M000100Y49"}]
    text = _csv(rows)
    first = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                        data={"file": (io.BytesIO(text.encode()), "rows.csv"), "type": "YYZZ", "unsealed": "true"},
                        content_type="multipart/form-data")
    assert first.status_code == 200, first.json
    assert first.json["counts"] == {"issued": 2, "already_issued": 0, "error": 1}
    assert [r["status"] for r in first.json["rows"]] == ["issued", "issued", "error"]
    assert "credit_code" in first.json["rows"][2]["error"]
    again = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                        json={"csv": text, "type": "YYZZ", "unsealed": True})
    assert again.json["counts"] == {"issued": 0, "already_issued": 2, "error": 1}
    assert [r["license_id"] for r in again.json["rows"][:2]] == [r["license_id"] for r in first.json["rows"][:2]]
    ids = [r["license_id"] for r in first.json["rows"][:2]]

    not_csv = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                          json={"csv": "a,b\n1,2\n", "type": "YYZZ", "unsealed": True})
    assert not_csv.status_code == 400 and not_csv.json["type"] == PROBLEM + "license-error"
    huge = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                       json={"csv": "external_id,name\nR9," + "x" * 200_000 + "\n", "type": "YYZZ"})
    assert huge.status_code == 400 and "field limit" in huge.json["detail"]
    other = client.post("/api/v1/licenses/batch", headers=_auth(tokens["a1"]),
                        json={"csv": text, "type": "YYZZ", "agency": "A2"})
    assert other.status_code == 403
    assert client.post("/api/v1/licenses/batch", headers=_auth(tokens["auditor"]),
                       json={"csv": text, "type": "YYZZ"}).status_code == 403

    mine = client.get("/api/v1/licenses", headers=_auth(tokens["a1"]), query_string={"per_page": 1})
    assert mine.status_code == 200 and mine.json["total"] == 2 and mine.json["next"]
    assert mine.json["items"][0]["license_id"] == ids[1] and mine.json["items"][0]["status"] == "valid"
    assert client.get("/api/v1/licenses", headers=_auth(tokens["a2"])).json["total"] == 0
    assert client.get("/api/v1/licenses", headers=_auth(tokens["auditor"])).json["total"] == 2

    ofd = client.get(f"/api/v1/licenses/{ids[0]}/ofd", headers=_auth(tokens["a1"]))
    assert ofd.status_code == 200 and ofd.mimetype == "application/ofd"
    assert OFDPackage(ofd.data) is not None and ofd.headers["X-Content-SM3"] == \
        client.get(f"/api/v1/licenses/{ids[0]}").json["ofd_sm3"]
    assert client.get(f"/api/v1/licenses/{ids[0]}/ofd").status_code == 401
    assert client.get(f"/api/v1/licenses/{ids[0]}/ofd", headers=_auth(tokens["a2"])).status_code == 403

    refused = client.post(f"/api/v1/licenses/{ids[0]}/revoke", headers=_auth(tokens["a2"]), json={"reason": "x"})
    assert refused.status_code == 403
    revoked = client.post(f"/api/v1/licenses/{ids[0]}/revoke", headers=_auth(tokens["a1"]), json={"reason": "注销"})
    assert revoked.status_code == 200 and revoked.json["status"] == "revoked"
    listed = client.get("/api/v1/licenses", headers=_auth(tokens["admin"]), query_string={"status": "revoked"}).json
    assert [i["license_id"] for i in listed["items"]] == [ids[0]]
    assert client.get(f"/api/v1/licenses/{ids[0]}").json["status"] == "revoked"  # public status

