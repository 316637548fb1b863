"""KMC: GM/T 0009 SM2 enveloped keys checked against independent implementations, and
two-person escrow recovery, on SQLite and PostgreSQL.

Independent pieces: the OpenSSL 3 CLI does the SM2 encryption/decryption of the SM4 key
(GM/T 0009 DER ciphertext), `cryptography` does SM4-ECB, the pure-Python `gmssl` computes
d*G, and the envelope DER is taken apart and built with the tiny TLV codec below -- none
of gm/, keystore/envelope*.py is used on the independent side.
"""
from __future__ import annotations

import json
import secrets
import subprocess
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from sqlalchemy import select

from gm.sm2 import PrivateKey, PublicKey
from keystore import SoftKeyStore
from keystore.envelope import make_enveloped_key, open_enveloped_key
from keystore.errors import ApprovalError, EnvelopeError, PolicyDenied
from keystore.kmc import KeyManagementCentre
from store import audit
from store.db import make_engine, make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.testing import *  # noqa: F401,F403

pytestmark = pytest.mark.interop

SM4_ECB_OID_DER = bytes.fromhex("06082a811ccf55016801")  # 1.2.156.10197.1.104.1
N = 0xFFFFFFFEFFFFFFFFFFFFFFFFFFFFFFFF7203DF6B21C6052B53BBF40939D54123


# --- an independent, minimal DER codec ----------------------------------------------------


def _tlv(data: bytes, pos: int = 0) -> tuple[int, bytes, int]:
    """(tag, value, end) of the TLV at pos."""
    tag = data[pos]
    length = data[pos + 1]
    pos += 2
    if length & 0x80:
        n = length & 0x7F
        length = int.from_bytes(data[pos:pos + n], "big")
        pos += n
    return tag, data[pos:pos + length], pos + length


def _children(value: bytes) -> list[tuple[int, bytes, bytes]]:
    out, pos = [], 0
    while pos < len(value):
        start = pos
        tag, inner, pos = _tlv(value, pos)
        out.append((tag, inner, value[start:pos]))
    return out


def _der(tag: int, value: bytes) -> bytes:
    if len(value) < 0x80:
        return bytes([tag, len(value)]) + value
    n = (len(value).bit_length() + 7) // 8
    return bytes([tag, 0x80 | n]) + len(value).to_bytes(n, "big") + value


def _sm4_ecb(key: bytes, data: bytes, encrypt: bool) -> bytes:
    cipher = Cipher(algorithms.SM4(key), modes.ECB())
    ctx = cipher.encryptor() if encrypt else cipher.decryptor()
    return ctx.update(data) + ctx.finalize()


def _gmssl_public(gmssl_sm2, d: int) -> bytes:
    """04 || x || y computed by gmssl's pure-Python curve arithmetic."""
    crypt = gmssl_sm2.CryptSM2(private_key=format(d, "064x"), public_key="")
    return bytes.fromhex("04" + crypt._kg(d, gmssl_sm2.default_ecc_table["g"]))


@pytest.fixture
def openssl_sign_key(openssl_bin, tmp_path: Path) -> tuple[Path, Path]:
    key, pub = tmp_path / "sign.pem", tmp_path / "sign.pub.pem"
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True, capture_output=True)
    subprocess.run([openssl_bin, "pkey", "-in", str(key), "-pubout", "-out", str(pub)], check=True, capture_output=True)
    return key, pub


