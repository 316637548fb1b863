"""api_tokens.agency as wide as every other agency column (VARCHAR(200)): an agency whose
name has 101-200 characters could own seals and licenses but never get an agency token.

Revision ID: 0013_token_agency_width
Revises: 0012_status_epoch
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0013_token_agency_width"
down_revision = "0012_status_epoch"
branch_labels = None
depends_on = None


def upgrade() -> None:
    with op.batch_alter_table("api_tokens") as table:
        table.alter_column("agency", existing_type=sa.String(100), type_=sa.String(200), existing_nullable=True)


def downgrade() -> None:
    # a token of a wider agency cannot be kept: the downgrade fails on it rather than cut the name
    with op.batch_alter_table("api_tokens") as table:
        table.alter_column("agency", existing_type=sa.String(200), type_=sa.String(100), existing_nullable=True)
