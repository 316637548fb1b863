"""Engines, sessions and transactions over SQLite (embedded default) or PostgreSQL.

`make_engine(url)` accepts:

- `sqlite:///path/to/eseal.db` — every new connection gets `journal_mode=WAL` (readers
  never block the writer), `synchronous=NORMAL` (see below), `foreign_keys=ON` and
  `busy_timeout` (a writer waits for the lock instead of failing with "database is
  locked") and `temp_store=MEMORY`; the pool hands out the connection used last (LIFO).
  sqlite3's own implicit-BEGIN logic is switched off and SQLAlchemy emits the BEGIN itself:
  `BEGIN IMMEDIATE` for ordinary (write) transactions, so a transaction holds SQLite's
  single write lock from its first statement and can never fail half-way when it upgrades
  from reading to writing; plain deferred `BEGIN` for `transaction(..., readonly=True)`,
  which reads one WAL snapshot. Writers of one database file queue at a gate before `BEGIN IMMEDIATE`
  (`store/sqlite_gate.py`: threads on a lock, processes on an flock), so they are handed
  the write lock at once instead of sleeping in SQLite's busy handler.
- `postgresql://…`, `postgres://…` (rewritten to `postgresql+psycopg://…`, psycopg 3) or an
  explicit `postgresql+psycopg://…`. Transactions run at READ COMMITTED; read-only ones
  (`readonly=True`) at REPEATABLE READ so a verification sees one consistent snapshot.

Durability on SQLite. In WAL mode `synchronous=NORMAL` writes each commit to the WAL file
before COMMIT returns and fsyncs at checkpoints (run by a background thread,
`store/wal_checkpoint.py`, not by the commit that fills the WAL): a committed transaction survives the
process being killed (kill -9, a crash: the OS still holds the written pages), and the
database is never corrupted; only an operating-system crash or power cut can lose the last
commits before a checkpoint. `FULL` fsyncs the WAL on every commit, which survives power
loss too but costs a disk flush (milliseconds) per commit, per sealing. Set
`ESEAL_SQLITE_SYNCHRONOUS=FULL` where the embedded database must survive power loss without
a battery-backed disk; PostgreSQL (scale-out) keeps its own `synchronous_commit=on`.

`resolve_database_url(home)` decides which database a home uses: `ESEAL_DATABASE_URL` if
set, else the URL given by the caller (from eseal.toml), else SQLite at `<home>/eseal.db`.
"""

from __future__ import annotations

import os
import re
import time
import weakref
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar
from pathlib import Path
from typing import Any

from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.engine import URL, make_url
from sqlalchemy.exc import DBAPIError, DisconnectionError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import QueuePool

from store import wal_checkpoint
from store.errors import ConfigError

DATABASE_URL_ENV = "ESEAL_DATABASE_URL"
DEFAULT_DATABASE_FILE = "eseal.db"
DEFAULT_BUSY_TIMEOUT_MS = 30_000
DEFAULT_CHECKPOINT_EVERY = 1000
SQLITE_SYNCHRONOUS_ENV = "ESEAL_SQLITE_SYNCHRONOUS"
_SQLITE_SYNCHRONOUS = {"NORMAL", "FULL", "EXTRA"}  # OFF is never allowed: a crash could corrupt

# Session.info key under which make_sessionmaker stores the audit checkpoint policy.
AUDIT_POLICY_KEY = "eseal.audit_policy"
# Connection execution option read by the SQLite BEGIN hook.
_READONLY_OPTION = "eseal_readonly"
# Session.info key under which `transaction` keeps the session's connection (see connection_of).
_CONNECTION_KEY = "eseal.connection"

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
    return _postgresql_engine(parsed, echo)


# A pooled PostgreSQL connection is pinged when it is checked out after resting this long;
# one in constant use is not (see _postgresql_engine).
PING_AFTER_IDLE_SECONDS = 1.0
_CHECKED_IN_AT = "eseal.checked_in_at"


