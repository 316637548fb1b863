"""SM2 interop in both directions with independent implementations: the OpenSSL 3 CLI and gmssl,
plus signatures on real certificates and CRLs made by other CAs."""
from __future__ import annotations

import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl as asn1_crl
from asn1crypto import pem, x509
from hypothesis import given, settings
from hypothesis import strategies as st

from gm import sm2

pytestmark = pytest.mark.interop


def run(*args: str, input: bytes | None = None) -> bytes:
    done = subprocess.run(list(args), input=input, capture_output=True)
    assert done.returncode == 0, done.stderr.decode(errors="replace")
    return done.stdout


@pytest.fixture
def openssl_key(openssl_bin, tmp_path) -> tuple[Path, Path]:
    key = tmp_path / "key.pem"
    pub = tmp_path / "pub.pem"
    run(openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(key))
    run(openssl_bin, "pkey", "-in", str(key), "-pubout", "-out", str(pub))
    return key, pub


@pytest.mark.parametrize("uid", [b"1234567812345678", b"ALICE123@YAHOO.COM"])
@pytest.mark.parametrize("size", [0, 1, 1000])
def test_our_signature_verifies_in_openssl(openssl_bin, tmp_path, uid, size):
    key = sm2.PrivateKey.generate()
    message = bytes(range(256)) * (size // 256) + bytes(range(size % 256))
    (tmp_path / "pub.pem").write_bytes(key.public_key.to_pem())
    (tmp_path / "msg").write_bytes(message)
    (tmp_path / "sig").write_bytes(key.sign(message, uid=uid))
    verify = [openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
              "-digest", "sm3", "-pkeyopt", f"distid:{uid.decode()}", "-in", str(tmp_path / "msg"),
              "-sigfile", str(tmp_path / "sig")]
    assert b"Signature Verified Successfully" in run(*verify)
    (tmp_path / "msg").write_bytes(message + b"!")
    assert subprocess.run(verify, capture_output=True).returncode != 0


@pytest.mark.parametrize("uid", [b"1234567812345678", b"another signer id"])
def test_openssl_signature_verifies_here(openssl_bin, openssl_key, tmp_path, uid):
    key_path, pub_path = openssl_key
    message = b"e-license 440000-2026-000123"
    (tmp_path / "msg").write_bytes(message)
    signature = run(openssl_bin, "pkeyutl", "-sign", "-inkey", str(key_path), "-rawin", "-digest", "sm3",
                    "-pkeyopt", f"distid:{uid.decode()}", "-in", str(tmp_path / "msg"))
    public = sm2.PublicKey.from_pem(pub_path.read_bytes())
    assert public.verify(signature, message, uid=uid)
    assert not public.verify(signature, message, uid=uid + b"x")
    # and the key file itself loads here, matching the public half OpenSSL exported
    assert sm2.PrivateKey.from_pem(key_path.read_bytes()).public_key == public


def test_our_ciphertext_decrypts_in_openssl(openssl_bin, tmp_path):
    key = sm2.PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.to_pem())
    plaintext = b"SM4 key for the enveloped seal key \x00\x01\x02"
    (tmp_path / "ct").write_bytes(key.public_key.encrypt(plaintext))
    out = run(openssl_bin, "pkeyutl", "-decrypt", "-inkey", str(tmp_path / "key.pem"), "-in", str(tmp_path / "ct"))
    assert out == plaintext


def test_openssl_ciphertext_decrypts_here(openssl_bin, openssl_key, tmp_path):
    key_path, pub_path = openssl_key
    plaintext = b"escrowed encryption key material"
    (tmp_path / "pt").write_bytes(plaintext)
    ciphertext = run(openssl_bin, "pkeyutl", "-encrypt", "-pubin", "-inkey", str(pub_path), "-in", str(tmp_path / "pt"))
    assert sm2.PrivateKey.from_pem(key_path.read_bytes()).decrypt(ciphertext) == plaintext


def test_our_keys_load_in_openssl(openssl_bin, tmp_path):
    key = sm2.PrivateKey.generate()
    (tmp_path / "key.pem").write_bytes(key.to_pem(password=b"pw"))
    text = run(openssl_bin, "pkey", "-in", str(tmp_path / "key.pem"), "-passin", "pass:pw", "-text", "-noout").decode()
    private_hex = "".join(text.split("priv:")[1].split("pub:")[0].split()).replace(":", "")
    assert int(private_hex, 16) == int.from_bytes(key.to_bytes(), "big")
    (tmp_path / "pub.pem").write_bytes(key.public_key.to_pem())
    der = run(openssl_bin, "pkey", "-pubin", "-in", str(tmp_path / "pub.pem"), "-outform", "DER")
    assert der == key.public_key.to_der()


