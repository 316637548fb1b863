"""ASN.1 of SM2 ciphertexts (GM/T 0009-2012 section 7.2)."""
from asn1crypto.core import Integer, OctetString, Sequence


class SM2Cipher(Sequence):
    """SM2Cipher ::= SEQUENCE { XCoordinate INTEGER, YCoordinate INTEGER,
    HASH OCTET STRING (SIZE(32)), CipherText OCTET STRING } -- C1 || C3 || C2 order."""

    _fields = [
        ("x_coordinate", Integer),
        ("y_coordinate", Integer),
        ("hash", OctetString),
        ("cipher_text", OctetString),
    ]
