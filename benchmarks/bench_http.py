"""OCSP over HTTP and in process: answers per second, p50 / p99 latency.

* HTTP: a real `eseal serve` (gunicorn, 2 workers) on 127.0.0.1 over a home on SQLite (and
  PostgreSQL when ESEAL_TEST_DATABASE_URL is set); the load comes from a second process
  holding CONNECTIONS keep-alive http.client connections (one thread each), for
  SECONDS seconds: nonce-less requests for a set of good certificates (pre-signed answers,
  the common case) and requests with a nonce (signed live). Reported in extra_info:
  rate, p50 and p99 in ms, errors.
* In process: ``ca.ocsp_cache.OCSPCache.respond`` for a pre-signed answer next to a live one
  (same request with a nonce), one core.

Target (DESIGN.md): OCSP >= 3,000 answers/s. Run ``python -m pytest benchmarks/bench_http.py
--benchmark-only -s``; skipped under --benchmark-disable (``make test``): it starts servers.
"""
from __future__ import annotations

import http.client
import multiprocessing
import os
import socket
import subprocess
import threading
import time
from contextlib import ExitStack
from pathlib import Path

import pytest
from asn1crypto import core
from asn1crypto import ocsp as aocsp
from asn1crypto import pem

from api.testing import free_port, serving
from ca import ocsp, service
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.home import Home

PASSPHRASE = "bench passphrase 1234"
SECONDS = 5.0
CONNECTIONS = 8
CERTIFICATES = 50


@pytest.fixture(autouse=True)
def _skip_when_disabled(request):
    if request.config.getoption("benchmark_disable", False):
        pytest.skip("benchmark disabled (--benchmark-disable): starts servers and loads them for seconds")


def _csr(tmp: Path) -> bytes:
    subprocess.run(["openssl", "genpkey", "-algorithm", "SM2", "-out", str(tmp / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run(["openssl", "req", "-new", "-key", str(tmp / "k.pem"), "-sm3", "-sigopt",
                    "distid:1234567812345678", "-subj", "/C=CN/O=bench/CN=bench", "-out", str(tmp / "r.pem")],
                   check=True, capture_output=True)
    return (tmp / "r.pem").read_bytes()


def _region(folder: Path, database_url: str | None, base_url: str) -> tuple[list[bytes], list[bytes]]:
    """A region with CERTIFICATES device certificates; (nonce-less requests, requests with a nonce)."""
    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.create(folder / "home", database_url=database_url)
        ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="bench", passphrase=PASSPHRASE).store
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base_url)
        csr = _csr(folder)
        serials = [int(service.issue_certificate(home, ks, profile="device", csr_pem=csr)[0], 16)
                   for _ in range(CERTIFICATES)]
        issuer = next(pem.unarmor(service.ca_chain(home), multiple=True))[2]
        home.close()
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    plain, nonced = [], []
    for i, serial in enumerate(serials):
        cid = ocsp.cert_id_for(issuer, serial).raw
        plain.append(aocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cid}]}}).dump())
        nonced.append(aocsp.OCSPRequest({"tbs_request": {
            "request_list": [{"req_cert": cid}],
            "request_extensions": [{"extn_id": "nonce", "critical": False,
                                    "extn_value": core.OctetString(i.to_bytes(16, "big"))}]}}).dump())
    return plain, nonced


def _load(port: int, requests: list[bytes], seconds: float, connections: int, out: multiprocessing.Queue) -> None:
    """Run in a second process: `connections` keep-alive clients POST requests round robin."""
    latencies: list[list[float]] = [[] for _ in range(connections)]
    errors = [0] * connections
    stop = time.perf_counter() + seconds

    def connect() -> http.client.HTTPConnection:
        # http.client sends the headers and the body in two writes: without TCP_NODELAY,
        # Nagle's algorithm and delayed ACKs add ~40 ms to every POST (real OCSP clients set it)
        conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        conn.connect()
        conn.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return conn

    def client(k: int) -> None:
        conn = connect()
        headers = {"Content-Type": "application/ocsp-request"}
        i = k
        mine = latencies[k]
        while time.perf_counter() < stop:
            body = requests[i % len(requests)]
            i += 1
            t0 = time.perf_counter()
            try:
                conn.request("POST", "/ocsp", body=body, headers=headers)
                r = conn.getresponse()
                data = r.read()
                if r.status != 200 or data[:1] != b"\x30":
                    errors[k] += 1
            except (OSError, http.client.HTTPException):
                errors[k] += 1
                conn.close()
                conn = connect()
                continue
            mine.append(time.perf_counter() - t0)
        conn.close()

    threads = [threading.Thread(target=client, args=(k,)) for k in range(connections)]
    start = time.perf_counter()
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    elapsed = time.perf_counter() - start
    out.put(([x for lat in latencies for x in lat], sum(errors), elapsed))


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"bench-http-{request.param}")
    port = free_port()
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            base = os.environ.get("ESEAL_TEST_DATABASE_URL")
            if not base:
                pytest.skip("ESEAL_TEST_DATABASE_URL not set")
            from store.testing import pg_schema_url

            url = stack.enter_context(pg_schema_url(base))
        plain, nonced = _region(folder, url, f"http://127.0.0.1:{port}")
        # all the load comes from one address: no rate limit (api/ratelimit.py)
        stack.enter_context(serving(folder / "home", port, passphrase=PASSPHRASE,
                                    env={"ESEAL_API_RATE_LIMIT_PER_SECOND": "0"}))
        yield port, plain, nonced, request.param


