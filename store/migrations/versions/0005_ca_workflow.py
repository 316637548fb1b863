"""CA registration workflow, server-side keys, renewal (filled by the CA work).

Revision ID: 0005_ca_workflow
Revises: 0004_tokens
Create Date: 2026-11-23
"""
from __future__ import annotations

revision = "0005_ca_workflow"
down_revision = "0004_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
