"""The SM2 key derivation function (GB/T 32918.4-2016 5.4.3).

It is ANSI X9.63 KDF with SM3 and no shared info: K = SM3(Z || ct=1) || SM3(Z || ct=2) || ...,
truncated to klen bytes. OpenSSL computes it through `cryptography`'s X963KDF.
"""
from __future__ import annotations

from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.kdf.x963kdf import X963KDF

from gm.errors import GMError

# The 32-bit counter bounds the output at (2^32 - 1) SM3 blocks (GB/T 32918.4 5.4.3).
MAX_KLEN = (2**32 - 1) * 32


def sm2_kdf(z: bytes, klen: int) -> bytes:
    """Derive `klen` bytes from the shared secret `z` (for SM2 encryption, z = x2 || y2)."""
    if not isinstance(z, (bytes, bytearray, memoryview)):
        raise TypeError(f"z must be bytes-like, not {type(z).__name__}")
    if not isinstance(klen, int) or isinstance(klen, bool):
        raise TypeError(f"klen must be an int (bytes), not {type(klen).__name__}")
    if not 0 <= klen <= MAX_KLEN:
        raise GMError(f"klen must be between 0 and {MAX_KLEN} bytes, got {klen}")
    if klen == 0:
        # X963KDF refuses length 0; the empty key is still well defined.
        return b""
    return X963KDF(algorithm=hashes.SM3(), length=klen, sharedinfo=None).derive(bytes(z))
