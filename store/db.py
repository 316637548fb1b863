"""Engines, sessions and transactions over SQLite (embedded default) or PostgreSQL.

`make_engine(url)` accepts:

- `sqlite:///path/to/eseal.db` — every new connection gets `journal_mode=WAL` (readers
  never block the writer), `foreign_keys=ON` and `busy_timeout` (a writer waits for the
  lock instead of failing with "database is locked"). sqlite3's own implicit-BEGIN logic
  is switched off and SQLAlchemy emits the BEGIN itself: `BEGIN IMMEDIATE` for ordinary
  (write) transactions, so a transaction holds SQLite's single write lock from its first
  statement and can never fail half-way when it upgrades from reading to writing; plain
  deferred `BEGIN` for `transaction(..., readonly=True)`, which reads one WAL snapshot.
- `postgresql://…`, `postgres://…` (rewritten to `postgresql+psycopg://…`, psycopg 3) or an
  explicit `postgresql+psycopg://…`. Transactions run at READ COMMITTED; read-only ones
  (`readonly=True`) at REPEATABLE READ so a verification sees one consistent snapshot.

`resolve_database_url(home)` decides which database a home uses: `ESEAL_DATABASE_URL` if
set, else the URL given by the caller (from eseal.toml), else SQLite at `<home>/eseal.db`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.orm import Session, sessionmaker

from store.errors import ConfigError

DATABASE_URL_ENV = "ESEAL_DATABASE_URL"
DEFAULT_DATABASE_FILE = "eseal.db"
DEFAULT_BUSY_TIMEOUT_MS = 30_000
DEFAULT_CHECKPOINT_EVERY = 1000

# Session.info key under which make_sessionmaker stores the audit checkpoint policy.
AUDIT_POLICY_KEY = "eseal.audit_policy"
# Connection execution option read by the SQLite BEGIN hook.
_READONLY_OPTION = "eseal_readonly"

_POSTGRES_ALIASES = {"postgres", "postgresql"}


def normalize_url(url: str | URL) -> URL:
    """Parse a database URL; plain `postgresql://` and `postgres://` become psycopg 3 URLs."""
    try:
        parsed = make_url(url)
    except Exception as exc:  # sqlalchemy raises ArgumentError with the URL in it
        raise ConfigError(f"not a database URL: {url!r} ({exc})") from None
    if parsed.drivername in _POSTGRES_ALIASES:
        parsed = parsed.set(drivername="postgresql+psycopg")
    backend = parsed.get_backend_name()
    if backend not in {"sqlite", "postgresql"}:
        raise ConfigError(f"eseal supports SQLite and PostgreSQL, not {backend!r} (URL {parsed!r})")
    return parsed


def resolve_database_url(
    home: Path | str,
    configured: str | None = None,
    environ: Mapping[str, str] | None = None,
) -> str:
    """The database URL of a home: `ESEAL_DATABASE_URL`, else `configured`, else `<home>/eseal.db`."""
    env = os.environ if environ is None else environ
    url = env.get(DATABASE_URL_ENV) or configured
    if url:
        return normalize_url(url).render_as_string(hide_password=False)
    return f"sqlite:///{Path(home).resolve() / DEFAULT_DATABASE_FILE}"


def make_engine(url: str | URL, *, busy_timeout_ms: int = DEFAULT_BUSY_TIMEOUT_MS, echo: bool = False) -> Engine:
    """An Engine for `url` with eseal's connection settings (see the module docstring)."""
    parsed = normalize_url(url)
    if parsed.get_backend_name() == "sqlite":
        return _sqlite_engine(parsed, busy_timeout_ms, echo)
    return create_engine(parsed, echo=echo, pool_pre_ping=True)


def _sqlite_engine(url: URL, busy_timeout_ms: int, echo: bool) -> Engine:
    if not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
        raise ConfigError(f"busy_timeout_ms must be a non-negative int, not {busy_timeout_ms!r}")
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise ConfigError(f"the folder of the SQLite database {database!r} does not exist")
    engine = create_engine(url, echo=echo)

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from sqlite3; the "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        readonly = conn.get_execution_options().get(_READONLY_OPTION, False)
        conn.exec_driver_sql("BEGIN" if readonly else "BEGIN IMMEDIATE")

    return engine


def make_sessionmaker(
    engine: Engine,
    *,
    audit_signer: Any = None,
    checkpoint_every: int = DEFAULT_CHECKPOINT_EVERY,
) -> sessionmaker[Session]:
    """A session factory bound to `engine`.

    With `audit_signer` (a `store.audit.AuditSigner`), every session it makes writes a
    signed audit checkpoint by itself whenever `store.audit.append` brings the log to
    `checkpoint_every` records past the last checkpoint — services only call `append`.
    Objects stay usable after commit (`expire_on_commit=False`).
    """
    info: dict[str, Any] = {}
    if audit_signer is not None:
        from store.audit import AuditPolicy  # store.audit imports this module

        info[AUDIT_POLICY_KEY] = AuditPolicy(audit_signer, checkpoint_every)
    return sessionmaker(bind=engine, expire_on_commit=False, info=info)


@contextmanager
def transaction(bind: Engine | sessionmaker[Session], *, readonly: bool = False) -> Iterator[Session]:
    """One database transaction as a Session: committed on success, rolled back on error.

    `readonly=True` reads a consistent snapshot (deferred BEGIN on SQLite, REPEATABLE READ
    on PostgreSQL) and never commits.
    """
    factory = bind if isinstance(bind, sessionmaker) else make_sessionmaker(bind)
    session = factory()
    try:
        engine = session.get_bind()
        options: dict[str, Any] = {}
        if readonly:
            options[_READONLY_OPTION] = True
            if engine.dialect.name == "postgresql":
                options["isolation_level"] = "REPEATABLE READ"
        # Procure the connection now so BEGIN (IMMEDIATE) happens here, with these options.
        session.connection(execution_options=options)
        yield session
        if not readonly:
            session.commit()
        # readonly: close() below ends (rolls back) the transaction without expiring the
        # objects read, so they stay usable after the block.
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
