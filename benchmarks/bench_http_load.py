"""Sealing, verification and OCSP over HTTP under load, next to the same work in process.

Issue #7's benchmark: a real `eseal serve --workers 2` (gunicorn) on 127.0.0.1 over a home on
SQLite and on PostgreSQL (ESEAL_TEST_DATABASE_URL), loaded for SECONDS seconds by `wrk` (a
second process, in C: a Python client on the same two shared cores would take the CPU the
server needs) over CONNECTIONS keep-alive connections. Each HTTP case reports requests/s,
p50 and p99 latency and errors (non-200 answers, socket errors, and for verify any report
that is not PASSED) in extra_info and on stdout, with the CPU the server's processes spent
per request (``server_cpu_ms``, of which ``server_system_ms`` in the kernel) and how many of the
machine's cores the server and wrk kept busy (``cores_busy``; PostgreSQL's own processes are
not counted):

* ``seal``: ``POST /api/v1/seals/<es_id>/sign`` with the demo agency's token (role agency),
  JSON ``{"document": base64(4 KB of random bytes), "cms": true}``: raw data sealed as a
  detached CMS SignedData (SM2/SM3) answered as JSON base64.
* ``verify``: ``POST /api/v1/verify`` (public) with a sealed e-license OFD as
  ``application/ofd``: a business licence rendered by seal.license (~4 KB of OFD) sealed
  with the demo seal through ``seal.sealing.seal_document`` (what the API's sign endpoint
  does). Sealed it is ~46 KB: the demo seal's picture (a ~15 KB palette PNG) travels in
  Seal.esl and again inside SignedValue.dat. Every report must give the indication of the
  first one (printed): PASSED, with the seal's and the license's status read from this home
  and the signer's revocation from its CA records (verify/registry.py).
* ``ocsp``: ``POST /ocsp`` for a pre-signed answer (the fast path), as a reference.

The in-process cases time the same seal (``seal.sealing.authorise`` + ``seal_document``)
and the same verification (``verify.service.shared_verifier(...).verify_bytes``) on the same
home in this process, one core: the HTTP figure over the in-process one is what the HTTP
layer and the second worker add or cost. The ``flask`` cases send the same requests through
the app in this process (Flask test client: routing, token check, JSON and base64, the
problem layer, no sockets): their rate next to the direct call is the cost of the HTTP
layer itself. The machine is shared: compare ratios.

Targets (issue #7): >= 1,000 requests/s each, p99 < 25 ms. Rate limits are switched off in
the served app (``ESEAL_API_RATE_LIMIT_PER_SECOND=0``): all the load comes from one address.

Run ``python -m pytest benchmarks/bench_http_load.py --benchmark-only -s`` (threads per worker:
``ESEAL_BENCH_THREADS``, default 4 as ``eseal serve``); skipped under
--benchmark-disable (``make test``) and when `wrk` is not installed (``make sysdeps``).
"""
from __future__ import annotations

import base64
import json
import os
import re
import resource
import shutil
import subprocess
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.testing import free_port, server_cpu, serving

PASSPHRASE = "bench passphrase 1234"
SECONDS = 5
CONNECTIONS = 8
THREADS = os.environ.get("ESEAL_BENCH_THREADS", "4")  # threads per worker: `eseal serve --threads`
DOCUMENT = os.urandom(4096)
WRK = shutil.which("wrk")
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园南区某某路1号",
    "scope": "软件开发；信息技术咨询服务；数据处理和存储支持服务；计算机系统服务；人工智能应用软件开发。",
}

