"""The few ShangMi primitives keystore/ needs, adapted from gm/ in one place.

Blobs encrypted with SM4-GCM are stored as nonce (12) || ciphertext || tag (16).
"""
from __future__ import annotations

import secrets

from gm import sm4
from gm.errors import CipherError
from gm.sm3 import hmac_sm3, pbkdf2_hmac_sm3, sm3

__all__ = [
    "CipherError",
    "aad",
    "ecb_decrypt",
    "ecb_encrypt",
    "gcm_open",
    "gcm_seal",
    "hmac_sm3",
    "pbkdf2_hmac_sm3",
    "sm3",
]

NONCE_SIZE = 12
TAG_SIZE = 16
SM4_KEY_SIZE = 16


def aad(*fields: str | bytes) -> bytes:
    """Unambiguous additional authenticated data: each field length-prefixed (4 bytes)."""
    out = bytearray()
    for f in fields:
        b = f.encode("utf-8") if isinstance(f, str) else bytes(f)
        out += len(b).to_bytes(4, "big") + b
    return bytes(out)


def gcm_seal(key: bytes, plaintext: bytes, associated_data: bytes) -> bytes:
    nonce = secrets.token_bytes(NONCE_SIZE)
    ciphertext, tag = sm4.sm4_gcm_encrypt(key, nonce, plaintext, associated_data)
    return nonce + ciphertext + tag


def gcm_open(key: bytes, blob: bytes, associated_data: bytes) -> bytes:
    """Decrypt and authenticate; raises gm.errors.CipherError on any mismatch."""
    if len(blob) < NONCE_SIZE + TAG_SIZE:
        raise CipherError("SM4-GCM blob is too short")
    nonce, body = blob[:NONCE_SIZE], blob[NONCE_SIZE:]
    return sm4.sm4_gcm_decrypt(key, nonce, body[:-TAG_SIZE], body[-TAG_SIZE:], associated_data)


def ecb_encrypt(key: bytes, data: bytes) -> bytes:
    """SM4-ECB without padding (data is a whole number of blocks): GM/T 0009 enveloped keys."""
    return sm4.sm4_ecb_encrypt(key, data, padding=False)


def ecb_decrypt(key: bytes, data: bytes) -> bytes:
    return sm4.sm4_ecb_decrypt(key, data, padding=False)
