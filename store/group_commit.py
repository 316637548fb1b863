"""Group commit: the records of sealings that finish together are written in one transaction.

A sealing's CPU work (the document, the signature, the token) happens outside any
transaction; what is left is a short write -- the key's use, the audit records, the log entry
-- and its COMMIT. On SQLite a COMMIT writes every page the transaction touched (about a dozen
B-tree pages, 50 KB of WAL, for one sealing); on PostgreSQL it holds the audit head's row lock,
which every sealing of the region waits for. Sealings that reach this point while another's
write is under way therefore queue, and when it ends the first of them in line (the leader)
writes them all in one transaction: the pages and the lock are shared, as a database's own
group commit shares its log flush. A lone sealing is its own group, exactly as before.

Every caller returns only after the COMMIT that holds its records, or with its own error. If a
group's transaction fails, it is rolled back and each member is written alone, so the one whose
records are at fault hears of it and the others are committed regardless. A member's work
therefore runs in the leader's thread and may run twice: it must only write through the
session it is given.
"""
from __future__ import annotations

import os
import threading
import weakref
from collections.abc import Callable
from typing import Any

from sqlalchemy.orm import Session, sessionmaker

from store import db

__all__ = ["commit_together", "GroupStats", "queued", "stats"]

Work = Callable[[Session], None]


class GroupStats:
    """How the groups went (for tests and benchmarks): groups committed, members written."""

    def __init__(self) -> None:
        self.groups = 0
        self.members = 0
        self.largest = 0
        self.split = 0  # groups that failed and were written member by member


class _Member:
    __slots__ = ("work", "done", "committed", "error")

    def __init__(self, work: Work) -> None:
        self.work = work
        self.done = False
        self.committed = False
        self.error: BaseException | None = None


class _Group:
    """The queue of one database's writers in this process."""

    def __init__(self) -> None:
        self.turn = threading.Condition()
        self.queue: list[_Member] = []
        self.leading = False
        self.stats = GroupStats()

    def run(self, sessions: sessionmaker[Session], work: Work, limit: int) -> None:
        member = _Member(work)
        with self.turn:
            self.queue.append(member)
        while True:
            with self.turn:
                while self.leading and not member.done:
                    self.turn.wait()
                if member.done:
                    break
                # this caller leads; a queue longer than the limit may leave it for its next turn
                self.leading = True
                batch, self.queue = self.queue[:limit], self.queue[limit:]
            try:
                self._write(sessions, batch)
            finally:
                with self.turn:
                    for m in batch:
                        if not m.committed and m.error is None:  # the leader's thread was stopped
                            m.error = RuntimeError("the records were not committed: the thread writing them stopped")
                        m.done = True
                    self.leading = False
                    self.turn.notify_all()
        if member.error is not None:
            raise member.error

    def _write(self, sessions: sessionmaker[Session], batch: list[_Member]) -> None:
        try:
            with db.transaction(sessions, pipelined=True) as s:
                for m in batch:
                    m.work(s)
            for m in batch:
                m.committed = True
        except Exception as exc:  # handed to the member(s) it belongs to
            if len(batch) == 1:
                batch[0].error = exc
                return
            self.stats.split += 1
            for m in batch:
                try:
                    with db.transaction(sessions, pipelined=True) as s:
                        m.work(s)
                    m.committed = True
                except Exception as own:
                    m.error = own
        self.stats.groups += 1
        self.stats.members += len(batch)
        self.stats.largest = max(self.stats.largest, len(batch))


_GROUPS: weakref.WeakKeyDictionary[Any, _Group] = weakref.WeakKeyDictionary()
_GROUPS_LOCK = threading.Lock()
# A forked worker starts with no queue: a group caught mid-write in the parent never ends here.
os.register_at_fork(after_in_child=_GROUPS.clear)

# A group larger than this waits for the next COMMIT: one transaction's rows and statement
# stay small, and a failed group costs at most this many solo rewrites.
GROUP_LIMIT = 64


def _group(engine: Any) -> _Group:
    with _GROUPS_LOCK:
        group = _GROUPS.get(engine)
        if group is None:
            group = _GROUPS[engine] = _Group()
        return group


def commit_together(sessions: sessionmaker[Session], work: Work) -> None:
    """Run ``work(session)`` in a pipelined write transaction (``store.db.transaction``) shared
    with the other callers queued for the same database; return once it is committed, or raise
    the error of this caller's own work."""
    _group(sessions.kw["bind"]).run(sessions, work, GROUP_LIMIT)


def queued(engine: Any) -> int:
    """How many callers wait for the write under way on ``engine`` in this process."""
    group = _group(engine)
    with group.turn:
        return len(group.queue)


def stats(engine: Any) -> GroupStats:
    """The group statistics of ``engine`` in this process."""
    return _group(engine).stats
