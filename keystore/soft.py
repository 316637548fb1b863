"""SoftKeyStore: SM2 keys at rest in the database, encrypted, activated by passphrase or custodians.

Key hierarchy
    KEK (16 random bytes, SM4 key; lives only in the memory of an unlocked process)
      rebuilt from a passphrase: PBKDF2-HMAC-SM3(passphrase, per-store salt, >= 200,000)
        gives a wrapping key that opens the stored SM4-GCM(KEK) -- or
      rebuilt from M of N custodian shares (Shamir over GF(2^8), keystore/shamir.py);
      either way checked against kek_check = HMAC-SM3(KEK, "eseal/kek-check/v1" || store id).
    DEK (16 random bytes per key) stored as SM4-GCM under the KEK, AAD = store id, key id.
    private key d stored as SM4-GCM under its DEK, AAD = store id, key id, label, usage,
        public key, policy -- so rows or fields cannot be swapped or edited to gain use.
    PIN verifier = HMAC-SM3(pepper, key id || PBKDF2-HMAC-SM3(PIN, salt, 200,000)), where the
        pepper is derived from the KEK: a database dump alone does not allow guessing PINs.

Every private-key use, every refusal and every state change writes exactly one audit
record through `store.audit.append` in the same transaction as the change it records.

Signing now, recording in the caller's transaction later (`sign(..., later=records)`): the
same checks on the key row as read now, the signature made now, and the key-use record
appended to ``records`` as a function of the caller's session. Refusals raise without a
record, so the caller repeats the call without `later`, which refuses again and records it
(seal.service does); keys that need a PIN are refused this way, since a wrong PIN must be
counted even when the caller's transaction rolls back. The caller opens its write
transaction only after its signing is done (a sealing's signatures and token are CPU work
that need not hold the database's one writer), and runs the records there: each reads the
key row again and, unless it is exactly the row the key was used under, raises KeyChanged
(the caller rolls back and repeats without `later`, which judges and records afresh).

Unlocked keys are kept in memory (unwrapped `PrivateKey` per key) while the store is
unlocked, keyed by the row's ciphertexts and everything the ciphertext's AAD binds, so
an altered row is unwrapped again (and refused) and `lock()` forgets them all. Every use
still reads the key row: a disabled or destroyed key is refused at once, in any process.
"""
from __future__ import annotations

import hmac
import json
import secrets
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from functools import lru_cache
from os import PathLike
from typing import Any, NamedTuple

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gm.errors import CipherError, GMError
from gm.records import frozen_record
from gm.sm2 import DEFAULT_UID, PrivateKey, PublicKey
from keystore import shamir
from keystore._primitives import aad, gcm_open, gcm_seal, hmac_sm3, pbkdf2_hmac_sm3, sm3
from keystore.base import KeyInfo, KeyStore
from keystore.errors import (
    ActivationError,
    ActivationMethodUnavailable,
    DuplicateLabel,
    ForeignShare,
    KeyChanged,
    KeyDestroyed,
    KeyDisabled,
    KeyIntegrityError,
    KeyNotFound,
    KeyStoreAlreadyInitialised,
    KeyStoreError,
    KeyStoreLocked,
    KeyStoreNotInitialised,
    PinLocked,
    PinRequired,
    PolicyDenied,
    WrongPassphrase,
    WrongPin,
)
from keystore.policy import KeyPolicy, Operation, Usage
from store import audit, db
from store.models.keys import KeyRecord, KeyStoreActivation, KeyStoreMeta

KDF_NAME = "pbkdf2-hmac-sm3"
MIN_KDF_ITERATIONS = 200_000
PIN_ITERATIONS = 200_000
PIN_MAX_FAILURES = 5
MIN_PIN_LENGTH = 6
KEK_SIZE = 16
SALT_SIZE = 16
KEY_REF_PREFIX = "soft:"

ACTIVE, DISABLED, DESTROYED = "active", "disabled", "destroyed"

SessionFactory = sessionmaker[Session]
ShareInput = shamir.Share | str | PathLike[str]


def _now() -> datetime:
    return datetime.now(UTC)


def _fingerprint(public_key: bytes) -> str:
    return sm3(public_key).hex()


def _as_bytes(secret: str | bytes, what: str) -> bytes:
    if isinstance(secret, str):
        return secret.encode("utf-8")
    if isinstance(secret, (bytes, bytearray)):
        return bytes(secret)
    raise TypeError(f"{what} must be str or bytes, not {type(secret).__name__}")


@frozen_record
class InitResult:
    store: SoftKeyStore  # unlocked
    store_id: str
    shares: list[shamir.Share]  # empty when no custodians were asked for


