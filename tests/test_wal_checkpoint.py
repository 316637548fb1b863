"""SQLite WAL checkpoints run in a background thread (store/wal_checkpoint.py), not in commits.

What is checked: eseal's connections switch SQLite's own checkpoints off; the thread then
moves committed pages into the main database file by itself (seen by opening a copy of the
main file alone, without its WAL); a forked child gets a thread of its own; a removed
database is dropped from the watch list.
"""
from __future__ import annotations

import os
import shutil
import sqlite3
import time
from pathlib import Path

from sqlalchemy import text

from store import wal_checkpoint
from store.db import make_engine


def _rows_in_main_file(db: Path, tmp: Path) -> int:
    """Rows of table t in the main file alone: what a checkpoint has written there."""
    copy = tmp / f"main-only-{time.monotonic_ns()}.db"
    shutil.copyfile(db, copy)
    conn = sqlite3.connect(copy)
    try:
        return conn.execute("SELECT count(*) FROM t").fetchone()[0]
    except sqlite3.DatabaseError:   # the table still only in the WAL, or a copy torn by a checkpoint
        return -1
    finally:
        conn.close()


def _write(engine, rows: int) -> None:
    with engine.begin() as conn:
        conn.execute(text("CREATE TABLE IF NOT EXISTS t (id INTEGER PRIMARY KEY, v TEXT)"))
        for n in range(rows):
            conn.execute(text("INSERT INTO t (v) VALUES (:v)"), {"v": f"row {n}"})


def _wait_for_rows(db: Path, tmp: Path, rows: int, seconds: float = 10.0) -> int:
    deadline = time.monotonic() + seconds
    seen = _rows_in_main_file(db, tmp)
    while seen != rows and time.monotonic() < deadline:
        time.sleep(0.05)
        seen = _rows_in_main_file(db, tmp)
    return seen


def test_commits_do_not_checkpoint_and_the_thread_does(tmp_path) -> None:
    db = tmp_path / "e.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        with engine.connect() as conn:
            assert conn.exec_driver_sql("PRAGMA wal_autocheckpoint").scalar() == 0
            assert conn.exec_driver_sql("PRAGMA journal_mode").scalar() == "wal"
        _write(engine, 50)
        assert _wait_for_rows(db, tmp_path, 50) == 50     # the thread moved them, no commit did
        _write(engine, 25)
        assert _wait_for_rows(db, tmp_path, 75) == 75
    finally:
        engine.dispose()


def test_without_the_thread_the_rows_stay_in_the_wal(tmp_path, monkeypatch) -> None:
    """The control for the test above: the main file alone lacks them until a checkpoint."""
    monkeypatch.setattr(wal_checkpoint, "_round", lambda: None)
    db = tmp_path / "e.db"
    engine = make_engine(f"sqlite:///{db}")
    try:
        _write(engine, 50)
        time.sleep(3 * wal_checkpoint.INTERVAL_SECONDS)
        assert _rows_in_main_file(db, tmp_path) in (-1, 0)
        monkeypatch.undo()
        wal_checkpoint.checkpoint_now()
        assert _rows_in_main_file(db, tmp_path) == 50
    finally:
        engine.dispose()


def test_a_forked_child_checkpoints_with_its_own_thread(tmp_path) -> None:
    parent_db = tmp_path / "parent.db"
    engine = make_engine(f"sqlite:///{parent_db}")
    _write(engine, 1)                                  # the parent's thread runs now
    child_db = tmp_path / "child.db"
    pid = os.fork()
    if pid == 0:                                       # the child: exit 0 only if its thread worked
        code = 1
        try:
            child = make_engine(f"sqlite:///{child_db}")
            _write(child, 40)
            code = 0 if _wait_for_rows(child_db, tmp_path, 40) == 40 else 3
        finally:
            os._exit(code)
    _, status = os.waitpid(pid, 0)
    engine.dispose()
    assert os.waitstatus_to_exitcode(status) == 0


def test_a_removed_database_is_no_longer_watched(tmp_path) -> None:
    db = tmp_path / "gone.db"
    engine = make_engine(f"sqlite:///{db}")
    _write(engine, 1)
    engine.dispose()
    assert str(db) in wal_checkpoint._watched
    for f in tmp_path.glob("gone.db*"):
        f.unlink()
    wal_checkpoint.checkpoint_now()
    assert str(db) not in wal_checkpoint._watched
    assert not db.exists()                             # and checking did not create it again
