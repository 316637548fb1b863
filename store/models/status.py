"""`status_epoch`: one row (id = 1) whose `value` grows by one in the same transaction as any
change to a status a verifier reads (a certificate's revocation, a seal's status, an
e-license's status), so a reader can tell in one statement whether any of them changed.

The triggers that keep it are in migration 0012 (store/status_epoch.py lists the columns);
no code writes it.
"""

from __future__ import annotations

from sqlalchemy import BigInteger, CheckConstraint, Integer
from sqlalchemy.orm import Mapped, mapped_column

from store.models.base import Base


class StatusEpoch(Base):
    __tablename__ = "status_epoch"
    __table_args__ = (CheckConstraint("id = 1", name="single_row"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    value: Mapped[int] = mapped_column(BigInteger, nullable=False)