class SoftKeyStore(KeyStore):
    """The default key store. `sessions` makes SQLAlchemy sessions on the eseal database."""

    records_use_later = True  # sign(..., later=) / sign_digest(..., later=)

    def __init__(self, sessions: SessionFactory) -> None:
        self._sessions = sessions
        self._kek: bytes | None = None
        self._store_id: str | None = None
        self._unwrapped: dict[str, tuple[tuple[Any, ...], PrivateKey]] = {}

    @classmethod
    def from_home(cls, home: Any) -> SoftKeyStore:
        """The key store of a `store.home.Home` (locked)."""
        return cls(db.make_sessionmaker(home.engine))

    # ======================================================================================
    # set-up and activation
    # ======================================================================================

    @classmethod
    def initialise(
        cls,
        sessions: SessionFactory,
        *,
        actor: str,
        passphrase: str | bytes | None = None,
        custodians: int | None = None,
        threshold: int | None = None,
        iterations: int = MIN_KDF_ITERATIONS,
    ) -> InitResult:
        """Create the key store in an empty database. Returns it unlocked, with the shares.

        At least one activation method is required: a passphrase (single operator), or
        `custodians` and `threshold` (M of N shares, to be handed one per custodian), or both.
        """
        if passphrase is None and custodians is None:
            raise ActivationError("give a passphrase, or custodians and a threshold, to initialise the key store")
        if (custodians is None) != (threshold is None):
            raise ActivationError("custodians and threshold go together (for example 5 custodians, threshold 3)")
        if custodians is not None and not 2 <= threshold <= custodians <= 255:  # type: ignore[operator]
            raise ActivationError(
                f"need 2 <= threshold <= custodians <= 255 (got threshold {threshold}, custodians {custodians})"
            )
        if iterations < MIN_KDF_ITERATIONS:
            raise ActivationError(f"PBKDF2 iterations must be at least {MIN_KDF_ITERATIONS}")
        if passphrase is not None and len(_as_bytes(passphrase, "passphrase")) < 8:
            raise ActivationError("the passphrase must be at least 8 characters long")

        store_id = str(uuid.uuid4())
        kek = secrets.token_bytes(KEK_SIZE)
        now = _now()
        shares: list[shamir.Share] = []
        with _transaction(sessions) as s:
            if s.scalar(select(KeyStoreMeta.store_id).limit(1)) is not None:
                raise KeyStoreAlreadyInitialised("this database already holds a key store; it is initialised once")
            s.add(KeyStoreMeta(store_id=store_id, format_version=1, kek_check=_kek_check(kek, store_id), created_at=now))
            s.flush()
            methods = []
            if passphrase is not None:
                salt = secrets.token_bytes(SALT_SIZE)
                wrapping = pbkdf2_hmac_sm3(_as_bytes(passphrase, "passphrase"), salt, iterations, KEK_SIZE)
                s.add(
                    KeyStoreActivation(
                        store_id=store_id,
                        method="passphrase",
                        kdf=KDF_NAME,
                        kdf_salt=salt,
                        kdf_iterations=iterations,
                        wrapped_kek=gcm_seal(wrapping, kek, aad("eseal/kek-wrap/v1", store_id)),
                        created_at=now,
                    )
                )
                methods.append("passphrase")
            if custodians is not None:
                assert threshold is not None
                pieces = shamir.split(kek, threshold, custodians)
                shares = [shamir.Share.create(store_id, i, threshold, custodians, v) for i, v in pieces]
                s.add(
                    KeyStoreActivation(
                        store_id=store_id,
                        method="shares",
                        threshold=threshold,
                        custodians=custodians,
                        share_digests=json.dumps([shamir.share_digest(store_id, i, v) for i, v in pieces]),
                        created_at=now,
                    )
                )
                methods.append("shares")
            audit.append(
                s,
                actor=actor,
                action="keystore.init",
                subject=f"keystore:{store_id}",
                details={
                    "methods": methods,
                    "kdf": KDF_NAME if passphrase is not None else None,
                    "kdf_iterations": iterations if passphrase is not None else None,
                    "threshold": threshold,
                    "custodians": custodians,
                },
            )
        store = cls(sessions)
        store._store_id = store_id
        store._kek = kek
        return InitResult(store=store, store_id=store_id, shares=shares)

    @property
    def store_id(self) -> str:
        if self._store_id is None:
            with self._read() as s:
                sid = s.scalar(select(KeyStoreMeta.store_id).limit(1))
            if sid is None:
                raise KeyStoreNotInitialised("no key store in this database; run `eseal keys init` first")
            self._store_id = sid
        return self._store_id

    @property
    def is_unlocked(self) -> bool:
        return self._kek is not None

    def lock(self) -> None:
        self._kek = None
        self._unwrapped.clear()

    def activation_methods(self) -> dict[str, dict[str, Any]]:
        """Which activation methods this store has, with their public parameters."""
        with self._read() as s:
            rows = s.scalars(select(KeyStoreActivation).where(KeyStoreActivation.store_id == self.store_id)).all()
            out: dict[str, dict[str, Any]] = {}
            for r in rows:
                if r.method == "passphrase":
                    out["passphrase"] = {"kdf": r.kdf, "iterations": r.kdf_iterations}
                else:
                    out["shares"] = {"threshold": r.threshold, "custodians": r.custodians}
            return out

    def unlock_with_passphrase(self, passphrase: str | bytes, *, actor: str = "operator") -> None:
        """Rebuild the KEK from the passphrase. `WrongPassphrase` if it does not open the store."""
        store_id = self.store_id
        secret = _as_bytes(passphrase, "passphrase")
        with self._read() as s:
            row = self._activation(s, "passphrase")
            meta = s.get(KeyStoreMeta, store_id)
            assert meta is not None
            if row.kdf != KDF_NAME or (row.kdf_iterations or 0) < MIN_KDF_ITERATIONS:
                raise ActivationError(f"stored key derivation {row.kdf!r} x {row.kdf_iterations} is not acceptable")
            wrapping = pbkdf2_hmac_sm3(secret, row.kdf_salt, row.kdf_iterations, KEK_SIZE)
            try:
                kek = gcm_open(wrapping, row.wrapped_kek, aad("eseal/kek-wrap/v1", store_id))
            except CipherError:
                kek = None
            ok = kek is not None and hmac.compare_digest(_kek_check(kek, store_id), meta.kek_check)
        self._record_activation(actor, "passphrase", ok, {})
        if not ok:
            raise WrongPassphrase("wrong passphrase: it does not open this key store (nothing was unlocked)")
        self._kek = kek

    def unlock_with_shares(self, shares: Iterable[ShareInput], *, actor: str = "custodians") -> None:
        """Rebuild the KEK from custodian shares (Share objects or share file paths).

        Names the culprit: `CorruptShare` (unreadable or tag mismatch), `ForeignShare`
        (another store's, or not the share issued for that index), `InsufficientShares`
        (fewer than M distinct shares, or one given twice).
        """
        store_id = self.store_id
        loaded = [s if isinstance(s, shamir.Share) else shamir.Share.from_file(s) for s in shares]
        with self._read() as s:
            row = self._activation(s, "shares")
            meta = s.get(KeyStoreMeta, store_id)
            assert meta is not None
            digests = json.loads(row.share_digests or "[]")
            threshold = int(row.threshold or 0)
            check = meta.kek_check
        for sh in loaded:
            if sh.store_id == store_id and sh.custodians != len(digests):
                raise ForeignShare(f"{sh.name}: share says {sh.custodians} custodians, this store has {len(digests)}", sh.source)
            if sh.store_id == store_id and not hmac.compare_digest(
                shamir.share_digest(store_id, sh.index, sh.value), digests[sh.index - 1]
            ):
                self._record_activation(actor, "shares", False, {"rejected_share": sh.index})
                raise ForeignShare(
                    f"{sh.name}: share {sh.index} is not the share issued to custodian {sh.index} of this store",
                    sh.source,
                )
        kek = shamir.combine_shares(loaded, store_id=store_id, threshold=threshold)
        ok = hmac.compare_digest(_kek_check(kek, store_id), check)
        self._record_activation(actor, "shares", ok, {"indexes": sorted({sh.index for sh in loaded})})
        if not ok:
            raise ActivationError("the shares do not rebuild this store's key-encryption key (nothing was unlocked)")
        self._kek = kek

    def change_passphrase(self, new_passphrase: str | bytes, *, actor: str, iterations: int = MIN_KDF_ITERATIONS) -> None:
        """Set (or replace) the passphrase of an unlocked store. The keys are not re-encrypted."""
        kek = self._require_unlocked()
        secret = _as_bytes(new_passphrase, "passphrase")
        if len(secret) < 8:
            raise ActivationError("the passphrase must be at least 8 characters long")
        if iterations < MIN_KDF_ITERATIONS:
            raise ActivationError(f"PBKDF2 iterations must be at least {MIN_KDF_ITERATIONS}")
        salt = secrets.token_bytes(SALT_SIZE)
        wrapping = pbkdf2_hmac_sm3(secret, salt, iterations, KEK_SIZE)
        with self._tx() as s:
            row = s.scalar(
                select(KeyStoreActivation).where(
                    KeyStoreActivation.store_id == self.store_id, KeyStoreActivation.method == "passphrase"
                )
            )
            if row is None:
                row = KeyStoreActivation(store_id=self.store_id, method="passphrase", created_at=_now())
                s.add(row)
            row.kdf, row.kdf_salt, row.kdf_iterations = KDF_NAME, salt, iterations
            row.wrapped_kek = gcm_seal(wrapping, kek, aad("eseal/kek-wrap/v1", self.store_id))
            audit.append(
                s, actor=actor, action="keystore.passphrase_changed", subject=f"keystore:{self.store_id}",
                details={"kdf": KDF_NAME, "kdf_iterations": iterations},
            )

    # ======================================================================================
    # key lifecycle
    # ======================================================================================

    def generate(
        self,
        label: str,
        usage: Usage | str,
        policy: KeyPolicy | None = None,
        *,
        actor: str,
        pin: str | None = None,
    ) -> str:
        kek = self._require_unlocked()
        usage_value = Usage(usage).value
        policy = policy if policy is not None else KeyPolicy.for_usage(usage_value)
        if not label or len(label) > 200 or label != label.strip():
            raise KeyStoreError(f"invalid key label {label!r}: 1 to 200 characters, no outer spaces")
        if pin is not None:
            _check_pin_format(pin)
        key_ref = KEY_REF_PREFIX + uuid.uuid4().hex
        store_id = self.store_id
        private = PrivateKey.generate()
        public = private.public_key.to_bytes()
        dek = secrets.token_bytes(KEK_SIZE)
        policy_json = policy.to_json()
        now = _now()
        row = KeyRecord(
            id=key_ref,
            store_id=store_id,
            label=label,
            usage=usage_value,
            algorithm="SM2",
            public_key=public,
            status=ACTIVE,
            policy=policy_json,
            wrapped_dek=gcm_seal(kek, dek, _dek_aad(store_id, key_ref)),
            encrypted_private_key=gcm_seal(
                dek, private.to_bytes(), _key_aad(store_id, key_ref, label, usage_value, public, policy_json)
            ),
            pin_failures=0,
            pin_locked=False,
            created_at=now,
            updated_at=now,
        )
        del private, dek
        if pin is not None:
            self._set_pin_fields(row, pin, kek)
        with self._tx() as s:
            if s.scalar(select(KeyRecord.id).where(KeyRecord.label == label)) is not None:
                raise DuplicateLabel(f"a key labelled {label!r} already exists; labels are never reused")
            s.add(row)
            audit.append(
                s,
                actor=actor,
                action="key.generate",
                subject=key_ref,
                details={
                    "label": label,
                    "usage": usage_value,
                    "algorithm": "SM2",
                    "public_key_sm3": _fingerprint(public),
                    "policy": json.loads(policy_json),
                    "pin_set": pin is not None,
                },
            )
        return key_ref

    def public_key(self, key_ref: str) -> PublicKey:
        return PublicKey.from_bytes(self.info(key_ref).public_key)

    def info(self, key_ref: str) -> KeyInfo:
        with self._read() as s:
            return _info(self._row(s, key_ref))

    def find(self, label: str) -> KeyInfo:
        """The key with this label (labels are unique)."""
        with self._read() as s:
            row = s.scalar(select(KeyRecord).where(KeyRecord.label == label))
            if row is None:
                raise KeyNotFound(f"no key labelled {label!r}")
            return _info(row)

    def list(self) -> list[KeyInfo]:
        with self._read() as s:
            rows = s.scalars(select(KeyRecord).order_by(KeyRecord.created_at, KeyRecord.id)).all()
            return [_info(r) for r in rows]

    def disable(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        self._admin_change(key_ref, "disable", actor=actor, role=role, reason=reason)

    def enable(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        self._admin_change(key_ref, "enable", actor=actor, role=role, reason=reason)

    def destroy(self, key_ref: str, *, actor: str, role: str, reason: str = "") -> None:
        self._admin_change(key_ref, "destroy", actor=actor, role=role, reason=reason)

    def _admin_change(self, key_ref: str, action: str, *, actor: str, role: str, reason: str) -> None:
        with self._tx() as s:
            row = self._row(s, key_ref, for_update=True)
            KeyPolicy.from_json(row.policy).check_admin(action, role)
            if row.status == DESTROYED:
                raise KeyDestroyed(f"key {row.label!r} ({key_ref}) is already destroyed")
            before = row.status
            if action == "disable":
                if row.status == DISABLED:
                    raise KeyDisabled(f"key {row.label!r} ({key_ref}) is already disabled")
                row.status = DISABLED
            elif action == "enable":
                if row.status == ACTIVE:
                    raise KeyStoreError(f"key {row.label!r} ({key_ref}) is already active")
                row.status = ACTIVE
            else:  # destroy: crypto-shred -- the wrapped DEK and ciphertext are erased
                row.status = DESTROYED
                row.wrapped_dek = None
                row.encrypted_private_key = None
                row.pin_hash = row.pin_salt = None
                row.pin_iterations = None
            row.updated_at = _now()
            audit.append(
                s,
                actor=actor,
                action=f"key.{action}",
                subject=key_ref,
                details={"label": row.label, "role": role, "reason": reason, "status_before": before, "status": row.status},
            )

    # ======================================================================================
    # private-key use
    # ======================================================================================

    def sign(
        self,
        key_ref: str,
        data: bytes,
        uid: bytes = DEFAULT_UID,
        *,
        actor: str,
        role: str,
        pin: str | None = None,
        later: list[Callable[[Session], None]] | None = None,
    ) -> bytes:
        """SM2 signature (DER); with ``later``, its record left for the caller's transaction
        (module doc)."""
        details = {"data_sm3": sm3(bytes(data)).hex(), "data_length": len(data)}
        if uid != DEFAULT_UID:
            details["uid"] = bytes(uid).hex()
        return self._use(
            key_ref, Operation.SIGN, actor=actor, role=role, pin=pin, details=details,
            fn=lambda k: k.sign(data, uid), later=later,
        )

    def sign_digest(self, key_ref: str, e: bytes, *, actor: str, role: str, pin: str | None = None,
                    later: list[Callable[[Session], None]] | None = None) -> bytes:
        if len(e) != 32:
            raise KeyStoreError(f"e must be the 32-byte SM3 digest of Z_A || M, got {len(e)} bytes")
        return self._use(
            key_ref, Operation.SIGN_DIGEST, actor=actor, role=role, pin=pin,
            details={"e": bytes(e).hex()}, fn=lambda k: k.sign_digest(e), later=later,
        )

    def decrypt(self, key_ref: str, ciphertext: bytes, *, actor: str, role: str, pin: str | None = None) -> bytes:
        return self._use(
            key_ref, Operation.DECRYPT, actor=actor, role=role, pin=pin,
            details={"ciphertext_sm3": sm3(bytes(ciphertext)).hex()}, fn=lambda k: k.decrypt(ciphertext),
        )

    def sign_audit_checkpoint(self, key_ref: str, data: bytes) -> bytes:
        """Sign an audit checkpoint message with the region's audit key (usage "audit" only).

        The one private-key use that writes no audit record of its own: it runs inside the
        transaction of `store.audit.checkpoint`, which holds the chain lock, and the signed
        checkpoint row it produces is the record of this use (appending here would recurse
        or wait on that lock). For the same reason a refusal is not audited here; it raises
        into the checkpointing transaction, which rolls back. Same status, policy (role
        "audit", operation "sign", no PIN) and decryption path as `sign`.
        """
        kek = self._require_unlocked()
        with self._read() as s:
            row = self._row(s, key_ref)
            if row.usage != Usage.AUDIT.value:
                raise PolicyDenied(
                    f"key {row.label!r} ({key_ref}) has usage {row.usage!r}; only an \"audit\" key signs audit checkpoints"
                )
            if row.status == DESTROYED:
                raise KeyDestroyed(f"key {row.label!r} ({key_ref}) was destroyed and cannot be used")
            if row.status == DISABLED:
                raise KeyDisabled(f"key {row.label!r} ({key_ref}) is disabled and cannot be used")
            policy = KeyPolicy.from_json(row.policy)
            policy.check(Operation.SIGN, "audit")  # the role of audit keys (keystore.policy)
            if policy.require_pin:
                raise PolicyDenied(f"audit key {row.label!r} ({key_ref}) requires a PIN; audit keys must not")
            private = self._unwrap(row, kek)
        return private.sign(bytes(data))

    def _use(
        self,
        key_ref: str,
        op: Operation,
        *,
        actor: str,
        role: str,
        pin: str | None,
        details: dict[str, Any],
        fn: Callable[[PrivateKey], bytes],
        later: list[Callable[[Session], None]] | None = None,
    ) -> bytes:
        kek = self._require_unlocked()
        if later is not None:
            return self._use_now_record_later(key_ref, op, actor=actor, role=role, details=details, fn=fn,
                                              kek=kek, later=later)
        refusal: Exception | None = None
        result = b""
        with self._tx() as s:
            row = self._row(s, key_ref, for_update=True)
            base = {"label": row.label, "operation": op.value, "role": role}
            try:
                if row.status == DESTROYED:
                    raise KeyDestroyed(f"key {row.label!r} ({key_ref}) was destroyed and cannot be used")
                if row.status == DISABLED:
                    raise KeyDisabled(f"key {row.label!r} ({key_ref}) is disabled and cannot be used")
                policy = KeyPolicy.from_json(row.policy)
                policy.check(op, role)
                if policy.require_pin:
                    self._verify_pin(s, row, pin, kek, actor=actor, base=base)
            except (KeyDestroyed, KeyDisabled, PolicyDenied) as exc:
                refusal = exc
                if not getattr(exc, "_audited", False):
                    audit.append(
                        s, actor=actor, action="key.denied", subject=key_ref,
                        details={**base, "reason": type(exc).__name__, "message": str(exc)},
                    )
            if refusal is None:
                try:
                    result = fn(self._unwrap(row, kek))
                except (KeyIntegrityError, GMError) as exc:
                    # still one record: the attempt happened and failed (tampered row, bad input)
                    refusal = exc
                    audit.append(
                        s, actor=actor, action=f"key.{op.value}", subject=key_ref,
                        details={**base, **details, "outcome": "failed", "error": type(exc).__name__},
                    )
                else:
                    audit.append(s, actor=actor, action=f"key.{op.value}", subject=key_ref, details={**base, **details})
        if refusal is not None:
            raise refusal
        return result

    def _use_now_record_later(self, key_ref: str, op: Operation, *, actor: str, role: str,
                              details: dict[str, Any], fn: Callable[[PrivateKey], bytes], kek: bytes,
                              later: list[Callable[[Session], None]]) -> bytes:
        """`_use` with its record appended to ``later`` for the caller's transaction: the same
        checks on the row as read now; refusals raise unrecorded (see the module doc)."""
        with db.read_connection(self._sessions.kw["bind"]) as conn:
            row = self._row_facts_on(conn, key_ref)
        if row.status == DESTROYED:
            raise KeyDestroyed(f"key {row.label!r} ({key_ref}) was destroyed and cannot be used")
        if row.status == DISABLED:
            raise KeyDisabled(f"key {row.label!r} ({key_ref}) is disabled and cannot be used")
        policy = _policy(row.policy)
        policy.check(op, role)
        if policy.require_pin:
            raise PolicyDenied(f"key {row.label!r} ({key_ref}) needs its holder's PIN; a PIN key is used in "
                               "its own transaction, so that a wrong PIN is counted even when the caller rolls back")
        result = fn(self._unwrap(row, kek))
        record = {"label": row.label, "operation": op.value, "role": role, **details}

        def write(t: Session) -> None:
            current = self._row_facts_sent(db.connection_of(t), key_ref, at_commit=True)

            def unchanged() -> None:
                if current() != row:
                    raise KeyChanged(f"key {row.label!r} ({key_ref}) changed while it was being used; use it again")
            db.check_at_end(t, unchanged)  # a pipelined transaction: compared with its chains' answers
            audit.append(t, actor=actor, action=f"key.{op.value}", subject=key_ref, details=record)
        later.append(write)
        return result

    # ======================================================================================
    # holder PIN
    # ======================================================================================

    def change_pin(self, key_ref: str, old_pin: str, new_pin: str, *, actor: str, role: str) -> None:
        kek = self._require_unlocked()
        _check_pin_format(new_pin)
        refusal: Exception | None = None
        with self._tx() as s:
            row = self._row(s, key_ref, for_update=True)
            base = {"label": row.label, "operation": "change_pin", "role": role}
            try:
                if row.status != ACTIVE:
                    raise KeyDisabled(f"key {row.label!r} ({key_ref}) is {row.status}; its PIN cannot be changed")
                if role not in KeyPolicy.from_json(row.policy).roles:
                    raise PolicyDenied(f"role {role!r} may not change the PIN of this key")
                self._verify_pin(s, row, old_pin, kek, actor=actor, base=base)
            except (KeyDisabled, PolicyDenied) as exc:
                refusal = exc
                if not getattr(exc, "_audited", False):
                    audit.append(s, actor=actor, action="key.denied", subject=key_ref,
                                 details={**base, "reason": type(exc).__name__, "message": str(exc)})
            if refusal is None:
                self._set_pin_fields(row, new_pin, kek)
                row.updated_at = _now()
                audit.append(s, actor=actor, action="key.pin_changed", subject=key_ref, details=base)
        if refusal is not None:
            raise refusal

    def reset_pin(self, key_ref: str, new_pin: str, *, actor: str, role: str) -> None:
        kek = self._require_unlocked()
        _check_pin_format(new_pin)
        with self._tx() as s:
            row = self._row(s, key_ref, for_update=True)
            KeyPolicy.from_json(row.policy).check_admin("reset the PIN of", role)
            if row.status == DESTROYED:
                raise KeyDestroyed(f"key {row.label!r} ({key_ref}) was destroyed")
            was_locked, failures = row.pin_locked, row.pin_failures
            self._set_pin_fields(row, new_pin, kek)
            row.updated_at = _now()
            audit.append(
                s, actor=actor, action="key.pin_reset", subject=key_ref,
                details={"label": row.label, "role": role, "was_locked": was_locked, "failures_cleared": failures},
            )

    def _set_pin_fields(self, row: KeyRecord, pin: str, kek: bytes) -> None:
        salt = secrets.token_bytes(SALT_SIZE)
        row.pin_salt = salt
        row.pin_iterations = PIN_ITERATIONS
        row.pin_hash = _pin_verifier(kek, row.store_id, row.id, pin, salt, PIN_ITERATIONS)
        row.pin_failures = 0
        row.pin_locked = False

    def _verify_pin(
        self, s: Session, row: KeyRecord, pin: str | None, kek: bytes, *, actor: str, base: dict[str, Any]
    ) -> None:
        """Raise PinRequired / PinLocked / WrongPin; a wrong PIN is counted and audited here."""
        if row.pin_hash is None:
            raise PinRequired(f"key {row.label!r} needs its holder's PIN but none is set; an administrator must set one")
        if row.pin_locked:
            raise PinLocked(
                f"the PIN of key {row.label!r} is locked after {PIN_MAX_FAILURES} wrong tries; "
                "an administrator must reset it"
            )
        if pin is None:
            raise PinRequired(f"key {row.label!r} is a personal key: its holder's PIN is required")
        candidate = _pin_verifier(kek, row.store_id, row.id, pin, row.pin_salt or b"", row.pin_iterations or PIN_ITERATIONS)
        if hmac.compare_digest(candidate, row.pin_hash):
            if row.pin_failures:
                row.pin_failures = 0
            return
        row.pin_failures += 1
        remaining = max(PIN_MAX_FAILURES - row.pin_failures, 0)
        if remaining == 0:
            row.pin_locked = True
        row.updated_at = _now()
        audit.append(
            s, actor=actor, action="key.pin_failed", subject=row.id,
            details={**base, "failures": row.pin_failures, "locked": row.pin_locked},
        )
        if row.pin_locked:
            exc: PolicyDenied = PinLocked(
                f"wrong PIN for key {row.label!r}; after {PIN_MAX_FAILURES} wrong tries the PIN is now locked "
                "and an administrator must reset it"
            )
        else:
            exc = WrongPin(f"wrong PIN for key {row.label!r}; {remaining} tries left before it locks", remaining)
        exc._audited = True  # type: ignore[attr-defined]
        raise exc

    # ======================================================================================
    # internals
    # ======================================================================================

    @contextmanager
    def _tx(self) -> Iterator[Session]:
        with _transaction(self._sessions) as s:
            yield s

    @contextmanager
    def _read(self) -> Iterator[Session]:
        with _transaction(self._sessions, readonly=True) as s:
            yield s

    def _require_unlocked(self) -> bytes:
        if self._kek is None:
            raise KeyStoreLocked(
                "the key store is locked: unlock it with the passphrase (ESEAL_PASSPHRASE or --passphrase-file) "
                "or with the custodians' shares before using a private key"
            )
        return self._kek

    def _activation(self, s: Session, method: str) -> KeyStoreActivation:
        row = s.scalar(
            select(KeyStoreActivation).where(
                KeyStoreActivation.store_id == self.store_id, KeyStoreActivation.method == method
            )
        )
        if row is None:
            other = "custodian shares" if method == "passphrase" else "a passphrase"
            raise ActivationMethodUnavailable(
                f"this key store was not set up for {'a passphrase' if method == 'passphrase' else 'custodian shares'}; "
                f"unlock it with {other}"
            )
        return row

    def _record_activation(self, actor: str, method: str, ok: bool, details: dict[str, Any]) -> None:
        with self._tx() as s:
            audit.append(
                s,
                actor=actor,
                action="keystore.unlock" if ok else "keystore.unlock_failed",
                subject=f"keystore:{self.store_id}",
                details={"method": method, **details},
            )

    def _row(self, s: Session, key_ref: str, *, for_update: bool = False) -> KeyRecord:
        if not isinstance(key_ref, str) or not key_ref.startswith(KEY_REF_PREFIX):
            raise KeyNotFound(f"{key_ref!r} is not a key reference of the software key store")
        stmt = select(KeyRecord).where(KeyRecord.id == key_ref)
        if for_update:
            stmt = stmt.with_for_update()
        row = s.scalar(stmt)
        if row is None:
            raise KeyNotFound(f"no key {key_ref!r} in this key store")
        return row

    def _row_facts_on(self, conn: Any, key_ref: str) -> Any:
        """The key row's columns a use needs, read with one plain statement (once per sealing)."""
        return self._row_facts_sent(conn, key_ref)()

    def _row_facts_sent(self, conn: Any, key_ref: str, *, at_commit: bool = False) -> Callable[[], Any]:
        """The row's statement sent (`db.HotStatement.send`); the returned call reads the row.
        ``at_commit``: in the transaction that records the use, which keeps the row as read."""
        if not isinstance(key_ref, str) or not key_ref.startswith(KEY_REF_PREFIX):
            raise KeyNotFound(f"{key_ref!r} is not a key reference of the software key store")
        statement = _USE_COLUMNS_AT_COMMIT[conn.dialect.name] if at_commit else _USE_COLUMNS
        sent = statement.send(conn, {"key_ref": key_ref})

        def row() -> Any:
            rows = sent()
            if not rows:
                raise KeyNotFound(f"no key {key_ref!r} in this key store")
            return _UseRow(*rows[0])
        return row

    def _unwrap(self, row: Any, kek: bytes) -> PrivateKey:
        """The row's private key: unwrapped once per unlock and kept while the row is unchanged."""
        if row.wrapped_dek is None or row.encrypted_private_key is None:
            raise KeyDestroyed(f"key {row.label!r} ({row.id}) has no private part")
        # Everything the two ciphertexts and their AAD cover: any change means unwrap again.
        version = (row.store_id, row.label, row.usage, bytes(row.public_key), row.policy,
                   bytes(row.wrapped_dek), bytes(row.encrypted_private_key))
        cached = self._unwrapped.get(row.id)
        if cached is not None and cached[0] == version:
            return cached[1]
        private = self._unwrap_now(row, kek)
        if self._kek is kek:  # not unlocked again or locked meanwhile
            self._unwrapped[row.id] = (version, private)
        return private

    def _unwrap_now(self, row: Any, kek: bytes) -> PrivateKey:
        try:
            dek = gcm_open(kek, row.wrapped_dek, _dek_aad(row.store_id, row.id))
            d = gcm_open(
                dek,
                row.encrypted_private_key,
                _key_aad(row.store_id, row.id, row.label, row.usage, row.public_key, row.policy),
            )
        except CipherError:
            raise KeyIntegrityError(
                f"stored key {row.label!r} ({row.id}) does not authenticate: its row was altered or "
                "swapped in the database (label, usage, policy, public key or ciphertext)"
            ) from None
        return PrivateKey.from_bytes(d)


# --- helpers ------------------------------------------------------------------------------


class _UseRow(NamedTuple):
    id: str
    store_id: str
    label: str
    usage: str
    status: str
    policy: str
    public_key: bytes
    wrapped_dek: bytes | None
    encrypted_private_key: bytes | None


_USE_COLUMNS = db.HotStatement(
    "SELECT id, store_id, label, usage, status, policy, public_key, wrapped_dek, encrypted_private_key "
    "FROM keystore_keys WHERE id = :key_ref")
# The same, read again by the transaction that records a use: on PostgreSQL the row is
# share-locked, so a disable or destroy either commits first (and the use is refused as
# changed) or waits for that COMMIT -- no use is recorded after the change (SQLite's writer
# holds the whole database anyway).
_USE_COLUMNS_AT_COMMIT = {"sqlite": _USE_COLUMNS, "postgresql": db.HotStatement(_USE_COLUMNS.sql + " FOR SHARE")}


@lru_cache(maxsize=256)
def _policy(policy_json: str) -> KeyPolicy:
    """KeyPolicy of a stored policy text (frozen, so one object per distinct text)."""
    return KeyPolicy.from_json(policy_json)


def _transaction(sessions: SessionFactory, *, readonly: bool = False) -> Any:
    """A store.db transaction: BEGIN IMMEDIATE on SQLite (one writer, no upgrade failures)."""
    return db.transaction(sessions, readonly=readonly)


def _kek_check(kek: bytes, store_id: str) -> bytes:
    return hmac_sm3(kek, b"eseal/kek-check/v1\x00" + store_id.encode())


def _dek_aad(store_id: str, key_ref: str) -> bytes:
    return aad("eseal/dek/v1", store_id, key_ref)


def _key_aad(store_id: str, key_ref: str, label: str, usage: str, public_key: bytes, policy_json: str) -> bytes:
    return aad("eseal/private-key/v1", store_id, key_ref, label, usage, public_key, policy_json)


def _pin_verifier(kek: bytes, store_id: str, key_ref: str, pin: str, salt: bytes, iterations: int) -> bytes:
    stretched = pbkdf2_hmac_sm3(_as_bytes(pin, "PIN"), salt, iterations, 32)
    pepper = hmac_sm3(kek, b"eseal/pin-pepper/v1\x00" + store_id.encode())
    return hmac_sm3(pepper, aad(key_ref, stretched))


def _check_pin_format(pin: str) -> None:
    if not isinstance(pin, str):
        raise TypeError(f"a PIN must be a str, not {type(pin).__name__}")
    if len(pin) < MIN_PIN_LENGTH:
        raise KeyStoreError(f"a PIN must have at least {MIN_PIN_LENGTH} characters")


def _info(row: KeyRecord) -> KeyInfo:
    return KeyInfo(
        key_ref=row.id,
        label=row.label,
        usage=row.usage,
        algorithm=row.algorithm,
        status=row.status,
        public_key=bytes(row.public_key),
        policy=KeyPolicy.from_json(row.policy),
        created_at=row.created_at,
        pin_set=row.pin_hash is not None,
        pin_locked=bool(row.pin_locked),
    )
