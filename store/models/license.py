"""Tables of the e-license directory (seal/license/service.py).

license_records   one row per issued license. `id` is the 22-character license identifier
                  (region + type + year + sequence + MOD 37,36 check; seal/license/identifiers.py).
                  `status` is valid | revoked as stored; "expired" is derived from `valid_to`
                  at the time of the question, so no job has to flip rows at midnight.
                  (type_code, external_id) is UNIQUE: a batch that runs twice, or two workers
                  that issue the same row, cannot store a second license for one external id
                  (NULL external ids never collide). `ofd` is the issued OFD package as
                  delivered, `ofd_sm3` its SM3 (hex) for quick integrity checks.
license_counters  one row per (region, type, year): the last sequence number used; the row is
                  locked (FOR UPDATE / SQLite's write lock) while the next number is taken.
"""
from __future__ import annotations

from datetime import date, datetime

from sqlalchemy import CheckConstraint, Date, Index, Integer, LargeBinary, String, Text, UniqueConstraint
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

LICENSE_ID_MAX = 22
LICENSE_STATUSES = ("valid", "revoked")


class LicenseRecord(Base):
    __tablename__ = "license_records"
    __table_args__ = (
        CheckConstraint("status IN ('valid', 'revoked')", name="status"),
        UniqueConstraint("type_code", "external_id", name="uq_license_records_type_external"),
        Index("ix_license_records_holder", "holder_id"),
        # the newest first, for everyone and for one agency: a page reads its rows, not the
        # table (each row carries its OFD)
        Index("ix_license_records_issued", "issued_at", "id"),
        Index("ix_license_records_agency_issued", "agency", "issued_at", "id"),
    )

    id: Mapped[str] = mapped_column(String(LICENSE_ID_MAX), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(4), nullable=False)
    holder_name: Mapped[str] = mapped_column(String(200), nullable=False)
    holder_id: Mapped[str | None] = mapped_column(String(64))
    data: Mapped[str] = mapped_column(Text, nullable=False)  # canonical JSON of the field values
    external_id: Mapped[str | None] = mapped_column(String(128))
    agency: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(8), nullable=False)
    issued_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    valid_from: Mapped[date] = mapped_column(Date, nullable=False)
    valid_to: Mapped[date | None] = mapped_column(Date)  # inclusive; NULL = long-term
    ofd: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    ofd_sm3: Mapped[str] = mapped_column(String(64), nullable=False)
    seal_id: Mapped[str | None] = mapped_column(String(64))
    issued_by: Mapped[str] = mapped_column(String(200), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    revoke_reason: Mapped[str | None] = mapped_column(String(500))


class LicenseCounter(Base):
    __tablename__ = "license_counters"

    region_code: Mapped[str] = mapped_column(String(6), primary_key=True)
    type_code: Mapped[str] = mapped_column(String(4), primary_key=True)
    year: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    last_sequence: Mapped[int] = mapped_column(Integer, nullable=False)
