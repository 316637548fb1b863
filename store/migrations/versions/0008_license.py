"""e-license directory: license_records, license_counters (seal/license/service.py).

Revision ID: 0008_license
Revises: 0007_tsa
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0008_license"
down_revision = "0007_tsa"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "license_records",
        sa.Column("id", sa.String(length=22), nullable=False),
        sa.Column("type_code", sa.String(length=4), nullable=False),
        sa.Column("holder_name", sa.String(length=200), nullable=False),
        sa.Column("holder_id", sa.String(length=64), nullable=True),
        sa.Column("data", sa.Text(), nullable=False),
        sa.Column("external_id", sa.String(length=128), nullable=True),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("valid_from", sa.Date(), nullable=False),
        sa.Column("valid_to", sa.Date(), nullable=True),
        sa.Column("ofd", sa.LargeBinary(), nullable=False),
        sa.Column("ofd_sm3", sa.String(length=64), nullable=False),
        sa.Column("seal_id", sa.String(length=64), nullable=True),
        sa.Column("issued_by", sa.String(length=200), nullable=False),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("revoke_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('valid', 'revoked')", name=op.f("ck_license_records_status")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_license_records")),
        sa.UniqueConstraint("type_code", "external_id", name="uq_license_records_type_external"),
    )
    op.create_index("ix_license_records_holder", "license_records", ["holder_id"], unique=False)
    op.create_table(
        "license_counters",
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("type_code", sa.String(length=4), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "type_code", "year", name=op.f("pk_license_counters")),
    )


def downgrade() -> None:
    op.drop_table("license_counters")
    op.drop_index("ix_license_records_holder", table_name="license_records")
    op.drop_table("license_records")