def _postgresql_engine(url: URL, echo: bool) -> Engine:
    """pool_pre_ping, but only for connections that rested: SQLAlchemy's pings at every
    checkout, a round trip of about 0.1 ms, and a sealing request checks a connection out
    three or four times (token, seal owner, use check, the sealing's transaction). A dead
    connection that rested less than a second fails its statement instead: that raises
    SQLAlchemy's disconnect error (the API answers 503) and the pool drops it."""
    engine = create_engine(url, echo=echo)

    @event.listens_for(engine, "before_cursor_execute")
    def _on_execute(conn: Connection, *_: Any) -> None:
        # SQLAlchemy reads a cursor's description as soon as it executes, which a pipelined
        # statement has not got yet: a pipelined transaction (see `transaction`) goes back
        # to plain round trips for the rest of it (an audit checkpoint, say).
        _leave_pipeline(conn.info, conn.dialect)

    @event.listens_for(engine, "reset")
    def _on_reset(_dbapi_connection: Any, record: Any, _state: Any) -> None:
        # A pipelined transaction committed inside its pipeline: leave it before the pool
        # resets the connection or hands it to another thread.
        _leave_pipeline(record.info, engine.dialect)

    @event.listens_for(engine, "checkin")
    def _on_checkin(_dbapi_connection: Any, record: Any) -> None:
        record.info[_CHECKED_IN_AT] = time.monotonic()

    @event.listens_for(engine, "checkout")
    def _on_checkout(dbapi_connection: Any, record: Any, _proxy: Any) -> None:
        rested = record.info.get(_CHECKED_IN_AT)
        if rested is not None and time.monotonic() - rested < PING_AFTER_IDLE_SECONDS:
            return
        try:
            engine.dialect.do_ping(dbapi_connection)
        except engine.dialect.loaded_dbapi.Error as exc:
            raise DisconnectionError(f"the pooled connection is dead: {exc}") from exc  # the pool reconnects

    return engine


def _sqlite_engine(url: URL, busy_timeout_ms: int, echo: bool) -> Engine:
    if not isinstance(busy_timeout_ms, int) or busy_timeout_ms < 0:
        raise ConfigError(f"busy_timeout_ms must be a non-negative int, not {busy_timeout_ms!r}")
    database = url.database or ""
    if database and database != ":memory:" and not database.startswith("file:"):
        parent = Path(database).expanduser().resolve().parent
        if not parent.is_dir():
            raise ConfigError(f"the folder of the SQLite database {database!r} does not exist")
    synchronous = os.environ.get(SQLITE_SYNCHRONOUS_ENV, "NORMAL").strip().upper() or "NORMAL"
    if synchronous not in _SQLITE_SYNCHRONOUS:
        raise ConfigError(f"{SQLITE_SYNCHRONOUS_ENV}={synchronous!r}: expected NORMAL, FULL or EXTRA")
    # LIFO: a thread gets back the connection it just used. SQLite drops a connection's page
    # cache when another connection has committed since its last transaction; handing
    # connections round in turn (the pool's default) meant every sealing read some forty pages
    # back from the file and the WAL (strace: 45 pread calls per sealing, none with LIFO).
    queued = issubclass(url.get_dialect().get_pool_class(url), QueuePool)  # a memory database has no queue
    engine = create_engine(url, echo=echo, **({"pool_use_lifo": True} if queued else {}))
    gate = None
    on_file = bool(database) and database != ":memory:" and not database.startswith("file:")
    if on_file:
        from store import sqlite_gate

        path = Path(database).expanduser().resolve()
        gate = sqlite_gate.install(engine, path, busy_timeout_ms)
        wal_checkpoint.watch(path)  # checkpoints in a thread of their own, not in a commit

    @event.listens_for(engine, "connect")
    def _on_connect(dbapi_connection: Any, _record: Any) -> None:
        # Take transaction control away from sqlite3; the "begin" hook below emits BEGIN.
        dbapi_connection.isolation_level = None
        cursor = dbapi_connection.cursor()
        try:
            cursor.execute("PRAGMA journal_mode=WAL")
            cursor.execute(f"PRAGMA synchronous={synchronous}")
            cursor.execute("PRAGMA foreign_keys=ON")
            cursor.execute(f"PRAGMA busy_timeout={int(busy_timeout_ms)}")
            # Statement journals and scratch tables in memory: on disk (this build's default)
            # about every fourth sealing spilled its statement journal to a new file in
            # /var/tmp, ~150 µs of CPU a sealing on average. A statement journal holds pages
            # of one transaction; the largest sort, the 1,000,000-entry CRL, reads in index
            # order and kept its peak memory.
            cursor.execute("PRAGMA temp_store=MEMORY")
            if on_file:
                cursor.execute("PRAGMA wal_autocheckpoint=0")
                wal_checkpoint.ensure_running()  # this process's (a forked worker's) own thread
        finally:
            cursor.close()

    @event.listens_for(engine, "begin")
    def _on_begin(conn: Any) -> None:
        # On the DB-API cursor (HotStatement): exec_driver_sql's bookkeeping cost more than
        # the BEGIN itself, once per transaction; errors ("database is locked") still come
        # out as SQLAlchemy's exception types.
        if conn.get_execution_options().get(_READONLY_OPTION, False):
            _BEGIN_DEFERRED.run(conn)
            return
        if gate is None:
            _BEGIN_IMMEDIATE.run(conn)
            return
        gate.enter(conn.connection)  # writers queue here, not in SQLite's sleeping busy handler
        try:
            _BEGIN_IMMEDIATE.run(conn)
        except BaseException:
            gate.leave(conn.connection)
            raise

    return engine


