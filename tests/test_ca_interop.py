"""Interop with the OpenSSL 3 CLI: chains, CSRs, CRLs and OCSP made by ca/ must be
accepted by a tool nobody here wrote.

Chain verification and OpenSSL 3.0 - 3.6: ``openssl verify -vfyopt distid:...`` applies
the signer ID only to the certificate being verified; every other certificate of the
chain is checked with an empty ID, so a root -> issuing -> leaf SM2 chain fails at depth 1
for every producer, OpenSSL's own certificates included (openssl/openssl#23471, open), and
``-check_ss_sig`` fails on self-signed SM2 roots (#32744). So each signature of the chain is
proved by one OpenSSL run in which it is the one being verified:
  1. issuing under root:      ``-CAfile root.pem issuing.pem``
  2. leaf under issuing:      ``-partial_chain -CAfile issuing.pem leaf.pem``
  3. the root's self-signature: ``pkeyutl -verify`` over its TBS bytes.
The literal three-level command is run too; it must pass, or fail only with that known
error (error 7 at depth 1), so the test turns strict by itself once OpenSSL is fixed.
"""
import datetime as dt
import subprocess

import pytest
from asn1crypto import crl as acrl, pem

from ca import ocsp
from ca.certificate import CertificateBuilder, to_pem
from ca.crl import CRLBuilder, tbs_of
from ca.csr import parse_csr
from ca.errors import InvalidCSR
from ca.testing import LocalSigner, make_hierarchy

pytestmark = pytest.mark.interop
DISTID = "distid:1234567812345678"
UTC = dt.timezone.utc

PROFILES = {
    "personal": ("C=CN,ST=广东省,CN=张三", {"identity": {"citizen_id": "11010519491231002X"}}),
    "organization": ("C=CN,O=某某局,CN=某某局", {"identity": {"organization_code": "91350100M000100Y43"}}),
    "device": ("C=CN,O=某某局,CN=dev-1", {"san": [("dns", "dev1.example.gov.cn")]}),
    "seal_maker": ("C=CN,O=公安厅,CN=制章系统", {}),
    "tsa": ("C=CN,O=认证中心,CN=时间戳", {}),
    "ocsp": ("C=CN,O=认证中心,CN=OCSP", {}),
    "tls_server": ("C=CN,CN=www.example.gov.cn", {"san": [("dns", "www.example.gov.cn")]}),
    "audit_signer": ("C=CN,O=认证中心,CN=审计", {}),
    "personal_encryption": ("C=CN,CN=张三", {"identity": {"citizen_id": "11010519491231002X"}}),
}
# What `openssl x509 -text` must show for each profile (its own wording).
SHOWN = {
    "personal": ["Digital Signature, Non Repudiation", "TLS Web Client Authentication, E-mail Protection",
                 "1.2.156.10260.4.1.1", "11010519491231002X", "OCSP - URI:", "Freshest CRL"],
    "organization": ["Digital Signature, Non Repudiation", "1.2.156.10260.4.1.4", "91350100M000100Y43"],
    "device": ["Digital Signature", "DNS:dev1.example.gov.cn"],
    "seal_maker": ["Digital Signature, Non Repudiation", ".440000.20"],
    "tsa": ["X509v3 Extended Key Usage: critical", "Time Stamping"],
    "ocsp": ["OCSP Signing", "OCSP No Check"],
    "tls_server": ["TLS Web Server Authentication", "DNS:www.example.gov.cn"],
    "audit_signer": [".440000.24"],
    "personal_encryption": ["Key Encipherment, Data Encipherment, Key Agreement"],
}


def run(cmd, **kw):
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    h = make_hierarchy(region_name="广东省")
    d = tmp_path_factory.mktemp("pki")
    (d / "root.pem").write_bytes(to_pem(h.root))
    (d / "issuing.pem").write_bytes(to_pem(h.issuing))
    h.dir = d
    return h


def pubkey_pem(openssl_bin, cert_path, out):
    subprocess.run([openssl_bin, "x509", "-in", str(cert_path), "-pubkey", "-noout", "-out", str(out)],
                   check=True)
    return out


