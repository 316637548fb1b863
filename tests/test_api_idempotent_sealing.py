"""Idempotency-Key on sealing and on e-license issuance, and the paginated seal list, over the
REST API (Flask test client, SQLite and PostgreSQL).

A retry of a sealing whose answer was lost must get the document sealed the first time, not a
second seal: the same bytes, and no second seal.sign audit record or log entry.
"""
from __future__ import annotations

import base64
import datetime as dt
import io

from sqlalchemy import func, select

from seal.cms import verify_cms
from seal.ofd.document import Page, Text, build_ofd
from seal.ofd.facts import verify_package
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403  (the eseal_home fixture, on SQLite and PostgreSQL)
from tests.test_api_seals_licenses import BUSINESS, PROBLEM, _auth, api  # noqa: F401,F811  (api is a fixture)


def _make_seal(client, tokens, cert, agency: str = "A1") -> str:
    from ca.certificate import to_pem

    made = client.post("/api/v1/seals", headers=_auth(tokens["admin"]),
                       json={"type": "organization", "name": "某某局", "agency": agency,
                             "holder_certs": [to_pem(cert).decode()]})
    assert made.status_code == 201, made.json
    return made.json["es_id"]


def _sealings(client) -> int:
    sessions = client.application.extensions["eseal"].sessions
    with sessions() as s:
        return s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "seal.sign"))


def test_a_repeated_sealing_gets_the_first_sealed_bytes_and_seals_once(api) -> None:
    client, tokens, cert = api
    es_id = _make_seal(client, tokens, cert)
    ofd = build_ofd([Page([Text(20, 20, "通知", size=6)])])

    def post(key: str, document: bytes = ofd):
        return client.post(f"/api/v1/seals/{es_id}/sign", headers={**_auth(tokens["a1"]), "Idempotency-Key": key},
                           data={"file": (io.BytesIO(document), "doc.ofd"), "x": "100", "y": "150"},
                           content_type="multipart/form-data")

    before = _sealings(client)
    first = post("order-1")
    assert first.status_code == 200 and first.mimetype == "application/ofd"
    assert "Idempotency-Replayed" not in first.headers
    again = post("order-1")
    assert again.status_code == 200 and again.mimetype == "application/ofd"
    assert again.headers["Idempotency-Replayed"] == "true"
    assert again.data == first.data                      # the very bytes, not a second seal
    (facts,) = verify_package(again.data)
    assert all(r.status == "ok" for r in facts.references)
    assert _sealings(client) == before + 1               # one sealing recorded, not two

    other_body = post("order-1", build_ofd([Page([Text(20, 20, "另一份", size=6)])]))
    assert other_body.status_code == 409 and other_body.json["type"] == PROBLEM + "idempotency-key-reused"
    assert post("order-2").data != first.data            # another key seals again (a new signing time)
    assert _sealings(client) == before + 2


def test_json_sealing_replays_and_keys_are_scoped_to_the_token(api) -> None:
    client, tokens, cert = api
    es_id = _make_seal(client, tokens, cert)
    client.post(f"/api/v1/seals/{es_id}/grants", headers=_auth(tokens["admin"]), json={"agency": "A2"})
    data = "数据".encode()
    body = {"document": base64.b64encode(data).decode(), "cms": True}

    def post(token: str):
        return client.post(f"/api/v1/seals/{es_id}/sign", json=body,
                           headers={**_auth(tokens[token]), "Idempotency-Key": "k"})

    first, again = post("admin"), post("admin")
    assert first.status_code == again.status_code == 200 and again.json == first.json
    assert verify_cms(base64.b64decode(again.json["document"]), data).ok
    assert again.headers["Idempotency-Replayed"] == "true"
    theirs = post("a2")                                   # the same key from another token is its own
    assert theirs.status_code == 200 and "Idempotency-Replayed" not in theirs.headers
    assert theirs.json["document"] != first.json["document"]


def test_a_refused_sealing_is_not_kept_under_its_key(api) -> None:
    client, tokens, cert = api
    es_id = _make_seal(client, tokens, cert)
    body = {"document": base64.b64encode(b"x").decode()}
    headers = {**_auth(tokens["a1"]), "Idempotency-Key": "after-suspension"}
    client.post(f"/api/v1/seals/{es_id}/suspend", headers=_auth(tokens["admin"]), json={"reason": "audit"})
    refused = client.post(f"/api/v1/seals/{es_id}/sign", json=body, headers=headers)
    assert refused.status_code == 409 and refused.json["type"] == PROBLEM + "seal-suspended"
    client.post(f"/api/v1/seals/{es_id}/resume", headers=_auth(tokens["admin"]), json={})
    retried = client.post(f"/api/v1/seals/{es_id}/sign", json=body, headers=headers)
    assert retried.status_code == 200 and "Idempotency-Replayed" not in retried.headers
    blank = client.post(f"/api/v1/seals/{es_id}/sign", json=body,
                        headers={**_auth(tokens["a1"]), "Idempotency-Key": " "})
    assert blank.status_code == 400 and blank.json["type"] == PROBLEM + "invalid-request"


