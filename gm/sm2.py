"""SM2 public-key cryptography (GB/T 32918) on sm2p256v1.

The curve arithmetic lives in the native core `gm._sm2` (constant-time for secrets);
this module adds what the standard layers on top: Z_A and e = SM3(Z_A || M) for
signatures, the KDF and C3 check for encryption, and the key containers.
"""
from __future__ import annotations

import hmac
import secrets
import threading
from collections import OrderedDict

from gm import _sm2
from gm.asn1.sm2 import SM2Cipher
from gm.curve import A_BYTES, B_BYTES, GX_BYTES, GY_BYTES, N
from gm.errors import DecryptionError, GMError, InvalidKeyError
from gm.kdf import sm2_kdf
from gm.sm3 import SM3Hash, sm3

DEFAULT_UID = b"1234567812345678"  # GM/T 0009-2012 section 10
_MAX_UID_BYTES = 0xFFFF // 8  # ENTL is the bit length in two bytes
_CURVE_FOR_Z = A_BYTES + B_BYTES + GX_BYTES + GY_BYTES
_TABLE_AFTER_VERIFICATIONS = 2
# PublicKey.shared: keys of the signers, CAs, OCSP responders and TSAs a process verifies
# again and again. Bounded because a busy key holds a 52 KiB table: 256 keys, at most ~13 MiB.
_SHARED_KEYS_LIMIT = 256
_shared_keys: OrderedDict[bytes, PublicKey] = OrderedDict()
_shared_keys_lock = threading.Lock()


def _check_bytes(value: object, name: str) -> bytes:
    if not isinstance(value, (bytes, bytearray, memoryview)):
        raise TypeError(f"{name} must be bytes, not {type(value).__name__}")
    return bytes(value)


def _check_uid(uid: object) -> bytes:
    uid = _check_bytes(uid, "uid")
    if len(uid) > _MAX_UID_BYTES:
        raise GMError(f"SM2 user ID is {len(uid)} bytes; at most {_MAX_UID_BYTES} fit in ENTL")
    return uid


