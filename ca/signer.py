"""The one thing ca/ needs from a key: a :class:`Signer` (STYLE.md #1, #2).

The keystore hands out signers by key reference; ca/ never sees private key bytes.
``sign(data)`` returns a DER ``SEQUENCE { r, s }`` SM2 signature over ``data`` with SM3
and the default signer ID 1234567812345678 (Z_A computed by the signer).
"""
from __future__ import annotations

from typing import Protocol, runtime_checkable

from asn1crypto import keys

from ca import oids
from ca.errors import SignerError


@runtime_checkable
class PublicKeyLike(Protocol):
    """What ca/ uses of ``gm.sm2.PublicKey``."""

    def to_bytes(self) -> bytes: ...


@runtime_checkable
class Signer(Protocol):
    @property
    def public_key(self) -> PublicKeyLike: ...

    def sign(self, data: bytes) -> bytes: ...


def point_bytes(public_key: PublicKeyLike | bytes) -> bytes:
    """The 65-byte uncompressed SM2 point of a public key object (or of bytes)."""
    raw = public_key if isinstance(public_key, (bytes, bytearray)) else public_key.to_bytes()
    raw = bytes(raw)
    if len(raw) == 33 and raw[0] in (2, 3):
        from gm.sm2 import PublicKey  # decompression is the SM2 core's job

        raw = PublicKey.from_bytes(raw).to_bytes()
    if len(raw) != 65 or raw[0] != 4:
        raise SignerError(f"expected an uncompressed SM2 point (65 bytes, 04...), got {len(raw)} bytes")
    return raw


def sm2_spki(public_key: PublicKeyLike | bytes) -> keys.PublicKeyInfo:
    """SubjectPublicKeyInfo { id-ecPublicKey, namedCurve SM2 } for an SM2 public key."""
    return keys.PublicKeyInfo({
        "algorithm": keys.PublicKeyAlgorithm({
            "algorithm": "ec",
            "parameters": keys.ECDomainParameters(name="named", value=oids.SM2_CURVE),
        }),
        "public_key": point_bytes(public_key),
    })


def sign_checked(signer: Signer, data: bytes) -> bytes:
    """Call the signer and check it returned a DER SEQUENCE of two positive INTEGERs."""
    sig = signer.sign(data)
    if not isinstance(sig, (bytes, bytearray)) or len(sig) < 8 or sig[0] != 0x30:
        raise SignerError("the signer did not return a DER SM2 signature")
    try:
        from asn1crypto.algos import DSASignature

        parsed = DSASignature.load(bytes(sig), strict=True)
        r, s = parsed["r"].native, parsed["s"].native
    except Exception as exc:  # noqa: BLE001 - any parse failure is the signer's fault
        raise SignerError(f"the signer returned a malformed signature: {exc}") from None
    if r <= 0 or s <= 0:
        raise SignerError("the signer returned a signature with r or s not positive")
    return bytes(sig)
