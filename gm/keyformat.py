"""PEM/DER containers for SM2 keys, in the shapes OpenSSL 3 reads and writes.

Functions on raw bytes (d as 32 bytes, points as SEC1 octet strings); the key classes in
gm/sm2.py wrap them. Written:
  * private: PKCS#8 PrivateKeyInfo { id-ecPublicKey, namedCurve sm2p256v1, ECPrivateKey v1 with
    the public key } -- with a password, EncryptedPrivateKeyInfo PBES2 (PBKDF2-HMAC-SHA256,
    AES-256-CBC), the default of `openssl pkcs8 -topk8 -v2 aes-256-cbc`;
  * public: SubjectPublicKeyInfo { id-ecPublicKey, namedCurve sm2p256v1 }.
Read: the same, plus SEC1 "EC PRIVATE KEY" / "SM2 PRIVATE KEY" and PBES2 with PRF
hmacWithSHA1/SHA2/SM3 and AES-CBC or SM4-CBC. Anything else raises KeyFormatError
saying what was found; an out-of-range key raises InvalidKeyError.
"""
from __future__ import annotations

import base64
import binascii
import os
import re

from asn1crypto import algos, core, keys
from asn1crypto import pem as _pem
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives import padding as _padding
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

import gm.asn1  # noqa: F401  (names sm2p256v1 and the SM OIDs in asn1crypto)
from gm import curve, oids
from gm.asn1.parse import _PARSE_ERRORS
from gm.errors import GMError, InvalidKeyError, KeyFormatError

# What we write. 100,000 iterations of PBKDF2-HMAC-SHA256 costs ~30 ms on one core:
# negligible for loading a key, expensive for guessing a password.
PBKDF2_ITERATIONS = 100_000
SALT_SIZE = 16
# What we read: bound the work an untrusted file can make us do.
MAX_PBKDF2_ITERATIONS = 10_000_000

_ID_EC_PUBLIC_KEY = "1.2.840.10045.2.1"
_LABEL_PKCS8 = "PRIVATE KEY"
_LABEL_PKCS8_ENCRYPTED = "ENCRYPTED PRIVATE KEY"
_LABELS_SEC1 = ("EC PRIVATE KEY", "SM2 PRIVATE KEY")  # OpenSSL 3 `openssl ec` writes the second
_LABEL_PUBLIC = "PUBLIC KEY"

_PRFS = {
    "1.2.840.113549.2.7": hashes.SHA1,
    "1.2.840.113549.2.8": hashes.SHA224,
    "1.2.840.113549.2.9": hashes.SHA256,
    "1.2.840.113549.2.10": hashes.SHA384,
    "1.2.840.113549.2.11": hashes.SHA512,
    **{oid: hashes.SM3 for oid in oids.HMAC_SM3_ALIASES},
}
# dotted OID -> (cipher factory, key length)
_PBES2_CIPHERS = {
    "2.16.840.1.101.3.4.1.2": (algorithms.AES, 16),
    "2.16.840.1.101.3.4.1.22": (algorithms.AES, 24),
    "2.16.840.1.101.3.4.1.42": (algorithms.AES, 32),
    oids.SM4_CBC: (algorithms.SM4, 16),
}
_AES256_CBC = "2.16.840.1.101.3.4.1.42"

_PEM_BLOCK = re.compile(
    rb"-----BEGIN ([A-Z0-9 ]+)-----[ \t]*\r?\n(.*?)-----END ([A-Z0-9 ]+)-----", re.DOTALL
)


# --- small helpers ---------------------------------------------------------------------------

def _require_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        hint = " (encode text with .encode())" if isinstance(value, str) else ""
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}{hint}")
    return bytes(value)


def _check_d(d: int) -> None:
    if d == 0:
        raise InvalidKeyError("invalid SM2 private key: d is zero")
    if d >= curve.N:
        raise InvalidKeyError("invalid SM2 private key: d is not below the group order n")
    if d == curve.N - 1:
        raise InvalidKeyError(
            "invalid SM2 private key: d = n - 1 is forbidden for SM2 (1 + d must be invertible mod n)"
        )


