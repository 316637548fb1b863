"""Transparency log: translog_entries, translog_heads, translog_state.

Revision ID: 0010_translog
Revises: 0009_trust
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0010_translog"
down_revision = "0009_trust"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "translog_entries",
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("kind", sa.String(length=32), nullable=False),
        sa.Column("subject", sa.String(length=200), nullable=False),
        sa.Column("artefact_sm3", sa.LargeBinary(length=32), nullable=False),
        sa.Column("leaf_hash", sa.LargeBinary(length=32), nullable=False),
        sa.Column("logged_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("idx", name=op.f("pk_translog_entries")),
    )
    op.create_index(op.f("ix_translog_entries_subject"), "translog_entries", ["subject"], unique=False)
    op.create_table(
        "translog_heads",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.Column("root", sa.LargeBinary(length=32), nullable=False),
        sa.Column("signed_at", UTCDateTime(), nullable=False),
        sa.Column("key_id", sa.String(length=64), nullable=False),
        sa.Column("signature", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translog_heads")),
    )
    state = op.create_table(
        "translog_state",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("size", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_translog_state_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_translog_state")),
    )
    op.bulk_insert(state, [{"id": 1, "size": 0}])


def downgrade() -> None:
    op.drop_table("translog_state")
    op.drop_table("translog_heads")
    op.drop_index(op.f("ix_translog_entries_subject"), table_name="translog_entries")
    op.drop_table("translog_entries")
