"""timestamp authority: tsa_tokens (unique serials, token log).

Revision ID: 0007_tsa
Revises: 0006_seal
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0007_tsa"
down_revision = "0006_seal"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "tsa_tokens",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("policy", sa.String(length=200), nullable=False),
        sa.Column("hash_algorithm", sa.String(length=16), nullable=False),
        sa.Column("message_imprint", sa.String(length=128), nullable=False),
        sa.Column("nonce", sa.String(length=80), nullable=True),
        sa.Column("gen_time", UTCDateTime(), nullable=False),
        sa.Column("actor", sa.String(length=200), nullable=False),
        sa.Column("token", sa.LargeBinary(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tsa_tokens")),
        sa.UniqueConstraint("serial", name=op.f("uq_tsa_tokens_serial")),
    )
    op.create_index("ix_tsa_tokens_gen_time", "tsa_tokens", ["gen_time"], unique=False)


def downgrade() -> None:
    op.drop_index("ix_tsa_tokens_gen_time", table_name="tsa_tokens")
    op.drop_table("tsa_tokens")
