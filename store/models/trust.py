"""Tables of the verification engine (verify/): trust lists and the revocation cache.

trust_signers            the key-store keys that sign this home's trust lists (a region's TL,
                         the national LOTL): label -> key_ref and the signer certificate DER.
trust_published          every list this home signed, by kind (tl | lotl) and sequence number
                         (strictly increasing per kind, UNIQUE), with the signed document; the
                         last one is the base of the next (status history is carried over).
trust_imported           the lists a relying party imported (verify/trustlist/service.py):
                         one row per source (the URL or file the list came from), replaced
                         by a newer sequence number on refresh; `document` is the signed
                         JSON exactly as received, re-verified whenever it is loaded.
verify_revocation_cache  OCSP answers and CRLs (DER) by cache key (the SHA-256 hex of URL and
                         CertID, verify/revocation.py) until their nextUpdate, so that
                         workers share what one of them fetched; rows past it are deleted
                         by a later write (index on next_update).
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

LIST_KINDS = ("tl", "lotl")


class TrustListSigner(Base):
    __tablename__ = "trust_signers"

    label: Mapped[str] = mapped_column(String(100), primary_key=True)
    key_ref: Mapped[str] = mapped_column(ForeignKey("keystore_keys.id"), nullable=False)
    certificate: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class PublishedTrustList(Base):
    __tablename__ = "trust_published"
    __table_args__ = (
        CheckConstraint("kind IN ('tl', 'lotl')", name="kind"),
        UniqueConstraint("kind", "sequence_number", name="uq_trust_published_kind_sequence"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    sequence_number: Mapped[int] = mapped_column(Integer, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)


class ImportedTrustList(Base):
    __tablename__ = "trust_imported"
    __table_args__ = (CheckConstraint("kind IN ('tl', 'lotl')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    source: Mapped[str] = mapped_column(String(1000), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(8), nullable=False)
    scheme_name: Mapped[str] = mapped_column(String(200), nullable=False)
    sequence_number: Mapped[int] = mapped_column(Integer, nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    signer_sha256: Mapped[str] = mapped_column(String(64), nullable=False)
    document: Mapped[str] = mapped_column(Text, nullable=False)
    imported_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class RevocationCacheEntry(Base):
    __tablename__ = "verify_revocation_cache"
    # the expired rows, deleted now and then by the write of a new answer (verify/revocation.py)
    __table_args__ = (Index("ix_verify_revocation_cache_next_update", "next_update"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    key: Mapped[str] = mapped_column(String(500), nullable=False, unique=True)
    url: Mapped[str] = mapped_column(String(1000), nullable=False)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    next_update: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    fetched_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
