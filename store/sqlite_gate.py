"""One writer at a time on a SQLite file, handed over without SQLite's sleeping busy handler.

SQLite lets one transaction write at a time; a `BEGIN IMMEDIATE` that finds the lock taken
waits in SQLite's busy handler, which sleeps 1, 2, 5, 10, 15, 20, 25, 25, 25, 50, 50, 100 ms
between tries. Under a served load (two gunicorn workers with four threads each, all sealing)
the waiters fall into the long sleeps while the lock sits free: the writes serialise with
gaps between them. The gate queues the writers of one file instead: threads of a process on
a lock, processes on an `flock` of ``<database>-writer.lock``, retried every fraction of a
millisecond. It is taken just before `BEGIN IMMEDIATE` and given back when the transaction
ends (commit or rollback, including the pool's rollback of a returned connection), so SQLite's
own lock is normally free when a writer reaches it; a writer outside the gate (another tool on
the same file) still meets SQLite's busy handler, as before.

Between processes the turn must change hands at once: a writer that polled for the file lock
(sleeping between tries) lost it nearly every time to the next thread of the process that had
just written, so under a served load the writes came mostly from one worker at a time (the
other's threads queued behind its poller) and the second core idled -- with four threads per
worker, 397 sealings per second against 598 with one. So a process waits for the file lock in
the kernel: a keeper thread per gate blocks in `flock` on behalf of the thread whose turn it
is and hands the lock over, and the kernel gives a released lock to a process blocked on it
before the releasing process's next thread can try again.

Waiting is bounded by the engine's busy timeout, after which the writer fails as SQLite's
would ("database is locked"); should the keeper get the lock after its writer gave up, it
gives it straight back.
"""
from __future__ import annotations

import fcntl
import os
import threading
import time
import weakref
from pathlib import Path

from sqlalchemy.exc import OperationalError



class WriterGate:
    def __init__(self, database: Path, timeout_seconds: float) -> None:
        self.path = Path(f"{database}-writer.lock")
        self.timeout = timeout_seconds
        self.waits = 0  # times a writer found the gate taken (for tests)
        self._reset()
        _GATES.add(self)

    def _reset(self) -> None:
        """Fresh state; also in a forked child, which must neither inherit a thread's turn nor
        share the parent's lock file description (an flock belongs to the description: parent
        and child would both hold it)."""
        self._threads = threading.Lock()
        self._fd: int | None = None
        self._holder: int | None = None  # id() of the DB-API connection in the writing transaction
        self._keeper: threading.Thread | None = None
        self._handover = threading.Condition()
        self._wanted = False        # the writer whose turn it is waits for the file lock
        self._granted = False       # the keeper took the file lock for it
        self._keeper_waits = False  # the keeper is (about to be) blocked in flock

    def _file(self) -> int:
        if self._fd is None:
            self._fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        return self._fd

    def enter(self, dbapi_connection: object) -> None:
        """Wait for the turn to write (``dbapi_connection`` is about to BEGIN IMMEDIATE)."""
        deadline = time.monotonic() + self.timeout
        if not self._threads.acquire(blocking=False):
            self.waits += 1
            if not self._threads.acquire(timeout=self.timeout):
                raise _locked(f"no write turn in {self.timeout:g} s (another thread of this process)")
        try:
            self._take_file(deadline)
        except BaseException:
            self._threads.release()
            raise
        self._holder = id(_raw(dbapi_connection))

    def _take_file(self, deadline: float) -> None:
        """The file lock, for the thread whose turn it is in this process: at once when free,
        else from the keeper, which waits for it in the kernel. The lock belongs to the file
        description, which keeper and writers share, so only one of them may ask for it at
        a time: a writer tries at once only while the keeper is not waiting."""
        fd = self._file()
        with self._handover:
            if not self._keeper_waits:
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    return
                except BlockingIOError:
                    pass
            self.waits += 1
            if self._keeper is None:
                self._keeper = threading.Thread(target=self._keep, args=(fd,), name="sqlite-writer-gate", daemon=True)
                self._keeper.start()
            self._wanted = True
            self._handover.notify_all()
            granted = self._handover.wait_for(lambda: self._granted, timeout=max(0.0, deadline - time.monotonic()))
            self._wanted = self._granted = False
        if not granted:
            raise _locked(f"no write turn in {self.timeout:g} s (another process)")

    def _keep(self, fd: int) -> None:
        """The keeper: blocks in flock while a writer of this process wants the file lock and
        hands it over -- or gives it back, should that writer have given up meanwhile."""
        while True:
            with self._handover:
                self._handover.wait_for(lambda: self._wanted)
                self._keeper_waits = True
            fcntl.flock(fd, fcntl.LOCK_EX)
            with self._handover:
                if self._wanted:
                    self._wanted, self._granted = False, True
                    self._handover.notify_all()
                else:
                    fcntl.flock(fd, fcntl.LOCK_UN)
                self._keeper_waits = False

    def leave(self, dbapi_connection: object) -> None:
        """End of a transaction on ``dbapi_connection``: give the turn back if it holds it."""
        if self._holder is None or self._holder != id(_raw(dbapi_connection)):
            return  # a read transaction, or a connection that never wrote
        self._holder = None
        fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._threads.release()


_GATES: weakref.WeakSet[WriterGate] = weakref.WeakSet()


def _after_fork_in_child() -> None:
    for gate in list(_GATES):
        gate._reset()  # the inherited descriptor stays open (closing it would not drop the parent's lock)


os.register_at_fork(after_in_child=_after_fork_in_child)


def _raw(connection: object) -> object:
    """The driver's connection under SQLAlchemy's pool proxy (commit, rollback and the pool's
    reset are handed the proxy, the begin hook may hold either)."""
    return getattr(connection, "dbapi_connection", None) or connection


def _locked(message: str) -> OperationalError:
    return OperationalError("BEGIN IMMEDIATE", {}, Exception(f"database is locked: {message}"))


def install(engine, database: Path, busy_timeout_ms: int) -> WriterGate:  # noqa: ANN001
    """Wrap ``engine``'s dialect so that every commit and rollback ends the holder's turn;
    the caller enters the gate before `BEGIN IMMEDIATE`."""
    gate = WriterGate(database, busy_timeout_ms / 1000)
    dialect = engine.dialect
    commit, rollback = dialect.do_commit, dialect.do_rollback

    def do_commit(dbapi_connection) -> None:  # noqa: ANN001
        try:
            commit(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    def do_rollback(dbapi_connection) -> None:  # noqa: ANN001
        try:
            rollback(dbapi_connection)
        finally:
            gate.leave(dbapi_connection)

    dialect.do_commit, dialect.do_rollback = do_commit, do_rollback  # this engine's dialect only
    _BY_ENGINE[engine] = gate
    return gate


_BY_ENGINE: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()


def gate_of(engine) -> WriterGate | None:  # noqa: ANN001
    """The gate of a SQLite file engine (None for PostgreSQL and in-memory SQLite)."""
    return _BY_ENGINE.get(engine)
