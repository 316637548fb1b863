"""Indexes that keep hot and listing queries flat as the tables grow to millions of rows:

- ca_certificates (profile, id) over the rows with a key we hold: a service's
  current certificate, looked up for every timestamp and live OCSP answer, was found by
  walking back through every certificate issued since it;
- license_records (issued_at, id) and (agency, issued_at, id): the newest licenses, of all
  agencies or of one, were a scan and sort of the whole table, OFDs included;
- translog_entries (subject, idx) instead of (subject): an inclusion proof's entry (the
  subject's newest under the head's size) took PostgreSQL 330 ms at 1,000,000 entries.

Revision ID: 0019_scale_indexes
Revises: 0018_translog_nodes
Create Date: 2026-11-25
"""
from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0019_scale_indexes"
down_revision = "0018_translog_nodes"
branch_labels = None
depends_on = None


def upgrade() -> None:
    held = sa.text("key_ref IS NOT NULL")
    op.create_index("ix_ca_certificates_service", "ca_certificates", ["profile", "id"],
                    sqlite_where=held, postgresql_where=held)
    op.create_index("ix_license_records_issued", "license_records", ["issued_at", "id"])
    op.create_index("ix_license_records_agency_issued", "license_records", ["agency", "issued_at", "id"])
    op.create_index("ix_translog_entries_subject_idx", "translog_entries", ["subject", "idx"])
    op.drop_index("ix_translog_entries_subject", table_name="translog_entries")


def downgrade() -> None:
    op.create_index("ix_translog_entries_subject", "translog_entries", ["subject"])
    op.drop_index("ix_translog_entries_subject_idx", table_name="translog_entries")
    op.drop_index("ix_license_records_agency_issued", table_name="license_records")
    op.drop_index("ix_license_records_issued", table_name="license_records")
    op.drop_index("ix_ca_certificates_service", table_name="ca_certificates")
