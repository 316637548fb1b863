"""Certificate authority: ca_authorities, ca_certificates, ca_crl_counters.

Revision ID: 0003_ca
Revises: 0002_keystore
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0003_ca"
down_revision = "0002_keystore"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "ca_authorities",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("kind", sa.String(length=16), nullable=False),
        sa.Column("region_code", sa.String(length=6), nullable=False),
        sa.Column("region_name", sa.String(length=100), nullable=False),
        sa.Column("base_url", sa.String(length=400), nullable=False),
        sa.Column("key_ref", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("ski", sa.String(length=40), nullable=False),
        sa.Column("parent_id", sa.Integer(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('root', 'issuing')", name=op.f("ck_ca_authorities_kind")),
        sa.ForeignKeyConstraint(
            ["key_ref"], ["keystore_keys.id"], name=op.f("fk_ca_authorities_key_ref_keystore_keys"),
        ),
        sa.ForeignKeyConstraint(
            ["parent_id"], ["ca_authorities.id"], name=op.f("fk_ca_authorities_parent_id_ca_authorities"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_authorities")),
        sa.UniqueConstraint("name", name=op.f("uq_ca_authorities_name")),
        sa.UniqueConstraint("ski", name=op.f("uq_ca_authorities_ski")),
    )
    op.create_table(
        "ca_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("serial", sa.String(length=40), nullable=False),
        sa.Column("issuer_id", sa.Integer(), nullable=False),
        sa.Column("profile", sa.String(length=40), nullable=False),
        sa.Column("subject", sa.String(length=1000), nullable=False),
        sa.Column("not_before", UTCDateTime(), nullable=False),
        sa.Column("not_after", UTCDateTime(), nullable=False),
        sa.Column("status", sa.String(length=8), nullable=False),
        sa.Column("reason", sa.String(length=32), nullable=True),
        sa.Column("revoked_at", UTCDateTime(), nullable=True),
        sa.Column("invalidity_date", UTCDateTime(), nullable=True),
        sa.Column("status_changed_at", UTCDateTime(), nullable=True),
        sa.Column("key_ref", sa.String(length=64), nullable=True),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("status IN ('good', 'hold', 'revoked')", name=op.f("ck_ca_certificates_status")),
        sa.ForeignKeyConstraint(
            ["issuer_id"], ["ca_authorities.id"], name=op.f("fk_ca_certificates_issuer_id_ca_authorities"),
        ),
        sa.ForeignKeyConstraint(
            ["key_ref"], ["keystore_keys.id"], name=op.f("fk_ca_certificates_key_ref_keystore_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_ca_certificates")),
        sa.UniqueConstraint("serial", name=op.f("uq_ca_certificates_serial")),
    )
    op.create_index("ix_ca_certificates_issuer_status", "ca_certificates", ["issuer_id", "status"], unique=False)
    op.create_table(
        "ca_crl_counters",
        sa.Column("ca_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("last_number", sa.BigInteger(), nullable=False),
        sa.Column("last_full_number", sa.BigInteger(), nullable=True),
        sa.Column("last_full_at", UTCDateTime(), nullable=True),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["ca_id"], ["ca_authorities.id"], name=op.f("fk_ca_crl_counters_ca_id_ca_authorities"),
        ),
        sa.PrimaryKeyConstraint("ca_id", name=op.f("pk_ca_crl_counters")),
    )


def downgrade() -> None:
    op.drop_table("ca_crl_counters")
    op.drop_index("ix_ca_certificates_issuer_status", table_name="ca_certificates")
    op.drop_table("ca_certificates")
    op.drop_table("ca_authorities")
