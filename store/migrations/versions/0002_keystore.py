"""Key store and KMC: keystore_meta, keystore_activation, keystore_keys, kmc_escrow,
kmc_recovery_requests, kmc_recovery_approvals.

Revision ID: 0002_keystore
Revises: 0001_audit
Create Date: 2026-11-23
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from store.models.base import UTCDateTime

revision = "0002_keystore"
down_revision = "0001_audit"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "keystore_meta",
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("format_version", sa.Integer(), nullable=False),
        sa.Column("kek_check", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.PrimaryKeyConstraint("store_id", name=op.f("pk_keystore_meta")),
    )
    op.create_table(
        "keystore_activation",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("method", sa.String(length=16), nullable=False),
        sa.Column("kdf", sa.String(length=32), nullable=True),
        sa.Column("kdf_salt", sa.LargeBinary(), nullable=True),
        sa.Column("kdf_iterations", sa.Integer(), nullable=True),
        sa.Column("wrapped_kek", sa.LargeBinary(), nullable=True),
        sa.Column("threshold", sa.Integer(), nullable=True),
        sa.Column("custodians", sa.Integer(), nullable=True),
        sa.Column("share_digests", sa.Text(), nullable=True),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["keystore_meta.store_id"],
            name=op.f("fk_keystore_activation_store_id_keystore_meta"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keystore_activation")),
        sa.UniqueConstraint("store_id", "method", name="uq_keystore_activation_method"),
    )
    op.create_table(
        "keystore_keys",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("store_id", sa.String(length=36), nullable=False),
        sa.Column("label", sa.String(length=200), nullable=False),
        sa.Column("usage", sa.String(length=32), nullable=False),
        sa.Column("algorithm", sa.String(length=16), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("policy", sa.Text(), nullable=False),
        sa.Column("wrapped_dek", sa.LargeBinary(), nullable=True),
        sa.Column("encrypted_private_key", sa.LargeBinary(), nullable=True),
        sa.Column("pin_hash", sa.LargeBinary(), nullable=True),
        sa.Column("pin_salt", sa.LargeBinary(), nullable=True),
        sa.Column("pin_iterations", sa.Integer(), nullable=True),
        sa.Column("pin_failures", sa.Integer(), nullable=False),
        sa.Column("pin_locked", sa.Boolean(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("updated_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["store_id"], ["keystore_meta.store_id"],
            name=op.f("fk_keystore_keys_store_id_keystore_meta"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_keystore_keys")),
        sa.UniqueConstraint("label", name=op.f("uq_keystore_keys_label")),
    )
    op.create_table(
        "kmc_escrow",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("kmc_key_ref", sa.String(length=64), nullable=False),
        sa.Column("subject", sa.String(length=400), nullable=False),
        sa.Column("public_key", sa.LargeBinary(), nullable=False),
        sa.Column("envelope", sa.LargeBinary(), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["kmc_key_ref"], ["keystore_keys.id"],
            name=op.f("fk_kmc_escrow_kmc_key_ref_keystore_keys"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kmc_escrow")),
    )
    op.create_table(
        "kmc_recovery_requests",
        sa.Column("id", sa.String(length=64), nullable=False),
        sa.Column("escrow_id", sa.String(length=64), nullable=False),
        sa.Column("requested_by", sa.String(length=200), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recipient_public_key", sa.LargeBinary(), nullable=False),
        sa.Column("status", sa.String(length=16), nullable=False),
        sa.Column("created_at", UTCDateTime(), nullable=False),
        sa.Column("completed_at", UTCDateTime(), nullable=True),
        sa.ForeignKeyConstraint(
            ["escrow_id"], ["kmc_escrow.id"],
            name=op.f("fk_kmc_recovery_requests_escrow_id_kmc_escrow"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kmc_recovery_requests")),
    )
    op.create_table(
        "kmc_recovery_approvals",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("request_id", sa.String(length=64), nullable=False),
        sa.Column("approver", sa.String(length=200), nullable=False),
        sa.Column("approved_at", UTCDateTime(), nullable=False),
        sa.ForeignKeyConstraint(
            ["request_id"], ["kmc_recovery_requests.id"],
            name=op.f("fk_kmc_recovery_approvals_request_id_kmc_recovery_requests"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_kmc_recovery_approvals")),
        sa.UniqueConstraint("request_id", "approver", name="uq_kmc_approval_person"),
    )


def downgrade() -> None:
    op.drop_table("kmc_recovery_approvals")
    op.drop_table("kmc_recovery_requests")
    op.drop_table("kmc_escrow")
    op.drop_table("keystore_keys")
    op.drop_table("keystore_activation")
    op.drop_table("keystore_meta")