# Plain session factories, one per engine: sessionmaker() makes a new Session subclass each
# call, and SQLAlchemy sets up event dispatch per class, which cost more than a sealing's SQL.
_PLAIN_FACTORIES: weakref.WeakKeyDictionary[Engine, sessionmaker[Session]] = weakref.WeakKeyDictionary()


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
    Objects stay usable after commit (`expire_on_commit=False`). Without an audit signer
    the same factory is returned for the same engine.
    """
    info: dict[str, Any] = {}
    if audit_signer is not None:
        from store.audit import AuditPolicy  # store.audit imports this module

        info[AUDIT_POLICY_KEY] = AuditPolicy(audit_signer, checkpoint_every)
        return sessionmaker(bind=engine, expire_on_commit=False, info=info)
    factory = _PLAIN_FACTORIES.get(engine)
    if factory is None:
        factory = _PLAIN_FACTORIES[engine] = sessionmaker(bind=engine, expire_on_commit=False, info=info)
    return factory


_PARAM = re.compile(r":([a-z_][a-z0-9_]*)")
_QUERY = re.compile(r"\s*SELECT\b", re.IGNORECASE)
_WRITE = re.compile(r"\s*(INSERT|UPDATE|DELETE|BEGIN|COMMIT|ROLLBACK|SAVEPOINT|RELEASE)\b", re.IGNORECASE)
_RETURNING = re.compile(r"\bRETURNING\b", re.IGNORECASE)


def _returns_rows(sql: str) -> bool:
    """Whether a hot statement returns rows: a SELECT, or a write with RETURNING."""
    if _QUERY.match(sql):
        return True
    if _WRITE.match(sql):
        return bool(_RETURNING.search(sql))
    raise ValueError(f"a HotStatement is a SELECT, INSERT, UPDATE, DELETE or transaction statement: {sql[:60]!r}")


class HotStatement:
    """A fixed statement that runs on every sealing, executed on the DB-API cursor of the
    caller's SQLAlchemy connection, inside its transaction.

    SQLAlchemy's per-execute bookkeeping costs about 100 µs of CPU; the database about 5.
    The few statements of the sealing path (audit append, log append, key row, seal state)
    are therefore written as plain, portable SQL with ``:name`` parameters, and values go
    in and come out through the mapped columns' own types (``binds`` / ``results``), so a
    stored value is exactly what the ORM writes and a read value what it reads.
    """

    def __init__(self, sql: str, *, binds: Mapping[str, Any] | None = None,
                 results: tuple[Any, ...] = ()) -> None:
        self.sql = sql
        self._binds = dict(binds or {})  # parameter name -> Column whose type binds it
        self._results = results  # per result column: a Column whose type reads it, or None
        # Known from the text, not from cursor.description: in a pipelined transaction
        # (PostgreSQL) a statement's description arrives only with its results.
        self._returns_rows = _returns_rows(sql)
        self._by_dialect: dict[str, tuple[str, dict[str, Any], list[Any]]] = {}

    def _prepared(self, dialect: Any) -> tuple[str, dict[str, Any], list[Any]]:
        prepared = self._by_dialect.get(dialect.name)
        if prepared is None:
            # sqlite3 takes :name as written; psycopg takes %(name)s
            sql = self.sql if dialect.name == "sqlite" else _PARAM.sub(r"%(\1)s", self.sql)
            binds = {name: p for name, col in self._binds.items()
                     if (p := col.type.dialect_impl(dialect).bind_processor(dialect))}
            results = [col.type.dialect_impl(dialect).result_processor(dialect, None) if col is not None else None
                       for col in self._results]
            prepared = self._by_dialect[dialect.name] = (sql, binds, results)
        return prepared

    def run(self, conn: Connection, params: Mapping[str, Any] | None = None) -> list[tuple[Any, ...]]:
        """Execute with ``params``; the rows (empty for a statement that returns none). In a
        pipelined transaction a statement that returns none is only queued: an error in it
        is raised by the next statement that returns rows, or by the commit."""
        return self.send(conn, params)()

    def send(self, conn: Connection, params: Mapping[str, Any] | None = None) -> Callable[[], list[tuple[Any, ...]]]:
        """Execute with ``params`` and return a call that gives the rows. In a pipelined
        transaction on PostgreSQL the statement is only sent: statements sent one after
        another, their rows read afterwards, cost one round trip between them (see
        `transaction`). On SQLite the rows are read at once."""
        sql, binds, results = self._prepared(conn.dialect)
        values = dict(params or {})
        for name, process in binds.items():
            values[name] = process(values[name])
        dbapi_connection = conn.connection.driver_connection  # type: ignore[union-attr]
        cursor = dbapi_connection.cursor()

        def guarded(step: Callable[[], Any]) -> Any:
            try:
                return step()
            except conn.dialect.loaded_dbapi.Error as exc:
                # As SQLAlchemy would: its exception types (the API maps OperationalError to
                # 503), and a lost connection invalidated so the pool does not hand it out again.
                cursor.close()
                lost = conn.dialect.is_disconnect(exc, dbapi_connection, cursor)
                if lost:
                    conn.invalidate(exc)
                raise DBAPIError.instance(sql, values, exc, conn.dialect.loaded_dbapi.Error,
                                          connection_invalidated=lost, dialect=conn.dialect) from exc

        guarded(lambda: cursor.execute(sql, values))
        if not self._returns_rows:
            cursor.close()
            return list

        def rows() -> list[tuple[Any, ...]]:
            fetched = guarded(cursor.fetchall)
            cursor.close()
            if any(results):
                return [tuple(p(v) if p is not None else v for p, v in zip(results, row)) for row in fetched]
            return fetched
        if conn.dialect.name == "sqlite":
            # Finished at once: nothing is gained by waiting in process, and statements left
            # active (UPDATE ... RETURNING read later) upset SQLite's statement rollback. After
            # a schema change (a dropped trigger) a sealing's log INSERT undid the audit
            # records inserted before it in the same transaction, and the COMMIT kept the
            # rest: a head with no records (tests/test_seal_timestamp_one_commit.py).
            ready = rows()
            return lambda: ready
        return rows


_BEGIN_DEFERRED = HotStatement("BEGIN")
_BEGIN_IMMEDIATE = HotStatement("BEGIN IMMEDIATE")


def connection_of(session: Session) -> Connection:
    """The connection of the session's transaction; the one `transaction` procured when it
    is still in its transaction (asking the session again costs more than a hot statement)."""
    conn = session.info.get(_CONNECTION_KEY)
    if conn is not None and not conn.closed and conn.in_transaction():
        return conn
    return session.connection()


# Within `reading_together()`: this thread's read connections, one per engine, kept open,
# and what the block has read once for all its statements (`block_facts`).
_TOGETHER: ContextVar[dict[Engine, Connection] | None] = ContextVar("eseal_reading_together", default=None)
_BLOCK_FACTS: ContextVar[dict[Any, Any] | None] = ContextVar("eseal_reading_together_facts", default=None)


@contextmanager
def read_connection(engine: Engine) -> Iterator[Connection]:
    """A Core connection reading in one transaction (deferred BEGIN on SQLite), never committed.

    For hot paths that read a few rows by key with a statement or two (a seal use's status
    checks): no ORM session. PostgreSQL reads in autocommit mode, one consistent snapshot
    per statement as under READ COMMITTED, without the BEGIN and ROLLBACK round trips
    around it; use `transaction(..., readonly=True)` where several statements must see one
    snapshot. Inside `reading_together()` the connection is the block's, reused.
    """
    together = _TOGETHER.get()
    if together is not None:
        conn = together.get(engine)
        if conn is None:
            conn = together[engine] = _reader(engine)
        yield conn
        return
    with _reader(engine) as conn:
        yield conn  # closing the connection ends (rolls back) the read transaction


def _reader(engine: Engine) -> Connection:
    conn = engine.connect()
    if engine.dialect.name == "postgresql":
        conn.execution_options(**{_READONLY_OPTION: True}, isolation_level="AUTOCOMMIT")
    else:
        conn.execution_options(**{_READONLY_OPTION: True})
    return conn


class reading_together:  # noqa: N801 - used as a function: `with reading_together():`
    """Within this block (one thread) every `read_connection` of an engine is one connection,
    checked out of the pool once (on PostgreSQL that is also one liveness ping) and given back
    at the end: a verification reads its seal, license and certificates' statuses with a
    statement each. On SQLite the block's reads share one snapshot. Nested blocks join the
    outermost. (A class, not a generator context manager: every verification enters one, and
    this costs a microsecond or two less.)"""

    __slots__ = ("_tokens",)

    def __enter__(self) -> None:
        self._tokens = None if _TOGETHER.get() is not None else (_TOGETHER.set({}), _BLOCK_FACTS.set({}))

    def __exit__(self, *exc: object) -> None:
        tokens = self._tokens
        if tokens is None:
            return
        connections = _TOGETHER.get() or {}
        _BLOCK_FACTS.reset(tokens[1])
        _TOGETHER.reset(tokens[0])
        for conn in connections.values():
            conn.close()


def block_facts() -> dict[Any, Any] | None:
    """Inside `reading_together()`: a dict that lives as long as the block, for a value read
    once for all of the block's statements (store/status_epoch.py keeps the epoch it read
    there); None outside a block."""
    return _BLOCK_FACTS.get()


# Connection.info key: the psycopg Pipeline of a pipelined transaction, while it is open.
_PIPELINE_KEY = "eseal.pipeline"


@contextmanager
def _pipelined(conn: Connection) -> Iterator[None]:
    """On PostgreSQL, the block's statements in psycopg's pipeline mode; elsewhere nothing.
    The block commits inside it (the COMMIT goes with what is queued); the pipeline is left
    when the connection goes back to the pool (its "reset" event, `_postgresql_engine`), by
    one more round trip that no longer holds any lock."""
    if conn.dialect.name != "postgresql":
        yield
        return
    info = conn.info  # the pooled connection's: still reachable once the session let it go
    pipeline = conn.connection.driver_connection.pipeline()  # type: ignore[union-attr]
    pipeline.__enter__()
    info[_PIPELINE_KEY] = pipeline
    try:
        yield
    except BaseException as exc:
        if info.pop(_PIPELINE_KEY, None) is not None:
            pipeline.__exit__(type(exc), exc, None)  # logs, does not raise, a queued statement's error
        raise


def _leave_pipeline(info: dict[Any, Any], dialect: Any) -> None:
    """Send what is queued and leave pipeline mode; a queued statement's error is raised here,
    as SQLAlchemy's exception type (IntegrityError for a duplicate serial, say)."""
    pipeline = info.pop(_PIPELINE_KEY, None)
    if pipeline is None:
        return
    try:
        pipeline.__exit__(None, None, None)
    except dialect.loaded_dbapi.Error as exc:
        raise DBAPIError.instance("(the statements of a pipelined transaction)", None, exc,
                                  dialect.loaded_dbapi.Error, dialect=dialect) from exc


