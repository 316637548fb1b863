"""Typed errors of the ShangMi layer. Each carries a message a person can act on."""


class GMError(ValueError):
    """Base of every error raised by gm/ for bad input."""


class InvalidKeyError(GMError):
    """A private or public key is out of range, malformed or not on the SM2 curve."""


class InvalidPointError(InvalidKeyError):
    """Bytes that should encode a curve point do not (wrong length, prefix, not on curve, infinity)."""


class SignatureEncodingError(GMError):
    """A signature is not a strict DER SEQUENCE { r, s } with r, s in [1, n-1]."""


class DecryptionError(GMError):
    """An SM2 ciphertext is malformed or fails its integrity check (C3)."""


class KeyFormatError(GMError):
    """A PEM/DER key container cannot be read (wrong type, curve, password or structure)."""


class CipherError(GMError):
    """SM4 input is malformed: wrong key/IV length, bad padding, failed authentication tag."""


class ASN1FormatError(GMError):
    """DER that does not parse as the structure it should be (or uses an unknown algorithm)."""
