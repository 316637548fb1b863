"""seal registry (filled by the seal work).

Revision ID: 0006_seal
Revises: 0005_ca_workflow
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = "0006_seal"
down_revision = "0005_ca_workflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
