"""status_epoch: one counter, bumped by triggers whenever a status a verifier reads changes
(store/status_epoch.py), so verifications reuse status rows until one does.

Revision ID: 0012_status_epoch
Revises: 0011_ca_crl_entries
Create Date: 2026-11-24
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012_status_epoch"
down_revision = "0011_ca_crl_entries"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from store.status_epoch import trigger_ddl

    op.create_table(
        "status_epoch",
        sa.Column("id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("value", sa.BigInteger(), nullable=False),
        sa.CheckConstraint("id = 1", name=op.f("ck_status_epoch_single_row")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_status_epoch")),
    )
    op.execute("INSERT INTO status_epoch (id, value) VALUES (1, 0)")
    for statement in trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)


def downgrade() -> None:
    from store.status_epoch import drop_trigger_ddl

    for statement in drop_trigger_ddl(op.get_bind().dialect.name):
        op.execute(statement)
    op.drop_table("status_epoch")
