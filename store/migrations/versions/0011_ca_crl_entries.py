"""CA: ca_crl_entries (the full CRL's revoked list as DER, one row per revoked or suspended
certificate) backfilled from ca_certificates, and an index for delta CRLs.

Revision ID: 0011_ca_crl_entries
Revises: 0010_translog
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011_ca_crl_entries"
down_revision = "0010_translog"
branch_labels = None
depends_on = None


def upgrade() -> None:
    from ca.crl_entries import backfill

    op.create_table(
        "ca_crl_entries",
        sa.Column("issuer_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("certificate_id", sa.Integer(), autoincrement=False, nullable=False),
        sa.Column("entry", sa.LargeBinary(), nullable=False),
        sa.ForeignKeyConstraint(["certificate_id"], ["ca_certificates.id"],
                                name=op.f("fk_ca_crl_entries_certificate_id_ca_certificates")),
        sa.ForeignKeyConstraint(["issuer_id"], ["ca_authorities.id"],
                                name=op.f("fk_ca_crl_entries_issuer_id_ca_authorities")),
        sa.PrimaryKeyConstraint("issuer_id", "certificate_id", name=op.f("pk_ca_crl_entries")),
        sqlite_with_rowid=False,
    )
    op.create_index("ix_ca_certificates_issuer_changed", "ca_certificates", ["issuer_id", "status_changed_at"],
                    unique=False)
    backfill(op.get_bind())


def downgrade() -> None:
    op.drop_index("ix_ca_certificates_issuer_changed", table_name="ca_certificates")
    op.drop_table("ca_crl_entries")
