"""A timestamped sealing on PostgreSQL costs few round trips (store.db's pipelined transaction).

Every round trip is about 0.1 ms here, and those of the sealing's write transaction happen
while it holds the audit head's row lock, which every sealing of the region waits for. The
database is reached through a TCP forwarder that counts the client's turns: each time the
client sends after the server has answered, on any of its connections. Measured when this
test was written (November 2026): 24 turns before the transaction was pipelined (its
statements one by one), 11 once pipelined with the chains written at its end, 9 now that the
key rows' re-reads are compared at its end too (they travel with the chains' locks). The
bound is 9 and a margin of one.
"""
from __future__ import annotations

import socket
import threading

import pytest
from sqlalchemy.engine import make_url

from seal import sealing
from store.home import Home
from store.testing import pg_schema_url
from tests.faults.seal_fast_worker import document
from tests.faults.tcp_proxy import TcpProxy
from tests.test_faults_kill_seal import _region

pytestmark = pytest.mark.postgres


class TurnCountingProxy(TcpProxy):
    """TcpProxy that counts, per connection, the client's sends that follow the server's answer."""

    def __init__(self, target: tuple[str, int]) -> None:
        super().__init__(target)
        self.turns = 0
        self._last: dict[int, str] = {}
        self._count_lock = threading.Lock()

    def _seen(self, src: socket.socket, dst: socket.socket, data: bytes) -> None:
        try:  # the upstream socket is the one connected to the database's address
            sender = "server" if src.getpeername()[1] == self.target[1] else "client"
        except OSError:
            return
        pair = id(src) if sender == "client" else id(dst)  # the client's socket names the connection
        with self._count_lock:
            if sender == "client" and self._last.get(pair) != "client":
                self.turns += 1
            self._last[pair] = sender


def test_a_timestamped_sealing_takes_few_round_trips(pg_url, tmp_path, monkeypatch) -> None:
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    with pg_schema_url(pg_url) as url:
        parsed = make_url(url)
        proxy = TurnCountingProxy((parsed.host or "127.0.0.1", parsed.port or 5432)).start()
        home = Home.create(tmp_path / "home", database_url=parsed.set(host="127.0.0.1", port=proxy.port)
                           .render_as_string(hide_password=False))
        try:
            _, ks, es_id = _region(home)
            data = document()
            for _ in range(2):  # warm: statements prepared, the TSA's identity and seal state cached
                sealing.seal_document(home, ks, sealing.authorise(home, ks, es_id, actor="clerk"), data,
                                      x_mm=120, y_mm=200)
            before = proxy.turns
            sealed = sealing.seal_document(home, ks, sealing.authorise(home, ks, es_id, actor="clerk"), data,
                                           x_mm=120, y_mm=200)
            turns = proxy.turns - before
        finally:
            home.close()
            proxy.stop()
    assert sealed.data[:2] == b"PK"
    assert 4 <= turns <= 10, f"{turns} round trips for one timestamped sealing"
