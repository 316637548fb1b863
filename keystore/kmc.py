"""Key management centre (KMC) for dual certificates (GM/T 0014 model, GM/T 0009 envelopes).

- The KMC key is an SM2 key in the key store (usage "kmc": decrypt only, role "kmc").
- `issue_encryption_key` generates an encryption key pair, escrows it as an SM2EnvelopedKey
  addressed to the KMC key (so the escrow table never holds it in clear), and returns it
  to the subscriber as an SM2EnvelopedKey addressed to the subscriber's SIGNING public key.
- Recovery of an escrowed key: `request_recovery` (who, why, and to which signing public
  key it will be delivered), then `approve_recovery` by two DIFFERENT people (neither the
  requester), then `recover`, which opens the escrow with the KMC key inside the store
  and returns a new envelope for the recipient. Each step writes one audit record; a
  request is completed once and cannot be replayed.
"""
from __future__ import annotations

import uuid
from typing import Any

from sqlalchemy import func, select

from gm.records import frozen_record
from gm.sm2 import PrivateKey, PublicKey
from keystore.base import KeyStore
from keystore.envelope import make_enveloped_key, open_enveloped_key
from keystore.errors import ApprovalError, EscrowError
from keystore.policy import KeyPolicy, Usage
from keystore.soft import _fingerprint, _now
from store import audit, db
from store.models.keys import EscrowRecord, RecoveryApproval, RecoveryRequest

KMC_ROLE = "kmc"
REQUIRED_APPROVALS = 2
PENDING, COMPLETED = "pending", "completed"


def _public(key: PublicKey | bytes) -> PublicKey:
    return key if isinstance(key, PublicKey) else PublicKey.from_bytes(bytes(key))


@frozen_record
class IssuedEncryptionKey:
    escrow_id: str
    public_key: bytes  # 04 || x || y of the new encryption key (goes into the encryption certificate)
    envelope: bytes  # DER SM2EnvelopedKey for the subscriber