# Session.info key of a pipelined transaction: what runs at its end, before COMMIT, by name.
_AT_END_KEY = "eseal.at_end"


def deferring(session: Session) -> bool:
    """True in a pipelined transaction, outside savepoints: a chained log (store.audit,
    store.translog) then queues its rows and writes them at the end, with `at_end`."""
    return _AT_END_KEY in session.info and connection_of(session).get_nested_transaction() is None


def at_end(session: Session, name: str, send: Callable[[Connection], Callable[[], None]]) -> None:
    """Run ``send`` (once per name) at the end of this pipelined transaction, before COMMIT,
    in the order the names were first given.

    Two steps, so that the statements taking the chains' locks travel together: every
    ``send(conn)`` is called first and sends the statement that takes its lock and numbers;
    then every callable they returned reads its answer and writes its rows. The locks are
    thus held for one round trip and the COMMIT's, not for the transaction's length.
    """
    session.info[_AT_END_KEY].setdefault(name, send)


def queue_for_end(session: Session, name: str, item: Any,
                  send: Callable[[Connection, list[Any]], Callable[[], None]]) -> bool:
    """A chained log's rows in a pipelined transaction (store.audit, store.translog): queue
    ``item`` under ``name`` and return True; ``send(conn, items)`` writes them at the end
    (the two steps of `at_end`). Anywhere else return False -- first writing what the
    enclosing pipelined transaction queued, inside one of its savepoints -- and the caller
    writes its row now."""
    items = session.info.get(name)
    if deferring(session):
        if items is None:
            items = session.info[name] = []
            at_end(session, name, lambda conn: _send_items(session, name, conn, send))
        items.append(item)
        return True
    if items:
        _send_items(session, name, connection_of(session), send)()
    return False


