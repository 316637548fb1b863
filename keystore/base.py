"""The `KeyStore` interface: everything above keystore/ signs and decrypts by key reference.

A key reference (`key_ref`) is an opaque string chosen by the store ("soft:<hex>" for
the software store; a PKCS#11 or SDF store would use its own scheme, see docs/hsm.md).
Callers keep it in their own tables (a CA row, a seal row) and never see key bytes.

Every method that uses a private key or changes a key's state takes the `actor` (the
authenticated person or service, written to the audit log) and, for uses, the `role`
under which the actor asks (checked against the key's policy). The caller -- api/ or
cli/ -- is responsible for authenticating the actor and deciding the role.
"""
from __future__ import annotations

import abc
from datetime import datetime
from typing import Any

from gm.records import frozen_record
from gm.sm2 import DEFAULT_UID, PublicKey
from keystore.policy import KeyPolicy, Usage


@frozen_record
class KeyInfo:
    """Public facts about a key: safe to show, log and return over the API."""

    key_ref: str
    label: str
    usage: str
    algorithm: str
    status: str  # "active" | "disabled" | "destroyed"
    public_key: bytes  # 04 || x || y
    policy: KeyPolicy
    created_at: datetime
    pin_set: bool = False
    pin_locked: bool = False


class KeyStore(abc.ABC):
    """Key custody: generate, use and retire SM2 keys that never leave the store in clear."""

    # Whether sign / sign_digest accept ``later=`` (sign now, leave the key-use record for the
    # caller's transaction; keystore.soft); callers check before passing one.
    records_use_later = False

    # --- activation ---------------------------------------------------------------------
    @property
    @abc.abstractmethod
    def is_unlocked(self) -> bool:
        """Whether private-key operations are possible now (the store was activated)."""

    @abc.abstractmethod
    def lock(self) -> None:
        """Forget the activation secret: every private-key operation is refused until unlocked."""

    # --- lifecycle ----------------------------------------------------------------------
    @abc.abstractmethod
    def generate(
        self,
        label: str,
        usage: Usage | str,
        policy: KeyPolicy | None = None,
        *,
        actor: str,
        pin: str | None = None,
    ) -> str:
        """Generate an SM2 key pair inside the store; return its key_ref.

        `policy` defaults to `KeyPolicy.for_usage(usage)`. `pin` sets the holder's PIN
        at once (personal seal keys need one before their first use).
        """

    @abc.abstractmethod
    def public_key(self, key_ref: str) -> PublicKey:
        """The public key (works while locked, and for disabled and destroyed keys)."""

    @abc.abstractmethod
    def info(self, key_ref: str) -> KeyInfo:
        """Public facts about one key."""

    @abc.abstractmethod
    def list(self) -> list[KeyInfo]:
        """All keys, oldest first, including disabled and destroyed ones."""

    @abc.abstractmethod
    def disable(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        """Stop all use of a key (reversible with `enable`). Needs an administrator role."""

    @abc.abstractmethod
    def enable(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        """Allow a disabled key again. Needs an administrator role."""

    @abc.abstractmethod
    def destroy(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        """Erase the private key for good; the public key and the history stay."""

    # --- use ----------------------------------------------------------------------------
    @abc.abstractmethod
    def sign(
        self,
        key_ref: str,
        data: bytes,
        uid: bytes = DEFAULT_UID,
        *,
        actor: str,
        role: str,
        pin: str | None = None,
        session: Any = None,
    ) -> bytes:
        """SM2 signature (DER) of e = SM3(Z_A(uid) || data).

        With ``session`` (an open write transaction of the caller, SQLAlchemy Session) the
        key-use record is written in that transaction, so the use commits together with
        whatever the caller records about it; a refusal then raises without a record, and
        the caller repeats the call without ``session`` to have it recorded. A store that
        cannot do this raises ``KeyStoreError`` when given a session.
        """

    @abc.abstractmethod
    def sign_digest(
        self, key_ref: str, e: bytes, *, actor: str, role: str, pin: str | None = None, session: Any = None
    ) -> bytes:
        """SM2 signature (DER) of a 32-byte e the caller computed as SM3(Z_A || M)."""

    @abc.abstractmethod
    def decrypt(
        self, key_ref: str, ciphertext: bytes, *, actor: str, role: str, pin: str | None = None
    ) -> bytes:
        """SM2 decryption of a GM/T 0009 DER ciphertext."""

    # --- holder PIN ---------------------------------------------------------------------
    @abc.abstractmethod
    def change_pin(self, key_ref: str, old_pin: str, new_pin: str, *, actor: str, role: str) -> None:
        """The holder changes the PIN (a wrong old PIN counts towards the lockout)."""

    @abc.abstractmethod
    def reset_pin(self, key_ref: str, new_pin: str, *, actor: str, role: str) -> None:
        """An administrator sets a new PIN and clears the lockout."""
