"""`eseal ocsp export`: pre-signed OCSP answers as static files (ca/ocsp_export.py), on SQLite
and PostgreSQL, judged by the OpenSSL CLI.

* For a good, a revoked and a suspended certificate, `openssl ocsp -no_nonce -reqout` builds
  the RFC 5019 request (SHA-1 and SM3 CertIDs); the file named by the documented rule
  (standard base64 of the request DER, its '/' directory levels, ``index.html`` after a
  trailing '/') exists, and `openssl ocsp -respin` reads from it the right status, reason,
  serial and times, matched to its own request. The signature: OpenSSL 3.0's `ocsp -VAfile`
  checks SM2 signatures without the signer ID and reports "signature failure" for every SM2
  responder (tests/test_ca_interop.py), so that run must pass or fail only that way, and the
  signature is proved by `openssl pkeyutl -verify` with the signer ID over the ResponseData,
  and by our relying-party check (verify.revocation, which also checks the responder's
  delegation).
* Each file says what the live `POST /ocsp` says about the same request (status, revocation
  time and reason, CertID; not the bytes: the times differ), every answer is one key-store
  use (role ocsp, audited with the SM3 of the signed bytes), the run has its ocsp.export record.
* A re-export after another revocation flips that certificate's files; exporting SHA-1 only
  removes the SM3 files of the earlier run; index.json says the same as the files.
* End to end: DIR served by Python's http.server, fetched by the URL an RFC 5019 client
  sends (percent-encoded base64, and raw), including the naming rule's edge cases.
"""
from __future__ import annotations

import base64
import datetime as dt
import functools
import http.server
import json
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path

import pytest
from asn1crypto import ocsp as aocsp
from asn1crypto import pem, x509
from sqlalchemy import select

from api import create_app
from ca import ocsp_export, service
from ca.certificate import load_certificate, to_pem
from ca.csr import build_csr
from ca.ocsp import tbs_of
from ca.testing import LocalSigner
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403
from verify.revocation import _parse_ocsp

PASSPHRASE = "static ocsp passphrase"
DISTID = "distid:1234567812345678"
UTC = dt.timezone.utc
DIGESTS = {"sha1": [], "sm3": ["-sm3"]}


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def openssl_serial(serial_hex: str) -> str:
    """How `openssl ocsp -resp_text` prints a serial: upper case, padded to whole octets."""
    return serial_hex.upper().rjust(len(serial_hex) + len(serial_hex) % 2, "0")


def to_pem_csr(der: bytes) -> bytes:
    return pem.armor("CERTIFICATE REQUEST", der)


def pki_cert(path: Path) -> x509.Certificate:
    return load_certificate(path.read_bytes())


def file_for(out: Path, request_der: bytes) -> Path:
    """The documented naming rule, written out independently of ca/ocsp_export.py."""
    text = base64.b64encode(request_der).decode("ascii")
    return out / (text + "index.html" if text.endswith("/") else text)


