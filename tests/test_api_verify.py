"""Verification over HTTP (Flask test client, SQLite and PostgreSQL): the JSON API and the
public page give the engine's verdicts for a real signed OFD made elsewhere and for a
tampered copy; unverifiable input is a problem; the license page answers for unknown ids."""
from __future__ import annotations

import io
import zipfile

import pytest

from api import create_app
from ca import service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "verify api passphrase"
PROBLEM = "https://eseal.example/problems/"


@pytest.fixture
def client(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app.test_client()
    app.extensions["eseal"].home.close()


def _tampered(ofd: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(ofd))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w") as dst:
        for info in src.infolist():
            data = src.read(info)
            if info.filename.endswith("Content.xml"):
                data = data.replace(b"<", b" <", 1)  # one changed byte range in a page
            dst.writestr(info, data)
    return out.getvalue()


def test_a_foreign_signed_ofd_and_its_tampered_copy(client, shared_vectors) -> None:
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    resp = client.post("/api/v1/verify", data=ofd, content_type="application/ofd")
    assert resp.status_code == 200, resp.json
    report = resp.json
    # the ofdrw test root is not one of our anchors: the signature is sound, the trust is not
    assert report["indication"] == "INDETERMINATE" and report["sub_indication"] == "NO_CERTIFICATE_CHAIN_FOUND"
    assert resp.headers["X-Eseal-Indication"] == "INDETERMINATE"
    bad = client.post("/api/v1/verify", data={"file": (io.BytesIO(_tampered(ofd)), "bad.ofd")},
                      content_type="multipart/form-data")
    assert bad.status_code == 200
    assert bad.json["indication"] == "FAILED" and bad.json["sub_indication"] == "HASH_FAILURE"


def test_the_public_page_shows_the_report(client, shared_vectors) -> None:
    form = client.get("/verify")
    assert form.status_code == 200 and 'name="file"' in form.get_data(as_text=True)
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    page = client.post("/verify", data={"file": (io.BytesIO(_tampered(ofd)), "bad.ofd")},
                       content_type="multipart/form-data")
    assert page.status_code == 200 and page.mimetype == "text/html"
    assert "FAILED" in page.get_data(as_text=True) and page.headers["X-Eseal-Indication"] == "FAILED"
    junk = client.post("/verify", data={"file": (io.BytesIO(b"not a document"), "x.bin")},
                       content_type="multipart/form-data")
    assert junk.status_code == 400 and "not a certificate" in junk.get_data(as_text=True)


@pytest.mark.parametrize(("kwargs", "status", "slug"), [
    ({"data": b"hello", "content_type": "application/octet-stream"}, 400, "unverifiable-input"),
    ({"data": b"", "content_type": "application/octet-stream"}, 400, "invalid-request"),
    ({"data": b"{}", "content_type": "application/json"}, 415, "unsupported-media-type"),
    ({"data": "multipart without a file part", "content_type": "multipart/form-data"}, 400, "invalid-request"),
])
def test_unverifiable_requests_are_problems(client, kwargs, status, slug) -> None:
    if kwargs["content_type"] == "multipart/form-data":
        kwargs = {**kwargs, "data": {"nofile": (io.BytesIO(b"x"), "x")}}
    resp = client.post("/api/v1/verify", **kwargs)
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json" and resp.json["type"] == PROBLEM + slug


@pytest.mark.parametrize("policy", ["", "Lenient", "none"])
def test_an_unknown_policy_is_refused_not_taken_as_strict(client, shared_vectors, policy) -> None:
    """Found by the negative schemathesis run: ``?policy=`` used to verify under the strict policy."""
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    resp = client.post(f"/api/v1/verify?policy={policy}", data=ofd, content_type="application/ofd")
    assert resp.status_code == 400 and resp.json["type"] == PROBLEM + "invalid-request"
    assert "strict or lenient" in resp.json["detail"]


def test_license_page_for_an_unknown_or_malformed_id(client) -> None:
    resp = client.get("/verify/license/NOT-A-LICENSE")
    assert resp.status_code == 404 and "NOT-A-LICENSE" in resp.get_data(as_text=True)
