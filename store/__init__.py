"""Persistence shared by ca/, seal/, verify/ and keystore/: models, sessions, migrations, audit.

    from store import Home, make_engine, transaction, migrate
    from store import audit            # append / checkpoint / verify

See store.db (engines and transactions), store.home (the --home folder and its config),
store.migrations (Alembic, run from code), store.audit (the tamper-evident log) and
store.testing (pytest fixtures for both databases).
"""

from __future__ import annotations

from typing import Any

from store.db import make_engine, make_sessionmaker, resolve_database_url, transaction
from store.home import Home


def migrate(url_or_engine: Any, revision: str = "head") -> None:
    """Bring the database at `url_or_engine` to `revision` (see store.migrations)."""
    from store.migrations import migrate as _migrate

    _migrate(url_or_engine, revision)


__all__ = ["Home", "make_engine", "make_sessionmaker", "migrate", "resolve_database_url", "transaction"]
