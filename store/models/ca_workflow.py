"""Registration workflow of the certificate authority (ca/workflow.py): applications.

ca_applications  one row per certificate application: what is asked (profile, subject,
                 identity values, SAN, validity, the PKCS#10 request and its signer ID), who
                 entered it (`operator`, the RA operator acting for the applicant), and where
                 it stands: submitted -> reviewed -> issued, or rejected (with a reason) from
                 submitted or reviewed. `serial` names the certificate issued on approval.
                 The row is locked (SELECT ... FOR UPDATE) while it moves, so two approvals of
                 one application cannot both issue.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, ForeignKey, Index, Integer, LargeBinary, String, Text
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

APPLICATION_STATUSES = ("submitted", "reviewed", "rejected", "issued")


class CertificateApplication(Base):
    __tablename__ = "ca_applications"
    __table_args__ = (
        CheckConstraint("status IN ('submitted', 'reviewed', 'rejected', 'issued')", name="status"),
        Index("ix_ca_applications_status", "status"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    profile: Mapped[str] = mapped_column(String(40), nullable=False)
    subject: Mapped[str] = mapped_column(String(1000), nullable=False)  # DN text as entered
    id_number: Mapped[str | None] = mapped_column(String(64))
    credit_code: Mapped[str | None] = mapped_column(String(64))
    san: Mapped[str | None] = mapped_column(Text)  # JSON [[kind, value], ...]
    days: Mapped[int | None] = mapped_column(Integer)
    csr: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER PKCS#10, PoP verified
    uid: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # SM2 signer ID of the CSR
    operator: Mapped[str] = mapped_column(String(200), nullable=False)
    status: Mapped[str] = mapped_column(String(16), nullable=False)
    reviewer: Mapped[str | None] = mapped_column(String(200))
    reviewed_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    review_note: Mapped[str | None] = mapped_column(Text)
    decided_by: Mapped[str | None] = mapped_column(String(200))  # approver or rejecter
    decided_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
    rejection_reason: Mapped[str | None] = mapped_column(Text)
    serial: Mapped[str | None] = mapped_column(ForeignKey("ca_certificates.serial"))
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    updated_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
