"""trust lists and revocation cache (filled by the verify work).

Revision ID: 0009_trust
Revises: 0008_license
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = "0009_trust"
down_revision = "0008_license"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
