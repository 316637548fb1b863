"""Issuance with keys the subscriber does not bring: server-side key generation and dual
(signing + encryption) certificates through the key management centre.

Server-side generation (``issue_with_generated_key``) is for subscribers without a key
generator (no token, no OpenSSL): the SM2 key pair is generated here, the certificate is
issued for it, and the private key leaves exactly once, in one of two wrappings:

* ``passphrase`` — password-encrypted PKCS#8 PEM (PBES2: PBKDF2-HMAC-SHA256, AES-256-CBC,
  gm/keyformat.py), which ``openssl pkey -passin`` and every PKCS#8 reader opens;
* ``recipient`` — a GM/T 0009 SM2EnvelopedKey (keystore/envelope.py) under an SM2 public
  key the subscriber supplied (e.g. of a smart card that can import envelopes).

The private key is never stored, logged or audited; the audit record says that the key was
generated server-side and how it was delivered (with the SM3 fingerprint of the recipient
key). The wrapping is made before the certificate is stored, so a failure leaves no
certificate whose key nobody holds.

Dual certificates (``issue_dual``), GM/T 0014 model: the signing certificate certifies the
CSR's key (the subscriber keeps its private key); the KMC (keystore/kmc.py, key "kmc" made by
``eseal init``) generates the encryption key pair, escrows it under the KMC key and returns
it as an SM2EnvelopedKey under the SIGNING public key; the encryption certificate (the
``<profile>_encryption`` twin of ca/profiles.py) certifies the escrowed key. The two
certificates are stored one after the other, each with its audit record naming the other
(``dual_of``) and the escrow id.
"""
from __future__ import annotations

import dataclasses
from typing import Any, Unpack

from asn1crypto import x509
from sqlalchemy.orm import Session, sessionmaker

from ca import profiles
from ca.csr import DEFAULT_UID, parse_csr
from ca.errors import KeyDeliveryError
from ca.request import CertificateRequest, RequestFields
from ca.service import KMC_KEY_LABEL, _sessions, issue_for_public_key
from gm import sm3
from gm.records import frozen_record
from gm.sm2 import PrivateKey, PublicKey

__all__ = ["GeneratedKeyCertificate", "DualCertificates", "issue_with_generated_key", "issue_dual",
           "MIN_PASSPHRASE_LENGTH"]

MIN_PASSPHRASE_LENGTH = 8


@frozen_record
class GeneratedKeyCertificate:
    serial: str
    certificate: x509.Certificate
    key_pem: bytes | None   # ENCRYPTED PRIVATE KEY PEM (passphrase delivery)
    envelope: bytes | None  # DER SM2EnvelopedKey (recipient delivery)


@frozen_record
class DualCertificates:
    signing_serial: str
    signing_certificate: x509.Certificate
    encryption_serial: str
    encryption_certificate: x509.Certificate
    envelope: bytes   # DER SM2EnvelopedKey of the encryption private key, under the signing key
    escrow_id: str    # the KMC escrow record (for recovery)


def _fingerprint(key: PublicKey) -> str:
    return sm3.sm3(key.to_bytes()).hex()


def _recipient(value: Any) -> PublicKey:
    if isinstance(value, PublicKey):
        return value
    data = bytes(value)
    try:
        if data.lstrip().startswith(b"-----BEGIN"):
            return PublicKey.from_pem(data)
        if data[:1] == b"\x04" and len(data) == 65:
            return PublicKey.from_bytes(data)
        return PublicKey.from_der(data)
    except Exception as exc:  # gm raises its own errors for every malformed key
        raise KeyDeliveryError(f"the recipient key is not an SM2 public key (PEM, DER or 04||x||y): {exc}") from None