def _d_bytes(d: object) -> int:
    d = _require_bytes(d, "d")
    if len(d) != curve.FIELD_SIZE:
        raise InvalidKeyError(f"SM2 private key must be {curve.FIELD_SIZE} bytes, got {len(d)}")
    value = int.from_bytes(d, "big")
    _check_d(value)
    return value


def _unarmor(data: bytes) -> tuple[str | None, bytes]:
    """Return (PEM label or None for DER, DER bytes). Text around one PEM block is allowed."""
    if b"-----BEGIN" not in data:
        return None, data
    blocks = list(_PEM_BLOCK.finditer(data))
    if not blocks:
        raise KeyFormatError("truncated PEM: a -----BEGIN line has no matching -----END line")
    if len(blocks) > 1:
        labels = ", ".join(b.group(1).decode() for b in blocks)
        raise KeyFormatError(f"{len(blocks)} PEM blocks found ({labels}); pass exactly one key")
    block = blocks[0]
    label, body, end_label = block.group(1).decode(), block.group(2), block.group(3).decode()
    if label != end_label:
        raise KeyFormatError(f"PEM block starts as {label!r} but ends as {end_label!r}")
    if b":" in body:
        if b"Proc-Type" in body and b"ENCRYPTED" in body:
            raise KeyFormatError(
                "legacy OpenSSL PEM encryption (Proc-Type: 4,ENCRYPTED) is not supported; "
                "convert the key with `openssl pkcs8 -topk8 -v2 aes-256-cbc`"
            )
        raise KeyFormatError(f"unexpected headers in the {label} PEM block")
    try:
        der = base64.b64decode(b"".join(body.split()), validate=True)
    except (binascii.Error, ValueError):
        raise KeyFormatError(f"the {label} PEM block is not valid base64") from None
    if not der:
        raise KeyFormatError(f"the {label} PEM block is empty")
    return label, der


def _load(spec: type[core.Asn1Value], der: bytes, what: str) -> core.Asn1Value:
    try:
        return spec.load(der, strict=True)  # strict: trailing bytes are an error
    except (ValueError, TypeError, IndexError) as exc:
        raise KeyFormatError(f"{what} is not valid DER: {exc}") from None


def _curve_oid(params: keys.ECDomainParameters, where: str) -> None:
    """Insist on the named curve sm2p256v1; name what we found otherwise."""
    if params.name != "named":
        raise KeyFormatError(
            f"{where} uses {params.name} EC parameters; only the named curve sm2p256v1 "
            f"({oids.SM2}) is supported"
        )
    oid = params.chosen
    if oid.dotted != oids.SM2:
        found = oid.native if oid.native != oid.dotted else "an unknown curve"
        raise KeyFormatError(f"{where} is on {found} ({oid.dotted}), not SM2 sm2p256v1 ({oids.SM2})")


def _algorithm_is_ec(algorithm: core.Sequence, where: str) -> None:
    oid = algorithm["algorithm"]
    if oid.dotted != _ID_EC_PUBLIC_KEY:
        name = oid.native if oid.native != oid.dotted else "unknown"
        raise KeyFormatError(
            f"{where} is not an SM2 key: its algorithm is {name} ({oid.dotted}), expected "
            f"id-ecPublicKey ({_ID_EC_PUBLIC_KEY}) with curve sm2p256v1 ({oids.SM2})"
        )


def _point(bit_string: core.Asn1Value, where: str) -> bytes:
    try:
        point = bit_string.native
    except (ValueError, TypeError, IndexError) as exc:
        raise KeyFormatError(f"{where}: malformed public key BIT STRING: {exc}") from None
    curve.check_point(point)
    return point


# --- private keys: read ----------------------------------------------------------------------