def pkeyutl_verify(openssl_bin, pub, tbs, sig, d):
    (d / "tbs.der").write_bytes(tbs)
    (d / "sig.der").write_bytes(sig)
    r = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
             "-pkeyopt", DISTID, "-in", str(d / "tbs.der"), "-sigfile", str(d / "sig.der")])
    return r.returncode == 0 and "Signature Verified Successfully" in r.stdout


def test_root_self_signature_and_issuing_under_root(openssl_bin, region):
    d = region.dir
    pub = pubkey_pem(openssl_bin, d / "root.pem", d / "root.pub")
    root = region.root
    assert pkeyutl_verify(openssl_bin, pub, root["tbs_certificate"].dump(), root["signature_value"].native, d)
    r = run([openssl_bin, "verify", "-vfyopt", DISTID, "-CAfile", str(d / "root.pem"), str(d / "issuing.pem")])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


@pytest.mark.parametrize("profile", list(PROFILES))
def test_every_profile_chain_verifies(openssl_bin, region, profile, tmp_path):
    subject, opts = PROFILES[profile]
    b = (CertificateBuilder(profile, region.config).subject(subject)
         .public_key(LocalSigner().public_key).issuer(region.issuing))
    if "identity" in opts:
        b = b.identity(**opts["identity"])
    if "san" in opts:
        b = b.subject_alt_names(opts["san"])
    leaf = tmp_path / f"{profile}.pem"
    leaf.write_bytes(to_pem(b.sign(region.issuing_signer)))
    d = region.dir
    r = run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain",
             "-CAfile", str(d / "issuing.pem"), str(leaf)])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
    full = run([openssl_bin, "verify", "-vfyopt", DISTID, "-CAfile", str(d / "root.pem"),
                "-untrusted", str(d / "issuing.pem"), str(leaf)])
    if full.returncode != 0:  # only the known OpenSSL bug may make it fail
        assert "error 7 at 1 depth lookup: certificate signature failure" in full.stdout + full.stderr
    text = run([openssl_bin, "x509", "-in", str(leaf), "-text", "-noout"])
    assert text.returncode == 0
    for needle in SHOWN[profile]:
        assert needle in text.stdout, f"{profile}: {needle!r} not shown"
    assert "SM2-with-SM3" in text.stdout


def test_root_and_issuing_text(openssl_bin, region):
    for name, needles in (("root.pem", ["CA:TRUE, pathlen:1", "Certificate Sign, CRL Sign"]),
                          ("issuing.pem", ["CA:TRUE, pathlen:0", "X509v3 Any Policy", "CA Issuers - URI:"])):
        text = run([openssl_bin, "x509", "-in", str(region.dir / name), "-text", "-noout"]).stdout
        for needle in needles:
            assert needle in text, (name, needle)


@pytest.fixture(scope="module")
def openssl_csr(openssl_bin, tmp_path_factory):
    d = tmp_path_factory.mktemp("csr")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt", DISTID,
                    "-utf8", "-subj", "/C=CN/O=某某局/CN=张三", "-out", str(d / "req.pem")],
                   check=True, capture_output=True)
    return d


def test_openssl_csr_accepted_and_issued(openssl_bin, openssl_csr, region):
    parsed = parse_csr((openssl_csr / "req.pem").read_bytes())
    assert parsed.subject_attributes == {"C": "CN", "O": "某某局", "CN": "张三"}
    cert = (CertificateBuilder("organization", region.config).subject(parsed.subject_attributes)
            .public_key(parsed.public_key).issuer(region.issuing)
            .identity(organization_code="91350100M000100Y43").sign(region.issuing_signer))
    (openssl_csr / "cert.pem").write_bytes(to_pem(cert))
    r = run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain",
             "-CAfile", str(region.dir / "issuing.pem"), str(openssl_csr / "cert.pem")])
    assert r.returncode == 0, r.stdout + r.stderr
    # the certificate carries the key of the OpenSSL private key
    pub_from_key = run([openssl_bin, "pkey", "-in", str(openssl_csr / "k.pem"), "-pubout"]).stdout
    pub_from_cert = run([openssl_bin, "x509", "-in", str(openssl_csr / "cert.pem"), "-pubkey", "-noout"]).stdout
    assert pub_from_key == pub_from_cert


