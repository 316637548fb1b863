"""A REAL server: `eseal serve` (gunicorn, 2 workers) as a subprocess on a free port, over a
home on SQLite and on PostgreSQL, driven by the OpenSSL CLI and plain HTTP clients.

* `openssl ocsp -url .../ocsp` reports good, revoked (after a revoke through the API; with
  and without a nonce, i.e. live and pre-signed answers) and unknown; the response
  signature verifies with `openssl pkeyutl` over the TBS bytes (OpenSSL 3.0's `ocsp`
  command checks SM2 signatures without the signer ID, so `-noverify` for the status and
  the signature checked separately, as tests/test_ca_service.py does);
* the GET form of OCSP answers the same;
* the CRL fetched from the CRL distribution point URL inside an issued certificate parses
  with `openssl crl -inform DER -text` and lists the revoked serial;
* bad requests get problem+json with the right status and type.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import subprocess
import urllib.parse
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from api.testing import free_port, serving
from ca import service
from ca.ocsp import tbs_of
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.home import Home
from store.testing import pg_schema_url
from store.tokens import create_token

PASSPHRASE = "correct horse battery staple"
DISTID = "distid:1234567812345678"
PROBLEM = "https://eseal.example/problems/"
CREDIT_CODE = "91350100M000100Y43"


def openssl_serial(serial_hex: str) -> str:
    """How `openssl ... -text` prints a serial: upper case, padded to whole octets."""
    return serial_hex.upper().rjust(len(serial_hex) + len(serial_hex) % 2, "0")


@dataclass
class Server:
    base: str
    port: int
    home: Path
    tokens: dict[str, str]
    folder: Path

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, {k.lower(): v for k, v in r.getheaders()}, r.read()
        finally:
            conn.close()

    def api(self, method: str, path: str, payload: object = None, role: str | None = "admin",
            headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], dict]:
        h = dict(headers or {})
        if role:
            h["Authorization"] = f"Bearer {self.tokens[role]}"
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            h.setdefault("Content-Type", "application/json")
        status, hdrs, data = self.request(method, path, body, h)
        return status, hdrs, json.loads(data) if data else {}


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def server(request, tmp_path_factory) -> Server:
    folder = tmp_path_factory.mktemp(f"serve-{request.param}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(pg_schema_url(request.getfixturevalue("pg_url")))
        saved = os.environ.pop("ESEAL_DATABASE_URL", None)
        try:
            home = Home.create(folder / "home", database_url=url)
            sessions = make_sessionmaker(home.engine)
            ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
            service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base)
            tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)[0]
                      for role in ("admin", "ra_operator", "agency", "auditor")}
            ks.lock()
            home.close()
        finally:
            if saved is not None:
                os.environ["ESEAL_DATABASE_URL"] = saved
        stack.enter_context(serving(folder / "home", port, passphrase=PASSPHRASE, log=folder / "serve.log"))
        yield Server(base, port, folder / "home", tokens, folder)


@pytest.fixture(scope="module")
def csr(openssl_bin, tmp_path_factory) -> str:
    d = tmp_path_factory.mktemp("csr")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt", DISTID, "-utf8",
                    "-subj", "/C=CN/O=某某局/CN=某某局", "-out", str(d / "req.pem")], check=True, capture_output=True)
    return (d / "req.pem").read_text()


def issue(server: Server, csr: str) -> dict:
    status, _, body = server.api("POST", "/api/v1/certificates",
                                 {"profile": "organization", "csr": csr, "credit_code": CREDIT_CODE})
    assert status == 201, body
    return body


def pki_files(server: Server, folder: Path) -> dict[str, Path]:
    """issuing.pem, root.pem (from /ca/chain.pem) and ocsp.pem (the responder, via the API)."""
    status, _, chain = server.request("GET", "/ca/chain.pem")
    assert status == 200
    certs = [c for _, _, c in pem.unarmor(chain, multiple=True)]
    files = {"issuing": folder / "issuing.pem", "root": folder / "root.pem", "ocsp": folder / "ocsp.pem"}
    files["issuing"].write_bytes(pem.armor("CERTIFICATE", certs[0]))
    files["root"].write_bytes(pem.armor("CERTIFICATE", certs[-1]))
    assert files["root"].read_bytes() == (server.home / "root.pem").read_bytes()
    _, _, page = server.api("GET", "/api/v1/certificates?profile=ocsp", role="auditor")
    _, _, responder = server.api("GET", page["items"][0]["links"]["self"], role="auditor")
    files["ocsp"].write_text(responder["pem"])
    return files


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def openssl_ocsp(openssl_bin: str, server: Server, files: dict[str, Path], serial: str, out: Path,
                 *, nonce: bool = True) -> str:
    cmd = [openssl_bin, "ocsp", "-url", f"{server.base}/ocsp", "-issuer", str(files["issuing"]),
           "-serial", f"0x{serial}", "-CAfile", str(files["root"]), "-VAfile", str(files["ocsp"]),
           "-resp_text", "-respout", str(out)]
    if not nonce:
        cmd.append("-no_nonce")
    r = run(cmd)
    if "Cert Status" not in r.stdout and "signature failure" in r.stderr:
        r = run(cmd + ["-noverify"])  # OpenSSL 3.0: SM2 OCSP signature checked without the signer ID
    assert f"0x{serial}:" in r.stdout or "Cert Status" in r.stdout, r.stdout + r.stderr
    return r.stdout


def verify_ocsp_signature(openssl_bin: str, response: Path, responder_pem: Path) -> None:
    tbs, sig = tbs_of(response.read_bytes())
    d = response.parent
    (d / "tbs.der").write_bytes(tbs)
    (d / "sig.der").write_bytes(sig)
    subprocess.run([openssl_bin, "x509", "-in", str(responder_pem), "-pubkey", "-noout", "-out",
                    str(d / "responder.pub")], check=True)
    v = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(d / "responder.pub"), "-rawin",
             "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(d / "tbs.der"), "-sigfile", str(d / "sig.der")])
    assert "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr


def test_openssl_ocsp_good_revoked_unknown(server, csr, openssl_bin, tmp_path) -> None:
    files = pki_files(server, tmp_path)
    serial = issue(server, csr)["serial"]
    # answers are signed by the responder, whose certificate chains to H/root.pem (OpenSSL 3.0
    # applies the signer ID to one link at a time: each link checked on its own)
    for ca, cert, partial in (("issuing", "ocsp", ["-partial_chain"]), ("root", "issuing", [])):
        r = run([openssl_bin, "verify", *partial, "-vfyopt", DISTID, "-CAfile", str(files[ca]), str(files[cert])])
        assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
    for nonce in (True, False, False):  # live, then pre-signed (made, then served from the cache)
        out = openssl_ocsp(openssl_bin, server, files, serial, tmp_path / "good.der", nonce=nonce)
        assert f"0x{serial}: good" in out and "Cert Status: good" in out, out
        verify_ocsp_signature(openssl_bin, tmp_path / "good.der", files["ocsp"])
        assert ("Response Extensions" in out) is nonce  # the nonce is echoed, pre-signed answers have none
    status, _, body = server.api("POST", f"/api/v1/certificates/{serial}/revoke", {"reason": "keyCompromise"},
                                 role="ra_operator")
    assert status == 200 and body["status"] == "revoked"
    for nonce in (False, True):  # whichever worker cached "good" must not serve it now
        for _ in range(3):
            out = openssl_ocsp(openssl_bin, server, files, serial, tmp_path / "revoked.der", nonce=nonce)
            assert f"0x{serial}: revoked" in out, out
            assert "Revocation Reason: keyCompromise (0x1)" in out
    verify_ocsp_signature(openssl_bin, tmp_path / "revoked.der", files["ocsp"])
    out = openssl_ocsp(openssl_bin, server, files, "7" * 32, tmp_path / "unknown.der")
    assert f"0x{'7' * 32}: unknown" in out, out


def test_ocsp_get_form_and_malformed(server, csr, openssl_bin, tmp_path) -> None:
    files = pki_files(server, tmp_path)
    serial = issue(server, csr)["serial"]
    req = tmp_path / "req.der"
    subprocess.run([openssl_bin, "ocsp", "-issuer", str(files["issuing"]), "-serial", f"0x{serial}", "-no_nonce",
                    "-reqout", str(req)], check=True, capture_output=True)
    encoded = urllib.parse.quote(base64.b64encode(req.read_bytes()).decode(), safe="")
    status, headers, data = server.request("GET", f"/ocsp/{encoded}")
    assert status == 200 and headers["content-type"] == "application/ocsp-response"
    (tmp_path / "get.der").write_bytes(data)
    text = run([openssl_bin, "ocsp", "-respin", str(tmp_path / "get.der"), "-resp_text", "-noverify"]).stdout
    assert "Cert Status: good" in text and f"Serial Number: {openssl_serial(serial)}" in text, text
    verify_ocsp_signature(openssl_bin, tmp_path / "get.der", files["ocsp"])
    for bad in (b"\x30\x03\x02\x01\x01", b"not DER at all"):
        status, headers, data = server.request("POST", "/ocsp", bad, {"Content-Type": "application/ocsp-request"})
        (tmp_path / "bad.der").write_bytes(data)
        text = run([openssl_bin, "ocsp", "-respin", str(tmp_path / "bad.der"), "-resp_text", "-noverify"])
        assert status == 200 and "malformedrequest" in (text.stdout + text.stderr).lower().replace(" ", ""), text


def test_crl_from_the_distribution_point_in_a_certificate(server, csr, openssl_bin, tmp_path) -> None:
    issued = issue(server, csr)
    cert = x509.Certificate.load(pem.unarmor(issued["pem"].encode())[2])
    urls = [u for u in cert.crl_distribution_points_value[0]["distribution_point"].chosen.native]
    assert len(urls) == 1 and urls[0].startswith(server.base + "/crl/")
    path = urllib.parse.urlsplit(urls[0]).path
    status, _, body = server.api("POST", f"/api/v1/certificates/{issued['serial']}/revoke",
                                 {"reason": "cessationOfOperation"})
    assert status == 200
    status, headers, der = server.request("GET", path)
    assert status == 200 and headers["content-type"] == "application/pkix-crl"
    (tmp_path / "crl.der").write_bytes(der)
    text = run([openssl_bin, "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text"])
    assert text.returncode == 0, text.stderr
    assert f"Serial Number: {openssl_serial(issued['serial'])}" in text.stdout, text.stdout
    assert "Cessation Of Operation" in text.stdout
    # the delta CRL named by freshestCRL, and the caIssuers certificate, are served too
    delta_url = cert.freshest_crl_value[0]["distribution_point"].chosen.native[0]
    status, _, delta = server.request("GET", urllib.parse.urlsplit(delta_url).path)
    (tmp_path / "delta.der").write_bytes(delta)
    text = run([openssl_bin, "crl", "-inform", "DER", "-in", str(tmp_path / "delta.der"), "-noout", "-text"])
    assert status == 200 and "Delta CRL Indicator" in text.stdout, text.stdout + text.stderr
    aia = {d["access_method"].native: d["access_location"].native for d in cert.authority_information_access_value}
    status, headers, ca_der = server.request("GET", urllib.parse.urlsplit(aia["ca_issuers"]).path)
    assert status == 200 and headers["content-type"] == "application/pkix-cert"
    assert x509.Certificate.load(ca_der).subject == cert.issuer
    assert aia["ocsp"] == server.base + "/ocsp"


def problem(status: int, headers: dict[str, str], body: dict, want_status: int, slug: str) -> None:
    assert status == want_status, body
    assert headers["content-type"] == "application/problem+json"
    assert body["type"] == PROBLEM + slug and body["status"] == want_status and body["detail"]


def test_bad_requests_get_problem_json(server, csr) -> None:
    problem(*server.api("GET", "/api/v1/certificates", role=None), 401, "unauthorized")
    problem(*server.api("GET", "/api/v1/certificates", role=None, headers={"Authorization": "Bearer esk_0_x"}),
            401, "unauthorized")
    problem(*server.api("POST", "/api/v1/certificates", {"profile": "organization", "csr": csr},
                        role="auditor"), 403, "forbidden")
    status, headers, data = server.request("POST", "/api/v1/certificates", b"{oops",
                                           {"Authorization": f"Bearer {server.tokens['admin']}",
                                            "Content-Type": "application/json"})
    problem(status, headers, json.loads(data), 400, "bad-json")
    status, headers, data = server.request("POST", "/api/v1/certificates", b"<csr/>",
                                           {"Authorization": f"Bearer {server.tokens['admin']}",
                                            "Content-Type": "application/xml"})
    problem(status, headers, json.loads(data), 415, "unsupported-media-type")
    problem(*server.api("GET", "/api/v1/certificates/" + "ab" * 16, role="auditor"), 404, "unknown-serial")
    huge = json.dumps({"profile": "organization", "csr": "A" * (2 * 1024 * 1024)}).encode()
    status, headers, data = server.request("POST", "/api/v1/certificates", huge,
                                           {"Authorization": f"Bearer {server.tokens['admin']}",
                                            "Content-Type": "application/json"})
    problem(status, headers, json.loads(data), 413, "payload-too-large")
    problem(*server.api("GET", "/crl/0123.crl", role=None), 404, "unknown-issuer")
    status, _, body = server.api("GET", "/ready", role=None)
    assert status == 200 and body["checks"] == {"database": "ok", "region": "ok", "keystore": "unlocked"}
    status, _, doc = server.api("GET", "/api/openapi.json", role=None)
    assert status == 200 and "/ocsp/{encoded}" in doc["paths"]


def test_revoked_via_api_seen_by_both_workers(server, csr) -> None:
    """Many requests over fresh connections land on both workers; all agree after a change."""
    serial = issue(server, csr)["serial"]
    server.api("POST", f"/api/v1/certificates/{serial}/suspend")
    states = {server.api("GET", f"/api/v1/certificates/{serial}", role="auditor")[2]["status"] for _ in range(10)}
    assert states == {"hold"}


def test_serve_refuses_a_home_without_region(tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cli.main import main

    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    Home.create(tmp_path / "empty").close()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    r = CliRunner().invoke(main, ["serve", "--home", str(tmp_path / "empty"), "--port", str(free_port())])
    assert r.exit_code == 1 and "holds no region" in r.output and "never generates keys" in r.output
    assert not (tmp_path / "empty" / "root.pem").exists()
    r = CliRunner().invoke(main, ["serve", "--home", str(tmp_path / "nothing"), "--port", "1"])
    assert r.exit_code == 1 and "is not an eseal home" in r.output
    monkeypatch.delenv("ESEAL_PASSPHRASE")
    r = CliRunner().invoke(main, ["serve", "--home", str(tmp_path / "empty"), "--port", "1"])
    assert r.exit_code == 2 and "ESEAL_PASSPHRASE" in r.output



def test_crl_after_a_revocation_is_the_same_from_both_workers(server, csr) -> None:
    """CRLs come from api/fastpath.py (no Flask) and api/crl_cache.py's memory: over fresh
    connections (both workers), every answer right after a revocation lists it, and all
    are the same bytes (one CRL made, served by both)."""
    from asn1crypto import crl as acrl

    issued = issue(server, csr)
    cert = x509.Certificate.load(pem.unarmor(issued["pem"].encode())[2])
    path = urllib.parse.urlsplit(cert.crl_distribution_points_value[0]["distribution_point"].chosen.native[0]).path
    for _ in range(4):  # warm both workers' memory with the CRL before the change
        assert server.request("GET", path)[0] == 200
    assert server.api("POST", f"/api/v1/certificates/{issued['serial']}/revoke", {"reason": "keyCompromise"})[0] == 200
    answers = [server.request("GET", path) for _ in range(10)]
    assert {status for status, _, _ in answers} == {200}
    assert {headers["cache-control"] for _, headers, _ in answers} == {"public, max-age=60"}
    assert len({der for _, _, der in answers}) == 1
    listed = acrl.CertificateList.load(answers[0][2])["tbs_cert_list"]["revoked_certificates"]
    assert int(issued["serial"], 16) in [e["user_certificate"].native for e in listed]
