"""SM3 hash (GB/T 32905-2016), HMAC-SM3 (GM/T 0042-2015) and PBKDF2-HMAC-SM3, all through OpenSSL.

The compression function runs in OpenSSL: SM3 through Python's own hashlib when its OpenSSL
offers SM3 (a copy of an empty context is about 1 µs cheaper per digest than a new
`cryptography` Hash, and a verification takes half a dozen digests), else through
`cryptography`, as HMAC and PBKDF2 always are. This module only adapts the interface to
hashlib's shape and checks arguments so misuse fails with a readable message.
"""
from __future__ import annotations

import hashlib
from typing import Any

from cryptography.hazmat.primitives import hashes, hmac
from cryptography.hazmat.primitives.kdf.pbkdf2 import PBKDF2HMAC

from gm.errors import GMError

DIGEST_SIZE = 32
BLOCK_SIZE = 64

_BYTES_LIKE = (bytes, bytearray, memoryview)
# PBKDF2 output is limited to (2^32 - 1) blocks by RFC 8018 5.2; far beyond any real use.
_PBKDF2_MAX_LENGTH = (2**32 - 1) * DIGEST_SIZE


def _require_bytes(value: object, name: str) -> None:
    if not isinstance(value, _BYTES_LIKE):
        raise TypeError(f"{name} must be bytes-like, not {type(value).__name__}")


def _require_int(value: object, name: str) -> None:
    # bool is an int subclass; True as an iteration count is a bug, not a request.
    if not isinstance(value, int) or isinstance(value, bool):
        raise TypeError(f"{name} must be an int, not {type(value).__name__}")


class _CryptographySM3:
    """cryptography's SM3 with hashlib's interface (update / copy / digest): the fallback."""

    __slots__ = ("_hash",)

    def __init__(self, state: hashes.Hash | None = None) -> None:
        self._hash = state if state is not None else hashes.Hash(hashes.SM3())

    def update(self, data: bytes) -> None:
        self._hash.update(data)

    def copy(self) -> _CryptographySM3:
        return _CryptographySM3(self._hash.copy())

    def digest(self) -> bytes:
        return self._hash.copy().finalize()


def _empty_state() -> Any:
    """An empty SM3 state, copied for each digest: hashlib's when it has SM3."""
    try:
        return hashlib.new("sm3")
    except ValueError:           # Python's OpenSSL without SM3
        return _CryptographySM3()


_EMPTY = _empty_state()


class SM3Hash:
    """Incremental SM3 with hashlib's interface (update / copy / digest / hexdigest).

    `copy()` clones the OpenSSL context (well under a microsecond), so a state primed
    with Z_A can be copied per message instead of rehashing Z_A each time.
    """

    __slots__ = ("_ctx",)
    name = "sm3"
    digest_size = DIGEST_SIZE
    block_size = BLOCK_SIZE

    def __init__(self, data: bytes = b"") -> None:
        self._ctx = _EMPTY.copy()
        if data:
            self.update(data)

    def update(self, data: bytes) -> None:
        _require_bytes(data, "data")
        self._ctx.update(data)

    def copy(self) -> SM3Hash:
        clone = SM3Hash.__new__(SM3Hash)
        clone._ctx = self._ctx.copy()
        return clone

    def digest(self) -> bytes:
        return self._ctx.digest()        # hashlib semantics: digest() does not end the hash

    def hexdigest(self) -> str:
        return self.digest().hex()


def new(data: bytes = b"") -> SM3Hash:
    """A fresh incremental SM3 hasher, optionally fed with `data`."""
    return SM3Hash(data)


def sm3(data: bytes) -> bytes:
    """SM3 digest (32 bytes) of `data`."""
    _require_bytes(data, "data")
    state = _EMPTY.copy()
    state.update(data)
    return state.digest()


def hmac_sm3(key: bytes, data: bytes) -> bytes:
    """HMAC-SM3 (GM/T 0042-2015, RFC 2104 construction), 32-byte tag."""
    _require_bytes(key, "key")
    _require_bytes(data, "data")
    mac = hmac.HMAC(bytes(key), hashes.SM3())
    mac.update(data)
    return mac.finalize()


def pbkdf2_hmac_sm3(password: bytes, salt: bytes, iterations: int, length: int = 32) -> bytes:
    """PBKDF2 (RFC 8018 5.2; GM/T 0091-2020) with HMAC-SM3 as the PRF."""
    _require_bytes(password, "password")
    _require_bytes(salt, "salt")
    _require_int(iterations, "iterations")
    _require_int(length, "length")
    if iterations < 1:
        raise GMError(f"PBKDF2 iterations must be at least 1, got {iterations}")
    if not 1 <= length <= _PBKDF2_MAX_LENGTH:
        raise GMError(f"PBKDF2 output length must be between 1 and {_PBKDF2_MAX_LENGTH} bytes, got {length}")
    kdf = PBKDF2HMAC(algorithm=hashes.SM3(), length=length, salt=bytes(salt), iterations=iterations)
    return kdf.derive(bytes(password))
