"""Server-side key generation (encrypted PKCS#8 read by OpenSSL, GM/T 0009 envelope) and dual
certificates through the KMC (envelope opened with the signing key, escrow recoverable), on
SQLite and PostgreSQL; CLI --generate-key and --dual."""
from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from ca import keygen, service
from ca.certificate import to_pem
from ca.errors import InvalidIdentifier, KeyDeliveryError
from ca.testing import soft_region
from gm.sm2 import PrivateKey
from keystore.envelope import open_enveloped_key
from keystore.kmc import KeyManagementCentre
from store import audit
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.models.ca import IssuedCertificate
from store.testing import *  # noqa: F401,F403

DISTID = "distid:1234567812345678"
PASSPHRASE = "correct horse battery staple"
KEY_PASS = "subscriber pass 1"
CITIZEN_ID = "11010519491231002X"
CREDIT_CODE = "91350100M000100Y43"


@pytest.fixture
def region(eseal_home):
    return eseal_home, soft_region(eseal_home, PASSPHRASE)[0]


@pytest.fixture(scope="module")
def subscriber(openssl_bin, tmp_path_factory) -> Path:
    """An OpenSSL-made SM2 key and CSR: the subscriber's signing key."""
    d = tmp_path_factory.mktemp("sub")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "pkey", "-in", str(d / "k.pem"), "-pubout", "-out", str(d / "pub.pem")],
                   check=True, capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt", DISTID,
                    "-utf8", "-subj", "/C=CN/O=某某局/CN=张三", "-out", str(d / "req.pem")],
                   check=True, capture_output=True)
    return d


def _run(cmd: list[str], **kw) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True, **kw)


def _point(cert: x509.Certificate) -> bytes:
    return cert.public_key["public_key"].contents[1:]


def _openssl_pub(openssl_bin: str, args: list[str]) -> bytes:
    r = subprocess.run([openssl_bin, *args], capture_output=True)  # PEM from both pkey and x509
    assert r.returncode == 0, r.stderr
    return r.stdout


def _details(record: AuditRecord) -> dict:
    return record.details if isinstance(record.details, dict) else json.loads(record.details)


def _actions(home) -> list[AuditRecord]:
    with transaction(home.engine, readonly=True) as s:
        assert audit.verify(s).ok
        return list(s.query(AuditRecord).order_by(AuditRecord.seq))


