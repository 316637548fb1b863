"""pytest fixtures for tests that need a database, on SQLite AND PostgreSQL.

Use them from any test module (they are plain fixtures, so import every one you need,
including the ones they depend on — the star import does that):

    from store.testing import *  # noqa: F401,F403

Fixtures
    database_url           parametrised ["sqlite", "postgresql"]: an empty database per test.
                           sqlite: a file in tmp_path. postgresql: a fresh schema
                           (t_<random>) in the ESEAL_TEST_DATABASE_URL database, selected by
                           `options=-csearch_path=...` in the URL (so engines made from the
                           URL in other processes see it too), dropped after the test. The
                           PostgreSQL case uses the `pg_url` fixture of tests/conftest.py:
                           skipped locally without a database, a failure under CI=true.
    migrated_database_url  the same, migrated to head.
    store_engine           a store.db engine on migrated_database_url (disposed afterwards).
    eseal_home             a store.home.Home created in tmp_path/"home" on database_url
                           (migrated; ESEAL_DATABASE_URL is removed from the environment).
    eseal_cli              ``eseal(*args, code=0) -> output``: the CLI in process on
                           database_url (a home's embedded SQLite, or ESEAL_DATABASE_URL);
                           the test sets the passphrases it uses (ESEAL_PASSPHRASE, ...).

Helpers
    pg_schema_url(base_url) context manager: a URL to a fresh schema, dropped on exit.
    append_records(url, actor, count, signer_key=None, checkpoint_every=1000, start=None, pause=0.0)
                           appends `count` records in separate transactions, after waiting
                           on `start` (a multiprocessing Barrier) if given; a top-level
                           function so multiprocessing (spawn) workers can run it.
    bulk_log_entries(engine, n) n transparency-log entries by plain SQL (a log at scale).
    bulk_audit_records(engine, n) n valid audit records after the head, hashed by store.audit.
"""

from __future__ import annotations

import secrets
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Engine, create_engine, text
from sqlalchemy.engine import make_url

from store.db import make_engine, make_sessionmaker, normalize_url, transaction
from store.home import Home

__all__ = ["database_url", "eseal_cli", "eseal_home", "migrated_database_url", "store_engine"]