def _read_ec_private_key(der: bytes, where: str, outer_curve: bool) -> tuple[bytes, bytes | None]:
    ec = _load(keys.ECPrivateKey, der, where)
    try:
        if ec["version"].native != "ecPrivkeyVer1":
            raise KeyFormatError(f"{where}: ECPrivateKey version must be 1, got {ec['version'].native}")
        raw = ec["private_key"].contents
        if not raw:
            raise KeyFormatError(f"{where}: empty private key")
        params = ec["parameters"]
        if isinstance(params, core.Void):
            if not outer_curve:
                raise KeyFormatError(f"{where} has no curve parameters; cannot tell it is an SM2 key")
        else:
            _curve_oid(params, where)
        d = int.from_bytes(raw, "big")
        _check_d(d)
        public = ec["public_key"]
        point = None if isinstance(public, core.Void) else _point(public, where)
    except GMError:
        raise
    except _PARSE_ERRORS as exc:
        raise KeyFormatError(f"{where} is malformed: {exc}") from None
    return d.to_bytes(curve.FIELD_SIZE, "big"), point


def _read_pkcs8(der: bytes) -> tuple[bytes, bytes | None]:
    info = _load(keys.PrivateKeyInfo, der, "PKCS#8 PrivateKeyInfo")
    try:
        version = info["version"].native
        if version not in (0, 1):
            raise KeyFormatError(f"PKCS#8 version must be 0 or 1, got {version}")
        algorithm = info["private_key_algorithm"]
        _algorithm_is_ec(algorithm, "the PKCS#8 key")
        if isinstance(algorithm["parameters"], core.Void):
            raise KeyFormatError("the PKCS#8 EC key has no curve parameters")
        _curve_oid(algorithm["parameters"], "the PKCS#8 EC key")
        inner = info["private_key"].contents
    except GMError:
        raise
    except _PARSE_ERRORS as exc:
        raise KeyFormatError(f"PKCS#8 PrivateKeyInfo is malformed: {exc}") from None
    return _read_ec_private_key(inner, "the PKCS#8 ECPrivateKey", outer_curve=True)


def _pbes2_decrypt(der: bytes, password: bytes) -> bytes:
    info = _load(keys.EncryptedPrivateKeyInfo, der, "PKCS#8 EncryptedPrivateKeyInfo")
    try:
        scheme = info["encryption_algorithm"]
        if scheme["algorithm"].dotted != "1.2.840.113549.1.5.13":
            raise KeyFormatError(
                f"unsupported key encryption scheme {scheme['algorithm'].native}; only PBES2 is read "
                "(re-encrypt with `openssl pkcs8 -topk8 -v2 aes-256-cbc`)"
            )
        params = scheme["parameters"]
        kdf = params["key_derivation_func"]
        if kdf["algorithm"].dotted != "1.2.840.113549.1.5.12":
            raise KeyFormatError(f"unsupported PBES2 key derivation {kdf['algorithm'].native}; only PBKDF2 is read")
        kdf_params = kdf["parameters"]
        if kdf_params["salt"].name != "specified":
            raise KeyFormatError("PBKDF2 salt must be an OCTET STRING")
        salt = kdf_params["salt"].chosen.native
        iterations = kdf_params["iteration_count"].native
        if not 1 <= iterations <= MAX_PBKDF2_ITERATIONS:
            raise KeyFormatError(f"PBKDF2 iteration count {iterations} is outside 1..{MAX_PBKDF2_ITERATIONS}")
        prf_oid = kdf_params["prf"]["algorithm"].dotted
        if prf_oid not in _PRFS:
            raise KeyFormatError(f"unsupported PBKDF2 PRF {kdf_params['prf']['algorithm'].native}")
        cipher = params["encryption_scheme"]
        cipher_oid = cipher["algorithm"].dotted
        if cipher_oid not in _PBES2_CIPHERS:
            raise KeyFormatError(
                f"unsupported PBES2 cipher {cipher['algorithm'].native}; AES-CBC and SM4-CBC are read"
            )
        factory, key_size = _PBES2_CIPHERS[cipher_oid]
        declared = kdf_params["key_length"].native
        if declared is not None and declared != key_size:
            raise KeyFormatError(f"PBKDF2 key length {declared} does not match the cipher's {key_size} bytes")
        iv = cipher["parameters"].native
        if not isinstance(iv, bytes) or len(iv) != 16:
            raise KeyFormatError("PBES2 cipher IV must be a 16-byte OCTET STRING")
        encrypted = info["encrypted_data"].native
    except GMError:
        raise
    except _PARSE_ERRORS as exc:
        raise KeyFormatError(f"PKCS#8 EncryptedPrivateKeyInfo is malformed: {exc}") from None
    if not encrypted or len(encrypted) % 16:
        raise KeyFormatError("encrypted key length is not a positive multiple of the 16-byte block")
    key = PBKDF2HMAC(_PRFS[prf_oid](), key_size, salt, iterations).derive(password)
    decryptor = Cipher(factory(key), modes.CBC(iv)).decryptor()
    padded = decryptor.update(encrypted) + decryptor.finalize()
    unpadder = _padding.PKCS7(128).unpadder()
    try:
        return unpadder.update(padded) + unpadder.finalize()
    except ValueError:
        raise KeyFormatError("wrong password, or the encrypted key is corrupted") from None