@pytest.mark.interop
def test_generated_key_as_encrypted_pkcs8_opens_in_openssl(region, openssl_bin, tmp_path) -> None:
    home, ks = region
    keys_before = len(ks.list())
    made = keygen.issue_with_generated_key(home, ks, profile="personal", subject="C=CN,CN=张三",
                                           id_number=CITIZEN_ID, passphrase=KEY_PASS, actor="ra")
    assert made.envelope is None and made.key_pem.startswith(b"-----BEGIN ENCRYPTED PRIVATE KEY-----")
    (tmp_path / "key.pem").write_bytes(made.key_pem)
    (tmp_path / "cert.pem").write_bytes(to_pem(made.certificate))
    from_key = _openssl_pub(openssl_bin, ["pkey", "-in", str(tmp_path / "key.pem"), "-passin", f"pass:{KEY_PASS}",
                                          "-pubout"])
    from_cert = _openssl_pub(openssl_bin, ["x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-pubkey"])
    assert from_key == from_cert
    wrong = _run([openssl_bin, "pkey", "-in", str(tmp_path / "key.pem"), "-passin", "pass:wrong-pass", "-noout"])
    assert wrong.returncode != 0
    # the key signs, and the signature verifies under the certificate (openssl pkeyutl)
    (tmp_path / "data").write_bytes(b"hello")
    sig = _run([openssl_bin, "pkeyutl", "-sign", "-inkey", str(tmp_path / "key.pem"), "-passin", f"pass:{KEY_PASS}",
                "-rawin", "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(tmp_path / "data"),
                "-out", str(tmp_path / "sig")])
    assert sig.returncode == 0, sig.stderr
    v = _run([openssl_bin, "pkeyutl", "-verify", "-certin", "-inkey", str(tmp_path / "cert.pem"), "-rawin",
              "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(tmp_path / "data"), "-sigfile", str(tmp_path / "sig")])
    assert "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr
    # never stored: no key-store key, no key_ref on the row; the audit says how it was delivered
    assert len(ks.list()) == keys_before
    with transaction(home.engine, readonly=True) as s:
        row = s.query(IssuedCertificate).filter_by(serial=made.serial).one()
        assert row.key_ref is None
    [issue] = [r for r in _actions(home) if r.subject == f"cert:{made.serial}"]
    assert _details(issue)["key_generated"] == "server" and _details(issue)["delivery"] == "pkcs8-pbes2"
    d = PrivateKey.from_pem(made.key_pem, password=KEY_PASS.encode()).to_bytes()
    assert d.hex() not in json.dumps(_details(issue))


def test_generated_key_as_envelope_for_subscriber_key(region, subscriber) -> None:
    home, ks = region
    made = keygen.issue_with_generated_key(home, ks, profile="device", subject="C=CN,O=某某局,CN=终端-1",
                                           recipient=(subscriber / "pub.pem").read_bytes())
    assert made.key_pem is None
    holder = PrivateKey.from_pem((subscriber / "k.pem").read_bytes())
    key = open_enveloped_key(made.envelope, holder)
    assert key.public_key.to_bytes() == _point(made.certificate)
    # someone else's key does not open it
    from keystore.errors import EnvelopeError

    with pytest.raises(EnvelopeError, match="does not decrypt"):
        open_enveloped_key(made.envelope, PrivateKey.generate())
    [issue] = [r for r in _actions(home) if r.subject == f"cert:{made.serial}"]
    assert _details(issue)["delivery"] == "gmt0009-envelope"


def test_generated_key_refusals(region, subscriber) -> None:
    home, ks = region
    before = len(_actions(home))
    args = dict(profile="personal", subject="C=CN,CN=张三", id_number=CITIZEN_ID)
    with pytest.raises(KeyDeliveryError, match="exactly one"):
        keygen.issue_with_generated_key(home, ks, **args)
    with pytest.raises(KeyDeliveryError, match="exactly one"):
        keygen.issue_with_generated_key(home, ks, passphrase=KEY_PASS,
                                        recipient=(subscriber / "pub.pem").read_bytes(), **args)
    with pytest.raises(KeyDeliveryError, match="at least 8"):
        keygen.issue_with_generated_key(home, ks, passphrase="short", **args)
    with pytest.raises(KeyDeliveryError, match="not an SM2 public key"):
        keygen.issue_with_generated_key(home, ks, recipient=b"garbage", **args)
    with pytest.raises(KeyDeliveryError, match="KMC"):
        keygen.issue_with_generated_key(home, ks, profile="personal_encryption", subject="C=CN,CN=张三",
                                        id_number=CITIZEN_ID, passphrase=KEY_PASS)
    with pytest.raises(InvalidIdentifier):
        keygen.issue_with_generated_key(home, ks, profile="personal", subject="C=CN,CN=张三",
                                        id_number="110105194912310021", passphrase=KEY_PASS)
    assert len(_actions(home)) == before


@pytest.mark.interop
def test_dual_certificates_through_the_kmc(region, subscriber, openssl_bin, tmp_path) -> None:
    home, ks = region
    pair = keygen.issue_dual(home, ks, profile="organization", csr_pem=(subscriber / "req.pem").read_bytes(),
                             subject="C=CN,O=某某局,CN=某某局", credit_code=CREDIT_CODE, actor="ra")
    signing, encryption = pair.signing_certificate, pair.encryption_certificate
    subscriber_key = PrivateKey.from_pem((subscriber / "k.pem").read_bytes())
    assert _point(signing) == subscriber_key.public_key.to_bytes()
    # the subscriber opens the envelope with its signing private key; the key is the
    # encryption certificate's
    enc_key = open_enveloped_key(pair.envelope, subscriber_key)
    assert enc_key.public_key.to_bytes() == _point(encryption)
    assert set(signing.key_usage_value.native) == {"digital_signature", "non_repudiation"}
    assert set(encryption.key_usage_value.native) == {"key_encipherment", "data_encipherment", "key_agreement"}
    assert encryption.subject == signing.subject
    with transaction(home.engine, readonly=True) as s:
        profiles = {r.serial: r.profile for r in s.query(IssuedCertificate)}
    assert profiles[pair.signing_serial] == "organization"
    assert profiles[pair.encryption_serial] == "organization_encryption"
    # both chain to the region (OpenSSL)
    chain = [c for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", chain[0]))
    for name, cert in (("s.pem", signing), ("e.pem", encryption)):
        (tmp_path / name).write_bytes(to_pem(cert))
        r = _run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile", str(tmp_path / "issuing.pem"),
                  str(tmp_path / name)])
        assert r.returncode == 0, r.stdout + r.stderr
    # the escrowed copy is recoverable (two approvers) to a new recipient
    kmc = KeyManagementCentre(ks, make_sessionmaker(home.engine), ks.find("kmc").key_ref)
    officer = PrivateKey.generate()
    request = kmc.request_recovery(pair.escrow_id, requested_by="clerk", reason="key lost",
                                   recipient_signing_key=officer.public_key)
    kmc.approve_recovery(request, approver="boss-1")
    kmc.approve_recovery(request, approver="boss-2")
    recovered = open_enveloped_key(kmc.recover(request, actor="clerk"), officer)
    assert recovered.to_bytes() == enc_key.to_bytes()
    records = [r for r in _actions(home) if r.action == "cert.issue"]
    enc_record = [r for r in records if r.subject == f"cert:{pair.encryption_serial}"][0]
    assert _details(enc_record)["dual_of"] == pair.signing_serial
    assert _details(enc_record)["escrow_id"] == pair.escrow_id


def test_dual_refusals(region, subscriber) -> None:
    home, ks = region
    csr = (subscriber / "req.pem").read_bytes()
    with pytest.raises(KeyDeliveryError, match="no encryption twin"):
        keygen.issue_dual(home, ks, profile="tsa", csr_pem=csr)
    escrows = KeyManagementCentre(ks, make_sessionmaker(home.engine), ks.find("kmc").key_ref).escrow_count()
    with pytest.raises(InvalidIdentifier):
        keygen.issue_dual(home, ks, profile="organization", csr_pem=csr, credit_code="91350100M000100Y44")
    # refused before any key was escrowed
    assert KeyManagementCentre(ks, make_sessionmaker(home.engine), ks.find("kmc").key_ref).escrow_count() == escrows


@pytest.mark.interop
def test_cli_generate_key_and_dual(eseal_cli, tmp_path, monkeypatch, openssl_bin, subscriber) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("ESEAL_KEY_PASSPHRASE", KEY_PASS)
    home = tmp_path / "H"
    eseal = eseal_cli

    eseal("init", "--home", str(home), "--region-code", "440000", "--region-name", "广东省")
    out = eseal("cert", "issue", "--home", str(home), "--profile", "personal", "--generate-key",
                "--subject", "C=CN,CN=张三", "--id-number", CITIZEN_ID, "--key-out", str(tmp_path / "key.pem"),
                "--out", str(tmp_path / "cert.pem"))
    assert int(out.strip(), 16) >= 1 << 64
    from_key = _openssl_pub(openssl_bin, ["pkey", "-in", str(tmp_path / "key.pem"), "-passin", f"pass:{KEY_PASS}",
                                          "-pubout"])
    assert from_key == _openssl_pub(openssl_bin, ["x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-pubkey"])
    assert (tmp_path / "key.pem").stat().st_mode & 0o077 == 0
    again = eseal("cert", "issue", "--home", str(home), "--profile", "personal", "--generate-key",
                  "--subject", "C=CN,CN=张三", "--id-number", CITIZEN_ID, "--key-out", str(tmp_path / "key.pem"),
                  "--out", str(tmp_path / "cert2.pem"), code=1)
    assert "never overwritten" in again
    assert "--csr or --generate-key" in eseal("cert", "issue", "--home", str(home), "--profile", "personal",
                                              "--out", str(tmp_path / "x.pem"), code=2)

    out = eseal("cert", "issue", "--home", str(home), "--profile", "personal", "--dual",
                "--csr", str(subscriber / "req.pem"), "--subject", "C=CN,CN=张三", "--id-number", CITIZEN_ID,
                "--enc-out", str(tmp_path / "enc.env"), "--enc-cert-out", str(tmp_path / "enc.pem"),
                "--out", str(tmp_path / "sign.pem"))
    sign_serial, enc_serial = out.split()
    enc_cert = x509.Certificate.load(pem.unarmor((tmp_path / "enc.pem").read_bytes())[2])
    assert format(enc_cert.serial_number, "x") == enc_serial != sign_serial
    key = open_enveloped_key((tmp_path / "enc.env").read_bytes(),
                             PrivateKey.from_pem((subscriber / "k.pem").read_bytes()))
    assert key.public_key.to_bytes() == _point(enc_cert)
