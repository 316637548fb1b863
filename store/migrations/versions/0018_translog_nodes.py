"""translog_nodes: stored hashes of complete Merkle subtrees, so that a proof or a tree head
reads O(log n) rows instead of every leaf of the log (store/translog_tree.py).

Revision ID: 0018_translog_nodes
Revises: 0013_token_agency_width
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0018_translog_nodes"
down_revision = "0013_token_agency_width"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # empty at first: the nodes of an existing log are computed when a proof first needs them
    op.create_table(
        "translog_nodes",
        sa.Column("level", sa.SmallInteger(), autoincrement=False, nullable=False),
        sa.Column("idx", sa.BigInteger(), autoincrement=False, nullable=False),
        sa.Column("hash", sa.LargeBinary(length=32), nullable=False),
        sa.PrimaryKeyConstraint("level", "idx", name=op.f("pk_translog_nodes")),
    )


def downgrade() -> None:
    op.drop_table("translog_nodes")
