"""store.db and store.home: connection settings, URL handling, transactions, the home folder."""

from __future__ import annotations

from pathlib import Path

import pytest
from sqlalchemy import text

from store.db import make_engine, normalize_url, resolve_database_url, transaction
from store.errors import ConfigError, HomeExistsError, HomeNotFoundError
from store.home import Home
from store.testing import *  # noqa: F401,F403


def test_plain_postgres_urls_use_psycopg3() -> None:
    assert normalize_url("postgresql://u@h:5432/db").drivername == "postgresql+psycopg"
    assert normalize_url("postgres://u@h/db").drivername == "postgresql+psycopg"
    assert normalize_url("sqlite:///x.db").drivername == "sqlite"
    with pytest.raises(ConfigError, match="SQLite and PostgreSQL"):
        normalize_url("mysql://u@h/db")


def test_database_url_resolution(tmp_path: Path) -> None:
    assert resolve_database_url(tmp_path, None, {}) == f"sqlite:///{tmp_path.resolve()}/eseal.db"
    assert resolve_database_url(tmp_path, "sqlite:////a.db", {}) == "sqlite:////a.db"
    env = {"ESEAL_DATABASE_URL": "postgresql://u@h/db"}
    assert resolve_database_url(tmp_path, "sqlite:////a.db", env) == "postgresql+psycopg://u@h/db"


def test_sqlite_connection_settings(tmp_path: Path) -> None:
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}", busy_timeout_ms=1234)
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
            assert conn.exec_driver_sql("PRAGMA foreign_keys").scalar() == 1
            assert conn.exec_driver_sql("PRAGMA busy_timeout").scalar() == 1234
            assert conn.exec_driver_sql("PRAGMA temp_store").scalar() == 2  # MEMORY: no journal files in /var/tmp
    finally:
        engine.dispose()


def test_sqlite_pool_hands_back_the_connection_used_last(tmp_path: Path) -> None:
    """LIFO: the next checkout gets the connection returned last, whose page cache is warm
    (SQLite drops a connection's cache when another connection committed since it last read)."""
    engine = make_engine(f"sqlite:///{tmp_path / 'a.db'}")
    try:
        older, newer = engine.connect(), engine.connect()
        older_id, newer_id = id(older.connection.driver_connection), id(newer.connection.driver_connection)
        assert older_id != newer_id
        older.close()
        newer.close()
        for _ in range(3):
            with engine.connect() as conn:
                assert id(conn.connection.driver_connection) == newer_id
    finally:
        engine.dispose()


def test_sqlite_write_transactions_hold_the_write_lock_from_the_start(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'a.db'}"
    first, second = make_engine(url), make_engine(url, busy_timeout_ms=0)
    try:
        with first.begin() as conn:
            conn.exec_driver_sql("CREATE TABLE t (x INTEGER)")
        with transaction(first):  # BEGIN IMMEDIATE: holds the lock before any statement
            with pytest.raises(Exception, match="locked"):
                with transaction(second):
                    pass
            with transaction(second, readonly=True) as reader:  # readers are not blocked (WAL)
                assert reader.execute(text("SELECT count(*) FROM t")).scalar() == 0
    finally:
        first.dispose()
        second.dispose()


def test_transaction_commits_and_rolls_back(database_url: str) -> None:
    engine = make_engine(database_url)
    try:
        with transaction(engine) as s:
            s.execute(text("CREATE TABLE t (x INTEGER)"))
        with pytest.raises(RuntimeError):
            with transaction(engine) as s:
                s.execute(text("INSERT INTO t VALUES (1)"))
                raise RuntimeError("boom")
        with transaction(engine) as s:
            s.execute(text("INSERT INTO t VALUES (2)"))
        with transaction(engine, readonly=True) as s:
            assert s.execute(text("SELECT x FROM t")).scalars().all() == [2]
    finally:
        engine.dispose()


def test_home_create_open_and_never_overwrite(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    path = tmp_path / "h"
    with Home.create(path) as home:
        assert home.database_url == f"sqlite:///{path.resolve()}/eseal.db"
        assert (path / "eseal.db").is_file() and (path / "eseal.toml").is_file()
        assert path.stat().st_mode & 0o777 == 0o700
    with pytest.raises(HomeExistsError, match="never overwrites"):
        Home.create(path)
    with pytest.raises(HomeNotFoundError, match="not an eseal home"):
        Home.open(tmp_path / "nothing")
    with Home.open(path) as home:
        with transaction(home.engine, readonly=True) as s:
            assert s.execute(text("SELECT seq FROM audit_head")).scalar() == 0


def test_home_config_rejects_unknown_keys_and_env_overrides(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    path = tmp_path / "h"
    Home.create(path, migrate=False)
    (path / "eseal.toml").write_text('audit_checkpoint_every = 5\ncolour = "blue"\n')
    with pytest.raises(ConfigError, match="unknown key.*colour"):
        Home.open(path)
    (path / "eseal.toml").write_text('audit_checkpoint_every = 5\ndatabase_url = "sqlite:////x/y.db"\n')
    home = Home.open(path, migrate=False)  # config only: the URL is fictitious
    assert home.config.audit_checkpoint_every == 5
    assert home.database_url == "sqlite:////x/y.db"
    monkeypatch.setenv("ESEAL_DATABASE_URL", "postgresql://u@h/db")
    monkeypatch.setenv("ESEAL_AUDIT_CHECKPOINT_EVERY", "7")
    home = Home.open(path, migrate=False)
    assert home.database_url == "postgresql+psycopg://u@h/db"
    assert home.config.audit_checkpoint_every == 7
    monkeypatch.setenv("ESEAL_AUDIT_CHECKPOINT_EVERY", "0")
    with pytest.raises(ConfigError, match="positive"):
        Home.open(path)