# One request, repeated; `response` counts answers that are not what the case expects (wrk's
# own count covers only statuses >= 400 and socket errors); `done` prints one JSON line.
_LUA = r"""
wrk.method = "POST"
wrk.headers["Content-Type"] = "%(ctype)s"
%(auth)s
local f = assert(io.open("%(body)s", "rb")); wrk.body = f:read("*a"); f:close()
bad = 0
local threads = {}
function setup(thread) table.insert(threads, thread) end
function response(status, headers, body)
  if status ~= 200 %(extra)s then bad = bad + 1 end
end
function done(summary, latency, requests)
  local wrong = 0
  for _, t in ipairs(threads) do wrong = wrong + t:get("bad") end
  local e = summary.errors
  io.write(string.format('RESULT {"requests": %%d, "duration_us": %%d, "p50_us": %%d, "p99_us": %%d, ' ..
    '"socket_errors": %%d, "wrong": %%d}\n', summary.requests, summary.duration, latency:percentile(50),
    latency:percentile(99), e.connect + e.read + e.write + e.timeout, wrong))
end
"""


@dataclass
class Served:
    db: str
    port: int
    home: Path
    folder: Path
    es_id: str
    agency: str
    token: str
    sealed_ofd: bytes
    ocsp_request: bytes
    server_pid: int = 0
    indication: str = ""     # what the server's first verification of sealed_ofd said


@pytest.fixture(autouse=True)
def _skip_when_disabled(request):
    if request.config.getoption("benchmark_disable", False):
        pytest.skip("benchmark disabled (--benchmark-disable): starts servers and loads them for seconds")
    if WRK is None:
        pytest.skip("wrk is not installed (make sysdeps, or apt-get install wrk)")


def _region(folder: Path, database_url: str | None, base_url: str) -> dict:
    """Home with a region, the demo agency and seal, an agency token, a sealed e-license."""
    from asn1crypto import ocsp as aocsp
    from asn1crypto import pem

    from ca import ocsp, service
    from keystore.soft import SoftKeyStore
    from seal import sealing
    from seal.demo import create_demo_agency
    from seal.license import service as licenses
    from store.db import make_sessionmaker
    from store.home import Home
    from store.tokens import create_token

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.create(folder / "home", database_url=database_url)
        sessions = make_sessionmaker(home.engine)
        ks = SoftKeyStore.initialise(sessions, actor="bench", passphrase=PASSPHRASE).store
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base_url)
        agency = create_demo_agency(home, ks)
        token, _ = create_token(sessions, role="agency", agency=agency.agency, label="bench")
        # the license rendered (~4 KB of OFD), then sealed the way the API seals an OFD: the
        # signature carries the certificate chain (seal.license's own sealer leaves it out,
        # and a verifier without the issuing CA finds no path)
        _, license_ofd = licenses.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=agency.agency,
                                                actor="bench")
        grant = sealing.authorise(home, ks, agency.es_id, agency=agency.agency, actor="bench")
        ofd = sealing.seal_document(home, ks, grant, license_ofd).data
        issuer = next(pem.unarmor(service.ca_chain(home), multiple=True))[2]
        cid = ocsp.cert_id_for(issuer, int(agency.signer_serial, 16)).raw
        ocsp_request = aocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cid}]}}).dump()
        home.close()
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    return {"es_id": agency.es_id, "agency": agency.agency, "token": token, "sealed_ofd": ofd,
            "ocsp_request": ocsp_request}


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def served(request, tmp_path_factory):
    folder = tmp_path_factory.mktemp(f"bench-http-load-{request.param}")
    port = free_port()
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            base = os.environ.get("ESEAL_TEST_DATABASE_URL")
            if not base:
                pytest.skip("ESEAL_TEST_DATABASE_URL not set")
            from store.testing import pg_schema_url

            url = stack.enter_context(pg_schema_url(base))
        made = _region(folder, url, f"http://127.0.0.1:{port}")
        server = stack.enter_context(serving(folder / "home", port, passphrase=PASSPHRASE, threads=int(THREADS),
                                             env={"ESEAL_API_RATE_LIMIT_PER_SECOND": "0"}, log=folder / "serve.log"))
        served = Served(request.param, port, folder / "home", folder, **made, server_pid=server.pid)
        served.indication = _one(served, "/api/v1/verify", served.sealed_ofd, "application/ofd")
        assert served.indication == "PASSED", "the benchmark's e-license must verify: a failure is no figure"
        yield served


