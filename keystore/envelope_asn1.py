"""ASN.1 of the SM2 enveloped key (GM/T 0009-2012 section 7.4; GB/T 35276-2017 section 7.4).

    SM2EnvelopedKey ::= SEQUENCE {
        symAlgID                AlgorithmIdentifier,  -- symmetric cipher: SM4-ECB 1.2.156.10197.1.104.1
        symEncryptedKey         SM2Cipher,            -- the SM4 key, SM2-encrypted to the recipient
        sm2PublicKey            SM2PublicKey,         -- BIT STRING 04 || x || y of the enveloped pair
        sm2EncryptedPrivateKey  BIT STRING            -- the 32-byte private key, SM4-ECB, no padding
    }

The standard leaves the ECB padding open; 32 bytes are two whole blocks, and the
producers seen in the field (e.g. GmSSL-derived SDKs, the Go gmsm library) write no
padding. symAlgID parameters are written as NULL and accepted absent.
Declared here for now; its final home is gm/asn1/ (one module per standard).
"""
from __future__ import annotations

from asn1crypto.core import Any, BitString, ObjectIdentifier, OctetBitString, Sequence

from gm.asn1.sm2 import SM2Cipher

OID_SM4 = "1.2.156.10197.1.104"  # GB/T 32907 SM4, bare (some producers use it for ECB)
OID_SM4_ECB = "1.2.156.10197.1.104.1"  # SM4 in ECB mode (GM/T 0006)


class SymAlgorithmIdentifier(Sequence):
    _fields = [
        ("algorithm", ObjectIdentifier),
        ("parameters", Any, {"optional": True}),
    ]


class SM2EnvelopedKey(Sequence):
    _fields = [
        ("sym_alg_id", SymAlgorithmIdentifier),
        ("sym_encrypted_key", SM2Cipher),
        ("sm2_public_key", OctetBitString),
        ("sm2_encrypted_private_key", OctetBitString),
    ]


__all__ = ["OID_SM4", "OID_SM4_ECB", "BitString", "SM2Cipher", "SM2EnvelopedKey", "SymAlgorithmIdentifier"]
