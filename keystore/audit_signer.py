"""The region's audit key, held in the key store, as a `store.audit.AuditSigner`.

    signer = KeyStoreAuditSigner(keystore, key_ref)
    sessions = store.db.make_sessionmaker(engine, audit_signer=signer, checkpoint_every=1000)

Checkpoints are signed by key reference through `SoftKeyStore.sign_audit_checkpoint`: the
private key never leaves the key store, and signing writes no audit record (the checkpoint
row is the record of that use), so a checkpoint can never trigger another checkpoint.
The key store must be unlocked whenever a checkpoint falls due; while it is locked the
signer raises `KeyStoreLocked` and the transaction that needed the checkpoint rolls back.
"""
from __future__ import annotations

from typing import Any

from keystore.errors import PolicyDenied
from keystore.policy import Usage


class KeyStoreAuditSigner:
    """`store.audit.AuditSigner` over an audit key (usage "audit") of a key store."""

    def __init__(self, keystore: Any, key_ref: str) -> None:
        info = keystore.info(key_ref)
        if info.usage != Usage.AUDIT.value:
            raise PolicyDenied(
                f"key {info.label!r} ({key_ref}) has usage {info.usage!r}; audit checkpoints need an \"audit\" key"
            )
        self._keystore = keystore
        self._key_ref = key_ref
        self._public_key = bytes(info.public_key)

    @property
    def key_id(self) -> str:
        return self._key_ref

    @property
    def public_key_bytes(self) -> bytes:
        return self._public_key

    def sign(self, data: bytes) -> bytes:
        return self._keystore.sign_audit_checkpoint(self._key_ref, data)

    def __repr__(self) -> str:
        return f"KeyStoreAuditSigner({self._key_ref!r})"