def _read_encrypted_pkcs8(der: bytes, password: bytes | None) -> tuple[bytes, bytes | None]:
    if password is None:
        raise KeyFormatError("the private key is encrypted; a password is required")
    plain = _pbes2_decrypt(der, password)
    try:
        return _read_pkcs8(plain)
    except KeyFormatError as exc:
        # Right padding but no key inside: almost always a wrong password (about 1 in 256 tries).
        raise KeyFormatError(f"wrong password, or the encrypted key is corrupted ({exc})") from None


def _der_kind(der: bytes) -> str:
    """Tell PKCS#8, encrypted PKCS#8 and SEC1 apart by their first fields."""
    outer = _load(core.Sequence, der, "private key")
    try:
        first, second = outer[0], outer[1]
    except (ValueError, KeyError, IndexError) as exc:
        raise KeyFormatError(f"not a private key container: {exc}") from None
    if first.tag == 2 and second.tag == 16:  # INTEGER, SEQUENCE
        return "pkcs8"
    if first.tag == 16 and second.tag == 4:  # SEQUENCE, OCTET STRING
        return "pkcs8-encrypted"
    if first.tag == 2 and second.tag == 4:  # INTEGER, OCTET STRING
        return "sec1"
    raise KeyFormatError("DER data is not a PKCS#8, encrypted PKCS#8 or SEC1 private key")


def decode_private_key(data: bytes, password: bytes | None = None) -> tuple[bytes, bytes | None]:
    """Read an SM2 private key (PEM or DER). Returns (d as 32 bytes, public point or None)."""
    data = _require_bytes(data, "data")
    if password is not None:
        password = _require_bytes(password, "password")
    if not data.strip():
        raise KeyFormatError("no key data (empty input)")
    label, der = _unarmor(data)
    if label is None:
        kind = _der_kind(der)
    elif label == _LABEL_PKCS8:
        kind = "pkcs8"
    elif label == _LABEL_PKCS8_ENCRYPTED:
        kind = "pkcs8-encrypted"
    elif label in _LABELS_SEC1:
        kind = "sec1"
    elif label == "RSA PRIVATE KEY":
        raise KeyFormatError("the PEM block holds an RSA private key, not an SM2 key")
    else:
        raise KeyFormatError(
            f"the PEM block is {label!r}; expected PRIVATE KEY, ENCRYPTED PRIVATE KEY or EC PRIVATE KEY"
        )
    if kind == "pkcs8-encrypted":
        return _read_encrypted_pkcs8(der, password)
    if password is not None:
        raise KeyFormatError("a password was given but the private key is not encrypted")
    if kind == "pkcs8":
        return _read_pkcs8(der)
    return _read_ec_private_key(der, "the SEC1 EC private key", outer_curve=False)


# --- private keys: write ---------------------------------------------------------------------

def _sm2_algorithm() -> dict:
    return {"algorithm": "ec", "parameters": keys.ECDomainParameters(name="named", value="sm2p256v1")}


