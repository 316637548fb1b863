"""api/ in process (Flask test client) on SQLite and PostgreSQL: problem+json errors, roles,
certificate issuance / lifecycle / pagination / idempotency, readiness, the OpenAPI document
against the URL map, the CRL cache and the pre-signed OCSP cache across two app instances
(two "workers" over one database)."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp
from asn1crypto import pem, x509

from api import create_app
from api.config import ApiConfig, ApiConfigError
from api.openapi import flask_to_openapi_path
from ca import ocsp, service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token, revoke_token

PASSPHRASE = "correct horse battery staple"
PROBLEM = "https://eseal.example/problems/"
CREDIT_CODE = "91350100M000100Y43"


@pytest.fixture(scope="module")
def csr_pem(openssl_bin, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("req")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt",
                    "distid:1234567812345678", "-utf8", "-subj", "/C=CN/O=某某局/CN=某某局", "-out",
                    str(d / "req.pem")], check=True, capture_output=True)
    return (d / "req.pem").read_text()


@pytest.fixture
def region(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                        base_url="http://pki.gd.example.gov.cn")
    tokens = {role: create_token(sessions, role=role, agency="agency-1" if role == "agency" else None)[0]
              for role in ("admin", "ra_operator", "agency", "auditor")}
    return eseal_home, ks, tokens


@pytest.fixture
def app(region):
    home, _, _ = region
    application = create_app(home.path, passphrase=PASSPHRASE, config={"max_content_length": 64 * 1024})
    yield application
    application.extensions["eseal"].home.close()


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def assert_problem(response, status: int, slug: str) -> dict:
    assert response.status_code == status, response.get_data(as_text=True)
    assert response.mimetype == "application/problem+json"
    body = response.get_json(force=True)
    assert body["type"] == PROBLEM + slug, body
    assert body["status"] == status and body["title"] and body["detail"]
    return body


def issue(client, token: str, csr: str, **extra):
    body = {"profile": "organization", "csr": csr, "subject": "C=CN,O=某某局,CN=某某局", "credit_code": CREDIT_CODE}
    body.update(extra)
    return client.post("/api/v1/certificates", json=body, headers=bearer(token))


def test_issue_get_revoke_and_errors(app, region, csr_pem) -> None:
    _, _, tokens = region
    c = app.test_client()
    r = issue(c, tokens["ra_operator"], csr_pem)
    assert r.status_code == 201, r.get_json()
    cert = r.get_json()
    serial = cert["serial"]
    assert r.headers["Location"] == f"/api/v1/certificates/{serial}"
    parsed = x509.Certificate.load(pem.unarmor(cert["pem"].encode())[2])
    assert format(parsed.serial_number, "x") == serial and cert["status"] == "good"
    # read: auditor yes, agency no
    assert c.get(f"/api/v1/certificates/{serial.upper()}", headers=bearer(tokens["auditor"])).get_json()["serial"] == serial
    assert_problem(c.get(f"/api/v1/certificates/{serial}", headers=bearer(tokens["agency"])), 403, "forbidden")
    # auditor is read-only, agency cannot issue
    assert_problem(c.post(f"/api/v1/certificates/{serial}/revoke", json={}, headers=bearer(tokens["auditor"])),
                   403, "forbidden")
    assert_problem(issue(c, tokens["agency"], csr_pem), 403, "forbidden")
    # lifecycle
    r = c.post(f"/api/v1/certificates/{serial}/suspend", headers=bearer(tokens["admin"]))
    assert r.get_json()["status"] == "hold" and r.get_json()["reason"] == "certificateHold"
    assert_problem(c.post(f"/api/v1/certificates/{serial}/suspend", headers=bearer(tokens["admin"])),
                   409, "invalid-transition")
    assert c.post(f"/api/v1/certificates/{serial}/resume", headers=bearer(tokens["admin"])).get_json()["status"] == "good"
    r = c.post(f"/api/v1/certificates/{serial}/revoke", headers=bearer(tokens["admin"]),
               json={"reason": "keyCompromise", "invalidity_date": "2026-01-02T03:04:05Z"})
    body = r.get_json()
    assert r.status_code == 200 and body["status"] == "revoked" and body["reason"] == "keyCompromise"
    assert body["invalidity_date"] == "2026-01-02T03:04:05Z"
    assert_problem(c.post(f"/api/v1/certificates/{serial}/revoke", json={}, headers=bearer(tokens["admin"])),
                   409, "already-revoked")
    # bad inputs, each with its own problem type
    assert_problem(c.get("/api/v1/certificates/" + "7" * 32, headers=bearer(tokens["admin"])), 404, "unknown-serial")
    assert_problem(c.get("/api/v1/certificates/xyz", headers=bearer(tokens["admin"])), 404, "unknown-serial")
    assert_problem(c.post("/api/v1/certificates", data="{not json", content_type="application/json",
                          headers=bearer(tokens["admin"])), 400, "bad-json")
    assert_problem(c.post("/api/v1/certificates", data="profile=x", content_type="application/x-www-form-urlencoded",
                          headers=bearer(tokens["admin"])), 415, "unsupported-media-type")
    assert_problem(c.post("/api/v1/certificates", json=["a"], headers=bearer(tokens["admin"])), 400, "bad-json")
    assert_problem(c.post("/api/v1/certificates", json={"profile": "organization"}, headers=bearer(tokens["admin"])),
                   400, "invalid-request")
    assert_problem(issue(c, tokens["admin"], csr_pem, colour="blue"), 400, "invalid-request")
    lines = csr_pem.splitlines()
    middle = lines[3]
    lines[3] = middle[:10] + ("A" if middle[10] != "A" else "B") + middle[11:]  # inside the signed part
    assert_problem(issue(c, tokens["admin"], "\n".join(lines) + "\n"), 400, "invalid-csr")
    assert_problem(issue(c, tokens["admin"], "not a CSR"), 400, "invalid-csr")
    assert_problem(issue(c, tokens["admin"], csr_pem, credit_code="91350100M000100Y44"), 400, "invalid-identifier")
    assert_problem(c.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "certificateHold"},
                          headers=bearer(tokens["admin"])), 400, "invalid-request")
    assert_problem(c.post(f"/api/v1/certificates/{serial}/revoke", json={"invalidity_date": "2026-01-02"},
                          headers=bearer(tokens["admin"])), 400, "invalid-request")
    big = {"profile": "organization", "csr": "A" * (70 * 1024)}
    assert_problem(c.post("/api/v1/certificates", json=big, headers=bearer(tokens["admin"])), 413,
                   "payload-too-large")
    assert_problem(c.get("/no/such/thing"), 404, "not-found")
    r = assert_problem(c.delete("/api/v1/certificates", headers=bearer(tokens["admin"])), 405, "method-not-allowed")


def test_authentication(app, region) -> None:
    home, _, tokens = region
    c = app.test_client()
    r = c.get("/api/v1/certificates")
    assert_problem(r, 401, "unauthorized")
    assert r.headers["WWW-Authenticate"].startswith("Bearer")
    assert_problem(c.get("/api/v1/certificates", headers={"Authorization": "Basic YWxhZGRpbjpvcGVu"}),
                   401, "unauthorized")
    forged = tokens["admin"][:-4] + ("AAAA" if not tokens["admin"].endswith("AAAA") else "BBBB")
    assert_problem(c.get("/api/v1/certificates", headers=bearer(forged)), 401, "unauthorized")
    assert c.get("/api/v1/certificates", headers=bearer(tokens["auditor"])).status_code == 200
    revoke_token(make_sessionmaker(home.engine), tokens["auditor"].split("_")[1])
    assert_problem(c.get("/api/v1/certificates", headers=bearer(tokens["auditor"])), 401, "unauthorized")


def test_idempotency_and_pagination(app, region, csr_pem) -> None:
    _, _, tokens = region
    c = app.test_client()
    body = {"profile": "organization", "csr": csr_pem, "credit_code": CREDIT_CODE}
    h = {**bearer(tokens["admin"]), "Idempotency-Key": "order-42"}
    first = c.post("/api/v1/certificates", json=body, headers=h)
    again = c.post("/api/v1/certificates", json=body, headers=h)
    assert first.status_code == 201 and again.status_code == 200
    assert again.get_json()["serial"] == first.get_json()["serial"]
    assert_problem(c.post("/api/v1/certificates", json={**body, "subject": "C=CN,O=别的局,CN=别的局"}, headers=h),
                   409, "idempotency-key-reused")
    # the key belongs to the token that used it: another token gets a new certificate
    other = c.post("/api/v1/certificates", json=body, headers={**bearer(tokens["ra_operator"]), "Idempotency-Key": "order-42"})
    assert other.status_code == 201 and other.get_json()["serial"] != first.get_json()["serial"]
    # a failed request releases its key
    bad = {**body, "credit_code": "91350100M000100Y44"}
    assert_problem(c.post("/api/v1/certificates", json=bad, headers={**h, "Idempotency-Key": "k2"}), 400,
                   "invalid-identifier")
    assert c.post("/api/v1/certificates", json=body, headers={**h, "Idempotency-Key": "k2"}).status_code == 201
    serials = {first.get_json()["serial"], other.get_json()["serial"]}
    for _ in range(3):
        serials.add(issue(c, tokens["admin"], csr_pem).get_json()["serial"])
    seen, url = [], "/api/v1/certificates?per_page=2&profile=organization"
    while url:
        page = c.get(url, headers=bearer(tokens["auditor"])).get_json()
        assert len(page["items"]) <= 2 and page["total"] == 6
        seen += [item["serial"] for item in page["items"]]
        url = page["next"]
    assert len(seen) == 6 and serials <= set(seen)
    ocsp_page = c.get("/api/v1/certificates?profile=ocsp", headers=bearer(tokens["auditor"])).get_json()
    assert ocsp_page["total"] == 1 and ocsp_page["items"][0]["profile"] == "ocsp"
    c.post(f"/api/v1/certificates/{seen[0]}/revoke", json={}, headers=bearer(tokens["admin"]))
    revoked = c.get("/api/v1/certificates?status=revoked", headers=bearer(tokens["auditor"])).get_json()
    assert [i["serial"] for i in revoked["items"]] == [seen[0]]
    # search: a fragment of the subject or of the serial, combined with the other filters
    by_serial = c.get(f"/api/v1/certificates?q={seen[1][-12:].upper()}", headers=bearer(tokens["auditor"])).get_json()
    assert [i["serial"] for i in by_serial["items"]] == [seen[1]]
    by_subject = c.get("/api/v1/certificates?q=ocsp&profile=organization", headers=bearer(tokens["auditor"]))
    assert by_subject.get_json()["total"] == 0
    assert_problem(c.get("/api/v1/certificates?q=" + "x" * 201, headers=bearer(tokens["auditor"])), 400,
                   "invalid-request")
    assert_problem(c.get("/api/v1/certificates?status=gone", headers=bearer(tokens["auditor"])), 400,
                   "invalid-request")
    assert_problem(c.get("/api/v1/certificates?per_page=1000", headers=bearer(tokens["auditor"])), 400,
                   "invalid-request")
    assert_problem(c.get("/api/v1/certificates?page=x", headers=bearer(tokens["auditor"])), 400, "invalid-request")


def test_health_ready(app, region) -> None:
    c = app.test_client()
    assert c.get("/health").get_json() == {"status": "ok"}
    r = c.get("/ready")
    assert r.status_code == 200 and r.get_json()["checks"]["keystore"] == "unlocked"
    app.extensions["eseal"].keystore.lock()
    r = c.get("/ready")
    body = assert_problem(r, 503, "not-ready")
    assert r.headers["Retry-After"] == "5" and body["checks"]["keystore"] == "locked"


def test_openapi_documents_every_route(app) -> None:
    doc = app.test_client().get("/api/openapi.json").get_json()
    assert doc["openapi"].startswith("3.1")
    routes = set()
    for rule in app.url_map.iter_rules():
        if rule.endpoint == "static":
            continue
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            routes.add((flask_to_openapi_path(rule.rule), method.lower()))
    documented = {(path, method) for path, ops in doc["paths"].items() for method in ops}
    assert routes == documented
    assert ("/ocsp", "post") in documented and ("/api/v1/certificates", "post") in documented
    issue_op = doc["paths"]["/api/v1/certificates"]["post"]
    assert issue_op["security"] == [{"bearer": []}] and set(issue_op["x-roles"]) == {"admin", "ra_operator"}
    assert {"401", "403", "409", "413", "415"} <= set(issue_op["responses"])
    assert "security" not in doc["paths"]["/ocsp"]["post"]
    # every $ref resolves
    import json

    for ref in {part.split('"')[0] for part in json.dumps(doc).split('"$ref": "')[1:]}:
        assert ref.removeprefix("#/components/schemas/") in doc["components"]["schemas"], ref


def test_config_refuses_unknown_and_bad_values() -> None:
    with pytest.raises(ApiConfigError, match="unknown API setting 'colour'"):
        ApiConfig.load({"colour": 1}, environ={})
    with pytest.raises(ApiConfigError, match="ocsp_refresh_fraction must be between 0 and 1"):
        ApiConfig.load({"ocsp_refresh_fraction": 1.5}, environ={})
    with pytest.raises(ApiConfigError, match="ESEAL_API_MAX_CONTENT_LENGTH must be a number"):
        ApiConfig.load({}, environ={"ESEAL_API_MAX_CONTENT_LENGTH": "lots"})
    assert ApiConfig.load({}, environ={"ESEAL_API_CRL_MAX_AGE_SECONDS": "60"}).crl_max_age_seconds == 60


def _issuing(home) -> x509.Certificate:
    return x509.Certificate.load([c for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)][0])


def test_crl_cache_follows_status_changes_across_workers(region, csr_pem) -> None:
    home, ks, tokens = region
    # two apps over one database = two workers; a change made through one is seen by the other
    one = create_app(home.path, passphrase=PASSPHRASE)
    two = create_app(home.path, passphrase=PASSPHRASE)
    ski = _issuing(home).key_identifier.hex()
    c1, c2 = one.test_client(), two.test_client()
    first = c1.get(f"/crl/{ski}.crl")
    assert first.status_code == 200 and first.mimetype == "application/pkix-crl"
    assert c2.get(f"/crl/{ski}.crl").data == first.data  # served from the file, not made again
    assert one.extensions["eseal"].crl.generated + two.extensions["eseal"].crl.generated == 1
    serial = issue(c1, tokens["admin"], csr_pem).get_json()["serial"]
    assert c2.get(f"/crl/{ski}.crl").data == first.data  # issuing changes no status
    c1.post(f"/api/v1/certificates/{serial}/revoke", json={"reason": "superseded"}, headers=bearer(tokens["admin"]))
    crl = acrl.CertificateList.load(c2.get(f"/crl/{ski}.crl").data)
    assert [format(e["user_certificate"].native, "x") for e in crl["tbs_cert_list"]["revoked_certificates"]] == [serial]
    assert crl.crl_number_value.native > acrl.CertificateList.load(first.data).crl_number_value.native
    delta = acrl.CertificateList.load(c1.get(f"/crl/{ski}-delta.crl").data)
    assert delta.delta_crl_indicator_value.native == crl.crl_number_value.native
    assert (home.path / "public" / "crl" / f"{ski}.crl").read_bytes() == crl.dump()
    r = c1.get(f"/ca/{ski}.cer")
    assert r.mimetype == "application/pkix-cert" and r.data == _issuing(home).dump()
    assert_problem(c1.get("/crl/00ff.crl"), 404, "unknown-issuer")
    assert_problem(c1.get("/crl/not-hex.crl"), 404, "unknown-issuer")
    assert_problem(c1.get("/ca/00ff.cer"), 404, "unknown-issuer")
    assert c1.get("/ca/chain.pem").data == service.ca_chain(home)
    # the root's CRL, at the distribution point written in the issuing CA certificate
    issuing = _issuing(home)
    root_url = issuing.crl_distribution_points_value[0]["distribution_point"].chosen.native[0]
    root_path = root_url.removeprefix("http://pki.gd.example.gov.cn")
    root_crl = acrl.CertificateList.load(c2.get(root_path).data)
    assert root_crl.issuer == issuing.issuer and len(root_crl["tbs_cert_list"]["revoked_certificates"]) == 0
    assert_problem(c2.get(root_path.replace(".crl", "-delta.crl")), 404, "no-crl")
    for a in (one, two):
        a.extensions["eseal"].home.close()


def _request(issuer: x509.Certificate, serial: int, nonce: bytes | None = None) -> bytes:
    data = {"tbs_request": {"request_list": [{"req_cert": ocsp.cert_id_for(issuer, serial).raw}]}}
    if nonce is not None:
        data["tbs_request"]["request_extensions"] = [{"extn_id": "nonce", "critical": False,
                                                      "extn_value": nonce}]
    return aocsp.OCSPRequest(data).dump()


def _status(der: bytes) -> str:
    resp = aocsp.OCSPResponse.load(der)
    return resp.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_status"].name


def _responder_serial(der: bytes) -> int:
    return aocsp.OCSPResponse.load(der).basic_ocsp_response["certs"][0].serial_number


def test_presigned_ocsp_follows_the_responder_certificate(region, csr_pem) -> None:
    """The OCSP responder's own certificate revoked by another worker: the next answer, even
    for a certificate answered "good" before, is not signed with the revoked certificate (the
    region has no responder: 503 region-not-initialised); a new responder certificate signs
    the answers from then on."""
    home, ks, tokens = region
    one, two = create_app(home.path, passphrase=PASSPHRASE), create_app(home.path, passphrase=PASSPHRASE)
    issuer = _issuing(home)
    serial = issue(one.test_client(), tokens["admin"], csr_pem).get_json()["serial"]
    req = _request(issuer, int(serial, 16))
    post = lambda body: one.test_client().post("/ocsp", data=body, content_type="application/ocsp-request")  # noqa: E731
    first = service.service_certificate(home, "ocsp")
    assert _status(post(req).data) == "good" and _responder_serial(post(req).data) == int(first.serial, 16)
    two.test_client().post(f"/api/v1/certificates/{first.serial}/revoke", headers=bearer(tokens["admin"]),
                           json={"reason": "keyCompromise"})
    refused = post(req)
    assert refused.mimetype == "application/problem+json", (refused.status_code, refused.mimetype)
    assert_problem(refused, 503, "region-not-initialised")
    key_ref = ks.generate("ocsp-2", "ocsp", actor="admin")
    second, _ = service.issue_for_key(home, ks, profile="ocsp", key_ref=key_ref,
                                      subject="C=CN,O=广东省电子认证中心,CN=广东省OCSP响应者")
    answer = post(req)
    assert _status(answer.data) == "good" and _responder_serial(answer.data) == int(second, 16)
    for a in (one, two):
        a.extensions["eseal"].home.close()


def test_presigned_ocsp_follows_a_replaced_responder_certificate(region, csr_pem) -> None:
    """A new responder certificate issued (the old one still good): the pre-signed answers are
    signed by the new one from then on, as the live answers are, not by the one loaded first."""
    home, ks, tokens = region
    app = create_app(home.path, passphrase=PASSPHRASE)
    serial = issue(app.test_client(), tokens["admin"], csr_pem).get_json()["serial"]
    req = _request(_issuing(home), int(serial, 16))
    post = lambda: app.test_client().post("/ocsp", data=req, content_type="application/ocsp-request")  # noqa: E731
    first = service.service_certificate(home, "ocsp")
    assert _responder_serial(post().data) == int(first.serial, 16)
    key_ref = ks.generate("ocsp-next", "ocsp", actor="admin")
    second, _ = service.issue_for_key(home, ks, profile="ocsp", key_ref=key_ref,
                                      subject="C=CN,O=广东省电子认证中心,CN=广东省OCSP响应者")
    answer = post()
    assert _status(answer.data) == "good" and _responder_serial(answer.data) == int(second, 16)
    assert service.service_certificate(home, "ocsp").serial == second
    app.extensions["eseal"].home.close()


def test_presigned_ocsp_invalidated_by_another_worker(region, csr_pem) -> None:
    home, ks, tokens = region
    one = create_app(home.path, passphrase=PASSPHRASE)
    two = create_app(home.path, passphrase=PASSPHRASE)
    issuer = _issuing(home)
    serial = issue(one.test_client(), tokens["admin"], csr_pem).get_json()["serial"]
    req = _request(issuer, int(serial, 16))
    cache = one.extensions["eseal"].ocsp
    post = lambda app, body: app.test_client().post("/ocsp", data=body, content_type="application/ocsp-request")  # noqa: E731
    a = post(one, req)
    assert a.mimetype == "application/ocsp-response" and _status(a.data) == "good"
    assert post(one, req).data == a.data  # the stored bytes
    assert (cache.stats.signed, cache.stats.hits) == (1, 1)
    # a nonce is answered live and echoed
    n = post(one, _request(issuer, int(serial, 16), nonce=b"\x01" * 16))
    assert aocsp.OCSPResponse.load(n.data).nonce_value.native == b"\x01" * 16 and cache.stats.live == 1
    # another worker suspends it: the first worker's next answer says revoked (certificateHold)
    two.test_client().post(f"/api/v1/certificates/{serial}/suspend", headers=bearer(tokens["admin"]))
    held = aocsp.OCSPResponse.load(post(one, req).data)
    info = held.basic_ocsp_response["tbs_response_data"]["responses"][0]["cert_status"]
    assert info.name == "revoked" and info.chosen["revocation_reason"].native == "certificate_hold"
    two.test_client().post(f"/api/v1/certificates/{serial}/resume", headers=bearer(tokens["admin"]))
    again = post(one, req)
    assert _status(again.data) == "good" and again.data != a.data and cache.stats.signed == 2
    # GET form (RFC 6960 A.1), URL-encoded base64
    import base64
    import urllib.parse

    encoded = urllib.parse.quote(base64.b64encode(req).decode(), safe="")
    assert one.test_client().get(f"/ocsp/{encoded}").data == again.data
    assert _status(post(one, _request(issuer, 0x7777)).data) == "unknown"
    for bad in (b"\x30\x00", b"garbage"):
        r = post(one, bad)
        assert r.status_code == 200
        assert aocsp.OCSPResponse.load(r.data)["response_status"].native == "malformed_request"
    r = one.test_client().get("/ocsp/%%%%")
    assert aocsp.OCSPResponse.load(r.data)["response_status"].native == "malformed_request"
    assert_problem(one.test_client().post("/ocsp", data=req, content_type="text/plain"), 415,
                   "unsupported-media-type")
    # the Flask views behind api/fastpath.py give the same bytes
    with one.test_request_context("/ocsp", method="POST", data=req, content_type="application/ocsp-request"):
        assert one.view_functions["pki.ocsp_post"]().get_data() == again.data
    with one.test_request_context(f"/ocsp/{encoded}"):
        assert one.view_functions["pki.ocsp_get"](urllib.parse.unquote(encoded)).get_data() == again.data
    # with the key store locked, stored answers are still served; a live one fails cleanly,
    # through the fast path's fallback to Flask and the problem layer
    one.extensions["eseal"].keystore.lock()
    assert post(one, req).data == again.data
    assert_problem(post(one, _request(issuer, int(serial, 16), nonce=b"\x02" * 16)), 503, "keystore-locked")
    for a_ in (one, two):
        a_.extensions["eseal"].home.close()


def test_presigned_answer_refreshed_when_half_its_validity_passed(region, csr_pem, monkeypatch) -> None:
    import datetime as dt

    import ca.ocsp_cache as oc

    home, ks, tokens = region
    app = create_app(home.path, passphrase=PASSPHRASE)
    issuer = _issuing(home)
    serial = issue(app.test_client(), tokens["admin"], csr_pem).get_json()["serial"]
    cache = app.extensions["eseal"].ocsp
    req = _request(issuer, int(serial, 16))
    first = cache.respond(req)
    real = dt.datetime

    class Later(dt.datetime):
        @classmethod
        def now(cls, tz=None):
            return real.now(tz) + service.OCSP_VALIDITY * 0.51

    monkeypatch.setattr(oc._dt, "datetime", Later)
    second = cache.respond(req)
    assert second != first and cache.stats.signed == 2
    produced = aocsp.OCSPResponse.load(second).basic_ocsp_response["tbs_response_data"]["produced_at"].native
    assert produced > aocsp.OCSPResponse.load(first).basic_ocsp_response["tbs_response_data"]["produced_at"].native
    app.extensions["eseal"].home.close()


def test_create_app_needs_a_passphrase(region, monkeypatch) -> None:
    from api import PassphraseMissing
    from keystore.errors import WrongPassphrase

    home, _, _ = region
    monkeypatch.delenv("ESEAL_PASSPHRASE", raising=False)
    with pytest.raises(PassphraseMissing, match="ESEAL_PASSPHRASE"):
        create_app(home.path)
    with pytest.raises(WrongPassphrase):
        create_app(home.path, passphrase="not the passphrase")


def test_home_path_unused(tmp_path: Path) -> None:
    from store.errors import HomeNotFoundError

    with pytest.raises(HomeNotFoundError, match="is not an eseal home"):
        create_app(tmp_path / "nothing", passphrase=PASSPHRASE)


ROLES = ("admin", "ra_operator", "agency", "auditor")


def test_role_matrix_from_the_openapi_document(app, region) -> None:
    """Every documented operation, called with no token and with each role: a secured one
    answers 401 without a token, 403 to roles it does not list and never 401/403/5xx to the
    roles it lists; a public one never asks for a token. New blueprints are covered as
    they declare themselves."""
    _, _, tokens = region
    c = app.test_client()
    doc = c.get("/api/openapi.json").get_json()
    fill = {"serial": "7" * 32, "issuer_id": "00" * 20, "encoded": "MAA="}
    checked = 0
    for path, ops in doc["paths"].items():
        import re

        url = re.sub(r"\{(\w+)\}", lambda m: fill.get(m.group(1), "x"), path)
        for method, op in ops.items():
            call = getattr(c, method)
            kwargs = {"json": {}} if method in ("post", "put", "patch") else {}
            allowed = set(op.get("x-roles", ()))
            anonymous = call(url, **kwargs)
            if not allowed:
                assert anonymous.status_code not in (401, 403) and anonymous.status_code < 500, (method, path)
                continue
            assert anonymous.status_code == 401, (method, path)
            for role in ROLES:
                r = call(url, headers=bearer(tokens[role]), **kwargs)
                if role in allowed:
                    assert r.status_code not in (401, 403) and r.status_code < 500, (method, path, role, r.get_json())
                else:
                    assert_problem(r, 403, "forbidden")
                checked += 1
    assert checked >= 6 * len(ROLES)
