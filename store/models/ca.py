"""Tables of the certificate authority (ca/service.py): CAs, issued certificates, CRL numbers.

ca_authorities   one row per CA of the region (kind root | issuing); its key lives in the
                 key store (key_ref), never here; `certificate` is the CA certificate DER.
ca_certificates  every certificate an issuing CA (or the root, for issuing CAs) signed, with
                 its lifecycle status good | hold | revoked. `serial` is the serial number
                 as lowercase hex without leading zeros (at most 40 hex digits = 20 octets),
                 UNIQUE: two workers that draw the same serial cannot both store it.
ca_crl_entries   the current full CRL of each CA, one row per revoked or suspended certificate:
                 `entry` is the DER of its revokedCertificates element (serial, revocation
                 date, reasonCode, invalidityDate), written by ca/crl_entries.py in the
                 transaction that revokes, suspends or resumes (which deletes it). A full CRL
                 of 10^6 entries is then one ordered read of byte strings, joined, and signed:
                 nothing per entry is parsed or encoded at CRL time. The key (issuer_id,
                 certificate_id) clusters a CA's entries (WITHOUT ROWID on SQLite).
ca_crl_counters  one row per CA: the last CRL number used (full or delta share one sequence,
                 RFC 5280 §5.2.3) and the number and time of the last full CRL (the base of
                 delta CRLs). The row is locked (SELECT ... FOR UPDATE on PostgreSQL; the
                 BEGIN IMMEDIATE write lock on SQLite) while the next number is taken, so
                 numbers strictly increase even with several workers.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import BigInteger, CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

SERIAL_MAX = 40
CA_KINDS = ("root", "issuing")
CERT_STATUSES = ("good", "hold", "revoked")


class CertificateAuthority(Base):
    __tablename__ = "ca_authorities"
    __table_args__ = (CheckConstraint("kind IN ('root', 'issuing')", name="kind"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    name: Mapped[str] = mapped_column(String(200), nullable=False, unique=True)
    kind: Mapped[str] = mapped_column(String(16), nullable=False)
    region_code: Mapped[str] = mapped_column(String(6), nullable=False)
    region_name: Mapped[str] = mapped_column(String(100), nullable=False)
    base_url: Mapped[str] = mapped_column(String(400), nullable=False)
    key_ref: Mapped[str] = mapped_column(ForeignKey("keystore_keys.id"), nullable=False)
    certificate: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER
    ski: Mapped[str] = mapped_column(String(40), nullable=False, unique=True)  # hex SHA-1 of the point
    parent_id: Mapped[int | None] = mapped_column(ForeignKey("ca_authorities.id"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class IssuedCertificate(Base):
    __tablename__ = "ca_certificates"
    __table_args__ = (
        CheckConstraint("status IN ('good', 'hold', 'revoked')", name="status"),
        Index("ix_ca_certificates_issuer_status", "issuer_id", "status"),
        # delta CRLs read the status changes since their base, not every row of the CA
        Index("ix_ca_certificates_issuer_changed", "issuer_id", "status_changed_at"),
        # a service's current certificate (ca.service.current_service_row: every timestamp and
        # live OCSP answer) among the few rows with a key we hold, not by walking every
        # certificate issued since the service's
        Index("ix_ca_certificates_service", "profile", "id",
              sqlite_where=text("key_ref IS NOT NULL"), postgresql_where=text("key_ref IS NOT NULL")),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(SERIAL_MAX), nullable=False, unique=True)
    issuer_id: Mapped[int] = mapped_column(ForeignKey("ca_authorities.id"), nullable=False)
    profile: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(1000), nullable=False)
    not_before: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    not_after: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    reason: Mapped[str | None] = mapped_column(String(32))  # RFC 5280 CRLReason name
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # revocation or hold time
    invalidity_date: Mapped[datetime | None] = mapped_column(UTCDateTime())
    status_changed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())  # for delta CRLs
    key_ref: Mapped[str | None] = mapped_column(ForeignKey("keystore_keys.id"))  # service certs we hold keys of
    der: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    supersedes: Mapped[str | None] = mapped_column(String(SERIAL_MAX))  # renewed / rekeyed serial
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)


class CRLEntry(Base):
    __tablename__ = "ca_crl_entries"
    __table_args__ = {"sqlite_with_rowid": False}

    issuer_id: Mapped[int] = mapped_column(ForeignKey("ca_authorities.id"), primary_key=True, autoincrement=False)
    certificate_id: Mapped[int] = mapped_column(ForeignKey("ca_certificates.id"), primary_key=True,
                                                autoincrement=False)
    entry: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER revokedCertificates element


class CRLCounter(Base):
    __tablename__ = "ca_crl_counters"

    ca_id: Mapped[int] = mapped_column(ForeignKey("ca_authorities.id"), primary_key=True, autoincrement=False)
    last_number: Mapped[int] = mapped_column(BigInteger, nullable=False)
    last_full_number: Mapped[int | None] = mapped_column(BigInteger)
    last_full_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
