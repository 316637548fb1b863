"""verify_revocation_cache: an index on next_update, through which the write of a new answer
deletes the rows past their nextUpdate (verify/revocation.py), which were never deleted and
never read again; and the rows keyed the old way (the first 500 characters of the cache key,
not its SHA-256 in hex), which no lookup finds any more.

Revision ID: 0020_revocation_cache_prune
Revises: 0019_scale_indexes
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0020_revocation_cache_prune"
down_revision = "0019_scale_indexes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_index("ix_verify_revocation_cache_next_update", "verify_revocation_cache", ["next_update"])
    # a SHA-256 in hex is 64 characters; an old key holds a scheme ("ocsp|", "crl|") and a URL
    op.execute(sa.text("DELETE FROM verify_revocation_cache WHERE length(key) <> 64 OR key LIKE '%|%'"))


def downgrade() -> None:
    op.drop_index("ix_verify_revocation_cache_next_update", table_name="verify_revocation_cache")
