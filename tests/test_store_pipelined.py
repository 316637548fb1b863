"""store.db.transaction(pipelined=True): a sealing's write transaction on PostgreSQL sends its
hot statements in psycopg's pipeline mode. What it writes must be exactly what a plain
transaction writes, errors must come out as SQLAlchemy's types and roll everything back, and
the pooled connection must come back out of pipeline mode. On SQLite the flag changes nothing,
and the same tests hold."""
from __future__ import annotations

import pytest
from sqlalchemy import Engine, text
from sqlalchemy.exc import IntegrityError

from gm.sm2 import PrivateKey
from store import audit, translog
from store.db import HotStatement, connection_of, make_sessionmaker, transaction
from store.testing import *  # noqa: F401,F403

_DUPLICATE_RECORD = HotStatement(
    "INSERT INTO audit_record (seq, recorded_at, actor, action, subject, details, prev_hash, hash) "
    "SELECT seq, recorded_at, actor, action, subject, details, prev_hash, hash FROM audit_record WHERE seq = 1")


def _in_pipeline(session) -> bool:
    """True while the session's PostgreSQL connection is in pipeline mode."""
    conn = connection_of(session)
    if conn.dialect.name != "postgresql":
        return False
    from psycopg import pq

    return conn.connection.driver_connection.pgconn.pipeline_status != pq.PipelineStatus.OFF


def _count(engine: Engine, table: str) -> int:
    with transaction(engine, readonly=True) as s:
        return s.execute(text(f"SELECT count(*) FROM {table}")).scalar_one()


def _append(session, n: int) -> None:
    for i in range(n):
        audit.append(session, actor="tester", action="test.pipelined", subject=f"thing:{i}", details={"i": i})


def test_a_pipelined_transaction_writes_what_a_plain_one_writes(store_engine: Engine) -> None:
    postgres = store_engine.dialect.name == "postgresql"
    with transaction(store_engine, pipelined=True) as s:
        _append(s, 3)  # queued: written at the end, with their seqs taken together
        assert translog.append(s, kind="sealed-document", subject="thing:log", artefact=b"artefact") is None
        assert translog.append(s, kind="sealed-document", subject="thing:log2", artefact=b"artefact 2") is None
        assert _count(store_engine, "audit_record") == 0  # not yet, and not blocking a reader
        assert _in_pipeline(s) is postgres
    with transaction(store_engine) as s:
        _append(s, 2)
        assert translog.append(s, kind="sealed-document", subject="thing:log3", artefact=b"artefact 3") == 2
    with transaction(store_engine, readonly=True) as s:
        report = audit.verify(s)
        assert report.findings == () and report.records == 5 and report.last_seq == 5
        assert s.execute(text("SELECT subject FROM audit_record ORDER BY seq")).scalars().all() == [
            "thing:0", "thing:1", "thing:2", "thing:0", "thing:1"]
        assert translog.verify_log(s) == []
        assert s.execute(text("SELECT subject FROM translog_entries ORDER BY idx")).scalars().all() == [
            "thing:log", "thing:log2", "thing:log3"]


@pytest.mark.parametrize("raised_by", ["the next statement with rows", "the end of the pipeline"])
def test_an_error_in_a_queued_statement_is_sqlalchemys_and_rolls_everything_back(store_engine: Engine,
                                                                                raised_by: str) -> None:
    with transaction(store_engine) as s:
        _append(s, 1)
    with pytest.raises(IntegrityError, match="audit_record"):
        with transaction(store_engine, pipelined=True) as s:
            translog.append(s, kind="sealed-document", subject="thing:log", artefact=b"artefact")
            _append(s, 2)
            _DUPLICATE_RECORD.run(connection_of(s))  # seq 1 again: a primary-key clash, queued
            if raised_by == "the next statement with rows":
                translog.append(s, kind="sealed-document", subject="thing:log2", artefact=b"artefact 2")
    assert _count(store_engine, "audit_record") == 1
    assert _count(store_engine, "translog_entries") == 0
    with transaction(store_engine, pipelined=True) as s:  # the pooled connection works again
        _append(s, 1)
    with transaction(store_engine, readonly=True) as s:
        assert audit.verify(s).findings == () and audit.verify(s).last_seq == 2


def test_an_exception_in_the_block_rolls_back_and_leaves_pipeline_mode(store_engine: Engine) -> None:
    with pytest.raises(RuntimeError, match="boom"):
        with transaction(store_engine, pipelined=True) as s:
            _append(s, 2)
            raise RuntimeError("boom")
    assert _count(store_engine, "audit_record") == 0
    with transaction(store_engine) as s:
        assert not _in_pipeline(s)
        _append(s, 1)
        assert s.execute(text("SELECT count(*) FROM audit_record")).scalar_one() == 1