def test_license_issuance_honours_the_idempotency_key(api) -> None:
    client, tokens, cert = api
    _make_seal(client, tokens, cert)
    headers = {**_auth(tokens["a1"]), "Idempotency-Key": "batch-7-row-1"}
    first = client.post("/api/v1/licenses", headers=headers, json={"type": "YYZZ", "data": BUSINESS})
    assert first.status_code == 201, first.json
    again = client.post("/api/v1/licenses", headers=headers, json={"type": "YYZZ", "data": BUSINESS})
    assert again.status_code == 201 and again.headers["Idempotency-Replayed"] == "true"
    assert again.json == first.json                      # the same license and OFD, not a second one
    listed = client.get("/api/v1/licenses", headers=_auth(tokens["a1"])).json
    assert listed["total"] == 1


def test_the_seal_list_is_paginated_and_filtered_by_status(api) -> None:
    client, tokens, cert = api
    ids = [_make_seal(client, tokens, cert, agency="A1" if i < 4 else "A2") for i in range(5)]
    admin = _auth(tokens["admin"])
    page1 = client.get("/api/v1/seals?per_page=2", headers=admin).json
    assert [s["es_id"] for s in page1["items"]] == ids[:2] and page1["total"] == 5 and page1["page"] == 1
    page2 = client.get(page1["next"], headers=admin).json
    assert [s["es_id"] for s in page2["items"]] == ids[2:4]
    page3 = client.get(page2["next"], headers=admin).json
    assert [s["es_id"] for s in page3["items"]] == ids[4:] and page3["next"] is None
    mine = client.get("/api/v1/seals?per_page=50", headers=_auth(tokens["a1"])).json
    assert [s["es_id"] for s in mine["items"]] == ids[:4] and mine["total"] == 4

    client.post(f"/api/v1/seals/{ids[1]}/revoke", headers=admin, json={"reason": "lost"})
    client.post(f"/api/v1/seals/{ids[2]}/suspend", headers=admin, json={})
    _expire(client, ids[3])
    by_status = {st: [s["es_id"] for s in client.get(f"/api/v1/seals?status={st}", headers=admin).json["items"]]
                 for st in ("valid", "revoked", "suspended", "expired")}
    assert by_status == {"valid": [ids[0], ids[4]], "revoked": [ids[1]], "suspended": [ids[2]], "expired": [ids[3]]}
    for bad in ("status=lost", "per_page=0", "per_page=201", "page=x"):
        answer = client.get(f"/api/v1/seals?{bad}", headers=admin)
        assert answer.status_code == 400 and answer.json["type"] == PROBLEM + "invalid-request", bad


def _expire(client, es_id: str) -> None:
    """Move a seal's validity into the past, as time would."""
    from store.models.seal import SealRecord

    sessions = client.application.extensions["eseal"].sessions
    past = dt.datetime.now(dt.timezone.utc) - dt.timedelta(days=1)
    with sessions() as s, s.begin():
        row = s.get(SealRecord, es_id)
        row.valid_from, row.valid_to = past - dt.timedelta(days=30), past


def _nameless_part(document: bytes) -> tuple[bytes, str]:
    """A multipart body whose first part has no name (RFC 7578 requires one), then a field and the file."""
    boundary = "eseal-test-boundary"
    body = (f"--{boundary}\r\nContent-Disposition: form-data\r\n\r\nno name\r\n"
            f'--{boundary}\r\nContent-Disposition: form-data; name="x"\r\n\r\n100\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="doc.ofd"\r\n'
            "Content-Type: application/octet-stream\r\n\r\n").encode() + document + f"\r\n--{boundary}--\r\n".encode()
    return body, f"multipart/form-data; boundary={boundary}"


def test_a_multipart_part_without_a_name_is_refused_with_or_without_a_key(api) -> None:
    # A nameless part once took the keyed sealing down with a 500 (found by schemathesis): the
    # request fingerprint sorted the form's names, and werkzeug files such a part under None.
    client, tokens, cert = api
    es_id = _make_seal(client, tokens, cert)
    body, ctype = _nameless_part(build_ofd([Page([Text(20, 20, "通知", size=6)])]))
    before = _sealings(client)
    for key in ({"Idempotency-Key": "nameless-1"}, {}):
        answer = client.post(f"/api/v1/seals/{es_id}/sign", headers={**_auth(tokens["a1"]), **key}, data=body,
                             content_type=ctype)
        assert answer.status_code == 400, (key, answer.data[:300])
        assert answer.mimetype == "application/problem+json"
        assert answer.json["type"] == PROBLEM + "invalid-request" and "needs a name" in answer.json["detail"]
    assert _sealings(client) == before
    # the other multipart endpoints of the API say the same
    for path, token in (("/api/v1/verify", None), ("/api/v1/licenses/batch", tokens["a1"])):
        answer = client.post(path, headers=_auth(token) if token else {}, data=body, content_type=ctype)
        assert answer.status_code == 400 and "needs a name" in answer.json["detail"], (path, answer.data[:300])
