"""seal registry: seals, seal_holders, seal_authorisations, seal_counters (seal/service.py).

Revision ID: 0006_seal
Revises: 0005_ca_workflow
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0006_seal"
down_revision = "0005_ca_workflow"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "seals",
        sa.Column("es_id", sa.String(length=32), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("seal_type", sa.String(length=16), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("version", sa.Integer(), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("picture_type", sa.String(length=8), nullable=False),
        sa.Column("bind_by", sa.String(length=12), nullable=False),
        sa.Column("status", sa.String(length=10), nullable=False),
        sa.Column("valid_from", UTCDateTime(), nullable=False),
        sa.Column("valid_to", UTCDateTime(), nullable=False),
        sa.Column("maker_cert_serial", sa.String(length=40), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("created_by", sa.String(length=200), nullable=False),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("status_reason", sa.String(length=500), nullable=True),
        sa.CheckConstraint("status IN ('valid', 'suspended', 'revoked')", name=op.f("ck_seals_status")),
        sa.CheckConstraint("seal_type IN ('organization', 'personal')", name=op.f("ck_seals_seal_type")),
        sa.CheckConstraint("bind_by IN ('certificate', 'digest')", name=op.f("ck_seals_bind_by")),
        sa.PrimaryKeyConstraint("es_id", name=op.f("pk_seals")),
    )
    op.create_index("ix_seals_agency", "seals", ["agency"], unique=False)
    op.create_table(
        "seal_holders",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("es_id", sa.String(length=32), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("cert_sm3", sa.String(length=64), nullable=False),
        sa.Column("cert_serial", sa.String(length=40), nullable=True),
        sa.Column("key_ref", sa.String(length=64), nullable=True),
        sa.ForeignKeyConstraint(["es_id"], ["seals.es_id"], name=op.f("fk_seal_holders_es_id_seals")),
        sa.ForeignKeyConstraint(["key_ref"], ["keystore_keys.id"], name=op.f("fk_seal_holders_key_ref_keystore_keys")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_holders")),
        sa.UniqueConstraint("es_id", "cert_sm3", name="uq_seal_holders_es_id_cert_sm3"),
    )
    op.create_index("ix_seal_holders_cert_serial", "seal_holders", ["cert_serial"], unique=False)
    op.create_table(
        "seal_authorisations",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("es_id", sa.String(length=32), nullable=False),
        sa.Column("agency", sa.String(length=200), nullable=False),
        sa.Column("granted_at", UTCDateTime(), nullable=False),
        sa.Column("granted_by", sa.String(length=200), nullable=False),
        sa.ForeignKeyConstraint(["es_id"], ["seals.es_id"], name=op.f("fk_seal_authorisations_es_id_seals")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_seal_authorisations")),
        sa.UniqueConstraint("es_id", "agency", name="uq_seal_authorisations_es_id_agency"),
    )
    op.create_table(
        "seal_counters",
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("year", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_sequence", sa.Integer(), nullable=False),
        sa.PrimaryKeyConstraint("region_code", "year", name=op.f("pk_seal_counters")),
    )


def downgrade() -> None:
    op.drop_table("seal_counters")
    op.drop_table("seal_authorisations")
    op.drop_index("ix_seal_holders_cert_serial", table_name="seal_holders")
    op.drop_table("seal_holders")
    op.drop_index("ix_seals_agency", table_name="seals")
    op.drop_table("seals")
