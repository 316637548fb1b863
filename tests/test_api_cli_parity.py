""""Endpoints for everything the CLI can do": every `eseal` command is either served by an
operation of the OpenAPI document or named here as CLI-only with the reason, so a new command
without an endpoint (or a reason) fails this test. Plus the endpoints added for parity, on
SQLite and PostgreSQL: renew, rekey, seal grants, signing a tree head."""
from __future__ import annotations

import click
import pytest
from asn1crypto import pem

from api import create_app
from ca import service
from ca.csr import build_csr
from ca.testing import LocalSigner
from cli.main import load_all
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from store.tokens import create_token

PASSPHRASE = "parity passphrase"
PROBLEM = "https://eseal.example/problems/"

SERVED = {
    "audit verify": "POST /api/v1/audit/verify",  # both record the verification
    "ca chain": "GET /ca/chain.pem",
    "cert applications": "GET /api/v1/applications",
    "cert apply": "POST /api/v1/applications",
    "cert approve": "POST /api/v1/applications/{application_id}/approve",
    "cert issue": "POST /api/v1/certificates",
    "cert reject": "POST /api/v1/applications/{application_id}/reject",
    "cert rekey": "POST /api/v1/certificates/{serial}/rekey",
    "cert renew": "POST /api/v1/certificates/{serial}/renew",
    "cert resume": "POST /api/v1/certificates/{serial}/resume",
    "cert review": "POST /api/v1/applications/{application_id}/review",
    "cert revoke": "POST /api/v1/certificates/{serial}/revoke",
    "cert suspend": "POST /api/v1/certificates/{serial}/suspend",
    "crl": "GET /crl/{issuer_id}.crl",
    "license batch": "POST /api/v1/licenses/batch",
    "license get": "GET /api/v1/licenses/{license_id}/ofd",
    "license issue": "POST /api/v1/licenses",
    "license list": "GET /api/v1/licenses",
    "license revoke": "POST /api/v1/licenses/{license_id}/revoke",
    "license status": "GET /api/v1/licenses/{license_id}",
    "license types": "GET /api/v1/license-types",
    "log consistency": "GET /api/v1/log/consistency",
    "log head": "GET /api/v1/log/head",
    "log prove": "GET /api/v1/log/proof",
    "log sign": "POST /api/v1/log/sign",
    "ocsp export": "GET /ocsp/{encoded}",
    "seal grant": "POST /api/v1/seals/{es_id}/grants",
    "seal list": "GET /api/v1/seals",
    "seal make": "POST /api/v1/seals",
    "seal resume": "POST /api/v1/seals/{es_id}/resume",
    "seal revoke": "POST /api/v1/seals/{es_id}/revoke",
    "seal status": "GET /api/v1/seals/{es_id}",
    "seal suspend": "POST /api/v1/seals/{es_id}/suspend",
    "sign": "POST /api/v1/seals/{es_id}/sign",
    "tl import": "POST /api/v1/trust-lists/import",
    "tl lotl": "POST /api/v1/trust-lists/lotl",
    "tl publish": "POST /api/v1/trust-lists/tl",
    "tl refresh": "POST /api/v1/trust-lists/refresh",
    "verify": "POST /api/v1/verify",
}
CLI_ONLY = {
    "init": "creates the region's keys and CA: done once on the host, before anything serves (init apart from serve)",
    "demo": "fills a fresh home with demo data on the host",
    "serve": "starts the server itself",
    "keys init": "key custody: creates the key store and the custodians' shares on the host",
    "keys unlock": "key custody: custodians present their shares at the host, never over the API",
    "keys list": "key custody inventory, read on the host by the custodians",
    "token create": "API tokens are the API's own credentials: minted by an administrator on the host, "
                    "so a stolen admin token cannot mint more",
    "token list": "as token create",
    "token revoke": "as token create (and a leaked token must be revocable without using it)",
    "tl signer": "writes the list-signer certificate for out-of-band exchange; the served TL carries it",
    "log check": "runs at the verifier's side, offline, with the artefact, the proof and a pinned key",
    "seal show": "inspects a seal file on the operator's disk; served seals: GET /api/v1/seals/{es_id}, "
                 "seal signatures: POST /api/v1/verify",
}


def _commands(cmd: click.Command, prefix: tuple[str, ...] = ()):
    if isinstance(cmd, click.Group):
        for name, sub in sorted(cmd.commands.items()):
            yield from _commands(sub, (*prefix, name))
    else:
        yield " ".join(prefix)


