"""Helpers for tests, benchmarks and the soak that run `eseal serve` on 127.0.0.1."""
from __future__ import annotations

import http.client
import socket
import subprocess
import time

__all__ = ["free_port", "wait_ready"]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on now."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_ready(port: int, proc: subprocess.Popen, *, timeout: float = 120.0) -> None:
    """Until GET /ready answers 200; RuntimeError when the server exits or the time runs out."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"eseal serve exited with {proc.returncode}")
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
    raise RuntimeError(f"eseal serve did not become ready in {timeout:.0f} s")
