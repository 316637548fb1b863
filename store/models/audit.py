"""Tables of the tamper-evident audit log (see store.audit for how they are written and checked).

- `audit_record`: one row per state change, append-only, chained by SM3 hashes.
- `audit_head`: exactly one row (id = 1): the seq and hash of the newest record. Writers
  lock it to serialise the chain, and `verify` compares it with the last record.
- `audit_checkpoint`: signed statements "the log had `seq` records ending in `head_hash`".

Hashes and signatures are raw bytes (BLOB on SQLite, BYTEA on PostgreSQL). `details` holds
the record's canonical JSON text exactly as it was hashed, so the stored bytes are the
hashed bytes and no database JSON normalisation can change them.
"""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

HASH_SIZE = 32
ACTOR_MAX = 255
ACTION_MAX = 64
SUBJECT_MAX = 512
KEY_ID_MAX = 255


class AuditRecord(Base):
    """One audit record: who (actor) did what (action) to which thing (subject), and details."""

    __tablename__ = "audit_record"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    recorded_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    actor: Mapped[str] = mapped_column(String(ACTOR_MAX), nullable=False)
    action: Mapped[str] = mapped_column(String(ACTION_MAX), nullable=False, index=True)
    subject: Mapped[str] = mapped_column(String(SUBJECT_MAX), nullable=False, index=True)
    details: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON, as hashed
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE), nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE), nullable=False, unique=True)

    def details_dict(self) -> dict:
        import json

        return json.loads(self.details)

    def __repr__(self) -> str:
        return f"<AuditRecord seq={self.seq} {self.action} {self.subject!r} by {self.actor!r}>"


class AuditHead(Base):
    """The single row naming the newest record; locked by every writer of the chain."""

    __tablename__ = "audit_head"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(BigInteger, nullable=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE), nullable=False)
    checkpoint_seq: Mapped[int] = mapped_column(BigInteger, nullable=False)


class AuditCheckpoint(Base):
    """A signature by the region's audit key over (seq, head hash, time, key id)."""

    __tablename__ = "audit_checkpoint"

    seq: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary(HASH_SIZE), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime, nullable=False)
    key_id: Mapped[str] = mapped_column(String(KEY_ID_MAX), nullable=False)
    public_key: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # 04 || x || y
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER SM2-with-SM3

    def __repr__(self) -> str:
        return f"<AuditCheckpoint seq={self.seq} key={self.key_id!r}>"
