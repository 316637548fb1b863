"""Two transactions at the same moment, made to meet in a known order on PostgreSQL."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from sqlalchemy import Engine, text
from sqlalchemy.orm import Session


def backend_pid(session: Session) -> int:
    return session.scalar(text("SELECT pg_backend_pid()"))


def blocked_behind(engine: Engine, pid: int) -> None:
    """Return once some other connection waits for a lock that connection ``pid`` holds."""
    for _ in range(1200):
        with engine.connect() as conn:
            if conn.scalar(text("SELECT count(*) FROM pg_stat_activity WHERE :pid = ANY(pg_blocking_pids(pid))"),
                           {"pid": pid}):
                return
        time.sleep(0.05)
    raise AssertionError("the other transaction never waited for the lock")


def meanwhile(call: Callable[[], Any], session: Session) -> Callable[[], Any]:
    """Start ``call`` in a thread and return once it waits for a lock ``session``'s transaction
    holds; the returned function joins the thread and gives what it returned or raised."""
    outcome: list[Any] = []

    def run() -> None:
        try:
            outcome.append(call())
        except BaseException as exc:  # noqa: BLE001 - handed to the caller
            outcome.append(exc)

    thread = threading.Thread(target=run)
    thread.start()
    blocked_behind(session.get_bind(), backend_pid(session))

    def result() -> Any:
        thread.join()
        return outcome[0]
    return result
