"""Verification over HTTP (Flask test client, SQLite and PostgreSQL): the JSON API and the
public page give the engine's verdicts for a real signed OFD made elsewhere and for a
tampered copy; unverifiable input is a problem; the license page answers for unknown ids."""
from __future__ import annotations

import datetime as dt
import io
import re
import zipfile

import pytest

from api import create_app
from ca.testing import soft_region
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "verify api passphrase"
PROBLEM = "https://eseal.example/problems/"


@pytest.fixture
def client(eseal_home):
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.example")
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


@pytest.mark.parametrize("fields", [
    {"data": "the detached data, typed in"},
    {"file": "a document pasted as text"},
])
def test_a_file_part_sent_as_a_text_field_is_refused(client, shared_vectors, fields) -> None:
    # `data` as a text field was once ignored: the document was verified as if nothing were
    # detached from it, a 200 INDETERMINATE report (found by schemathesis with 1,000 examples)
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    body = {"file": (io.BytesIO(ofd), "doc.ofd"), **fields}
    resp = client.post("/api/v1/verify", data=body, content_type="multipart/form-data")
    assert resp.status_code == 400, resp.get_json()
    assert resp.mimetype == "application/problem+json" and resp.json["type"] == PROBLEM + "invalid-request"
    assert f"the {next(iter(fields))!r} part must be a file" in resp.json["detail"]


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


def _undated(report: bytes, since: dt.datetime) -> bytes:
    """A JSON report's bytes with every time from ``since`` on left out, in fields and in
    messages: the times of its making (two reports are made apart), not the document's."""
    def blank(found: re.Match) -> bytes:
        when = dt.datetime.fromisoformat(found.group(0).decode().replace("Z", "+00:00"))
        return b"" if when >= since else found.group(0)

    return re.sub(rb"\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?(?:Z|[+-]\d\d:\d\d)", blank, report)


def test_the_fast_path_answers_as_the_flask_view(client, shared_vectors) -> None:
    """api/fastpath.py verifies raw bodies without Flask: the same status, headers and bytes as
    verify_api (reached with ``?policy=strict``, which the fast path leaves to Flask), and
    what it cannot answer with a report still gets the view's problem."""
    since = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    fast = client.application.extensions["eseal_ratelimit"].inner
    calls: list[bytes] = []
    verify = fast.verify

    def counted(body: bytes):
        calls.append(body)
        return verify(body)

    fast.verify = counted
    ofd = (shared_vectors / "ofd" / "v4signed.ofd").read_bytes()
    for document in (ofd, _tampered(ofd)):
        quick = client.post("/api/v1/verify", data=document, content_type="application/ofd")
        assert calls[-1] == document
        slow = client.post("/api/v1/verify?policy=strict", data=document, content_type="application/ofd")
        assert len(calls) == 1 + (document is not ofd)
        assert quick.status_code == slow.status_code == 200
        assert sorted(quick.headers.items()) == sorted(slow.headers.items())
        assert _undated(quick.get_data(), since) == _undated(slow.get_data(), since)
    assert client.post("/api/v1/verify", data=_tampered(ofd), content_type="application/ofd").json["indication"] \
        == "FAILED"
    junk = client.post("/api/v1/verify", data=b"hello", content_type="application/octet-stream")
    assert calls[-1] == b"hello"             # tried, raised: the view answered
    assert junk.status_code == 400 and junk.json["type"] == PROBLEM + "unverifiable-input"
    before = len(calls)
    for kwargs in ({"data": ofd, "content_type": "application/json"}, {"data": b"", "content_type": "application/ofd"}):
        assert client.post("/api/v1/verify", **kwargs).status_code in (400, 415)
    assert len(calls) == before               # not for the fast path
