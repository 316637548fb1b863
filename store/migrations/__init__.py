"""Alembic migrations of the eseal database, run from code (no alembic.ini at runtime).

    store.migrate(url_or_engine)          # bring a database to the newest revision
    store.migrations.drift(engine)        # [] when models and migrations agree

Revisions live in `versions/`, one file per change, named after the revision id
(`0001_audit`, `0002_keystore`, ...), each revision's `down_revision` the one before.
To write a new one after changing models: `python -m store.migrations revision -m "what"`
creates a file from autogenerate against a scratch SQLite database at head; read it, fix
it, and keep the drift test green. On PostgreSQL, concurrent `migrate` calls (several
workers starting at once) are serialised by a transaction-scoped advisory lock; on SQLite
by the write lock of `BEGIN IMMEDIATE`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from alembic import command
from alembic.autogenerate import compare_metadata
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Connection, Engine, text
from sqlalchemy.engine import URL

MIGRATIONS_DIR = Path(__file__).resolve().parent
# pg_advisory_xact_lock key: the first 8 bytes of SM3("eseal.migrate") would do as well;
# any constant that no other code uses is enough.
_PG_MIGRATE_LOCK = 0x65736561_6C6D6967  # "esealmig"


def alembic_config(connection: Connection | None = None) -> Config:
    """An Alembic Config pointing at this folder, optionally bound to an open connection."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS_DIR))
    config.set_main_option("path_separator", "os")
    config.set_main_option("version_locations", str(MIGRATIONS_DIR / "versions"))
    if connection is not None:
        config.attributes["connection"] = connection
    return config


def _engine(url_or_engine: str | URL | Engine) -> tuple[Engine, bool]:
    if isinstance(url_or_engine, Engine):
        return url_or_engine, False
    from store.db import make_engine

    return make_engine(url_or_engine), True


def migrate(url_or_engine: str | URL | Engine, revision: str = "head") -> None:
    """Upgrade the database to `revision` (default: the newest). Safe to run repeatedly."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.begin() as connection:
            if connection.dialect.name == "postgresql":
                connection.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": _PG_MIGRATE_LOCK})
            command.upgrade(alembic_config(connection), revision)
    finally:
        if owned:
            engine.dispose()


def downgrade(url_or_engine: str | URL | Engine, revision: str) -> None:
    """Downgrade to `revision` ("base" removes every eseal table). For tests and recovery."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.begin() as connection:
            command.downgrade(alembic_config(connection), revision)
    finally:
        if owned:
            engine.dispose()


def head_revision() -> str:
    """The newest revision id in versions/."""
    heads = ScriptDirectory.from_config(alembic_config()).get_heads()
    if len(heads) != 1:
        raise RuntimeError(f"the migrations have {len(heads)} heads {heads}; merge them into one")
    return heads[0]


def current_revision(url_or_engine: str | URL | Engine) -> str | None:
    """The revision the database is at (None for an empty database)."""
    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    finally:
        if owned:
            engine.dispose()


def drift(url_or_engine: str | URL | Engine) -> list[Any]:
    """Differences between the models (Base.metadata) and a database migrated to head.

    The same comparison as `alembic check`: an empty list means the migrations create
    exactly the tables, columns, types, indexes and constraints the models declare.
    """
    from store.models import Base

    engine, owned = _engine(url_or_engine)
    try:
        with engine.connect() as connection:
            context = MigrationContext.configure(
                connection, opts={"compare_type": True, "compare_server_default": True}
            )
            return list(compare_metadata(context, Base.metadata))
    finally:
        if owned:
            engine.dispose()