@pytest.fixture
def api(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    tokens = {"admin": create_token(sessions, role="admin")[0], "ra": create_token(sessions, role="ra_operator")[0],
              "auditor": create_token(sessions, role="auditor")[0]}
    app = create_app(eseal_home.path, passphrase=PASSPHRASE)
    yield app, tokens, ks
    app.extensions["eseal"].home.close()


def _auth(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _csr(subject: str, signer: LocalSigner | None = None) -> str:
    return pem.armor("CERTIFICATE REQUEST", build_csr(signer or LocalSigner(), subject).dump()).decode("ascii")


def test_every_cli_command_has_an_endpoint_or_a_reason(api) -> None:
    app, _, _ = api
    commands = set(_commands(load_all()))
    assert commands == set(SERVED) | set(CLI_ONLY), (
        f"new: {sorted(commands - set(SERVED) - set(CLI_ONLY))}, gone: {sorted(set(SERVED) | set(CLI_ONLY) - commands)}")
    doc = app.test_client().get("/api/openapi.json").get_json()
    operations = {f"{m.upper()} {p}" for p, ops in doc["paths"].items() for m in ops}
    missing = {c: op for c, op in SERVED.items() if op not in operations}
    assert not missing


def test_renew_rekey_grants_and_tree_head(api) -> None:
    app, tokens, ks = api
    client = app.test_client()
    signer = LocalSigner()
    issued = client.post("/api/v1/certificates", headers=_auth(tokens["ra"]),
                         json={"profile": "device", "csr": _csr("C=CN,O=某某局,CN=设备", signer)}).json
    renewed = client.post(f"/api/v1/certificates/{issued['serial']}/renew", headers=_auth(tokens["ra"]),
                          json={"days": 30})
    assert renewed.status_code == 201, renewed.json
    assert renewed.json["serial"] != issued["serial"] and renewed.json["subject"] == issued["subject"]
    assert client.get(f"/api/v1/certificates/{issued['serial']}", headers=_auth(tokens["auditor"])).json["status"] \
        == "good"  # renewal keeps the old one
    same_key = client.post(f"/api/v1/certificates/{renewed.json['serial']}/rekey", headers=_auth(tokens["ra"]),
                           json={"csr": _csr("C=CN,O=某某局,CN=设备", signer)})
    assert same_key.status_code == 400 and same_key.json["type"] == PROBLEM + "ca-error"
    rekeyed = client.post(f"/api/v1/certificates/{renewed.json['serial']}/rekey", headers=_auth(tokens["ra"]),
                          json={"csr": _csr("C=CN,O=某某局,CN=设备")})
    assert rekeyed.status_code == 201, rekeyed.json
    old = client.get(f"/api/v1/certificates/{renewed.json['serial']}", headers=_auth(tokens["auditor"])).json
    assert old["status"] == "revoked" and old["reason"] == "superseded"
    assert client.post(f"/api/v1/certificates/{issued['serial']}/renew",
                       headers=_auth(tokens["auditor"])).status_code == 403
    public = client.get(f"/api/v1/certificates/{renewed.json['serial']}/status")  # no token: public, as OCSP
    assert public.status_code == 200 and public.json["status"] == "revoked" and public.json["reason"] == "superseded"
    assert "subject" not in public.json and "pem" not in public.json
    assert client.get("/api/v1/certificates/zz/status").json["type"] == PROBLEM + "unknown-serial"

    key_ref = ks.generate("agency-signer", "seal", actor="admin")
    _, cert = service.issue_for_key(app.extensions["eseal"].home, ks, profile="organization", key_ref=key_ref,
                                    subject="C=CN,O=某某局,CN=某某局", credit_code="91350100M000100Y43")
    from ca.certificate import to_pem

    es_id = client.post("/api/v1/seals", headers=_auth(tokens["admin"]), json={
        "type": "organization", "name": "某某局", "agency": "A1", "holder_certs": [to_pem(cert).decode()]}).json["es_id"]
    granted = client.post(f"/api/v1/seals/{es_id}/grants", headers=_auth(tokens["ra"]), json={"agency": "A2"})
    assert granted.status_code == 200 and granted.json["authorised"] is True
    withdrawn = client.delete(f"/api/v1/seals/{es_id}/grants/A2", headers=_auth(tokens["ra"]))
    assert withdrawn.status_code == 200 and withdrawn.json["authorised"] is False
    again = client.delete(f"/api/v1/seals/{es_id}/grants/A2", headers=_auth(tokens["ra"]))
    assert again.status_code == 404 and again.mimetype == "application/problem+json"
    assert client.post("/api/v1/seals/NOPE/grants", headers=_auth(tokens["ra"]),
                       json={"agency": "A2"}).json["type"] == PROBLEM + "unknown-seal"

    head = client.post("/api/v1/log/sign", headers=_auth(tokens["admin"]))
    assert head.status_code == 200, head.json
    assert client.get("/api/v1/log/head").json == head.json
    assert client.post("/api/v1/log/sign", headers=_auth(tokens["ra"])).status_code == 403
