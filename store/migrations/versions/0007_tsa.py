"""timestamp authority serials (filled by the TSA work).

Revision ID: 0007_tsa
Revises: 0006_seal
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = "0007_tsa"
down_revision = "0006_seal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