class KeyManagementCentre:
    def __init__(self, keystore: KeyStore, sessions: Any, kmc_key_ref: str, *, actor: str = "kmc") -> None:
        """`sessions`: a store.db sessionmaker on the same database; `actor`: the KMC service
        identity used when the KMC key is used on a recovery (the approvers are recorded too)."""
        self._keystore = keystore
        self._sessions = sessions
        self._kmc_key_ref = kmc_key_ref
        self._actor = actor

    @staticmethod
    def create_kmc_key(keystore: KeyStore, *, label: str = "kmc", actor: str) -> str:
        """Generate the KMC escrow key: decrypt only, role "kmc"."""
        return keystore.generate(label, Usage.KMC, KeyPolicy.for_usage(Usage.KMC), actor=actor)

    @property
    def kmc_key_ref(self) -> str:
        return self._kmc_key_ref

    def issue_encryption_key(
        self, subscriber_signing_key: PublicKey | bytes, *, subject: str, actor: str
    ) -> IssuedEncryptionKey:
        """Generate, escrow and envelope an encryption key pair for `subject`."""
        recipient = _public(subscriber_signing_key)
        kmc_public = self._keystore.public_key(self._kmc_key_ref)
        info = self._keystore.info(self._kmc_key_ref)
        if info.status != "active":
            raise EscrowError(f"the KMC key {info.label!r} is {info.status}; no key can be escrowed")
        pair = PrivateKey.generate()
        escrow_envelope = make_enveloped_key(kmc_public, pair)
        subscriber_envelope = make_enveloped_key(recipient, pair)
        public = pair.public_key.to_bytes()
        del pair
        escrow_id = "esc:" + uuid.uuid4().hex
        with db.transaction(self._sessions) as s:
            s.add(
                EscrowRecord(
                    id=escrow_id, kmc_key_ref=self._kmc_key_ref, subject=subject,
                    public_key=public, envelope=escrow_envelope, created_at=_now(),
                )
            )
            audit.append(
                s, actor=actor, action="kmc.issue", subject=escrow_id,
                details={
                    "subject": subject,
                    "public_key_sm3": _fingerprint(public),
                    "recipient_signing_key_sm3": _fingerprint(recipient.to_bytes()),
                    "kmc_key": self._kmc_key_ref,
                },
            )
        return IssuedEncryptionKey(escrow_id, public, subscriber_envelope)

    def request_recovery(
        self, escrow_id: str, *, requested_by: str, reason: str, recipient_signing_key: PublicKey | bytes
    ) -> str:
        if not reason.strip():
            raise EscrowError("a recovery request needs a reason (court order, lost key, ...)")
        recipient = _public(recipient_signing_key)
        request_id = "rec:" + uuid.uuid4().hex
        with db.transaction(self._sessions) as s:
            if s.get(EscrowRecord, escrow_id) is None:
                raise EscrowError(f"no escrowed key {escrow_id!r}")
            s.add(
                RecoveryRequest(
                    id=request_id, escrow_id=escrow_id, requested_by=requested_by, reason=reason,
                    recipient_public_key=recipient.to_bytes(), status=PENDING, created_at=_now(),
                )
            )
            audit.append(
                s, actor=requested_by, action="kmc.recovery_requested", subject=request_id,
                details={"escrow_id": escrow_id, "reason": reason,
                         "recipient_signing_key_sm3": _fingerprint(recipient.to_bytes())},
            )
        return request_id

    def approve_recovery(self, request_id: str, *, approver: str) -> int:
        """Record one approval; returns the number of distinct approvals so far.

        Refused (ApprovalError, audited as kmc.approval_refused): the requester approving
        their own request, the same person approving twice, a completed request.
        """
        refusal: ApprovalError | None = None
        count = 0
        with db.transaction(self._sessions) as s:
            req = s.scalar(select(RecoveryRequest).where(RecoveryRequest.id == request_id).with_for_update())
            if req is None:
                raise EscrowError(f"no recovery request {request_id!r}")
            already = s.scalars(select(RecoveryApproval.approver).where(RecoveryApproval.request_id == request_id)).all()
            if req.status != PENDING:
                refusal = ApprovalError(f"recovery request {request_id} is already {req.status}")
            elif approver == req.requested_by:
                refusal = ApprovalError(f"{approver} requested this recovery and cannot also approve it")
            elif approver in already:
                refusal = ApprovalError(
                    f"{approver} has already approved recovery request {request_id}; "
                    f"a second approval must come from a different person"
                )
            if refusal is not None:
                audit.append(s, actor=approver, action="kmc.approval_refused", subject=request_id,
                             details={"escrow_id": req.escrow_id, "reason": str(refusal)})
                count = len(already)
            else:
                s.add(RecoveryApproval(request_id=request_id, approver=approver, approved_at=_now()))
                count = len(already) + 1
                audit.append(s, actor=approver, action="kmc.recovery_approved", subject=request_id,
                             details={"escrow_id": req.escrow_id, "approvals": count})
        if refusal is not None:
            raise refusal
        return count

    def recover(self, request_id: str, *, actor: str) -> bytes:
        """Deliver the escrowed key of an approved request as an SM2EnvelopedKey (DER) to the
        request's recipient signing key. Needs two approvals from different people."""
        with db.transaction(self._sessions, readonly=True) as s:
            req = s.get(RecoveryRequest, request_id)
            if req is None:
                raise EscrowError(f"no recovery request {request_id!r}")
            approvers = sorted(s.scalars(
                select(RecoveryApproval.approver).where(RecoveryApproval.request_id == request_id)
            ).all())
            escrow = s.get(EscrowRecord, req.escrow_id)
            assert escrow is not None
            status, envelope, kmc_ref = req.status, bytes(escrow.envelope), escrow.kmc_key_ref
            recipient = PublicKey.from_bytes(bytes(req.recipient_public_key))
            escrow_id, public = escrow.id, bytes(escrow.public_key)
        if status != PENDING:
            raise ApprovalError(f"recovery request {request_id} is already {status}; ask again for a new recovery")
        if len(set(approvers)) < REQUIRED_APPROVALS:
            raise ApprovalError(
                f"recovery request {request_id} has {len(approvers)} approval(s) ({', '.join(approvers) or 'none'}); "
                f"{REQUIRED_APPROVALS} different people must approve it"
            )
        # The KMC key opens the escrow inside the key store (one key.decrypt audit record).
        pair = open_enveloped_key(
            envelope,
            lambda c: self._keystore.decrypt(
                kmc_ref, c, actor=f"{self._actor} (recovery {request_id}; approved by {', '.join(approvers)})",
                role=KMC_ROLE,
            ),
        )
        if pair.public_key.to_bytes() != public:
            raise EscrowError(f"escrow {escrow_id} does not hold the key recorded for it")
        delivered = make_enveloped_key(recipient, pair)
        del pair
        with db.transaction(self._sessions) as s:
            req = s.scalar(select(RecoveryRequest).where(RecoveryRequest.id == request_id).with_for_update())
            if req is None or req.status != PENDING:
                raise ApprovalError(f"recovery request {request_id} was completed concurrently")
            req.status = COMPLETED
            req.completed_at = _now()
            audit.append(
                s, actor=actor, action="kmc.recovered", subject=request_id,
                details={"escrow_id": escrow_id, "approvers": approvers,
                         "recipient_signing_key_sm3": _fingerprint(recipient.to_bytes())},
            )
        return delivered

    def escrow_count(self) -> int:
        with db.transaction(self._sessions, readonly=True) as s:
            return int(s.scalar(select(func.count()).select_from(EscrowRecord)) or 0)