def _gmssl_call(operation, *args):
    """gmssl's pure-Python point arithmetic fails for a small share of its own random nonces
    (it returns None or raises TypeError); retry those, never our side."""
    for _ in range(5):
        try:
            result = operation(*args)
        except TypeError:
            continue
        if result is not None:
            return result
    pytest.fail("gmssl failed five times in a row")


def _gmssl(gmssl_sm2, key: sm2.PrivateKey):
    public_hex = key.public_key.to_bytes()[1:].hex()
    theirs = gmssl_sm2.CryptSM2(private_key=key.to_bytes().hex(), public_key=public_hex, mode=1)
    # gmssl drops a leading "04" with str.lstrip("04"), which also eats any 0 or 4 digits of x after it:
    # one key in ~256 (x starting 04) became a wrong point and failed every try. Set the key it should hold.
    theirs.public_key = public_hex
    return theirs


@settings(max_examples=10, deadline=None)
@given(message=st.binary(min_size=1, max_size=300))
def test_gmssl_both_directions_signatures(gmssl_sm2, message):
    key = sm2.PrivateKey.generate()
    theirs = _gmssl(gmssl_sm2, key)
    # ours -> gmssl (gmssl takes raw r || s hex and the default ID)
    r, s = sm2.signature_to_rs(key.sign(message))
    assert theirs.verify_with_sm3(f"{r:064x}{s:064x}", message)
    # gmssl -> ours
    raw = _gmssl_call(theirs.sign_with_sm3, message)
    signature = sm2.signature_from_rs(int(raw[:64], 16), int(raw[64:], 16))
    assert key.public_key.verify(signature, message)


@settings(max_examples=10, deadline=None)
@given(message=st.binary(min_size=1, max_size=300))
def test_gmssl_both_directions_encryption(gmssl_sm2, message):
    from gm.asn1.sm2 import SM2Cipher

    key = sm2.PrivateKey.generate()
    theirs = _gmssl(gmssl_sm2, key)
    # gmssl mode 1 is raw C1 (x || y, 64 bytes) || C3 || C2
    raw = _gmssl_call(theirs.encrypt, message)
    der = SM2Cipher({"x_coordinate": int.from_bytes(raw[:32], "big"), "y_coordinate": int.from_bytes(raw[32:64], "big"),
                     "hash": raw[64:96], "cipher_text": raw[96:]}).dump()
    assert key.decrypt(der) == message
    parsed = SM2Cipher.load(key.public_key.encrypt(message))
    ours_raw = (parsed["x_coordinate"].native.to_bytes(32, "big") + parsed["y_coordinate"].native.to_bytes(32, "big")
                + parsed["hash"].native + parsed["cipher_text"].native)
    assert _gmssl_call(theirs.decrypt, ours_raw) == message


def _certificate(path: Path) -> x509.Certificate:
    data = path.read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def _public_key(cert: x509.Certificate) -> sm2.PublicKey:
    return sm2.PublicKey.from_bytes(cert.public_key["public_key"].native)


def test_real_root_certificate_self_signature(shared_vectors):
    root = _certificate(shared_vectors / "certs" / "ROOTCA.pem")
    tbs = root["tbs_certificate"].dump()
    signature = root["signature_value"].native
    assert _public_key(root).verify(signature, tbs)
    assert not _public_key(root).verify(signature, tbs[:-1] + bytes([tbs[-1] ^ 1]))


def test_real_ca_certificate_issued_by_root(shared_vectors):
    root = _certificate(shared_vectors / "certs" / "ROOTCA.pem")
    sheca = _certificate(shared_vectors / "certs" / "SHECA_SM2_by_ROOTCA.pem")
    assert _public_key(root).verify(sheca["signature_value"].native, sheca["tbs_certificate"].dump())


def test_real_crl_signed_by_root(shared_vectors):
    root = _certificate(shared_vectors / "certs" / "ROOTCA.pem")
    data = (shared_vectors / "certs" / "ROOTCA.crl").read_bytes()
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    crl = asn1_crl.CertificateList.load(data)
    assert len(crl["tbs_cert_list"]["revoked_certificates"]) == 18
    assert _public_key(root).verify(crl["signature"].native, crl["tbs_cert_list"].dump())
