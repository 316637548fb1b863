"""Helpers for tests, benchmarks and the soak that run `eseal serve` on 127.0.0.1."""
from __future__ import annotations

import http.client
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import NamedTuple

__all__ = ["ESEAL", "ProcessCpu", "free_port", "server_cpu", "server_pids", "serving", "wait_ready"]

ESEAL = str(Path(sys.executable).with_name("eseal"))  # the console script of this environment


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, *, timeout: float = 120.0, log: Path | None = None) -> None:
    """Until GET /ready answers 200; RuntimeError when the server exits or the time runs out
    (with the end of ``log``, the server's output, when given)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"eseal serve exited with {proc.returncode}{_tail(log)}")
        try:
            conn = http.client.HTTPConnection("127.0.0.1", port, timeout=2)
            try:
                conn.request("GET", "/ready")
                if conn.getresponse().status == 200:
                    return
            finally:
                conn.close()
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"eseal serve did not become ready in {timeout:.0f} s{_tail(log)}")


def _tail(log: Path | None) -> str:
    if log is None or not log.is_file():
        return ""
    return ":\n" + log.read_text(errors="replace")[-4000:]


@contextmanager
def serving(home: Path, port: int, *, passphrase: str | None = None, workers: int = 2, threads: int | None = None,
            log: Path | None = None, env: Mapping[str, str] | None = None,
            args: tuple[str, ...] = ()) -> Iterator[subprocess.Popen]:
    """`eseal serve` of ``home`` on 127.0.0.1:``port``: ready (GET /ready answers 200) when
    the block starts, stopped when it ends (SIGTERM, gunicorn's graceful stop; its process
    group killed if it has not stopped in 30 s). The server uses the home's own database
    (ESEAL_DATABASE_URL is taken out of its environment); ``passphrase`` unlocks its key
    store; ``env`` adds variables; its output goes to ``log``, or nowhere."""
    environment = {**os.environ, **(env or {})}
    environment.pop("ESEAL_DATABASE_URL", None)
    if passphrase is not None:
        environment["ESEAL_PASSPHRASE"] = passphrase
    command = [ESEAL, "serve", "--home", str(home), "--port", str(port), "--workers", str(workers), *args]
    if threads is not None:
        command += ["--threads", str(threads)]
    with open(log if log is not None else os.devnull, "wb") as out:
        proc = subprocess.Popen(command, env=environment, stdout=out, stderr=subprocess.STDOUT,
                                start_new_session=True)
    try:
        wait_ready(port, proc, log=log)
        yield proc
    finally:
        _stop(proc)


def _stop(proc: subprocess.Popen) -> None:
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(30)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)  # the master and its workers
        proc.wait(10)


def server_pids(root: int) -> list[int]:
    """``root`` (the gunicorn master) and every process below it, from /proc."""
    pids, todo = [], [root]
    while todo:
        pid = todo.pop()
        pids.append(pid)
        try:
            for task in Path(f"/proc/{pid}/task").iterdir():
                todo.extend(int(c) for c in (task / "children").read_text().split())
        except (FileNotFoundError, ProcessLookupError):
            continue
    return pids


class ProcessCpu(NamedTuple):
    """CPU seconds spent so far, in user space and in the kernel."""

    user: float
    system: float

    def __sub__(self, other: tuple) -> ProcessCpu:  # type: ignore[override]
        return ProcessCpu(self.user - other[0], self.system - other[1])


_TICKS = os.sysconf("SC_CLK_TCK") if hasattr(os, "sysconf") else 100


def server_cpu(root: int) -> ProcessCpu:
    """CPU used by ``root`` and the processes below it that are alive now (/proc/PID/stat:
    utime and stime, the 14th and 15th fields). Sampled before and after a load, the
    difference is what the server spent on it: a benchmark divides it by the requests."""
    user = system = 0
    for pid in server_pids(root):
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        user, system = user + int(fields[11]), system + int(fields[12])
    return ProcessCpu(user / _TICKS, system / _TICKS)
