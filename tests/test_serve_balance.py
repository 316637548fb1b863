"""Keep-alive connections are spread over the gunicorn workers (api/worker.py).

The served case starts a real `eseal serve --demo --workers 2` and opens 8 keep-alive
connections at once, 6 times over: with gunicorn's own gthread worker all 8 landed on one
worker in 2 runs of 6; here each worker must hold 4. The Board cases check the accept rule
itself: a worker takes a connection only while no live worker holds fewer, workers that
stopped publishing are ignored, and the slot of a dead worker is reused.
"""
from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from api import worker
from api.testing import free_port, server_pids, serving


def test_a_worker_declines_while_another_holds_fewer_connections() -> None:
    board = worker.Board(4)
    a, b = board.claim(1001), board.claim(os.getpid())
    assert a != b
    assert board.may_accept(a, 0) and board.may_accept(b, 0)      # equal: both may take the next
    assert board.may_accept(a, 1) is False                        # b holds 0: a declines
    assert board.may_accept(b, 0) is True
    assert board.may_accept(b, 1) and board.may_accept(a, 1)      # even again
    assert board.may_accept(b, 2) is False


def test_a_silent_worker_is_ignored_and_its_slot_reused(monkeypatch) -> None:
    board = worker.Board(2)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    gone, me = board.claim(dead.pid), board.claim(os.getpid())
    assert board.may_accept(gone, 0) and board.may_accept(me, 3) is False   # the other holds 0
    later = time.monotonic() + worker._STALE_SECONDS + 1
    monkeypatch.setattr(worker.time, "monotonic", lambda: later)
    assert board.may_accept(me, 3) is True                        # silent for > 3 s: not counted
    assert board.claim(4242) == gone                              # its worker is gone: slot reused
    with pytest.raises(RuntimeError, match="no free slot"):
        board.claim(4343)


_ESTABLISHED, _LISTEN = "01", "0A"


def _connection_inodes(port: int, *, established_only: bool) -> set[str]:
    """Socket inodes of TCP connections whose local port is ``port`` (established ones, or
    any state but listening: a connection the client closed stays until its worker closes it)."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        if not os.path.exists(table):
            continue
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            state = fields[3]
            if int(fields[1].rsplit(":", 1)[1], 16) == port and state != _LISTEN \
                    and (state == _ESTABLISHED or not established_only):
                inodes.add(fields[9])
    return inodes


def _connections_per_worker(master: int, port: int, *, established_only: bool = True) -> Counter[int]:
    inodes = _connection_inodes(port, established_only=established_only)
    held: Counter[int] = Counter()
    for pid in server_pids(master)[1:]:  # the workers (and anything they started)
        for fd in Path(f"/proc/{pid}/fd").iterdir():
            try:
                target = os.readlink(fd)
            except OSError:
                continue
            if target.startswith("socket:[") and target[8:-1] in inodes:
                held[pid] += 1
    return held


def _wait_until_workers_hold_none(master: int, port: int) -> None:
    deadline = time.monotonic() + 10
    while sum(_connections_per_worker(master, port, established_only=False).values()):
        assert time.monotonic() < deadline, "the workers still hold connections the client closed"
        time.sleep(0.02)


def test_keep_alive_connections_are_spread_evenly(tmp_path) -> None:
    if not Path("/proc/self/task").is_dir():
        pytest.skip("needs Linux /proc to see which worker holds a connection")
    port = free_port()
    with serving(tmp_path / "home", port, args=("--demo",), env={"ESEAL_API_RATE_LIMIT_PER_SECOND": "0"},
                 log=tmp_path / "serve.log") as proc:
        for _ in range(6):
            _wait_until_workers_hold_none(proc.pid, port)   # earlier connections closed on both sides
            sockets = [socket.create_connection(("127.0.0.1", port), timeout=30) for _ in range(8)]
            try:
                for s in sockets:
                    s.sendall(b"GET /health HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
                for s in sockets:
                    assert s.recv(65536).startswith(b"HTTP/1.1 200")   # answered, and kept alive
                held = _connections_per_worker(proc.pid, port)
                assert sorted(held.values()) == [4, 4], held
            finally:
                for s in sockets:
                    s.close()
