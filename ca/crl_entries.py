"""The revoked list of each CA's full CRL, kept as DER in ``ca_crl_entries`` (store/models/ca.py).

A region with 10^6 revoked certificates publishes its full CRL in a few seconds only if
nothing is done per entry at CRL time. So each entry's DER (``ca.crl.encode_entry``) is made
once, by ``record`` in the transaction that revokes, suspends (certificateHold) or resumes
(the entry goes) a certificate, and ``read_elements`` reads a CA's entries in one ordered
scan through the driver's own cursor (no SQLAlchemy row processing), joined by the
database into one byte string that is spliced into the CRL (``CRLBuilder.revoked_der``).

``backfill`` makes the missing entries of suspended and revoked certificates from their
``ca_certificates`` rows: migration 0011 runs it for databases that had revocations before
the table existed, and bulk loads (benchmarks) after inserting rows with plain SQL.
Delta CRLs are small and still read ``ca_certificates`` (status changes since the base).
"""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ca.crl import encode_entry, iter_encoded
from store.models.ca import CRLEntry, IssuedCertificate

__all__ = ["record", "read_elements", "backfill", "epoch_seconds", "LISTED_STATUSES"]

LISTED_STATUSES = ("hold", "revoked")  # the statuses a full CRL lists
FETCH_BATCH = 100_000


def epoch_seconds(column: Any, dialect: str) -> Any:
    """Whole seconds since 1970 of a UTCDateTime column, computed by the database: parsing
    timestamps row by row in Python costs more than encoding the entries. (CA times are
    stored without microseconds.)"""
    if dialect == "sqlite":
        return sa.cast(sa.func.strftime("%s", column), sa.BigInteger)
    return sa.cast(sa.func.floor(sa.func.extract("epoch", column)), sa.BigInteger)


def _reason(name: str | None) -> str | None:
    return None if name in (None, "unspecified") else name  # unspecified is omitted (RFC 5280 §5.3.1)


def record(s: Session, row: IssuedCertificate) -> None:
    """Bring the CRL entry of ``row`` in line with its status, in the caller's transaction."""
    s.execute(sa.delete(CRLEntry).where(CRLEntry.issuer_id == row.issuer_id, CRLEntry.certificate_id == row.id))
    if row.status in LISTED_STATUSES:
        if row.revoked_at is None:
            raise ValueError(f"certificate {row.serial} is {row.status} without a revocation time")
        der = encode_entry(int(row.serial, 16), row.revoked_at, _reason(row.reason), row.invalidity_date)
        s.execute(sa.insert(CRLEntry).values(issuer_id=row.issuer_id, certificate_id=row.id, entry=der))


def read_elements(s: Session, issuer_id: int, *, joined_by_database: bool = True) -> tuple[bytes, int]:
    """(concatenated DER entries, number of entries) of the full CRL of CA ``issuer_id``,
    in the order the certificates were issued, read in the session's transaction.

    The database joins the entries into one value (PostgreSQL ``string_agg`` over bytea,
    fetched in binary; SQLite ``group_concat``, which copies a BLOB's bytes as they are in a
    UTF-8 database): no Python object per entry. Otherwise (or with ``joined_by_database``
    false) rows come through the driver's cursor (``fetchmany``) and are joined here."""
    connection = s.connection()
    dialect = connection.dialect.name
    raw = connection.connection.dbapi_connection
    if joined_by_database and dialect == "postgresql":
        with raw.cursor(binary=True) as cursor:  # psycopg 3: bytea as bytes, no hex text to decode
            cursor.execute("SELECT count(*), string_agg(entry, ''::bytea ORDER BY certificate_id) "
                           "FROM ca_crl_entries WHERE issuer_id = %s", (issuer_id,))
            count, joined = cursor.fetchone()
        return bytes(joined or b""), count
    cursor = raw.cursor()
    try:
        if joined_by_database and dialect == "sqlite" and cursor.execute("PRAGMA encoding").fetchone()[0] == "UTF-8":
            # the ordered subquery orders group_concat (SQLite < 3.44 has no ORDER BY inside it)
            cursor.execute("SELECT count(*), CAST(group_concat(entry, '') AS BLOB) FROM (SELECT entry "
                           "FROM ca_crl_entries WHERE issuer_id = ? ORDER BY certificate_id)", (issuer_id,))
            count, joined = cursor.fetchone()
            return bytes(joined or b""), count
        mark = "?" if dialect == "sqlite" else "%s"
        cursor.execute(f"SELECT entry FROM ca_crl_entries WHERE issuer_id = {mark} ORDER BY certificate_id",
                       (issuer_id,))
        parts, count = [], 0
        while rows := cursor.fetchmany(FETCH_BATCH):
            count += len(rows)
            parts.append(b"".join([r[0] for r in rows]))
        return b"".join(parts), count
    finally:
        cursor.close()


def backfill(connection: sa.Connection, *, batch: int = 50_000) -> int:
    """Insert the missing entries of suspended and revoked certificates; returns how many.

    Plain table names and SQL (no ORM models), so migration 0011 can run it."""
    dialect = connection.dialect.name
    certs = sa.table("ca_certificates", *(sa.column(c) for c in (
        "id", "issuer_id", "serial", "status", "reason", "revoked_at", "invalidity_date", "status_changed_at")))
    entries = sa.table("ca_crl_entries", sa.column("certificate_id"))
    when = sa.func.coalesce(certs.c.revoked_at, certs.c.status_changed_at)
    rows = connection.execute(
        sa.select(certs.c.id, certs.c.issuer_id, certs.c.serial, epoch_seconds(when, dialect), certs.c.reason,
                  epoch_seconds(certs.c.invalidity_date, dialect))
        .where(certs.c.status.in_(LISTED_STATUSES),
               ~sa.exists().where(entries.c.certificate_id == certs.c.id))
        .order_by(certs.c.id)).all()
    mark = "?" if dialect == "sqlite" else "%s"
    sql = f"INSERT INTO ca_crl_entries (issuer_id, certificate_id, entry) VALUES ({mark}, {mark}, {mark})"
    encoded = iter_encoded((int(serial, 16), revoked, _reason(reason), invalid)
                           for _, _, serial, revoked, reason, invalid in rows)
    chunk = []
    for (cert_id, issuer_id, *_), der in zip(rows, encoded, strict=True):
        chunk.append((issuer_id, cert_id, der))
        if len(chunk) == batch:
            connection.exec_driver_sql(sql, chunk)
            chunk = []
    if chunk:
        connection.exec_driver_sql(sql, chunk)
    return len(rows)
