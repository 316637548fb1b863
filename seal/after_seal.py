"""SM3 over DER that carries a seal near its start, resumed from a state kept after the seal.

A TBS_Sign (what the signer's SM2 signature covers, after Z_A) and an SES_Signature begin with
a few header bytes, version 4 and the whole seal -- mostly its picture, often 15 KB or more --
and the seal repeats from document to document. Sealing hashes it twice per sealing (e, and
the signature's log key: seal/service.py), verification once per document (e, in
verify/documents.py); SM3 of 17 KB is about 45 µs. Here the state after ``before || header ||
seal`` is kept, keyed by those bytes, and the seal's bytes are compared in place each time
(a full comparison, not a digest), so the result is exactly SM3(before || der).
"""
from __future__ import annotations

from gm.sm3 import SM3Hash, sm3

__all__ = ["seal_offset", "sm3_after_seal"]

_STATES: dict[tuple[bytes, bytes], SM3Hash] = {}
_MAX = 64


def seal_offset(der: bytes, depth: int) -> int:
    """Where the seal would start in DER whose ``depth`` nested SEQUENCE headers are followed by
    version INTEGER 4 (3 bytes) and the seal: TBS_Sign (depth 1), SES_Signature (depth 2);
    -1 when ``der`` is too short to say."""
    at = 0
    for _ in range(depth):
        if len(der) < at + 2:
            return -1
        at += 2 if der[at + 1] < 0x80 else 2 + (der[at + 1] & 0x7F)
    return at + 3


def sm3_after_seal(before: bytes, der: bytes, seal_der: bytes, offset: int) -> bytes:
    """SM3(before || der), from the kept state after the seal when ``der`` holds ``seal_der``
    at ``offset``; hashed in full otherwise."""
    if offset < 0 or not seal_der or not der.startswith(seal_der, offset):
        return sm3(before + der)
    key = (before + der[:offset], seal_der)
    state = _STATES.get(key)
    if state is None:
        if len(_STATES) >= _MAX:
            _STATES.clear()
        state = _STATES[key] = SM3Hash(key[0] + seal_der)
    resumed = state.copy()
    resumed.update(der[offset + len(seal_der):])
    return resumed.digest()