@contextmanager
def pg_schema_url(base_url: str) -> Iterator[str]:
    """A URL whose connections use a new, empty schema; the schema is dropped on exit."""
    schema = f"t_{secrets.token_hex(6)}"
    admin = create_engine(normalize_url(base_url), isolation_level="AUTOCOMMIT")
    try:
        with admin.connect() as conn:
            conn.execute(text(f'CREATE SCHEMA "{schema}"'))
        url = normalize_url(base_url).update_query_dict({"options": f"-csearch_path={schema}"})
        try:
            yield url.render_as_string(hide_password=False)
        finally:
            with admin.connect() as conn:
                conn.execute(text("SET lock_timeout = '20s'"))
                conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
    finally:
        admin.dispose()


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def database_url(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[str]:
    if request.param == "sqlite":
        yield f"sqlite:///{tmp_path / 'test.db'}"
        return
    with pg_schema_url(request.getfixturevalue("pg_url")) as url:
        yield url


@pytest.fixture
def migrated_database_url(database_url: str) -> str:
    from store.migrations import migrate

    migrate(database_url)
    return database_url


@pytest.fixture
def store_engine(migrated_database_url: str) -> Iterator[Engine]:
    engine = make_engine(migrated_database_url)
    try:
        yield engine
    finally:
        engine.dispose()


@pytest.fixture
def eseal_home(database_url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Home]:
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    url = None if make_url(database_url).get_backend_name() == "sqlite" else database_url
    home = Home.create(tmp_path / "home", database_url=url)
    try:
        yield home
    finally:
        home.close()


@pytest.fixture
def eseal_cli(database_url: str, monkeypatch: pytest.MonkeyPatch) -> Callable[..., str]:
    from click.testing import CliRunner

    from cli.main import main

    if make_url(database_url).get_backend_name() == "sqlite":
        monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    else:
        monkeypatch.setenv("ESEAL_DATABASE_URL", database_url)
    runner = CliRunner()

    def eseal(*args: str, code: int = 0) -> str:
        result = runner.invoke(main, list(args), catch_exceptions=False)
        assert result.exit_code == code, result.output
        return result.output

    return eseal


def append_records(
    url: str,
    actor: str,
    count: int,
    signer_key: bytes | None = None,
    checkpoint_every: int = 1000,
    start: Any = None,
    pause: float = 0.0,
) -> int:
    """Append `count` records ("test.write", subject "<actor>/<i>") in separate transactions."""
    from store import audit

    engine = make_engine(url)
    try:
        signer = None
        if signer_key is not None:
            from gm.sm2 import PrivateKey

            signer = audit.SM2AuditSigner(PrivateKey.from_bytes(signer_key))
        factory = make_sessionmaker(engine, audit_signer=signer, checkpoint_every=checkpoint_every)
        with transaction(factory, readonly=True) as session:  # connect before the race starts
            session.execute(text("SELECT 1"))
        if start is not None:
            start.wait()
        for i in range(count):
            with transaction(factory) as session:
                audit.append(session, actor=actor, action="test.write", subject=f"{actor}/{i}", details={"i": i})
            if pause:
                time.sleep(pause)  # other work between state changes, as a real service has
        return count
    finally:
        engine.dispose()


def bulk_log_entries(engine: Engine, n: int, batch: int = 50_000) -> int:
    """``n`` transparency-log entries after those logged already (subjects ``cert:<index
    hex>``) with plain SQL, leaf hashes as ``translog.append`` computes them, and the state
    row; returns the first new index. For tests and benchmarks at scale."""
    import datetime as dt

    from store import merkle, translog

    sqlite = engine.dialect.name == "sqlite"
    mark = "?" if sqlite else "%s"
    sql = ("INSERT INTO translog_entries (idx, kind, subject, artefact_sm3, leaf_hash, logged_at) "
           f"VALUES ({', '.join([mark] * 6)})")
    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    stored_when = when.replace(tzinfo=None).isoformat(" ", "microseconds") if sqlite else when
    digest = bytes(range(32))
    with engine.begin() as conn:
        first = conn.exec_driver_sql("SELECT size FROM translog_state WHERE id = 1").scalar_one()
    for start in range(first, first + n, batch):
        rows = []
        for i in range(start, min(first + n, start + batch)):
            subject = f"cert:{i:x}"
            leaf = merkle.leaf_hash(translog.leaf_input("certificate", subject, when, digest))
            rows.append((i, "certificate", subject, digest, leaf, stored_when))
        with engine.begin() as conn:
            conn.exec_driver_sql(sql, rows)
    with engine.begin() as conn:
        conn.exec_driver_sql(f"UPDATE translog_state SET size = {int(first + n)} WHERE id = 1")
    return first


def bulk_audit_records(engine: Engine, n: int, batch: int = 20_000) -> int:
    """``n`` audit records ("test.bulk", subjects ``bulk:<i>``) chained after the current head
    with ``store.audit.record_hash`` and inserted in batches, then the head row moved to the
    last: a valid chain at scale, without the per-record cost of ``audit.append``. Returns the
    seq of the first new record. For tests and benchmarks."""
    import datetime as dt

    from store import audit
    from store.models.audit import AuditRecord

    when = dt.datetime(2026, 1, 1, tzinfo=dt.UTC)
    with engine.begin() as conn:
        seq, prev = conn.exec_driver_sql("SELECT seq, hash FROM audit_head WHERE id = 1").one()
    first, prev = seq + 1, bytes(prev)
    for start in range(first, first + n, batch):
        rows = []
        for seq in range(start, min(first + n, start + batch)):
            details = audit.canonical_details({"i": seq})
            digest = audit.record_hash(prev, seq, when, "bulk", "test.bulk", f"bulk:{seq}", details)
            rows.append({"seq": seq, "recorded_at": when, "actor": "bulk", "action": "test.bulk",
                         "subject": f"bulk:{seq}", "details": details, "prev_hash": prev, "hash": digest})
            prev = digest
        with engine.begin() as conn:
            conn.execute(AuditRecord.__table__.insert(), rows)
    with engine.begin() as conn:
        conn.execute(text("UPDATE audit_head SET seq = :seq, hash = :hash WHERE id = 1"),
                     {"seq": first + n - 1, "hash": prev})
    return first
