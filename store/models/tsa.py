"""Table of the timestamp authority (seal/tsa.py): one row per token issued.

tsa_tokens  `serial` is the TSTInfo serialNumber as lowercase hex without leading zeros,
            UNIQUE: RFC 3161 requires serials unique per TSA, and two workers that draw the
            same random serial cannot both store it (the loser re-signs with a new one).
            The row also logs what was stamped (hash algorithm name and imprint hex), the
            genTime, the policy, the nonce (hex, if the request had one) and the token DER
            (the SignedData ContentInfo), so a token can be produced again on dispute.
"""
from __future__ import annotations

from datetime import datetime

from sqlalchemy import Index, Integer, LargeBinary, String
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base, UTCDateTime

SERIAL_MAX = 40


class TsaToken(Base):
    __tablename__ = "tsa_tokens"
    __table_args__ = (Index("ix_tsa_tokens_gen_time", "gen_time"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    serial: Mapped[str] = mapped_column(String(SERIAL_MAX), nullable=False, unique=True)
    policy: Mapped[str] = mapped_column(String(200), nullable=False)
    hash_algorithm: Mapped[str] = mapped_column(String(16), nullable=False)
    message_imprint: Mapped[str] = mapped_column(String(128), nullable=False)  # hex
    nonce: Mapped[str | None] = mapped_column(String(80))  # hex, up to 320 bits
    gen_time: Mapped[datetime] = mapped_column(UTCDateTime(), nullable=False)
    actor: Mapped[str] = mapped_column(String(200), nullable=False)
    token: Mapped[bytes] = mapped_column(LargeBinary, nullable=False)  # DER ContentInfo