def test_tampered_openssl_csr_refused(openssl_csr):
    _, _, der = pem.unarmor((openssl_csr / "req.pem").read_bytes())
    der = bytearray(der)
    i = der.find("张三".encode())
    der[i + 1] ^= 0x01
    with pytest.raises(InvalidCSR, match="proof of possession failed"):
        parse_csr(bytes(der))


def test_openssl_csr_with_other_distid_needs_uid(openssl_bin, openssl_csr):
    out = openssl_csr / "alice.pem"
    subprocess.run([openssl_bin, "req", "-new", "-key", str(openssl_csr / "k.pem"), "-sm3",
                    "-sigopt", "distid:alice@example.cn", "-subj", "/C=CN/CN=alice", "-out", str(out)],
                   check=True, capture_output=True)
    with pytest.raises(InvalidCSR, match="proof of possession failed"):
        parse_csr(out.read_bytes())
    assert parse_csr(out.read_bytes(), uid=b"alice@example.cn").subject_attributes["CN"] == "alice"


def test_our_csr_verifies_in_openssl(openssl_bin, tmp_path):
    from ca.csr import build_csr

    path = tmp_path / "our.csr"
    path.write_bytes(pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,O=x,CN=y").dump()))
    r = run([openssl_bin, "req", "-in", str(path), "-verify", "-vfyopt", DISTID, "-noout"])
    assert r.returncode == 0 and "verify OK" in (r.stdout + r.stderr)


def test_crl_parses_and_signature_verifies(openssl_bin, region, tmp_path):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    entries = [(0x1000 + i, now - dt.timedelta(minutes=i), [None, "keyCompromise", "certificateHold",
                                                             "superseded"][i % 4],
                now - dt.timedelta(days=1) if i % 10 == 0 else None) for i in range(1000)]
    der = (CRLBuilder(region.issuing, region.config).crl_number(7).next_update(now + dt.timedelta(days=1))
           .revoked(entries).sign(region.issuing_signer))
    path = tmp_path / "full.crl"
    path.write_bytes(der)
    text = run([openssl_bin, "crl", "-inform", "DER", "-in", str(path), "-text", "-noout"])
    assert text.returncode == 0, text.stderr
    assert text.stdout.count("Serial Number:") == 1000
    for needle in ("SM2-with-SM3", "X509v3 CRL Number: \n                7", "Key Compromise",
                   "Certificate Hold", "Invalidity Date", "Issuing Distribution Point: critical"):
        assert needle in text.stdout, needle
    pub = pubkey_pem(openssl_bin, region.dir / "issuing.pem", tmp_path / "issuing.pub")
    sig = acrl.CertificateList.load(der)["signature"].native
    assert pkeyutl_verify(openssl_bin, pub, tbs_of(der), sig, tmp_path)
    assert not pkeyutl_verify(openssl_bin, pub, tbs_of(der)[:-1] + b"\x00", sig, tmp_path)
    delta = (CRLBuilder(region.issuing, region.config).crl_number(8).delta_of(7)
             .next_update(now + dt.timedelta(hours=1)).revoked(entries[:3]).sign(region.issuing_signer))
    path.write_bytes(delta)
    text = run([openssl_bin, "crl", "-inform", "DER", "-in", str(path), "-text", "-noout"])
    assert "Delta CRL Indicator: critical" in text.stdout


@pytest.fixture(scope="module")
def responder(region):
    signer = LocalSigner()
    cert = (CertificateBuilder("ocsp", region.config).subject("C=CN,O=认证中心,CN=OCSP")
            .public_key(signer.public_key).issuer(region.issuing).sign(region.issuing_signer))
    (region.dir / "ocsp.pem").write_bytes(to_pem(cert))
    return signer, cert


@pytest.mark.parametrize("digest", [None, "-sm3"])
def test_openssl_request_parsed_and_answered(openssl_bin, region, responder, digest, tmp_path):
    req_path = tmp_path / "req.der"
    cmd = [openssl_bin, "ocsp", "-issuer", str(region.dir / "issuing.pem")]
    cmd += [digest] if digest else []
    cmd += ["-serial", "0x1001", "-serial", "0x1002", "-serial", "0xABCDEF", "-reqout", str(req_path)]
    r = run(cmd)
    assert r.returncode == 0, r.stderr
    req = ocsp.parse_request(req_path.read_bytes())
    assert [c.serial for c in req.cert_ids] == [0x1001, 0x1002, 0xABCDEF]
    assert {c.hash_algorithm for c in req.cert_ids} == {"sm3" if digest else "sha1"}
    assert all(c.matches_issuer(region.issuing) for c in req.cert_ids)
    assert req.nonce is not None  # openssl adds one by default
    now = dt.datetime.now(UTC).replace(microsecond=0)
    signer, cert = responder
    der = ocsp.build_response(signer, cert, [
        ocsp.Answer(req.cert_ids[0], "good", now, now + dt.timedelta(hours=1)),
        ocsp.Answer(req.cert_ids[1], "revoked", now, now + dt.timedelta(hours=1),
                    revoked_at=now - dt.timedelta(days=1), reason="keyCompromise"),
        ocsp.Answer(req.cert_ids[2], "unknown", now)], nonce=req.nonce)
    resp_path = tmp_path / "resp.der"
    resp_path.write_bytes(der)
    text = run([openssl_bin, "ocsp", "-respin", str(resp_path), "-resp_text", "-noverify"])
    assert text.returncode == 0, text.stderr
    out = text.stdout
    assert "OCSP Response Status: successful" in out
    assert "Cert Status: good" in out and "Cert Status: revoked" in out and "Cert Status: unknown" in out
    assert "Revocation Reason: keyCompromise" in out
    assert "OCSP Nonce" in out and req.nonce.hex().upper() in out.replace(":", "").upper()
    assert "SM2-with-SM3" in out
    # openssl matches our answers to its request (nonce and CertIDs) when asked to
    chk = run([openssl_bin, "ocsp", "-respin", str(resp_path), "-reqin", str(req_path), "-noverify",
               "-issuer", str(region.dir / "issuing.pem")] + ([digest] if digest else []) +
              ["-serial", "0x1001", "-serial", "0x1002", "-serial", "0xABCDEF"])
    assert "0x1001: good" in chk.stdout and "0x1002: revoked" in chk.stdout and "0xABCDEF: unknown" in chk.stdout, \
        chk.stdout + chk.stderr
    pub = pubkey_pem(openssl_bin, region.dir / "ocsp.pem", tmp_path / "ocsp.pub")
    tbs, sig = ocsp.tbs_of(der)
    assert pkeyutl_verify(openssl_bin, pub, tbs, sig, tmp_path)


def test_presigned_response_parses(openssl_bin, region, responder, tmp_path):
    now = dt.datetime.now(UTC).replace(microsecond=0)
    signer, cert = responder
    der = ocsp.presign(signer, cert, region.issuing, 0x2002, "revoked", this_update=now,
                       next_update=now + dt.timedelta(hours=2), revoked_at=now, reason="certificateHold")
    p = tmp_path / "pre.der"
    p.write_bytes(der)
    out = run([openssl_bin, "ocsp", "-respin", str(p), "-resp_text", "-noverify"]).stdout
    assert "Cert Status: revoked" in out and "certificateHold" in out and "OCSP Nonce" not in out
    tbs, sig = ocsp.tbs_of(der)
    assert pkeyutl_verify(openssl_bin, pubkey_pem(openssl_bin, region.dir / "ocsp.pem", tmp_path / "p.pub"),
                          tbs, sig, tmp_path)