def _wrk(served: Served, name: str, path: str, body: bytes, ctype: str, *, token: bool = False,
         extra: str = "", seconds: float = SECONDS) -> dict:
    body_file = served.folder / f"{name}.body"
    body_file.write_bytes(body)
    script = served.folder / f"{name}.lua"
    auth = f'wrk.headers["Authorization"] = "Bearer {served.token}"' if token else ""
    script.write_text(_LUA % {"ctype": ctype, "auth": auth, "body": body_file, "extra": extra})
    before, waited, started = server_cpu(served.server_pid), _children_cpu(), time.monotonic()
    run = subprocess.run([WRK, "-t1", f"-c{CONNECTIONS}", f"-d{seconds}s", "--timeout", "10s", "-s", str(script),
                          f"http://127.0.0.1:{served.port}{path}"], capture_output=True, text=True,
                         timeout=seconds + 60, check=True)
    spent, elapsed = server_cpu(served.server_pid) - before, time.monotonic() - started
    found = re.search(r"^RESULT (\{.*\})$", run.stdout, re.M)
    assert found, run.stdout
    result = json.loads(found.group(1))
    wrk_cpu = _children_cpu() - waited  # wrk is the one child of this process that ended meanwhile
    result["server_cpu_s"], result["server_system_s"] = spent.user + spent.system, spent.system
    result["cores_busy"] = (spent.user + spent.system + wrk_cpu) / elapsed
    return result


def _children_cpu() -> float:
    """CPU seconds of this process's children that have ended (and been waited for)."""
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _report(benchmark, served: Served, label: str, result: dict) -> None:
    rate = result["requests"] / (result["duration_us"] / 1e6)
    errors = result["socket_errors"] + result["wrong"]
    p50, p99 = result["p50_us"] / 1e3, result["p99_us"] / 1e3
    per_request = 1e3 / max(1, result["requests"])
    cpu_ms, system_ms = result["server_cpu_s"] * per_request, result["server_system_s"] * per_request
    benchmark.extra_info.update({"requests_per_s": round(rate), "p50_ms": round(p50, 2), "p99_ms": round(p99, 2),
                                 "errors": errors, "connections": CONNECTIONS, "workers": 2, "seconds": SECONDS,
                                 "server_cpu_ms": round(cpu_ms, 3), "server_system_ms": round(system_ms, 3),
                                 "cores_busy": round(result["cores_busy"], 2)})
    what = f"{label} ({served.indication})" if label == "verify" else label
    print(f"\n{what} over HTTP ({served.db}): {rate:,.0f} requests/s, p50 {p50:.2f} ms, p99 {p99:.2f} ms, "
          f"{errors} errors ({CONNECTIONS} keep-alive connections, 2 workers); server CPU {cpu_ms:.2f} ms a request "
          f"({system_ms:.2f} in the kernel), {result['cores_busy']:.2f} cores busy")
    assert errors == 0 and result["requests"] > 0


def _one(served: Served, path: str, body: bytes, ctype: str, *, token: bool = False, **_: object) -> str:
    """One request, alone: the first verification fetches OCSP answers and CRLs from this same
    server, which it cannot do while every server thread is busy with a verification."""
    import http.client

    headers = {"Content-Type": ctype, **({"Authorization": f"Bearer {served.token}"} if token else {})}
    conn = http.client.HTTPConnection("127.0.0.1", served.port, timeout=120)
    conn.request("POST", path, body=body, headers=headers)
    response = conn.getresponse()
    response.read()
    conn.close()
    assert response.status == 200, response.status
    return response.headers.get("X-Eseal-Indication", "")


def _load(benchmark, served: Served, label: str, **kwargs) -> None:
    for _ in range(4):  # each worker answers some: revocation answers land in the shared cache
        _one(served, **kwargs)
    _wrk(served, label, seconds=1, **kwargs)  # warm both workers (caches, pools)
    result: dict = {}
    benchmark.pedantic(lambda: result.update(_wrk(served, label, **kwargs)), rounds=1, iterations=1)
    _report(benchmark, served, label, result)


