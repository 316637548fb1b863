"""gunicorn's gthread worker, with keep-alive connections spread evenly over the workers.

Every worker polls the one listening socket, and the first to wake takes the connection.
Clients that open a few long-lived connections at once (a reverse proxy's upstream pool, a
bank's batch verifier, wrk) then often land on one worker: measured with 8 connections and
2 workers, all 8 went to one worker in 2 runs of 6, leaving the other core idle for as long
as the connections lived. Here each worker publishes how many connections it holds on a
board in shared memory, and takes a new one only while it holds no more than the least
loaded live worker; a worker that declines looks again every 50 ms, so no connection waits
long for the others. A worker that stopped publishing for 3 s (hung, or gone) is ignored.
"""
from __future__ import annotations

import multiprocessing
import os
import time
from typing import Any

from gunicorn.workers.gthread import ThreadWorker

# per slot: pid, connections held, last publication (time.monotonic: one clock for all processes)
_FIELDS = 3
_STALE_SECONDS = 3.0
_RECHECK_SECONDS = 0.05


class Board:
    """Connection counts of the workers, in memory shared by the processes forked after it."""

    def __init__(self, slots: int) -> None:
        self._cells = multiprocessing.RawArray("d", slots * _FIELDS)
        self._lock = multiprocessing.Lock()
        self.slots = slots

    def claim(self, pid: int) -> int:
        """A slot for this worker: a free one, or one whose worker is gone."""
        with self._lock:
            now = time.monotonic()
            for slot in range(self.slots):
                base = slot * _FIELDS
                holder = int(self._cells[base])
                if holder == 0 or holder == pid or now - self._cells[base + 2] > _STALE_SECONDS \
                        and not _alive(holder):
                    self._cells[base:base + _FIELDS] = [float(pid), 0.0, now]
                    return slot
        raise RuntimeError(f"no free slot on the connection board ({self.slots} slots)")

    def may_accept(self, slot: int, held: int) -> bool:
        """Publish ``held`` for ``slot``; True when no live worker holds fewer connections."""
        cells, now = self._cells, time.monotonic()
        mine = slot * _FIELDS
        cells[mine + 1], cells[mine + 2] = float(held), now
        for base in range(0, self.slots * _FIELDS, _FIELDS):
            if base != mine and cells[base] and now - cells[base + 2] <= _STALE_SECONDS \
                    and cells[base + 1] < held:
                return False
        return True


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


_BOARD: Board | None = None


def prepare_board(workers: int) -> None:
    """Make the board in the master, before gunicorn forks the workers (room for restarts)."""
    global _BOARD
    _BOARD = Board(2 * workers + 4)


class BalancedThreadWorker(ThreadWorker):
    """gthread whose accept gate also asks the board (see the module's docstring).

    gunicorn's loop accepts while ``nr_conns < worker_connections``; reading the limit as
    ``nr_conns`` while another worker holds fewer connections closes the gate."""

    _slot: int | None = None

    @property
    def worker_connections(self) -> int:  # type: ignore[override]
        limit = self._limit
        if self._slot is None or _BOARD is None or self.nr_conns >= limit:
            return limit
        return limit if _BOARD.may_accept(self._slot, self.nr_conns) else self.nr_conns

    @worker_connections.setter
    def worker_connections(self, value: int) -> None:
        self._limit = value

    def init_process(self) -> None:
        if _BOARD is not None:
            self._slot = _BOARD.claim(os.getpid())
        super().init_process()

    def wait_for_and_dispatch_events(self, timeout: float) -> Any:
        if not self._accepting and self.nr_conns < self._limit:
            timeout = min(timeout, _RECHECK_SECONDS)  # declined for balance: look again soon
        return super().wait_for_and_dispatch_events(timeout)