def _send_items(session: Session, name: str, conn: Connection,
                send: Callable[[Connection, list[Any]], Callable[[], None]]) -> Callable[[], None]:
    items = session.info.pop(name, None)
    return send(conn, items) if items else (lambda: None)


def check_at_end(session: Session, check: Callable[[], None]) -> None:
    """Run ``check`` (which may raise, rolling the transaction back) at the end of this
    pipelined transaction, before its chains are written; at once in any other. For a check
    on rows read with `HotStatement.send`: their answers then come with the chains' in one
    round trip."""
    if not deferring(session):
        check()
        return
    at_end_sends = session.info[_AT_END_KEY]
    at_end_sends[("check", len(at_end_sends))] = lambda _conn: check


def _run_at_end(session: Session) -> None:
    sends = session.info.pop(_AT_END_KEY, {})
    if sends:
        conn = connection_of(session)
        for write in [send(conn) for send in sends.values()]:
            write()


@contextmanager
def transaction(bind: Engine | sessionmaker[Session], *, readonly: bool = False,
                pipelined: bool = False) -> Iterator[Session]:
    """One database transaction as a Session: committed on success, rolled back on error.

    `readonly=True` reads a consistent snapshot (deferred BEGIN on SQLite, REPEATABLE READ
    on PostgreSQL) and never commits.

    `pipelined=True`, for a short write transaction of hot statements (a sealing's records):
    the audit records and log entries appended in it are queued and written at its end
    (`at_end`), where the two chains' locks are taken together, just before COMMIT. On
    PostgreSQL its statements also go out in psycopg's pipeline mode, so those that return
    nothing (inserts, the chains' heads, the COMMIT) travel with the next one that returns
    rows instead of costing a round trip each (about 0.1 ms here): a timestamped sealing's
    transaction costs three (its reads with the chains' locks; the inserts with the COMMIT;
    the Sync that ends the pipeline), not sixteen, and holds the audit head's row lock --
    which every sealing of the region waits for -- for one and the COMMIT's. The first statement
    run through SQLAlchemy itself (not a HotStatement) ends the pipelining for the rest of
    the transaction.
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
        conn = session.info[_CONNECTION_KEY] = session.connection(execution_options=options)
        if readonly:
            yield session
        elif not pipelined:
            yield session
            session.commit()
        else:
            with _pipelined(conn):
                session.info[_AT_END_KEY] = {}
                yield session
                _run_at_end(session)
                session.commit()
        # readonly: close() below ends (rolls back) the transaction without expiring the
        # objects read, so they stay usable after the block.
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()
