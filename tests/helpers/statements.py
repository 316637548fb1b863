"""What a home's engine sends to PostgreSQL, recorded at the driver: every cursor the pool's
connections make (SQLAlchemy's and store.db.HotStatement's alike) notes its statement and
parameters. tests/test_query_plans.py explains them; tests/test_flat_cost.py measures them."""
from __future__ import annotations

from contextlib import contextmanager
from typing import Any

from sqlalchemy import Engine, event


@contextmanager
def recorded_statements(engine: Engine):
    """The (statement, parameters) the engine's connections execute inside the block; the
    pool is emptied first so every connection in use is a recording one."""
    import psycopg

    recorded: list[tuple[str, Any]] = []

    class Recording(psycopg.Cursor):
        def execute(self, query, params=None, **kwargs):
            recorded.append((query if isinstance(query, str) else query.as_string(self), params))
            return super().execute(query, params, **kwargs)

        def executemany(self, query, params_seq, **kwargs):
            params_seq = list(params_seq)
            if params_seq:
                recorded.append((query if isinstance(query, str) else query.as_string(self), params_seq[0]))
            return super().executemany(query, params_seq, **kwargs)

    def record(dbapi_connection: Any, _record: Any) -> None:
        dbapi_connection.cursor_factory = Recording
    event.listen(engine, "connect", record)
    engine.dispose()
    try:
        yield recorded
    finally:
        event.remove(engine, "connect", record)
        engine.dispose()