def _pkcs8_der(d: object, public_point: object) -> bytes:
    d_int = _d_bytes(d)
    ec = keys.ECPrivateKey({"version": "ecPrivkeyVer1", "private_key": d_int})
    ec.set_key_size(curve.FIELD_SIZE)  # d always as 32 octets, as OpenSSL writes it
    if public_point is not None:
        point = _require_bytes(public_point, "public_point")
        curve.check_point(point)
        ec["public_key"] = point
    info = keys.PrivateKeyInfo({
        "version": 0,
        "private_key_algorithm": _sm2_algorithm(),
        "private_key": ec,
    })
    return info.dump()


def _pbes2_encrypt(plain: bytes, password: object) -> bytes:
    password = _require_bytes(password, "password")
    if not password:
        raise GMError("password must not be empty")
    salt, iv = os.urandom(SALT_SIZE), os.urandom(16)
    key = PBKDF2HMAC(hashes.SHA256(), 32, salt, PBKDF2_ITERATIONS).derive(password)
    padder = _padding.PKCS7(128).padder()
    encryptor = Cipher(algorithms.AES(key), modes.CBC(iv)).encryptor()
    encrypted = encryptor.update(padder.update(plain) + padder.finalize()) + encryptor.finalize()
    info = keys.EncryptedPrivateKeyInfo({
        "encryption_algorithm": {
            "algorithm": "pbes2",
            "parameters": algos.Pbes2Params({
                "key_derivation_func": {
                    "algorithm": "pbkdf2",
                    "parameters": {
                        "salt": algos.Pbkdf2Salt(name="specified", value=salt),
                        "iteration_count": PBKDF2_ITERATIONS,
                        "prf": {"algorithm": "sha256", "parameters": core.Null()},
                    },
                },
                "encryption_scheme": {"algorithm": "aes256_cbc", "parameters": core.OctetString(iv)},
            }),
        },
        "encrypted_data": encrypted,
    })
    return info.dump()


def encode_private_key_der(d: bytes, public_point: bytes | None, password: bytes | None = None) -> bytes:
    """PKCS#8 DER of an SM2 key; encrypted (PBES2, AES-256-CBC) when a password is given."""
    plain = _pkcs8_der(d, public_point)
    return plain if password is None else _pbes2_encrypt(plain, password)


def encode_private_key_pem(d: bytes, public_point: bytes | None, password: bytes | None = None) -> bytes:
    der = encode_private_key_der(d, public_point, password)
    return _pem.armor(_LABEL_PKCS8 if password is None else _LABEL_PKCS8_ENCRYPTED, der)


# --- public keys -----------------------------------------------------------------------------

def encode_public_key_der(point: bytes) -> bytes:
    """SubjectPublicKeyInfo DER of an SM2 public key (point as given: 04||x||y or compressed)."""
    point = _require_bytes(point, "point")
    curve.check_point(point)
    return keys.PublicKeyInfo({"algorithm": _sm2_algorithm(), "public_key": point}).dump()


def encode_public_key_pem(point: bytes) -> bytes:
    return _pem.armor(_LABEL_PUBLIC, encode_public_key_der(point))


def decode_public_key(data: bytes) -> bytes:
    """Read an SM2 SubjectPublicKeyInfo (PEM or DER); returns the point bytes as stored."""
    data = _require_bytes(data, "data")
    if not data.strip():
        raise KeyFormatError("no key data (empty input)")
    label, der = _unarmor(data)
    if label is not None and label != _LABEL_PUBLIC:
        raise KeyFormatError(f"the PEM block is {label!r}; expected PUBLIC KEY")
    info = _load(keys.PublicKeyInfo, der, "SubjectPublicKeyInfo")
    try:
        algorithm = info["algorithm"]
        _algorithm_is_ec(algorithm, "the public key")
        if isinstance(algorithm["parameters"], core.Void):
            raise KeyFormatError("the EC public key has no curve parameters")
        _curve_oid(algorithm["parameters"], "the public key")
        return _point(info["public_key"], "the public key")
    except GMError:
        raise
    except _PARSE_ERRORS as exc:
        raise KeyFormatError(f"SubjectPublicKeyInfo is malformed: {exc}") from None
