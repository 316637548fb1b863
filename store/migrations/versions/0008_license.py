"""e-license types and directory (filled by the e-license work).

Revision ID: 0008_license
Revises: 0007_tsa
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = "0008_license"
down_revision = "0007_tsa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
