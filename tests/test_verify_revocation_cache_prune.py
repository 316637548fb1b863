"""verify_revocation_cache stays the size of what is current (verify/revocation.py,
migration 0020): the write that stores an answer also deletes the rows past their
nextUpdate -- which no lookup reads again -- at most once every ``prune_every`` per process
and database, through the index on next_update; migration 0020 drops the rows keyed the old
way (the key's first 500 characters), which no lookup finds. Before, neither was ever
deleted. SQLite and PostgreSQL."""
from __future__ import annotations

import datetime as dt
import hashlib
from typing import Any

from sqlalchemy import event, select

from store import db
from store.db import make_engine, make_sessionmaker
from store.migrations import migrate
from store.models.trust import RevocationCacheEntry
from store.testing import *  # noqa: F401,F403
from tests.test_query_plans import _table_scans_sqlite, _table_walks_postgresql
from verify.revocation import RevocationCache

UTC = dt.timezone.utc


def _now() -> dt.datetime:
    return dt.datetime.now(UTC).replace(microsecond=0)


def _row(key: str, next_update: dt.datetime) -> RevocationCacheEntry:
    return RevocationCacheEntry(key=key, url=f"http://ca.example/{key[:8]}.crl", der=b"\x30\x00",
                                next_update=next_update, fetched_at=next_update - dt.timedelta(days=1))


def _keys(sessions: Any) -> set[str]:
    with db.transaction(sessions, readonly=True) as s:
        return set(s.scalars(select(RevocationCacheEntry.key)))


def _hex(name: str) -> str:
    return hashlib.sha256(name.encode()).hexdigest()


def test_a_put_deletes_the_expired_rows_and_keeps_the_current(migrated_database_url) -> None:
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        now = _now()
        with db.transaction(sessions) as s:
            s.add_all([_row(_hex("expired a"), now - dt.timedelta(days=3)),
                       _row(_hex("expired b"), now - dt.timedelta(seconds=1)),
                       _row(_hex("current"), now + dt.timedelta(hours=1))])
        cache = RevocationCache(sessions, prune_every=dt.timedelta(hours=1))
        cache.put_der("crl|http://ca.example/new.crl", b"\x30\x00", now + dt.timedelta(days=1),
                      "http://ca.example/new.crl")
        assert _keys(sessions) == {_hex("current"), _hex("crl|http://ca.example/new.crl")}
        # within prune_every the next write does not delete again (a row expired since stays)
        with db.transaction(sessions) as s:
            s.add(_row(_hex("expired c"), now - dt.timedelta(minutes=1)))
        cache.put_der("crl|http://ca.example/other.crl", b"\x30\x00", now + dt.timedelta(days=1),
                      "http://ca.example/other.crl")
        assert _hex("expired c") in _keys(sessions)
        # another process's cache (here: one that prunes at every write) clears it
        RevocationCache(sessions, prune_every=dt.timedelta(0)).put_der(
            "crl|http://ca.example/new.crl", b"\x30\x00", now + dt.timedelta(days=1), "http://ca.example/new.crl")
        assert _hex("expired c") not in _keys(sessions)
        assert len(_keys(sessions)) == 3
    finally:
        engine.dispose()


def test_migration_0020_drops_the_rows_keyed_the_old_way(database_url) -> None:
    migrate(database_url, "0019_scale_indexes")
    engine = make_engine(database_url)
    try:
        sessions = make_sessionmaker(engine)
        later = _now() + dt.timedelta(days=30)   # current, but keyed the old way: never found
        old = "crl|http://ca.example/" + "p" * 480
        with db.transaction(sessions) as s:
            s.add_all([_row(old[:500], later), _row("ocsp|http://ca.example/ocsp|ab|1", later),
                       _row(_hex(old), later)])
        migrate(database_url)
        assert _keys(sessions) == {_hex(old)}
    finally:
        engine.dispose()


def _captured_delete(engine: Any, sessions: Any) -> tuple[str, Any]:
    statements: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, _context: Any, _many: bool) -> None:
        statements.append((statement, parameters))
    event.listen(engine, "before_cursor_execute", record)
    try:
        RevocationCache(sessions, prune_every=dt.timedelta(0)).put_der(
            "crl|http://ca.example/plan.crl", b"\x30\x00", _now() + dt.timedelta(days=1), "http://ca.example/plan.crl")
    finally:
        event.remove(engine, "before_cursor_execute", record)
    deletes = [(sql, params) for sql, params in statements if sql.lstrip().upper().startswith("DELETE")]
    assert len(deletes) == 1, statements
    return deletes[0]


def test_the_delete_reads_by_the_next_update_index(migrated_database_url) -> None:
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        sql, params = _captured_delete(engine, sessions)
        with engine.raw_connection() as raw:
            cursor = raw.cursor()
            if engine.dialect.name == "sqlite":
                cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
                plan = [row[3] for row in cursor.fetchall()]
                assert any("ix_verify_revocation_cache_next_update" in line for line in plan), plan
                assert _table_scans_sqlite(plan, sql) == [], plan
            else:
                cursor.execute("SET enable_seqscan = off")
                cursor.execute("EXPLAIN (FORMAT JSON) " + sql, params)
                plan = cursor.fetchone()[0][0]["Plan"]
                assert "ix_verify_revocation_cache_next_update" in str(plan), plan
                assert _table_walks_postgresql(plan, sql) == [], plan
            raw.rollback()
    finally:
        engine.dispose()


def test_a_long_backlog_is_deleted_in_batches_by_the_next_writes(migrated_database_url, monkeypatch) -> None:
    """A table never pruned (from before migration 0020) is not cleared in one write: each
    takes a batch, and a full batch lets the next write take another."""
    from verify import revocation

    monkeypatch.setattr(revocation, "PRUNE_BATCH", 2)
    engine = make_engine(migrated_database_url)
    try:
        sessions = make_sessionmaker(engine)
        now = _now()
        with db.transaction(sessions) as s:
            s.add_all([_row(_hex(f"expired {i}"), now - dt.timedelta(hours=i + 1)) for i in range(5)])
        cache = RevocationCache(sessions, prune_every=dt.timedelta(hours=1))
        left = []
        for i in range(4):
            cache.put_der(f"crl|http://ca.example/{i}.crl", b"\x30\x00", now + dt.timedelta(days=1),
                          f"http://ca.example/{i}.crl")
            left.append(len([k for k in _keys(sessions) if k in {_hex(f"expired {j}") for j in range(5)}]))
            if i == 2:     # the backlog is gone, the clock set: the next write leaves this one
                with db.transaction(sessions) as s:
                    s.add(_row(_hex("expired 0"), now - dt.timedelta(minutes=1)))
        assert left == [3, 1, 0, 1]
    finally:
        engine.dispose()