def _percentile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else float("nan")


def _run_load(benchmark, port: int, requests: list[bytes], label: str) -> None:
    ctx = multiprocessing.get_context("spawn")
    # warm every worker's cache (and connection pools) before measuring
    warm = ctx.Queue()
    p = ctx.Process(target=_load, args=(port, requests, 1.0, CONNECTIONS, warm))
    p.start()
    warm.get()
    p.join()
    result: dict[str, object] = {}

    def measure() -> None:
        q = ctx.Queue()
        proc = ctx.Process(target=_load, args=(port, requests, SECONDS, CONNECTIONS, q))
        proc.start()
        result["data"] = q.get()
        proc.join()

    benchmark.pedantic(measure, rounds=1, iterations=1)
    latencies, errors, elapsed = result["data"]  # type: ignore[misc]
    rate = len(latencies) / elapsed
    p50, p99 = _percentile(latencies, 0.5) * 1e3, _percentile(latencies, 0.99) * 1e3
    benchmark.extra_info.update({"answers_per_s": round(rate), "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                                 "errors": errors, "connections": CONNECTIONS, "workers": 2,
                                 "seconds": SECONDS})
    print(f"\nOCSP over HTTP ({label}): {rate:,.0f} answers/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"{errors} errors ({CONNECTIONS} keep-alive connections, 2 workers)")
    assert errors == 0 and latencies


def test_http_ocsp_presigned(benchmark, served):
    port, plain, _, db = served
    benchmark.group = f"ocsp-http-{db}"
    _run_load(benchmark, port, plain, f"{db}, pre-signed, no nonce")


def test_http_ocsp_live_with_nonce(benchmark, served):
    port, _, nonced, db = served
    benchmark.group = f"ocsp-http-{db}"
    _run_load(benchmark, port, nonced, f"{db}, live, nonce")


@pytest.fixture(scope="module")
def in_process(tmp_path_factory):
    from ca.ocsp_cache import OCSPCache

    folder = tmp_path_factory.mktemp("bench-inproc")
    plain, nonced = _region(folder, None, "http://127.0.0.1:8080")
    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    home = Home.open(folder / "home")
    if saved is not None:
        os.environ["ESEAL_DATABASE_URL"] = saved
    ks = SoftKeyStore.from_home(home)
    ks.unlock_with_passphrase(PASSPHRASE)
    cache = OCSPCache(home, ks)
    for r in plain:
        cache.respond(r)
    yield cache, plain, nonced
    home.close()


def _cycle(requests: list[bytes]):
    state = {"i": 0}

    def next_request() -> bytes:
        state["i"] += 1
        return requests[state["i"] % len(requests)]

    return next_request


def test_inprocess_ocsp_presigned(benchmark, in_process):
    cache, plain, _ = in_process
    benchmark.group = "ocsp-in-process"
    nxt = _cycle(plain)
    der = benchmark(lambda: cache.respond(nxt()))
    assert der[:1] == b"\x30" and cache.stats.hits > 0
    benchmark.extra_info["answers_per_s"] = round(1 / benchmark.stats.stats.mean) if benchmark.stats else None


def test_inprocess_ocsp_live(benchmark, in_process):
    cache, _, nonced = in_process
    benchmark.group = "ocsp-in-process"
    nxt = _cycle(nonced)
    der = benchmark(lambda: cache.respond(nxt()))
    assert aocsp.OCSPResponse.load(der).nonce_value is not None
    benchmark.extra_info["answers_per_s"] = round(1 / benchmark.stats.stats.mean) if benchmark.stats else None
