"""A :class:`ca.signer.Signer` over a key store key reference (ca/ never sees key bytes).

``KeyStoreSigner(keystore, key_ref, actor=..., role=...)`` signs through
``keystore.sign(key_ref, data, actor=, role=)`` — so every CA signature is checked against
the key's policy and audited by the key store — and exposes ``keystore.public_key(key_ref)``.
Messages of DIGEST_HERE_FROM bytes or more (a full CRL) are hashed here and signed with
``keystore.sign_digest`` (audited with e = SM3(Z_A || M)), so they are hashed once, not twice.
The key store's ``sign`` runs in its own database transaction: call it outside a write
transaction of the same SQLite database (ca/service.py signs first, then stores).
"""
from __future__ import annotations

from typing import Any

from ca.signer import PublicKeyLike, point_bytes
from gm.sm2 import PublicKey

__all__ = ["KeyStoreSigner", "DIGEST_HERE_FROM"]

DIGEST_HERE_FROM = 1 << 20  # bytes: large messages (full CRLs) are hashed here and signed as e


class KeyStoreSigner:
    """Signs with the key store key ``key_ref`` as ``actor`` in ``role``."""

    __slots__ = ("_keystore", "_key_ref", "_actor", "_role", "_public_key")

    def __init__(self, keystore: Any, key_ref: str, *, actor: str, role: str) -> None:
        if not key_ref:
            raise ValueError("key_ref is required")
        self._keystore = keystore
        self._key_ref = key_ref
        self._actor = actor
        self._role = role
        self._public_key: PublicKeyLike | None = None

    @property
    def key_ref(self) -> str:
        return self._key_ref

    @property
    def public_key(self) -> PublicKeyLike:
        if self._public_key is None:
            self._public_key = self._keystore.public_key(self._key_ref)
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        data = bytes(data)
        if len(data) >= DIGEST_HERE_FROM:
            # e = SM3(Z_A || M) once, here: the key store's ``sign`` would hash a 45 MB CRL twice
            # (once for its audit record's data_sm3, once to sign); its audit record keeps e instead
            e = PublicKey.from_bytes(point_bytes(self.public_key)).digest(data)
            return self._keystore.sign_digest(self._key_ref, e, actor=self._actor, role=self._role)
        return self._keystore.sign(self._key_ref, data, actor=self._actor, role=self._role)

    def __repr__(self) -> str:
        return f"KeyStoreSigner({self._key_ref!r}, actor={self._actor!r}, role={self._role!r})"
