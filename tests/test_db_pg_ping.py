"""PostgreSQL pool: a connection that rested is pinged at checkout (and replaced when dead);
one in constant use is not (store/db.py _postgresql_engine). Real PostgreSQL; the server
kills connections with pg_terminate_backend."""
from __future__ import annotations

import pytest
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from store import db
from store.db import make_engine, read_connection

pytestmark = pytest.mark.postgres


def _backend_pid(engine) -> int:
    with read_connection(engine) as conn:
        return conn.execute(text("SELECT pg_backend_pid()")).scalar_one()


def _terminate(url: str, pid: int) -> None:
    killer = make_engine(url)
    try:
        with killer.connect() as conn:
            assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one() is True
    finally:
        killer.dispose()


def test_a_dead_connection_that_rested_is_replaced_at_checkout(pg_url, monkeypatch) -> None:
    engine = make_engine(pg_url)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)   # it rested long enough
        assert _backend_pid(engine) != first                      # pinged, found dead, reconnected
    finally:
        engine.dispose()


def test_a_connection_in_constant_use_is_not_pinged(pg_url, monkeypatch) -> None:
    engine = make_engine(pg_url)
    pings = []
    real_ping = engine.dialect.do_ping
    monkeypatch.setattr(engine.dialect, "do_ping", lambda c: pings.append(c) or real_ping(c))
    try:
        pids = {_backend_pid(engine) for _ in range(20)}
        assert len(pids) == 1
        assert len(pings) == 1                                    # the new connection's first checkout
        monkeypatch.setattr(db, "PING_AFTER_IDLE_SECONDS", 0.0)
        _backend_pid(engine)
        assert len(pings) == 2
    finally:
        engine.dispose()


def test_a_dead_connection_used_at_once_fails_as_a_disconnect_and_is_dropped(pg_url) -> None:
    """The price of not pinging busy connections: the statement fails (the API answers 503),
    marked as a disconnect so the pool drops the connection; the next checkout works."""
    engine = make_engine(pg_url)
    try:
        first = _backend_pid(engine)
        _terminate(pg_url, first)
        with pytest.raises(DBAPIError) as failed:
            _backend_pid(engine)
        assert failed.value.connection_invalidated
        assert _backend_pid(engine) != first
    finally:
        engine.dispose()
