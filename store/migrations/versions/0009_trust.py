"""trust lists and revocation cache: trust_signers, trust_published, trust_imported,
verify_revocation_cache (verify/).

Revision ID: 0009_trust
Revises: 0008_license
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0009_trust"
down_revision = "0008_license"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "trust_signers",
        sa.Column("label", sa.String(length=100), nullable=False),
        sa.Column("key_ref", sa.String(length=64), nullable=False),
        sa.Column("certificate", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(["key_ref"], ["keystore_keys.id"],
                                name=op.f("fk_trust_signers_key_ref_keystore_keys")),
        sa.PrimaryKeyConstraint("label", name=op.f("pk_trust_signers")),
    )
    op.create_table(
        "trust_published",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.CheckConstraint("kind IN ('tl', 'lotl')", name=op.f("ck_trust_published_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_published")),
        sa.UniqueConstraint("kind", "sequence_number", name="uq_trust_published_kind_sequence"),
    )
    op.create_table(
        "trust_imported",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("source", sa.String(length=1000), nullable=False),
        sa.Column("kind", sa.String(length=8), nullable=False),
        sa.Column("scheme_name", sa.String(length=200), nullable=False),
        sa.Column("sequence_number", sa.Integer(), nullable=False),
        sa.Column("issued_at", UTCDateTime(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("signer_sha256", sa.String(length=64), nullable=False),
        sa.Column("document", sa.Text(), nullable=False),
        sa.Column("imported_at", UTCDateTime(), nullable=False),
        sa.CheckConstraint("kind IN ('tl', 'lotl')", name=op.f("ck_trust_imported_kind")),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_trust_imported")),
        sa.UniqueConstraint("source", name=op.f("uq_trust_imported_source")),
    )
    op.create_table(
        "verify_revocation_cache",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("key", sa.String(length=500), nullable=False),
        sa.Column("url", sa.String(length=1000), nullable=False),
        sa.Column("der", sa.LargeBinary(), nullable=False),
        sa.Column("next_update", UTCDateTime(), nullable=False),
        sa.Column("fetched_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_verify_revocation_cache")),
        sa.UniqueConstraint("key", name=op.f("uq_verify_revocation_cache_key")),
    )


def downgrade() -> None:
    op.drop_table("verify_revocation_cache")
    op.drop_table("trust_imported")
    op.drop_table("trust_published")
    op.drop_table("trust_signers")
