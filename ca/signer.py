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


def _der_positive_int(buf: bytes, i: int) -> int:
    """Index after a DER INTEGER at ``buf[i]`` that is positive and minimally encoded."""
    if i + 2 > len(buf) or buf[i] != 0x02:
        raise ValueError("expected an INTEGER")
    n = buf[i + 1]
    if n == 0 or n > 33 or i + 2 + n > len(buf):
        raise ValueError("bad INTEGER length")
    first = buf[i + 2]
    if first & 0x80:
        raise ValueError("negative INTEGER")
    if first == 0 and (n == 1 or not buf[i + 3] & 0x80):
        raise ValueError("INTEGER not minimally encoded or zero")
    return i + 2 + n


def sign_checked(signer: Signer, data: bytes) -> bytes:
    """Call the signer and check it returned DER SEQUENCE { r INTEGER, s INTEGER } with
    r, s positive (a cheap structural check; the signer owns the arithmetic)."""
    sig = signer.sign(data)
    if not isinstance(sig, (bytes, bytearray)):
        raise SignerError("the signer did not return bytes")
    sig = bytes(sig)
    try:
        if len(sig) < 8 or sig[0] != 0x30 or sig[1] != len(sig) - 2:
            raise ValueError("not a short-form DER SEQUENCE covering the whole value")
        if _der_positive_int(sig, _der_positive_int(sig, 2)) != len(sig):
            raise ValueError("trailing bytes after s")
    except (ValueError, IndexError) as exc:
        raise SignerError(f"the signer returned a malformed SM2 signature: {exc}") from None
    return sig
