"""The transparency log over HTTP (Flask test client, SQLite and PostgreSQL): a proof fetched
from the public endpoint checks out for the artefact, and errors are problem+json."""
from __future__ import annotations

import pytest

from api import create_app
from ca.testing import soft_region
from gm.sm2 import PrivateKey
from store import translog
from store.audit import SM2AuditSigner
from store.db import make_sessionmaker, transaction
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "translog api passphrase"
PROBLEM = "https://eseal.example/problems/"


@pytest.fixture
def client_and_key(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    soft_region(eseal_home, PASSPHRASE, base_url="http://pki.gd.example.gov.cn")
    with transaction(sessions) as s:
        for i in range(3):
            translog.append(s, kind="certificate", subject=f"cert:{i + 10:x}", artefact=bytes([i]) * 40)
    key = PrivateKey.generate()
    translog.sign_tree_head(sessions, SM2AuditSigner(key, "log"))
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app.test_client(), key
    app.extensions["eseal"].home.close()


def test_proof_from_the_public_endpoint_checks_out(client_and_key) -> None:
    client, key = client_and_key
    head = client.get("/api/v1/log/head")
    assert head.status_code == 200 and head.json["size"] >= 3
    resp = client.get("/api/v1/log/proof", query_string={"subject": "cert:b"})
    assert resp.status_code == 200, resp.json
    proof = translog.InclusionProof.from_dict(resp.json)
    assert translog.check_inclusion(proof, bytes([1]) * 40, key.public_key) == []
    cons = client.get("/api/v1/log/consistency", query_string={"old": 1, "new": proof.head.size})
    assert cons.status_code == 200 and cons.json["old_size"] == 1


@pytest.mark.parametrize(("path", "query", "status", "slug"), [
    ("/api/v1/log/proof", {"subject": "cert:ffff"}, 404, "not-in-log"),
    ("/api/v1/log/proof", {}, 400, "invalid-request"),
    ("/api/v1/log/consistency", {"old": "x", "new": 2}, 400, "invalid-request"),
    ("/api/v1/log/consistency", {"old": 0, "new": 2}, 404, "not-in-log"),
    ("/api/v1/log/consistency", {"old": 1, "new": 10**9}, 404, "not-in-log"),
])
def test_bad_log_requests_are_problems(client_and_key, path, query, status, slug) -> None:
    client, _ = client_and_key
    resp = client.get(path, query_string=query)
    assert resp.status_code == status
    assert resp.mimetype == "application/problem+json"
    assert resp.json["type"] == PROBLEM + slug


@pytest.mark.parametrize("size", ["²", "1" * 5000], ids=["superscript", "5000-digits"])
def test_a_tree_size_int_cannot_read_is_a_problem(client_and_key, size) -> None:
    """str.isdigit() takes "²", which int() refuses: that was a ValueError 500."""
    client, _ = client_and_key
    resp = client.get("/api/v1/log/consistency", query_string={"old": size, "new": 2})
    assert resp.status_code == 400 and resp.json["type"] == PROBLEM + "invalid-request"
    assert resp.json["detail"] == "query parameter 'old' must be a tree size (a non-negative integer)"