def issue_with_generated_key(
    home: Any,
    keystore: Any,
    *,
    passphrase: str | bytes | None = None,
    recipient: Any = None,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
    **request: Unpack[RequestFields],
) -> GeneratedKeyCertificate:
    """Generate an SM2 key pair, issue a ``profile`` certificate for it and return the private
    key wrapped for the subscriber: exactly one of ``passphrase`` (encrypted PKCS#8) or
    ``recipient`` (SM2 public key for a GM/T 0009 envelope)."""
    wanted = CertificateRequest.of(request)
    if (passphrase is None) == (recipient is None):
        raise KeyDeliveryError("give exactly one way to deliver the generated key: a passphrase "
                               "(encrypted PKCS#8) or a recipient SM2 public key (GM/T 0009 envelope)")
    if profiles.get(wanted.profile).name.endswith("_encryption"):
        raise KeyDeliveryError(f"profile {wanted.profile} is an encryption certificate: use a dual issuance "
                               "(the KMC generates and escrows encryption keys)")
    key = PrivateKey.generate()
    key_pem = envelope = None
    if passphrase is not None:
        secret = passphrase.encode("utf-8") if isinstance(passphrase, str) else bytes(passphrase)
        if len(secret) < MIN_PASSPHRASE_LENGTH:
            raise KeyDeliveryError(f"the key passphrase must have at least {MIN_PASSPHRASE_LENGTH} characters")
        key_pem = key.to_pem(password=secret)
        delivery: dict[str, Any] = {"key_generated": "server", "delivery": "pkcs8-pbes2"}
    else:
        from keystore.envelope import make_enveloped_key

        target = _recipient(recipient)
        envelope = make_enveloped_key(target, key)
        delivery = {"key_generated": "server", "delivery": "gmt0009-envelope",
                    "recipient_key_sm3": _fingerprint(target)}
    serial, cert = issue_for_public_key(home, keystore, wanted, public_key=key.public_key, actor=actor,
                                        details=delivery, sessions=sessions)
    del key
    return GeneratedKeyCertificate(serial, cert, key_pem, envelope)


def issue_dual(
    home: Any,
    keystore: Any,
    *,
    csr_pem: bytes,
    uid: bytes = DEFAULT_UID,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
    **request: Unpack[RequestFields],
) -> DualCertificates:
    """Signing certificate for the CSR's key plus a KMC-generated, escrowed encryption key
    pair and its certificate (``<profile>_encryption``); see the module docstring."""
    from keystore.errors import KeyNotFound
    from keystore.kmc import KeyManagementCentre

    wanted = CertificateRequest.of(request)
    enc_profile = f"{wanted.profile}_encryption"
    if enc_profile not in profiles.PROFILES:
        twins = sorted(p.removesuffix("_encryption") for p in profiles.PROFILES if p.endswith("_encryption"))
        raise KeyDeliveryError(f"profile {wanted.profile} has no encryption twin; dual certificates exist for "
                               f"{', '.join(twins)}")
    parsed = parse_csr(csr_pem, uid=uid)
    wanted = wanted.or_subject(parsed.subject_attributes)
    try:
        kmc_ref = keystore.find(KMC_KEY_LABEL).key_ref
    except KeyNotFound:
        raise KeyDeliveryError("this region has no KMC key (label 'kmc'); regions initialised by "
                               "`eseal init` have one") from None
    sessions = _sessions(home, sessions)
    # the signing certificate first: a profile or identity error stops before any key is escrowed
    sign_serial, sign_cert = issue_for_public_key(home, keystore, wanted, public_key=parsed.public_key,
                                                  details={"dual": "signing"}, actor=actor, sessions=sessions)
    kmc = KeyManagementCentre(keystore, sessions, kmc_ref)
    issued = kmc.issue_encryption_key(parsed.public_key, subject=f"cert:{sign_serial}", actor=actor)
    enc_serial, enc_cert = issue_for_public_key(
        home, keystore, dataclasses.replace(wanted, profile=enc_profile),
        public_key=PublicKey.from_bytes(issued.public_key), actor=actor, sessions=sessions,
        details={"dual": "encryption", "dual_of": sign_serial, "escrow_id": issued.escrow_id})
    return DualCertificates(sign_serial, sign_cert, enc_serial, enc_cert, issued.envelope, issued.escrow_id)