def test_a_sqlalchemy_statement_ends_the_pipelining(store_engine: Engine) -> None:
    with transaction(store_engine, pipelined=True) as s:
        _append(s, 2)
        assert s.execute(text("SELECT count(*) FROM audit_record")).scalar_one() == 0  # still queued
        assert not _in_pipeline(s)
        _append(s, 1)
    with transaction(store_engine, readonly=True) as s:
        assert audit.verify(s).findings == () and audit.verify(s).last_seq == 3


def test_a_savepoint_writes_the_queued_records_first(store_engine: Engine) -> None:
    with transaction(store_engine, pipelined=True) as s:
        _append(s, 2)
        with s.begin_nested():
            audit.append(s, actor="tester", action="test.nested", subject="thing:nested", details={})
        _append(s, 1)
    with transaction(store_engine, readonly=True) as s:
        assert audit.verify(s).findings == ()
        assert s.execute(text("SELECT subject FROM audit_record ORDER BY seq")).scalars().all() == [
            "thing:0", "thing:1", "thing:nested", "thing:0"]


def test_an_automatic_checkpoint_inside_a_pipelined_transaction(store_engine: Engine) -> None:
    key = PrivateKey.generate()
    sessions = make_sessionmaker(store_engine, audit_signer=audit.SM2AuditSigner(key, "audit"), checkpoint_every=2)
    with transaction(sessions, pipelined=True) as s:
        _append(s, 3)
    with transaction(sessions, pipelined=True) as s:
        _append(s, 2)  # 5 records, 3 past the last checkpoint: one more, at the end (ORM statements)
    with transaction(store_engine, readonly=True) as s:
        report = audit.verify(s, public_key=key.public_key)
        assert report.findings == () and report.last_seq == 5
        assert report.checkpoints == 2 and report.last_valid_checkpoint == 5


def test_many_queued_records_are_written_in_several_statements(store_engine: Engine) -> None:
    with transaction(store_engine, pipelined=True) as s:
        _append(s, 40)  # more than one multi-row INSERT holds
    with transaction(store_engine, readonly=True) as s:
        assert audit.verify(s).findings == () and audit.verify(s).last_seq == 40
        assert s.execute(text("SELECT subject FROM audit_record ORDER BY seq")).scalars().all() == [
            f"thing:{i}" for i in range(40)]


def test_a_hot_statement_knows_from_its_text_whether_it_returns_rows() -> None:
    """In a pipelined transaction the rows are asked for by that knowledge alone."""
    assert HotStatement("SELECT 1")._returns_rows and HotStatement("  select x FROM t")._returns_rows
    assert HotStatement("UPDATE t SET a = 1\nWHERE id = 1\nRETURNING a")._returns_rows
    assert not HotStatement("UPDATE audit_head SET hash = :h WHERE id = 1")._returns_rows
    assert not HotStatement("INSERT INTO t (a) SELECT a FROM u")._returns_rows
    assert not HotStatement("BEGIN IMMEDIATE")._returns_rows
    with pytest.raises(ValueError, match="HotStatement"):
        HotStatement("WITH x AS (SELECT 1) SELECT * FROM x")  # its text does not say: refused, not guessed



def test_a_sent_statements_rows_are_those_of_its_execution(store_engine: Engine) -> None:
    """Rows read after later statements of the same transaction are those the statement found
    when it ran: PostgreSQL's pipeline answers in order; on SQLite `send` reads them at once
    and leaves no statement active (an UPDATE ... RETURNING left active once cost a sealing
    its audit records: see store.db.HotStatement.send)."""
    with transaction(store_engine) as s:
        s.execute(text("CREATE TABLE sent_rows (id INTEGER PRIMARY KEY, n INTEGER NOT NULL)"))
        s.execute(text("INSERT INTO sent_rows (id, n) VALUES (1, 10), (2, 20), (3, 30)"))
    every = HotStatement("SELECT id, n FROM sent_rows ORDER BY id")
    bump = HotStatement("UPDATE sent_rows SET n = n + 1 WHERE id = :id RETURNING n")
    add = HotStatement("INSERT INTO sent_rows (id, n) VALUES (:id, :n)")
    with transaction(store_engine, pipelined=True) as s:
        conn = connection_of(s)
        listed, first, third = every.send(conn), bump.send(conn, {"id": 1}), bump.send(conn, {"id": 3})
        add.run(conn, {"id": 4, "n": 40})
        assert listed() == [(1, 10), (2, 20), (3, 30)]
        assert third() == [(31,)] and first() == [(11,)]  # read in any order
        assert every.run(conn) == [(1, 11), (2, 20), (3, 31), (4, 40)]
    with transaction(store_engine, readonly=True) as s:
        assert s.execute(text("SELECT n FROM sent_rows ORDER BY id")).scalars().all() == [11, 20, 31, 40]
