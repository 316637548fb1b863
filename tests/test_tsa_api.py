"""POST /tsa in process (Flask test client) on SQLite and PostgreSQL, with the region's
own TSA certificate made by `init_region`: OpenSSL's query answered, the token verifies
and names the region's TSA certificate, bad requests are RFC 3161 rejections, a wrong
Content-Type is problem+json, and the endpoint is in the OpenAPI document."""
from __future__ import annotations

import re
import subprocess

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from seal import tsa
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"
DATA = b"data stamped over HTTP\n"


@pytest.fixture
def region(eseal_home):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                        base_url="http://pki.gd.example.gov.cn")
    return eseal_home, ks


@pytest.fixture
def client(region):
    app = create_app(region[0].path, passphrase=PASSPHRASE)
    yield app.test_client()
    app.extensions["eseal"].home.close()


def test_openssl_query_over_http(region, client, tmp_path, openssl_bin):
    (tmp_path / "f").write_bytes(DATA)
    subprocess.run([openssl_bin, "ts", "-query", "-data", tmp_path / "f", "-sha256", "-cert", "-out",
                    tmp_path / "q.tsq"], check=True, capture_output=True)
    qtext = subprocess.run([openssl_bin, "ts", "-query", "-in", tmp_path / "q.tsq", "-text"],
                           capture_output=True, text=True).stdout
    nonce = int(re.search(r"Nonce: 0x([0-9A-F]+)", qtext).group(1), 16)
    r = client.post("/tsa", data=(tmp_path / "q.tsq").read_bytes(),
                    headers={"Content-Type": "application/timestamp-query"})
    assert r.status_code == 200 and r.mimetype == "application/timestamp-reply"
    check = tsa.verify_token(r.data, DATA, nonce=nonce)
    assert check.ok, check.detail
    region_tsa = service.service_certificate(region[0], "tsa")
    assert check.tsa_certificate.dump() == region_tsa.certificate.dump()
    assert tsa.verify_token(r.data, DATA + b"!").failure == tsa.TokenFailure.IMPRINT_MISMATCH
    (tmp_path / "r.tsr").write_bytes(r.data)
    text = subprocess.run([openssl_bin, "ts", "-reply", "-in", tmp_path / "r.tsr", "-text"],
                          capture_output=True, text=True).stdout
    assert "Status: Granted." in text and f"Policy OID: {tsa.DEFAULT_POLICY}" in text


def test_bad_request_is_an_rfc3161_rejection(client):
    r = client.post("/tsa", data=b"not a request", headers={"Content-Type": "application/timestamp-query"})
    assert r.status_code == 200 and r.mimetype == "application/timestamp-reply"
    resp = tsa.parse_response(r.data)
    assert resp.status == "rejection" and resp.fail_info == {"bad_data_format"}


def test_wrong_content_type_is_problem_json(client):
    request_der, _ = tsa.request_for(DATA)
    r = client.post("/tsa", data=request_der, headers={"Content-Type": "application/octet-stream"})
    assert r.status_code == 415 and r.mimetype == "application/problem+json"
    body = r.get_json(force=True)
    assert body["type"].endswith("/unsupported-media-type") and "application/timestamp-query" in body["detail"]


def test_openapi_documents_tsa(client):
    doc = client.get("/api/openapi.json").get_json()
    assert "post" in doc["paths"]["/tsa"] and "security" not in doc["paths"]["/tsa"]["post"]


def test_region_without_tsa_certificate(eseal_home):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    request_der, _ = tsa.request_for(DATA)
    with pytest.raises(tsa.TsaNotConfigured, match="no TSA certificate in this region"):
        tsa.timestamp(eseal_home, ks, request_der, actor="x")
