"""WAL checkpoints of SQLite databases in a background thread, not inside a commit.

SQLite's default checkpoints the WAL into the database file from whichever commit pushes
it past 1,000 pages, and in WAL mode with synchronous=NORMAL that checkpoint fsyncs: one
sealing in about a hundred then waits 10-15 ms in COMMIT. Measured on this machine with a
sealing-sized transaction: mean commit 189 us with the default, of which two thirds were
those 1 % slow commits; 75 us with checkpoints elsewhere. So every connection eseal opens to
a database file sets ``wal_autocheckpoint=0``, and one daemon thread per process runs a
PASSIVE checkpoint (it never waits for readers or writers) of each such database whose WAL
changed, every quarter of a second. Durability is unchanged: a commit is in the WAL before
COMMIT returns, as before; the checkpoint only moves pages into the main file.

The thread holds a lock while it is inside SQLite, and ``os.fork`` takes that lock first
(``os.register_at_fork``), so a child (a gunicorn worker) never inherits SQLite's or our
locks half-held; the child starts its own thread when it next connects.
"""
from __future__ import annotations

import os
import sqlite3
import threading
from pathlib import Path

INTERVAL_SECONDS = 0.25

_lock = threading.Lock()                 # held while the thread is inside SQLite, and at fork
_watched: dict[str, float | None] = {}   # database path -> WAL mtime at its last checkpoint
_thread_pid: int | None = None
_wake = threading.Event()


def watch(database: Path) -> None:
    """Checkpoint ``database`` from this process's thread, which is started if need be."""
    with _lock:
        _watched.setdefault(str(database), None)
    ensure_running()


def ensure_running() -> None:
    """Start this process's checkpoint thread unless it runs (after a fork it does not)."""
    global _thread_pid
    if _thread_pid == os.getpid():
        return
    with _lock:
        if _thread_pid == os.getpid():
            return
        _thread_pid = os.getpid()
        threading.Thread(target=_run, name="eseal-wal-checkpoint", daemon=True).start()


def checkpoint_now() -> None:
    """One round at once (tests; a process about to exit)."""
    _round()


def _run() -> None:
    me = os.getpid()
    while _thread_pid == me:
        _wake.wait(INTERVAL_SECONDS)
        _wake.clear()
        if _thread_pid != me:   # forked: this is a parent's thread object, gone in the child
            return
        _round()


def _round() -> None:
    with _lock:
        for path, last in list(_watched.items()):
            try:
                changed = os.stat(path + "-wal").st_mtime_ns
            except FileNotFoundError:
                if not os.path.exists(path):
                    del _watched[path]          # the database is gone (a removed home)
                continue
            if changed == last:
                continue
            if _checkpoint(path):
                _watched[path] = changed


def _checkpoint(path: str) -> bool:
    try:
        conn = sqlite3.connect(f"file:{path}?mode=rw", uri=True, timeout=0, isolation_level=None)
    except sqlite3.Error:
        return False
    try:
        conn.execute("PRAGMA wal_checkpoint(PASSIVE)").fetchall()
        return True
    except sqlite3.Error:   # busy or locked: the next round tries again
        return False
    finally:
        conn.close()


def _after_fork_in_child() -> None:
    global _lock, _thread_pid
    _lock = threading.Lock()
    _thread_pid = None


os.register_at_fork(before=lambda: _lock.acquire(), after_in_parent=lambda: _lock.release(),
                    after_in_child=_after_fork_in_child)
