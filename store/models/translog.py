"""The transparency log (store/translog.py): one row per logged artefact, and signed tree heads.

translog_entries  leaf `idx` (0-based, gap-free, unique) with the artefact's kind (certificate
                  | seal | sealed-document | license), its subject ("cert:<serial>", ...), the
                  SM3 of the artefact and the RFC 9162 leaf hash of the leaf input.
translog_heads    signed tree heads: size, root, time, the signing key and the SM2 signature.
translog_state    a single row with the tree size; writers lock it, so indexes never clash.
translog_nodes    hashes of complete subtrees (store/translog_tree.py): a proof or a tree head
                  reads a few dozen of them instead of every leaf. Derived from the entries,
                  written when first needed; ``verify_log`` checks them against the entries.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, Index, Integer, LargeBinary, SmallInteger, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime


class TransLogEntry(Base):
    __tablename__ = "translog_entries"
    # a subject's newest entry under a tree size: by subject alone, PostgreSQL walked the
    # primary key backwards from the size instead (330 ms a proof at 1,000,000 entries)
    __table_args__ = (Index("ix_translog_entries_subject_idx", "subject", "idx"),)

    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    kind: Mapped[str] = mapped_column(String(32), nullable=False)
    subject: Mapped[str] = mapped_column(String(200), nullable=False)
    artefact_sm3: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    leaf_hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    logged_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class TransLogHead(Base):
    __tablename__ = "translog_heads"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)
    root: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
    signed_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    key_id: Mapped[str] = mapped_column(String(64), nullable=False)
    signature: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)


class TransLogState(Base):
    __tablename__ = "translog_state"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    size: Mapped[int] = mapped_column(BigInteger, nullable=False)


class TransLogNode(Base):
    __tablename__ = "translog_nodes"

    # the subtree of leaves [idx * 2**level, (idx + 1) * 2**level); only levels that are
    # multiples of store.translog_tree.STRIDE are kept
    level: Mapped[int] = mapped_column(SmallInteger, primary_key=True, autoincrement=False)
    idx: Mapped[int] = mapped_column(BigInteger, primary_key=True, autoincrement=False)
    hash: Mapped[bytes] = mapped_column(LargeBinary(32), nullable=False)