class PublicKey:
    """An SM2 public key: a validated point. Immutable; caches Z_A per user ID."""

    __slots__ = ("_point", "_z_values", "_z_states", "_table", "_verifications")

    def __init__(self, point: bytes) -> None:
        # Internal: callers use from_bytes / from_pem, which validate.
        self._point = point
        self._z_values: dict[bytes, bytes] = {}
        self._z_states: dict[bytes, SM3Hash] = {}
        self._table: bytes | None = None
        self._verifications = 0

    @classmethod
    def from_bytes(cls, data: bytes) -> PublicKey:
        """65-byte uncompressed (04||x||y) or 33-byte compressed (02/03||x) point."""
        return cls(_sm2.point_decode(_check_bytes(data, "public key")))

    @classmethod
    def shared(cls, data: bytes) -> PublicKey:
        """The process's one key object for this point (validated as ``from_bytes`` does).

        Verifiers use it for keys that come back (a signer's certificate in every document
        it seals, a TSA's in every token): Z_A and the comb table (built on a key's
        third verification) are then computed once per process, not once per document.
        Least recently used keys are dropped past 256."""
        data = _check_bytes(data, "public key")
        with _shared_keys_lock:
            key = _shared_keys.get(data)
            if key is not None:
                _shared_keys.move_to_end(data)
                return key
        key = cls.from_bytes(data)
        with _shared_keys_lock:
            key = _shared_keys.setdefault(data, key)
            if len(_shared_keys) > _SHARED_KEYS_LIMIT:
                _shared_keys.popitem(last=False)
        return key

    @staticmethod
    def forget_shared() -> None:
        """Drop every shared key (benchmarks measure first use)."""
        with _shared_keys_lock:
            _shared_keys.clear()

    def to_bytes(self, compressed: bool = False) -> bytes:
        if not compressed:
            return self._point
        y_odd = self._point[64] & 1
        return bytes([0x02 | y_odd]) + self._point[1:33]

    def z(self, uid: bytes = DEFAULT_UID) -> bytes:
        """Z_A = SM3(ENTL || ID || a || b || xG || yG || xA || yA); kept per user ID, as its
        hash state is (a verifier asks a shared key for it once per document)."""
        uid = _check_uid(uid)
        value = self._z_values.get(uid)
        if value is None:
            value = self._z_value(uid)
            if len(self._z_values) < 8:  # a key is used with one or two IDs in practice
                self._z_values[uid] = value
        return value

    def _z_value(self, uid: bytes) -> bytes:
        uid = _check_uid(uid)
        entl = (len(uid) * 8).to_bytes(2, "big")
        return sm3(entl + uid + _CURVE_FOR_Z + self._point[1:])

    def _z_state(self, uid: bytes) -> SM3Hash:
        uid = _check_uid(uid)
        state = self._z_states.get(uid)
        if state is None:
            state = SM3Hash(self._z_value(uid))
            if len(self._z_states) < 8:  # a key is used with one or two IDs in practice
                self._z_states[uid] = state
        return state

    def digest(self, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """e = SM3(Z_A || M), the value SM2 actually signs."""
        hasher = self._z_state(uid).copy()
        hasher.update(_check_bytes(data, "data"))
        return hasher.digest()

    def verify(self, signature: bytes, data: bytes, uid: bytes = DEFAULT_UID) -> bool:
        """True when `signature` (DER) is valid for `data` under signer ID `uid`.

        A well-formed but wrong signature returns False; a malformed one (bad DER,
        r or s outside [1, n-1]) raises SignatureEncodingError.
        """
        return self._verify(_check_bytes(signature, "signature"), self.digest(data, uid))

    def verify_digest(self, signature: bytes, e: bytes) -> bool:
        """Verify over a precomputed 32-byte e (no Z_A is added)."""
        e = _check_bytes(e, "e")
        if len(e) != 32:
            raise GMError(f"the SM2 digest e is 32 bytes, not {len(e)}")
        return self._verify(_check_bytes(signature, "signature"), e)

    def _verify(self, signature: bytes, e: bytes) -> bool:
        # A key verified more than once (CA, OCSP, TSA, a busy seal signer) gets a 52 KiB
        # comb table (about one millisecond to build) so t*P needs no doublings: the same
        # trick as the fixed table for G. A key seen once pays nothing extra.
        if self._table is None:
            self._verifications += 1
            if self._verifications < _TABLE_AFTER_VERIFICATIONS:
                return _sm2.verify_digest(self._point, e, signature)
            self._table = _sm2.key_table(self._point)
        return _sm2.verify_digest(self._point, e, signature, self._table)

    def encrypt(self, plaintext: bytes) -> bytes:
        """SM2 encryption (GB/T 32918.4) returning GM/T 0009 DER (C1, C3, C2)."""
        plaintext = _check_bytes(plaintext, "plaintext")
        if not plaintext:
            raise GMError("SM2 cannot encrypt an empty message")
        while True:
            k = (secrets.randbelow(N - 1) + 1).to_bytes(32, "big")
            c1 = _sm2.base_mult(k)
            shared = _sm2.scalar_mult(k, self._point)
            x2, y2 = shared[1:33], shared[33:]
            mask = sm2_kdf(x2 + y2, len(plaintext))
            if any(mask):
                break
        c2 = _xor(plaintext, mask)
        c3 = sm3(x2 + plaintext + y2)
        return SM2Cipher(
            {
                "x_coordinate": int.from_bytes(c1[1:33], "big"),
                "y_coordinate": int.from_bytes(c1[33:], "big"),
                "hash": c3,
                "cipher_text": c2,
            }
        ).dump()

    def to_der(self) -> bytes:
        from gm.keyformat import encode_public_key_der

        return encode_public_key_der(self._point)

    def to_pem(self) -> bytes:
        from gm.keyformat import encode_public_key_pem

        return encode_public_key_pem(self._point)

    @classmethod
    def from_der(cls, data: bytes) -> PublicKey:
        return cls.from_pem(data)

    @classmethod
    def from_pem(cls, data: bytes) -> PublicKey:
        """SubjectPublicKeyInfo (id-ecPublicKey, SM2 curve), PEM or DER."""
        from gm.keyformat import decode_public_key

        return cls.from_bytes(decode_public_key(_check_bytes(data, "public key data")))

    def __eq__(self, other: object) -> bool:
        return isinstance(other, PublicKey) and other._point == self._point

    def __hash__(self) -> int:
        return hash(self._point)

    def __repr__(self) -> str:
        return f"PublicKey({self._point[1:9].hex()}…)"


class PrivateKey:
    """An SM2 private key d in [1, n-2]. Signing is constant-time in d and the nonce."""

    __slots__ = ("_d", "_blob", "_public")

    def __init__(self, d: bytes) -> None:
        # Internal: callers use generate / from_bytes / from_pem.
        point, self._blob = _sm2.private_precompute(d)
        self._d = d
        self._public = PublicKey(point)

    @classmethod
    def generate(cls) -> PrivateKey:
        """A fresh key from the OS CSPRNG, uniform in [1, n-2]."""
        return cls((secrets.randbelow(N - 2) + 1).to_bytes(32, "big"))

    @classmethod
    def from_bytes(cls, data: bytes) -> PrivateKey:
        return cls(_check_bytes(data, "private key"))

    def to_bytes(self) -> bytes:
        return self._d

    @property
    def public_key(self) -> PublicKey:
        return self._public

    def sign(self, data: bytes, uid: bytes = DEFAULT_UID) -> bytes:
        """DER signature over e = SM3(Z_A || data) with signer ID `uid`."""
        return _sm2.sign_digest(self._d, self._blob, self._public.digest(data, uid))

    def sign_digest(self, e: bytes) -> bytes:
        """DER signature over a caller-computed 32-byte e."""
        e = _check_bytes(e, "e")
        if len(e) != 32:
            raise GMError(f"the SM2 digest e is 32 bytes, not {len(e)}")
        return _sm2.sign_digest(self._d, self._blob, e)

    def decrypt(self, ciphertext: bytes) -> bytes:
        """Decrypt a GM/T 0009 DER ciphertext; DecryptionError names what is wrong."""
        c1, c3, c2 = _parse_ciphertext(_check_bytes(ciphertext, "ciphertext"))
        try:
            shared = _sm2.scalar_mult(self._d, c1)
        except InvalidKeyError as exc:
            raise DecryptionError(f"SM2 ciphertext point C1 is invalid: {exc}") from None
        x2, y2 = shared[1:33], shared[33:]
        mask = sm2_kdf(x2 + y2, len(c2))
        if not any(mask):
            raise DecryptionError("SM2 KDF produced an all-zero mask; the ciphertext is invalid")
        plaintext = _xor(c2, mask)
        if not hmac.compare_digest(sm3(x2 + plaintext + y2), c3):
            raise DecryptionError("SM2 ciphertext integrity check (C3) failed: wrong key or altered ciphertext")
        return plaintext

    def to_der(self, password: bytes | None = None) -> bytes:
        from gm.keyformat import encode_private_key_der

        return encode_private_key_der(self._d, self._public.to_bytes(), password)

    def to_pem(self, password: bytes | None = None) -> bytes:
        from gm.keyformat import encode_private_key_pem

        return encode_private_key_pem(self._d, self._public.to_bytes(), password)

    @classmethod
    def from_der(cls, data: bytes, password: bytes | None = None) -> PrivateKey:
        return cls.from_pem(data, password)

    @classmethod
    def from_pem(cls, data: bytes, password: bytes | None = None) -> PrivateKey:
        """PKCS#8 (plain or encrypted) or SEC1, PEM or DER; checks a stored public key matches."""
        from gm.keyformat import decode_private_key

        d, stored_point = decode_private_key(_check_bytes(data, "private key data"), password)
        key = cls(d)
        if stored_point is not None and PublicKey.from_bytes(stored_point) != key.public_key:
            raise InvalidKeyError("the public key stored with this private key does not match it")
        return key

    def __repr__(self) -> str:
        return f"PrivateKey(public={self._public!r})"


def _xor(data: bytes, mask: bytes) -> bytes:
    return (int.from_bytes(data, "big") ^ int.from_bytes(mask, "big")).to_bytes(len(data), "big")


def _parse_ciphertext(data: bytes) -> tuple[bytes, bytes, bytes]:
    try:
        parsed = SM2Cipher.load(data, strict=True)
        x = parsed["x_coordinate"].native
        y = parsed["y_coordinate"].native
        c3 = parsed["hash"].native
        c2 = parsed["cipher_text"].native
    except (ValueError, TypeError) as exc:
        raise DecryptionError(f"SM2 ciphertext is not GM/T 0009 DER: {exc}") from None
    if not (0 <= x < 2**256 and 0 <= y < 2**256):
        raise DecryptionError("SM2 ciphertext C1 coordinates are out of range")
    if len(c3) != 32:
        raise DecryptionError(f"SM2 ciphertext hash C3 is {len(c3)} bytes, not 32")
    if not c2:
        raise DecryptionError("SM2 ciphertext C2 is empty")
    c1 = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
    return c1, c3, c2





def signature_to_rs(signature: bytes) -> tuple[int, int]:
    """(r, s) of a strict DER SM2 signature; SignatureEncodingError names what is wrong."""
    r, s = _sm2.signature_to_rs(_check_bytes(signature, "signature"))
    return int.from_bytes(r, "big"), int.from_bytes(s, "big")


def signature_from_rs(r: int, s: int) -> bytes:
    """DER SEQUENCE { r, s } for r, s in [1, n-1] (e.g. from a raw 64-byte r || s)."""
    if not (isinstance(r, int) and isinstance(s, int)) or r < 0 or s < 0 or r >= 2**256 or s >= 2**256:
        from gm.errors import SignatureEncodingError

        raise SignatureEncodingError("r and s must be integers in [1, n-1]")
    return _sm2.signature_from_rs(r.to_bytes(32, "big"), s.to_bytes(32, "big"))
