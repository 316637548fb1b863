"""Make and open GM/T 0009 SM2 enveloped keys (the KMC's way of delivering an encryption key).

make:  a fresh SM4 key k; symEncryptedKey = SM2-Encrypt(recipient public key, k) as
       GM/T 0009 DER; sm2EncryptedPrivateKey = SM4-ECB(k, d) with d the 32-byte private
       key (two blocks, no padding); sm2PublicKey = 04 || x || y.
open:  SM2-decrypt k with the recipient's private key (or any callable that does it, e.g.
       a KeyStore's decrypt by key_ref), SM4-ECB-decrypt d, and check that d matches the
       public key carried in the envelope.
"""
from __future__ import annotations

import secrets
from collections.abc import Callable

from asn1crypto.core import Null

from gm.errors import GMError
from gm.records import frozen_record
from gm.sm2 import PrivateKey, PublicKey
from keystore._primitives import CipherError, ecb_decrypt, ecb_encrypt
from keystore.envelope_asn1 import OID_SM4, OID_SM4_ECB, SM2Cipher, SM2EnvelopedKey
from keystore.errors import EnvelopeError

SM4_KEY_SIZE = 16


@frozen_record
class EnvelopeParts:
    sym_algorithm: str  # dotted OID
    sym_encrypted_key: bytes  # DER SM2Cipher
    public_key: bytes  # 04 || x || y
    encrypted_private_key: bytes


def make_enveloped_key(recipient: PublicKey, private_key: PrivateKey) -> bytes:
    """DER SM2EnvelopedKey carrying `private_key`, readable only by the holder of `recipient`."""
    sym_key = secrets.token_bytes(SM4_KEY_SIZE)
    encrypted_key = recipient.encrypt(sym_key)
    envelope = SM2EnvelopedKey(
        {
            "sym_alg_id": {"algorithm": OID_SM4_ECB, "parameters": Null()},
            "sym_encrypted_key": SM2Cipher.load(encrypted_key),
            "sm2_public_key": private_key.public_key.to_bytes(),
            "sm2_encrypted_private_key": ecb_encrypt(sym_key, private_key.to_bytes()),
        }
    )
    return envelope.dump(force=True)


def parse_enveloped_key(der: bytes) -> EnvelopeParts:
    """Split a DER SM2EnvelopedKey into its fields, with a clear error on malformed input."""
    try:
        env = SM2EnvelopedKey.load(bytes(der), strict=True)
        algorithm = env["sym_alg_id"]["algorithm"].dotted
        sym_encrypted_key = env["sym_encrypted_key"].dump()
        public_key = bytes(env["sm2_public_key"].native)
        encrypted_private_key = bytes(env["sm2_encrypted_private_key"].native)
        # force a full parse of the SM2Cipher now rather than in the decryptor
        env["sym_encrypted_key"].native  # noqa: B018
    except (ValueError, TypeError, KeyError) as exc:
        raise EnvelopeError(f"not a GM/T 0009 SM2EnvelopedKey: {exc}") from None
    if algorithm not in (OID_SM4_ECB, OID_SM4):
        raise EnvelopeError(
            f"SM2EnvelopedKey uses symmetric algorithm {algorithm}; only SM4-ECB ({OID_SM4_ECB}) is supported"
        )
    if len(public_key) != 65 or public_key[0] != 4:
        raise EnvelopeError("sm2PublicKey must be an uncompressed point 04 || x || y (65 bytes)")
    if len(encrypted_private_key) != 32:
        raise EnvelopeError(
            f"sm2EncryptedPrivateKey must be 32 bytes (SM4-ECB of the private key, no padding), "
            f"got {len(encrypted_private_key)}"
        )
    return EnvelopeParts(algorithm, sym_encrypted_key, public_key, encrypted_private_key)


def open_enveloped_key(der: bytes, recipient: PrivateKey | Callable[[bytes], bytes]) -> PrivateKey:
    """Recover the enveloped private key. `recipient` is the private key the envelope was
    made for, or a function that SM2-decrypts a GM/T 0009 ciphertext with it."""
    parts = parse_enveloped_key(der)
    decrypt = recipient.decrypt if isinstance(recipient, PrivateKey) else recipient
    try:
        sym_key = decrypt(parts.sym_encrypted_key)
    except GMError as exc:
        raise EnvelopeError(f"the envelope's SM4 key does not decrypt with this recipient key: {exc}") from None
    if len(sym_key) != SM4_KEY_SIZE:
        raise EnvelopeError(f"the envelope's symmetric key is {len(sym_key)} bytes, SM4 needs 16")
    try:
        d = ecb_decrypt(sym_key, parts.encrypted_private_key)
        private = PrivateKey.from_bytes(d)
    except (CipherError, GMError) as exc:
        raise EnvelopeError(f"the enveloped private key does not decrypt to a valid SM2 key: {exc}") from None
    if private.public_key.to_bytes() != parts.public_key:
        raise EnvelopeError("the enveloped private key does not match the public key in the envelope")
    return private
