"""Tables of the seal registry (seal/service.py).

seals               one row per e-seal made by this region. `es_id` is the seal identifier
                    written into the seal (region + year + sequence + check character,
                    seal/service.py). `status` is valid | suspended | revoked as stored;
                    "expired" is derived from `valid_to` when asked. `der` is the signed
                    SESeal exactly as issued.
seal_holders        the signer certificates a seal binds (by certificate or by digest): the
                    certificate, its serial when this region issued it, its SM3, and the
                    key-store key that signs for it (NULL when the key is held elsewhere).
seal_authorisations which agencies may use a seal (the owning agency gets one at making).
seal_counters       one row per (region, year): the last sequence number used in seal ids;
                    locked while the next number is taken, so ids are unique and gap-free
                    unless a making fails after taking its number.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

ES_ID_MAX = 32
SEAL_STATUSES = ("valid", "suspended", "revoked")
SEAL_TYPES = ("organization", "personal")


class SealRecord(Base):
    __tablename__ = "seals"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'suspended', 'revoked')", name="status"),
        CheckConstraint("seal_type IN ('organization', 'personal')", name="seal_type"),
        CheckConstraint("bind_by IN ('certificate', 'digest')", name="bind_by"),
        Index("ix_seals_agency", "agency"),
    )

    es_id: Mapped[str] = mapped_column(String(ES_ID_MAX), primary_key=True)
    region_code: Mapped[str] = mapped_column(String(6), nullable=False)
    seal_type: Mapped[str] = mapped_column(String(16), nullable=False)
    name: Mapped[str] = mapped_column(String(200), nullable=False)
    agency: Mapped[str] = mapped_column(String(200), nullable=False)
    version: Mapped[int] = mapped_column(Integer, nullable=False)
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    picture_type: Mapped[str] = mapped_column(String(8), nullable=False)
    bind_by: Mapped[str] = mapped_column(String(12), nullable=False)
    status: Mapped[str] = mapped_column(String(10), nullable=False)
    valid_from: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_to: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    maker_cert_serial: Mapped[str] = mapped_column(String(40), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    created_by: Mapped[str] = mapped_column(String(200), nullable=False)
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_reason: Mapped[str | None] = mapped_column(String(500))


class SealHolder(Base):
    __tablename__ = "seal_holders"
    __table_args__ = (
        UniqueConstraint("es_id", "cert_sm3", name="uq_seal_holders_es_id_cert_sm3"),
        Index("ix_seal_holders_cert_serial", "cert_serial"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    es_id: Mapped[str] = mapped_column(ForeignKey("seals.es_id"), nullable=False)
    certificate: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER
    cert_sm3: Mapped[str] = mapped_column(String(64), nullable=False)  # hex SM3 of the DER
    cert_serial: Mapped[str | None] = mapped_column(String(40))  # hex, when issued by this region
    key_ref: Mapped[str | None] = mapped_column(ForeignKey("keystore_keys.id"))


class SealAuthorisation(Base):
    __tablename__ = "seal_authorisations"
    __table_args__ = (UniqueConstraint("es_id", "agency", name="uq_seal_authorisations_es_id_agency"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    es_id: Mapped[str] = mapped_column(ForeignKey("seals.es_id"), nullable=False)
    agency: Mapped[str] = mapped_column(String(200), nullable=False)
    granted_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    granted_by: Mapped[str] = mapped_column(String(200), nullable=False)


class SealCounter(Base):
    __tablename__ = "seal_counters"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)
