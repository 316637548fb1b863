"""CA registration workflow (ca_applications) and renewal links (ca_certificates.supersedes).

Revision ID: 0005_ca_workflow
Revises: 0004_tokens
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0005_ca_workflow"
down_revision = "0004_tokens"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_applications",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("profile", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("id_number", sa.String(length=64), nullable=True),
        sa.Column("credit_code", sa.String(length=64), nullable=True),
        sa.Column("san", sa.Text(), nullable=True),
        sa.Column("days", sa.Integer(), nullable=True),
        sa.Column("csr", sa.LargeBinary(), nullable=False),
        sa.Column("uid", sa.LargeBinary(), nullable=False),
        sa.Column("operator", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("reviewer", sa.String(length=200), nullable=True),
        sa.Column("reviewed_at", UTCDateTime(), nullable=True),
        sa.Column("review_note", sa.Text(), nullable=True),
        sa.Column("decided_by", sa.String(length=200), nullable=True),
        sa.Column("decided_at", UTCDateTime(), nullable=True),
        sa.Column("rejection_reason", sa.Text(), nullable=True),
        sa.Column("serial", sa.String(length=40), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('submitted', 'reviewed', 'rejected', 'issued')",
                           name=op.f("ck_ca_applications_status")),
        sa.ForeignKeyConstraint(
            ["serial"], ["ca_certificates.serial"], name=op.f("fk_ca_applications_serial_ca_certificates"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_applications")),
    )
    op.create_index("ix_ca_applications_status", "ca_applications", ["status"], unique=False)
    with op.batch_alter_table("ca_certificates") as batch:
        batch.add_column(sa.Column("supersedes", sa.String(length=40), nullable=True))


def downgrade() -> None:
    with op.batch_alter_table("ca_certificates") as batch:
        batch.drop_column("supersedes")
    op.drop_index("ix_ca_applications_status", table_name="ca_applications")
    op.drop_table("ca_applications")
