"""Typed errors of the key custody layer. Each message says what went wrong and what to do.

The API layer maps these to HTTP in one place: `KeyStoreLocked` -> 503, `PolicyDenied`,
`PinRequired`, `WrongPin`, `PinLocked` -> 403, `KeyNotFound` -> 404, `KeyDisabled`,
`KeyDestroyed` -> 409, activation errors -> 400/401.
"""
from __future__ import annotations


class KeyStoreError(Exception):
    """Base of every error raised by keystore/."""


# --- activation -------------------------------------------------------------------------


class KeyStoreLocked(KeyStoreError):
    """A private-key operation was asked of a store that has not been unlocked."""


class KeyStoreNotInitialised(KeyStoreError):
    """The database holds no key store yet (run `eseal keys init`)."""


class KeyStoreAlreadyInitialised(KeyStoreError):
    """`init` was run on a database that already holds a key store."""


class ActivationError(KeyStoreError):
    """Unlocking failed. Subclasses say why."""


class WrongPassphrase(ActivationError):
    """The passphrase does not open this key store."""


class ActivationMethodUnavailable(ActivationError):
    """The store was not set up for this activation method (passphrase or shares)."""


class ShareError(ActivationError):
    """A custodian share is unusable. `source` names the share (file name or index)."""

    def __init__(self, message: str, source: str | None = None) -> None:
        super().__init__(message)
        self.source = source


class CorruptShare(ShareError):
    """A share file is unreadable or its integrity tag does not match its content."""


class ForeignShare(ShareError):
    """A share belongs to another key store, or is not one of the shares issued for this one."""


class InsufficientShares(ShareError):
    """Fewer distinct shares than the threshold were given."""


# --- keys and policy --------------------------------------------------------------------


class KeyNotFound(KeyStoreError, LookupError):
    """No key has this key reference."""


class KeyDisabled(KeyStoreError):
    """The key was disabled by an administrator; it can no longer be used."""


class KeyChanged(KeyStoreError):
    """The key row changed between a use and its record (``sign(..., later=)``): use it again."""


class KeyDestroyed(KeyStoreError):
    """The key was destroyed; its private part no longer exists."""


class PolicyDenied(KeyStoreError, PermissionError):
    """The key's policy does not allow this operation, or not for this role."""


class PinRequired(PolicyDenied):
    """The key is a personal key and the holder's PIN was not given."""


class WrongPin(PolicyDenied):
    """The PIN is wrong. `remaining` tries are left before the PIN locks."""

    def __init__(self, message: str, remaining: int) -> None:
        super().__init__(message)
        self.remaining = remaining


class PinLocked(PolicyDenied):
    """Too many wrong PINs: the key is locked until an administrator resets the PIN."""


class InvalidPolicy(KeyStoreError, ValueError):
    """A key policy names an unknown operation or is otherwise malformed."""


# --- KMC --------------------------------------------------------------------------------


class EnvelopeError(KeyStoreError, ValueError):
    """A GM/T 0009 SM2EnvelopedKey is malformed, uses an unsupported cipher, or does not open."""


class EscrowError(KeyStoreError):
    """An escrow record or recovery request is missing or in the wrong state."""


class ApprovalError(EscrowError, PermissionError):
    """A recovery approval is refused (same person twice, requester approving, too few approvals)."""


class KeyIntegrityError(KeyStoreError):
    """A stored key does not authenticate under the KEK: its row was altered, swapped or copied."""


class DuplicateLabel(KeyStoreError, ValueError):
    """A key with this label already exists (labels are unique, even after destruction)."""
