"""store/sqlite_gate.py: writers of one SQLite file take turns through the gate, across threads
and processes, and every way a transaction ends gives the turn back."""
from __future__ import annotations

import multiprocessing
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import text
from sqlalchemy.exc import OperationalError

from store import db
from store.sqlite_gate import gate_of


def _engine(path: Path, busy_timeout_ms: int = 30_000):  # noqa: ANN202
    engine = db.make_engine(f"sqlite:///{path}", busy_timeout_ms=busy_timeout_ms)
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (n INTEGER PRIMARY KEY, who TEXT)"))
    return engine


def test_threads_writing_at_once_queue_at_the_gate_and_lose_nothing(tmp_path) -> None:
    engine = _engine(tmp_path / "a.db")
    gate = gate_of(engine)
    errors: list[BaseException] = []

    def writer(k: int) -> None:
        try:
            for i in range(50):
                with engine.begin() as conn:
                    count = conn.execute(text("SELECT count(*) FROM t")).scalar_one()
                    conn.execute(text("INSERT INTO t (n, who) VALUES (:n, :w)"), {"n": count, "w": f"{k}-{i}"})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    threads = [threading.Thread(target=writer, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert errors == []
    with engine.connect() as conn:
        rows = conn.execute(text("SELECT n FROM t ORDER BY n")).scalars().all()
    assert rows == list(range(300))  # read-then-write under the turn: no number taken twice
    assert gate.waits > 0  # they did meet at the gate


def test_a_rollback_and_a_failed_statement_give_the_turn_back(tmp_path) -> None:
    engine = _engine(tmp_path / "b.db", busy_timeout_ms=2000)
    with pytest.raises(ZeroDivisionError):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'x')"))
            raise ZeroDivisionError
    with pytest.raises(Exception, match="UNIQUE|no such table"):
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (n, who) VALUES (2, 'y')"))
            conn.execute(text("INSERT INTO t (n, who) VALUES (2, 'z')"))
    conn = engine.connect()
    conn.execute(text("INSERT INTO t (n, who) VALUES (3, 'w')"))
    conn.close()  # returned to the pool mid-transaction: the pool's rollback ends the turn
    done = threading.Event()

    def write() -> None:
        with engine.begin() as c:
            c.execute(text("INSERT INTO t (n, who) VALUES (4, 'v')"))
        done.set()

    t = threading.Thread(target=write)
    t.start()
    t.join(10)
    assert done.is_set()
    with engine.connect() as c:
        assert c.execute(text("SELECT n FROM t")).scalars().all() == [4]


def test_postgresql_and_memory_databases_have_no_gate() -> None:
    assert gate_of(db.make_engine("sqlite://")) is None
    assert gate_of(db.make_engine("postgresql://postgres@127.0.0.1:5432/test")) is None  # not connected


def test_reads_do_not_take_the_turn(tmp_path) -> None:
    engine = _engine(tmp_path / "c.db", busy_timeout_ms=500)
    with engine.connect() as reader:
        reader = reader.execution_options(**{db._READONLY_OPTION: True})
        reader.execute(text("SELECT count(*) FROM t")).scalar_one()
        with engine.begin() as writer:  # a reader is open: the writer still gets its turn at once
            writer.execute(text("INSERT INTO t (n, who) VALUES (1, 'x')"))


def _hold_in_child(path: str, ready, release) -> None:  # noqa: ANN001
    engine = db.make_engine(f"sqlite:///{path}")
    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n, who) VALUES (100, 'child')"))
        ready.set()
        release.wait(30)


@contextmanager
def _child_writing(path: Path) -> Iterator[Any]:
    """A forked process in a write transaction on ``path`` (holding the gate) until the
    yielded event is set; it commits then, and is joined at the end of the block."""
    ctx = multiprocessing.get_context("fork")
    ready, release = ctx.Event(), ctx.Event()
    child = ctx.Process(target=_hold_in_child, args=(str(path), ready, release))
    child.start()
    try:
        assert ready.wait(30)
        yield release
    finally:
        release.set()
        child.join(30)