@pytest.fixture
def sessions(migrated_database_url):
    engine = make_engine(migrated_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def kmc(sessions):
    store = SoftKeyStore.initialise(sessions, actor="admin", passphrase="kmc passphrase 1").store
    ref = KeyManagementCentre.create_kmc_key(store, actor="admin")
    return KeyManagementCentre(store, sessions, ref)


# --- envelope interop ----------------------------------------------------------------------


def test_kmc_envelope_opens_with_openssl_and_cryptography(kmc, openssl_bin, gmssl_sm2, openssl_sign_key, tmp_path):
    sign_key, sign_pub = openssl_sign_key
    subscriber = PublicKey.from_pem(sign_pub.read_bytes())
    issued = kmc.issue_encryption_key(subscriber, subject="CN=Zhang San,O=Agency", actor="ra-operator")

    tag, body, end = _tlv(issued.envelope)
    assert tag == 0x30 and end == len(issued.envelope)
    fields = _children(body)
    assert [t for t, _, _ in fields] == [0x30, 0x30, 0x03, 0x03]
    alg = _children(fields[0][1])
    assert alg[0][2] == SM4_ECB_OID_DER
    (tmp_path / "c.der").write_bytes(fields[1][2])  # the SM2Cipher, whole TLV
    subprocess.run(
        [openssl_bin, "pkeyutl", "-decrypt", "-inkey", str(sign_key), "-in", str(tmp_path / "c.der"),
         "-out", str(tmp_path / "k.bin")],
        check=True, capture_output=True,
    )
    sm4_key = (tmp_path / "k.bin").read_bytes()
    assert len(sm4_key) == 16
    public_bits, private_bits = fields[2][1], fields[3][1]
    assert public_bits[0] == 0 and private_bits[0] == 0  # no unused bits
    d = _sm4_ecb(sm4_key, private_bits[1:], encrypt=False)
    assert len(d) == 32 and 1 <= int.from_bytes(d, "big") < N
    assert _gmssl_public(gmssl_sm2, int.from_bytes(d, "big")) == public_bits[1:] == issued.public_key


def test_envelope_built_by_openssl_and_cryptography_opens_here(openssl_bin, gmssl_sm2, openssl_sign_key, tmp_path):
    sign_key, sign_pub = openssl_sign_key
    d = secrets.randbelow(N - 1) + 1
    d_bytes = d.to_bytes(32, "big")
    public = _gmssl_public(gmssl_sm2, d)
    sm4_key = secrets.token_bytes(16)
    (tmp_path / "k.bin").write_bytes(sm4_key)
    subprocess.run(
        [openssl_bin, "pkeyutl", "-encrypt", "-pubin", "-inkey", str(sign_pub), "-in", str(tmp_path / "k.bin"),
         "-out", str(tmp_path / "c.der")],
        check=True, capture_output=True,
    )
    envelope = _der(
        0x30,
        _der(0x30, SM4_ECB_OID_DER + b"\x05\x00")
        + (tmp_path / "c.der").read_bytes()
        + _der(0x03, b"\x00" + public)
        + _der(0x03, b"\x00" + _sm4_ecb(sm4_key, d_bytes, encrypt=True)),
    )
    recipient = PrivateKey.from_pem(sign_key.read_bytes())
    opened = open_enveloped_key(envelope, recipient)
    assert opened.to_bytes() == d_bytes
    assert opened.public_key.to_bytes() == public

    # the same envelope addressed to someone else does not open, with a clear error
    with pytest.raises(EnvelopeError, match="does not decrypt"):
        open_enveloped_key(envelope, PrivateKey.generate())
    # a wrong public key in the envelope is caught
    other_public = PrivateKey.generate().public_key.to_bytes()
    forged = envelope.replace(public, other_public)
    with pytest.raises(EnvelopeError, match="does not match the public key"):
        open_enveloped_key(forged, recipient)


def test_envelope_round_trip_and_malformed_input():
    recipient, key = PrivateKey.generate(), PrivateKey.generate()
    der = make_enveloped_key(recipient.public_key, key)
    assert open_enveloped_key(der, recipient).to_bytes() == key.to_bytes()
    with pytest.raises(EnvelopeError, match="not a GM/T 0009 SM2EnvelopedKey"):
        open_enveloped_key(der[:-5], recipient)
    cbc = der.replace(SM4_ECB_OID_DER, SM4_ECB_OID_DER[:-1] + b"\x02")
    with pytest.raises(EnvelopeError, match="only SM4-ECB"):
        open_enveloped_key(cbc, recipient)


# --- two-person recovery ---------------------------------------------------------------------


def _audit(sessions, action):
    with transaction(sessions, readonly=True) as s:
        return [(r.actor, json.loads(r.details)) for r in
                s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq))]


def test_escrow_recovery_needs_two_different_people(kmc, sessions, gmssl_sm2):
    holder = PrivateKey.generate()
    issued = kmc.issue_encryption_key(holder.public_key, subject="CN=Li Si", actor="ra-operator")
    original = open_enveloped_key(issued.envelope, holder)

    new_signing_key = PrivateKey.generate()  # e.g. the holder's replacement token
    request = kmc.request_recovery(
        issued.escrow_id, requested_by="rita", reason="holder lost the token; ticket 4711",
        recipient_signing_key=new_signing_key.public_key,
    )
    with pytest.raises(ApprovalError, match="0 approval"):
        kmc.recover(request, actor="kmc-operator")
    with pytest.raises(ApprovalError, match="cannot also approve"):
        kmc.approve_recovery(request, approver="rita")
    assert kmc.approve_recovery(request, approver="alice") == 1
    with pytest.raises(ApprovalError, match="already approved"):
        kmc.approve_recovery(request, approver="alice")  # one person twice is refused
    with pytest.raises(ApprovalError, match="1 approval"):
        kmc.recover(request, actor="kmc-operator")
    assert kmc.approve_recovery(request, approver="bob") == 2

    delivered = kmc.recover(request, actor="kmc-operator")
    recovered = open_enveloped_key(delivered, new_signing_key)
    assert recovered.to_bytes() == original.to_bytes()
    assert _gmssl_public(gmssl_sm2, int.from_bytes(recovered.to_bytes(), "big")) == issued.public_key
    with pytest.raises(EnvelopeError):
        open_enveloped_key(delivered, holder)  # addressed to the new key only
    with pytest.raises(ApprovalError, match="already completed"):
        kmc.recover(request, actor="kmc-operator")  # no replay

    assert [a for a, _ in _audit(sessions, "kmc.recovery_approved")] == ["alice", "bob"]
    assert [a for a, _ in _audit(sessions, "kmc.approval_refused")] == ["rita", "alice"]
    recovered_records = _audit(sessions, "kmc.recovered")
    assert len(recovered_records) == 1 and recovered_records[0][1]["approvers"] == ["alice", "bob"]
    decrypts = _audit(sessions, "key.decrypt")
    assert len(decrypts) == 1 and "alice, bob" in decrypts[0][0]
    with transaction(sessions, readonly=True) as s:
        assert audit.verify(s).ok


def test_kmc_key_is_decrypt_only_for_the_kmc_role(kmc):
    store = kmc._keystore
    with pytest.raises(PolicyDenied):
        store.sign(kmc.kmc_key_ref, b"x", actor="someone", role="kmc")
    with pytest.raises(PolicyDenied):
        store.decrypt(kmc.kmc_key_ref, store.public_key(kmc.kmc_key_ref).encrypt(b"x"), actor="x", role="ca")