@pytest.fixture
def region(eseal_home, tmp_path, monkeypatch):
    """A region with three certificates: one good, one revoked (keyCompromise), one on hold."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    certs = {}
    for name in ("good", "revoked", "hold"):
        csr = to_pem_csr(build_csr(LocalSigner(), f"C=CN,O=某某局,CN=设备{name}").dump())
        serial, cert = service.issue_certificate(eseal_home, ks, csr_pem=csr, profile="device",
                                                 subject=f"C=CN,O=某某局,CN=设备{name}")
        certs[name] = (serial, cert)
    service.revoke(eseal_home, certs["revoked"][0], "keyCompromise")
    service.suspend(eseal_home, certs["hold"][0])
    responder = service.service_certificate(eseal_home, "ocsp")
    pki = tmp_path / "pki"
    pki.mkdir()
    for name, cert in (("issuing", responder.chain[0]), ("root", responder.chain[1]),
                       ("responder", responder.certificate)):
        (pki / f"{name}.pem").write_bytes(to_pem(cert))
    yield eseal_home, ks, sessions, certs, pki
    ks.lock()


def openssl_request(openssl_bin: str, pki: Path, serial: str, hash_name: str, out: Path) -> bytes:
    r = run([openssl_bin, "ocsp", "-issuer", str(pki / "issuing.pem"), *DIGESTS[hash_name], "-serial", f"0x{serial}",
             "-no_nonce", "-reqout", str(out)])
    assert r.returncode == 0, r.stderr
    return out.read_bytes()


def check_with_openssl(openssl_bin: str, pki: Path, response: Path, request: Path, serial: str, hash_name: str,
                       want: str, reason: str | None) -> None:
    text = run([openssl_bin, "ocsp", "-respin", str(response), "-resp_text", "-noverify"])
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "OCSP Response Status: successful" in out and f"Cert Status: {want}" in out, out
    assert f"Serial Number: {openssl_serial(serial)}" in out and "OCSP Nonce" not in out
    assert "Next Update:" in out and "SM2-with-SM3" in out
    if reason:
        assert f"Revocation Reason: {reason}" in out, out
    # matched to OpenSSL's own request (its CertID), times checked; the signature through the
    # responder certificate: passes, or fails only with OpenSSL 3.0's SM2 signer-ID error
    vfy = run([openssl_bin, "ocsp", "-respin", str(response), "-reqin", str(request), "-issuer",
               str(pki / "issuing.pem"), *DIGESTS[hash_name], "-serial", f"0x{serial}",
               "-VAfile", str(pki / "responder.pem")])
    assert f"0x{serial}: {want}" in vfy.stdout, vfy.stdout + vfy.stderr
    assert "Status times invalid" not in vfy.stdout, vfy.stdout  # thisUpdate / nextUpdate checked
    assert (vfy.returncode == 0 and "Response verify OK" in vfy.stderr) or (
        "Response Verify Failure" in vfy.stderr and "signature failure" in vfy.stderr), vfy.stderr
    tbs, sig = tbs_of(response.read_bytes())
    d = request.parent  # the work folder, not the export's
    (d / "tbs.der").write_bytes(tbs)
    (d / "sig.der").write_bytes(sig)
    subprocess.run([openssl_bin, "x509", "-in", str(pki / "responder.pem"), "-pubkey", "-noout", "-out",
                    str(d / "responder.pub")], check=True)
    v = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(d / "responder.pub"), "-rawin",
             "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(d / "tbs.der"), "-sigfile", str(d / "sig.der")])
    assert "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr


def single(der: bytes) -> aocsp.SingleResponse:
    return aocsp.OCSPResponse.load(der).basic_ocsp_response["tbs_response_data"]["responses"][0]


def status_of(s: aocsp.SingleResponse) -> tuple:
    st = s["cert_status"]
    if st.name != "revoked":
        return (st.name,)
    return st.name, st.chosen["revocation_time"].native, st.chosen["revocation_reason"].native


def test_export_read_by_openssl_matches_live_and_flips_on_revocation(region, openssl_bin, eseal_cli, tmp_path):
    home, ks, sessions, certs, pki = region
    out = tmp_path / "www" / "ocsp"
    facts = json.loads(eseal_cli("ocsp", "export", "--home", str(home.path), "--out", str(out), "--actor",
                                 "operator-1", "--json"))
    # 3 issued here + the 4 service certificates of the issuing CA; the root's one (the issuing CA
    # certificate) has no delegated responder: skipped, its CRL says
    assert facts["certificates"] == 7 and facts["files"] == 14 and facts["hashes"] == ["sha1", "sm3"]
    assert facts["statuses"] == {"good": 5, "revoked": 1, "hold": 1}
    assert len(facts["skipped"]) == 1 and "root" in next(iter(facts["skipped"].values()))
    index = json.loads((out / "index.json").read_text())
    assert index["next_update"] == facts["next_update"].replace("+00:00", "Z")
    this_update = dt.datetime.fromisoformat(facts["this_update"])
    assert dt.datetime.fromisoformat(facts["next_update"]) - this_update == service.OCSP_VALIDITY

    want = {"good": ("good", None), "revoked": ("revoked", "keyCompromise (0x1)"),
            "hold": ("revoked", "certificateHold (0x6)")}
    app = create_app(home.path, passphrase=PASSPHRASE)
    try:
        client = app.test_client()
        for name, (serial, cert) in certs.items():
            entry = index["certificates"][serial]
            assert entry["status"] == name and entry["next_update"] == index["next_update"]
            for hash_name in ("sha1", "sm3"):
                req_path = tmp_path / f"{name}-{hash_name}.req"
                req = openssl_request(openssl_bin, pki, serial, hash_name, req_path)
                path = file_for(out, req)
                assert path.is_file(), f"{name} {hash_name}: no {path}"
                assert entry["files"][hash_name] == ocsp_export.relative_path(req) == path.relative_to(out).as_posix()
                assert entry["requests"][hash_name] == base64.b64encode(req).decode()
                assert ocsp_export.request_der(pki_cert(pki / "issuing.pem"), int(serial, 16), hash_name) == req
                check_with_openssl(openssl_bin, pki, path, req_path, serial, hash_name, *want[name])
                # what the live responder answers to the same request: same status and CertID
                answer = single(path.read_bytes())
                live = client.post("/ocsp", data=req, content_type="application/ocsp-request")
                assert live.status_code == 200
                assert status_of(answer) == status_of(single(live.data))
                assert answer["cert_id"].dump() == single(live.data)["cert_id"].dump() \
                    == aocsp.OCSPRequest.load(req)["tbs_request"]["request_list"][0]["req_cert"].dump()
                assert answer["this_update"].native == this_update
                # a relying party of ours accepts it: responder delegated by the CA, SM2 signature
                got = _parse_ocsp(path.read_bytes(), cert, pki_cert(pki / "issuing.pem"), None,
                                  dt.datetime.now(UTC), dt.timedelta(days=1), "static")
                assert got.status == want[name][0]
    finally:
        app.extensions["eseal"].home.close()

    # every answer is one audited use of the responder's key, in role ocsp, by the operator
    answers = [p for p in out.rglob("*") if p.is_file() and p.name != "index.json"]
    tbs_digests = {sm3(tbs_of(p.read_bytes())[0]).hex() for p in answers}
    with transaction(sessions, readonly=True) as s:
        uses = [r.details_dict() for r in s.scalars(select(AuditRecord).where(
            AuditRecord.action == "key.sign", AuditRecord.actor == "operator-1"))]
        exports = [r for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "ocsp.export"))]
    assert {u["role"] for u in uses} == {"ocsp"} and len(uses) == 14
    assert {u["data_sm3"] for u in uses} == tbs_digests and len(tbs_digests) == 14
    assert len(exports) == 1 and exports[0].actor == "operator-1" and exports[0].details_dict()["files"] == 14

    # revoke the good one: the next export flips its files (same names), the others stay put
    good_serial = certs["good"][0]
    service.revoke(home, good_serial, "superseded")
    eseal_cli("ocsp", "export", "--home", str(home.path), "--out", str(out))
    for hash_name in ("sha1", "sm3"):
        req_path = tmp_path / f"again-{hash_name}.req"
        req = openssl_request(openssl_bin, pki, good_serial, hash_name, req_path)
        check_with_openssl(openssl_bin, pki, file_for(out, req), req_path, good_serial, hash_name, "revoked",
                           "superseded (0x4)")
    index = json.loads((out / "index.json").read_text())
    assert index["certificates"][good_serial]["status"] == "revoked"
    assert index["certificates"][good_serial]["reason"] == "superseded"

    # SHA-1 only: the SM3 answers of the earlier run are gone, nothing else is left behind
    (out / "README").write_text("not ours")
    facts = json.loads(eseal_cli("ocsp", "export", "--home", str(home.path), "--out", str(out), "--hash", "sha1",
                                 "--json"))
    assert facts["removed"] == 7 and facts["files"] == 7
    index = json.loads((out / "index.json").read_text())
    listed = {e["files"]["sha1"] for e in index["certificates"].values()}
    on_disk = {p.relative_to(out).as_posix() for p in out.rglob("*") if p.is_file()}
    assert on_disk == listed | {"index.json", "README"}
    assert all(set(e["files"]) == {"sha1"} for e in index["certificates"].values())


class _Quiet(http.server.SimpleHTTPRequestHandler):
    extensions_map = {"": "application/ocsp-response", ".html": "application/ocsp-response",
                      ".json": "application/json"}

    def log_message(self, *args) -> None:
        pass


def test_served_by_a_static_server_at_the_rfc5019_url(region, openssl_bin, tmp_path):
    home, ks, _, certs, pki = region
    www = tmp_path / "www"
    out = www / "ocsp"
    result = ocsp_export.export(home, ks, out)
    assert result.files == 14 and result.next_update - result.this_update == service.OCSP_VALIDITY
    # the naming rule's edge cases, with stand-in bytes: '//' inside, '/' at the end
    edge = {b"\x30\x45\xff\xff\xff" + bytes(range(40)): b"inner", b"\x30\x2b" + bytes(42) + b"\x3f": b"trailing"}
    for der, body in edge.items():
        rel = ocsp_export.relative_path(der)
        (out / rel).parent.mkdir(parents=True, exist_ok=True)
        (out / rel).write_bytes(body)
    assert "//" in base64.b64encode(next(iter(edge))).decode()
    assert ocsp_export.relative_path(list(edge)[1]).endswith("/index.html")

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), functools.partial(_Quiet, directory=str(www)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    base = f"http://127.0.0.1:{server.server_address[1]}/ocsp/"
    try:
        def get(request_der: bytes, *, encode: bool = True) -> tuple[int, str, bytes]:
            text = base64.b64encode(request_der).decode()
            url = base + (urllib.parse.quote(text, safe="") if encode else text)  # RFC 6960 A.1; some send it raw
            try:
                with urllib.request.urlopen(url, timeout=10) as r:
                    return r.status, r.headers["Content-Type"], r.read()
            except urllib.error.HTTPError as exc:
                return exc.code, "", b""

        for der, body in edge.items():
            assert get(der)[2] == body
        for name, (serial, _) in certs.items():
            for hash_name in ("sha1", "sm3"):
                req_path = tmp_path / f"{name}-{hash_name}.req"
                req = openssl_request(openssl_bin, pki, serial, hash_name, req_path)
                for encode in (True, False):
                    status, ctype, body = get(req, encode=encode)
                    assert status == 200 and ctype == "application/ocsp-response"
                    assert body == file_for(out, req).read_bytes()
                (tmp_path / "fetched.der").write_bytes(body)
                text = run([openssl_bin, "ocsp", "-respin", str(tmp_path / "fetched.der"), "-resp_text", "-noverify"])
                assert f"Cert Status: {'good' if name == 'good' else 'revoked'}" in text.stdout, text.stdout
        # a request with a nonce is not exported: 404, for the server to hand to `eseal serve`
        with_nonce = tmp_path / "nonce.req"
        run([openssl_bin, "ocsp", "-issuer", str(pki / "issuing.pem"), "-serial", f"0x{certs['good'][0]}",
             "-reqout", str(with_nonce)])
        assert get(with_nonce.read_bytes())[0] == 404
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=10)