def test_a_writer_waits_for_another_process_and_fails_like_sqlite_after_the_busy_timeout(tmp_path) -> None:
    path = tmp_path / "d.db"
    engine = _engine(path, busy_timeout_ms=300)
    with _child_writing(path):
        with pytest.raises(OperationalError, match=r"database is locked: no write turn .*\(another process\)"):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'parent')"))
    with engine.begin() as conn:  # the child's turn ended with its commit
        conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'parent')"))
        assert conn.execute(text("SELECT who FROM t ORDER BY n")).scalars().all() == ["parent", "child"]


def test_a_forked_child_does_not_inherit_its_parent_s_turn(tmp_path) -> None:
    """The parent forks while it writes (holding the gate): the child's gate starts afresh, with
    its own lock file description, so it waits for the parent like any other process. Sharing
    the parent's description it would hold the parent's flock and walk in; sharing its thread
    lock it would wait on a thread that does not exist in the child."""
    path = tmp_path / "e.db"
    engine = _engine(path, busy_timeout_ms=300)
    ctx = multiprocessing.get_context("fork")
    result = ctx.Queue()

    def child() -> None:
        try:
            engine.dispose(close=False)  # the parent's pooled connections are not the child's
            with engine.begin() as c:
                c.execute(text("INSERT INTO t (n, who) VALUES (2, 'child')"))
            result.put("wrote")
        except OperationalError as exc:
            result.put(str(exc))

    with engine.begin() as conn:
        conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'parent')"))
        proc = ctx.Process(target=child)
        proc.start()
        proc.join(30)
        answer = result.get(timeout=5)
    assert "no write turn" in answer and "another process" in answer, answer
    proc = ctx.Process(target=child)  # the parent's turn is over: now the child writes
    proc.start()
    proc.join(30)
    assert result.get(timeout=5) == "wrote"
    with engine.connect() as c:
        assert c.execute(text("SELECT who FROM t ORDER BY n")).scalars().all() == ["parent", "child"]


def _file_lock_free(path: Path, within: float = 5.0) -> bool:
    """Whether a writer of another file description (as another process has) can take the
    gate's file lock within ``within`` seconds."""
    import fcntl
    import os
    import time

    fd = os.open(f"{path}-writer.lock", os.O_RDWR)
    try:
        deadline = time.monotonic() + within
        while time.monotonic() < deadline:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                time.sleep(0.01)
                continue
            fcntl.flock(fd, fcntl.LOCK_UN)
            return True
        return False
    finally:
        os.close(fd)


def test_a_writer_waiting_for_another_process_gets_the_turn_when_it_ends(tmp_path) -> None:
    """The wait happens in the kernel (the gate's keeper thread blocks in flock for the writer):
    the turn passes as soon as the other process commits, and the keeper keeps nothing after."""
    path = tmp_path / "f.db"
    engine = _engine(path, busy_timeout_ms=30_000)
    gate = gate_of(engine)
    with _child_writing(path) as release:
        threading.Timer(0.3, release.set).start()
        with engine.begin() as conn:
            conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'parent')"))
    assert gate.waits >= 1 and gate._keeper is not None     # it waited, through the keeper
    assert _file_lock_free(path)                             # and the turn ended with the commit
    with engine.connect() as conn:
        assert conn.execute(text("SELECT who FROM t ORDER BY n")).scalars().all() == ["parent", "child"]


def test_a_writer_that_gave_up_leaves_the_lock_to_others(tmp_path) -> None:
    """The keeper may take the file lock after its writer gave up (busy timeout): it gives
    it straight back, or no other process could write again."""
    path = tmp_path / "g.db"
    engine = _engine(path, busy_timeout_ms=200)
    with _child_writing(path):
        with pytest.raises(OperationalError, match="no write turn"):
            with engine.begin() as conn:
                conn.execute(text("INSERT INTO t (n, who) VALUES (1, 'parent')"))
    assert _file_lock_free(path)
