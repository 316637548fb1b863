"""A region's sessions whose audit checkpoints are signed by the audit key in its key store.

    ensure_audit_key(keystore, home, actor="admin")   # once, when the region is initialised
    with running(home, keystore) as sessions:         # every service process
        with store.db.transaction(sessions) as s:
            store.audit.append(s, ...)                # checkpoint every N records, automatically
    # leaving the block writes a final signed checkpoint (also on an exception)

The audit key is the key labelled "audit" (usage "audit") of the key store. Its public key
is published as PEM at `home.audit_public_key_path`, the file `eseal audit verify --home H`
pins checkpoint signatures to. The key store must stay unlocked while the sessions are in
use (see keystore.audit_signer).
"""
from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from gm.sm2 import PublicKey
from keystore.audit_signer import KeyStoreAuditSigner
from keystore.errors import KeyNotFound, KeyStoreError
from keystore.policy import Usage
from store import audit, db
from store.home import Home

AUDIT_KEY_LABEL = "audit"


def _audit_key(keystore: Any) -> Any:
    info = keystore.find(AUDIT_KEY_LABEL)
    if info.usage != Usage.AUDIT.value:
        raise KeyStoreError(f"the key labelled {AUDIT_KEY_LABEL!r} ({info.key_ref}) has usage {info.usage!r}, not 'audit'")
    return info


def _check_published(home: Home, public_key: bytes) -> None:
    path = home.audit_public_key_path
    if path.is_file() and PublicKey.from_pem(path.read_bytes()).to_bytes() != public_key:
        raise KeyStoreError(
            f"{path} holds a different public key than the key store's audit key: checkpoints would not "
            "verify against it (replace the pinned key file only on a deliberate key change)"
        )


def ensure_audit_key(keystore: Any, home: Home, *, actor: str) -> str:
    """The key_ref of the region's audit key, generated if absent; publishes its public key PEM.

    Needs an unlocked key store only when the key is generated. Never overwrites a published
    key file that holds another key.
    """
    try:
        info = _audit_key(keystore)
    except KeyNotFound:
        keystore.generate(AUDIT_KEY_LABEL, Usage.AUDIT, actor=actor)
        info = _audit_key(keystore)
    public_key = bytes(info.public_key)
    _check_published(home, public_key)
    path = home.audit_public_key_path
    if not path.is_file():
        path.write_bytes(PublicKey.from_bytes(public_key).to_pem())
    return info.key_ref


def audit_signer(home: Home, keystore: Any) -> KeyStoreAuditSigner:
    """The signer over the region's audit key (KeyNotFound if `ensure_audit_key` never ran)."""
    try:
        info = _audit_key(keystore)
    except KeyNotFound:
        raise KeyNotFound(
            f"this region has no audit key (a key labelled {AUDIT_KEY_LABEL!r}); "
            "create it with keystore.region.ensure_audit_key when initialising the region"
        ) from None
    _check_published(home, bytes(info.public_key))
    return KeyStoreAuditSigner(keystore, info.key_ref)


def open_sessions(home: Home, keystore: Any) -> sessionmaker[Session]:
    """Sessions on the region's database that checkpoint every `audit_checkpoint_every` records."""
    return db.make_sessionmaker(
        home.engine, audit_signer=audit_signer(home, keystore), checkpoint_every=home.config.audit_checkpoint_every
    )


def final_checkpoint(sessions: sessionmaker[Session]) -> Any:
    """Sign the current head with the sessions' audit signer now (None if already covered)."""
    policy = sessions.kw.get("info", {}).get(db.AUDIT_POLICY_KEY)
    if policy is None:
        raise KeyStoreError("these sessions have no audit signer (make them with keystore.region.open_sessions)")
    with db.transaction(sessions) as s:
        return audit.checkpoint(s, policy.signer)


@contextmanager
def running(home: Home, keystore: Any) -> Iterator[sessionmaker[Session]]:
    """`open_sessions(...)` for the life of a block; a final checkpoint when it exits, however it exits.

    If the block raised and the final checkpoint fails too, the block's exception propagates
    with a note about the checkpoint.
    """
    sessions = open_sessions(home, keystore)
    try:
        yield sessions
    except BaseException as exc:
        try:
            final_checkpoint(sessions)
        except Exception as failure:
            exc.add_note(f"the final audit checkpoint failed as well: {type(failure).__name__}: {failure}")
        raise
    final_checkpoint(sessions)
