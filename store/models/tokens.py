"""API tokens (store/tokens.py): bearer credentials of the REST API and the console.

Only the SHA-256 of a token is stored (tokens are 256 random bits, so a plain hash is
enough: there is nothing to brute-force), with its role, the agency it is scoped to and
whether it was revoked. `token_id` is the public half shown in listings and audit records.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import CheckConstraint, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

ROLES = ("admin", "ra_operator", "agency", "auditor")


class ApiToken(Base):
    __tablename__ = "api_tokens"
    __table_args__ = (
        CheckConstraint("role IN ('admin', 'ra_operator', 'agency', 'auditor')", name="role"),
    )

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    token_id: Mapped[str] = mapped_column(String(16), nullable=False, unique=True)
    secret_hash: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)
    role: Mapped[str] = mapped_column(String(16), nullable=False)
    agency: Mapped[str | None] = mapped_column(String(200))  # as wide as seals.agency (0013)
    label: Mapped[str] = mapped_column(String(200), nullable=False)
    created_at: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    revoked_at: Mapped[datetime | None] = mapped_column(UTCDateTime())