def test_http_seal_4k_cms(benchmark, served):
    benchmark.group = f"http-load-{served.db}"
    body = json.dumps({"document": base64.b64encode(DOCUMENT).decode(), "cms": True}).encode()
    _load(benchmark, served, "seal", path=f"/api/v1/seals/{served.es_id}/sign", body=body,
          ctype="application/json", token=True)


def test_http_verify_sealed_license(benchmark, served):
    benchmark.group = f"http-load-{served.db}"
    _load(benchmark, served, "verify", path="/api/v1/verify", body=served.sealed_ofd, ctype="application/ofd",
          extra=f'or headers["X-Eseal-Indication"] ~= "{served.indication}"')
    benchmark.extra_info["indication"] = served.indication


def test_http_ocsp_presigned(benchmark, served):
    benchmark.group = f"http-load-{served.db}"
    _load(benchmark, served, "ocsp", path="/ocsp", body=served.ocsp_request, ctype="application/ocsp-request")


@pytest.fixture(scope="module")
def opened(served):
    from keystore.soft import SoftKeyStore
    from store.home import Home

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.open(served.home)
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    ks = SoftKeyStore.from_home(home)
    ks.unlock_with_passphrase(PASSPHRASE, actor="bench")
    yield home, ks
    ks.lock()
    home.close()


def _rate(benchmark, label: str, db: str) -> None:
    rate = 1 / benchmark.stats.stats.mean
    benchmark.extra_info["per_second"] = round(rate, 1)
    print(f"\n{label} in process ({db}): {rate:,.1f}/s on one core")


def test_inprocess_seal_4k_cms(benchmark, served, opened):
    from seal import sealing

    home, ks = opened
    benchmark.group = f"http-load-{served.db}"

    def one() -> bytes:
        grant = sealing.authorise(home, ks, served.es_id, agency=served.agency, actor="bench")
        return sealing.seal_document(home, ks, grant, DOCUMENT, cms=True).data

    assert benchmark.pedantic(one, rounds=40, warmup_rounds=2)[:1] == b"\x30"
    _rate(benchmark, "seal", served.db)


def test_inprocess_verify_sealed_license(benchmark, served, opened):
    from verify.service import shared_verifier

    home, _ = opened
    benchmark.group = f"http-load-{served.db}"
    verifier = shared_verifier(home)
    report = benchmark.pedantic(lambda: verifier.verify_bytes(served.sealed_ofd, name="license.ofd"),
                                rounds=40, warmup_rounds=2)
    assert report.indication.value == served.indication, report.to_dict()
    _rate(benchmark, "verify", served.db)


@pytest.fixture(scope="module")
def flask_client(served):
    from api import create_app

    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        app = create_app(served.home, passphrase=PASSPHRASE, config={"rate_limit_per_second": 0})
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    yield app.test_client()
    app.extensions["eseal"].home.close()


def test_flask_seal_4k_cms(benchmark, served, flask_client):
    benchmark.group = f"http-load-{served.db}"
    body = json.dumps({"document": base64.b64encode(DOCUMENT).decode(), "cms": True}).encode()
    headers = {"Authorization": f"Bearer {served.token}"}

    def one() -> int:
        return flask_client.post(f"/api/v1/seals/{served.es_id}/sign", data=body, headers=headers,
                                 content_type="application/json").status_code

    assert benchmark.pedantic(one, rounds=40, warmup_rounds=2) == 200
    _rate(benchmark, "seal through Flask", served.db)


def test_flask_verify_sealed_license(benchmark, served, flask_client):
    benchmark.group = f"http-load-{served.db}"

    def one() -> str:
        return flask_client.post("/api/v1/verify", data=served.sealed_ofd,
                                 content_type="application/ofd").headers["X-Eseal-Indication"]

    assert benchmark.pedantic(one, rounds=40, warmup_rounds=2) == served.indication
    _rate(benchmark, "verify through Flask", served.db)
