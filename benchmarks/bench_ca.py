"""CA core throughput: a 1,000,000-entry CRL built and signed, next to `openssl ca -gencrl`;
certificate issuance and OCSP answers per second.

Run: ``python -m pytest benchmarks/bench_ca.py --benchmark-only`` (or ``make bench``).
Target (DESIGN.md): a CRL of 1,000,000 revoked entries signed in <= 5 s. The OpenSSL
reference signs a CRL from an ``index.txt`` of OPENSSL_ENTRIES revoked certificates with
an SM2 key (``openssl ca -gencrl -md sm3``); the comparison is per entry, printed with
the benchmark's extra_info and at the end of the CRL benchmark.
"""
from __future__ import annotations

import datetime as dt
import random
import shutil
import subprocess
import time
from pathlib import Path

import pytest

from ca import ocsp
from ca.certificate import CertificateBuilder, to_pem
from ca.crl import CRLBuilder
from ca.testing import LocalSigner, make_hierarchy

UTC = dt.timezone.utc
ENTRIES = 1_000_000
OPENSSL_ENTRIES = 100_000
REASONS = (None, "keyCompromise", None, "superseded", "cessationOfOperation", "certificateHold")


@pytest.fixture(scope="module")
def region():
    return make_hierarchy()


def revoked_rows(n: int, seed: int = 1) -> list[tuple]:
    """What the store hands the CRL builder: (serial, revoked_at, reason, invalidity)."""
    rnd = random.Random(seed)
    start = dt.datetime(2025, 1, 1, tzinfo=UTC)
    return [((1 << 127) | rnd.getrandbits(127), start + dt.timedelta(seconds=17 * i),
             REASONS[i % len(REASONS)], None) for i in range(n)]


@pytest.fixture(scope="module")
def million_rows():
    return revoked_rows(ENTRIES)


def _openssl_gencrl_seconds(tmp: Path, n: int) -> float | None:
    openssl = shutil.which("openssl")
    if not openssl:
        return None
    run = lambda *a: subprocess.run([openssl, *a], cwd=tmp, check=True, capture_output=True)  # noqa: E731
    run("genpkey", "-algorithm", "SM2", "-out", "key.pem")
    run("req", "-x509", "-new", "-key", "key.pem", "-sm3", "-sigopt", "distid:1234567812345678",
        "-subj", "/CN=bench CA", "-days", "30", "-out", "cert.pem")
    rnd = random.Random(2)
    with open(tmp / "index.txt", "w") as f:
        for i in range(n):
            f.write(f"R\t361231000000Z\t250101000000Z,keyCompromise\t"
                    f"{(1 << 127) | rnd.getrandbits(127):032X}\tunknown\t/CN=s{i}\n")
    (tmp / "crlnumber").write_text("01\n")
    (tmp / "ca.cnf").write_text("[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\ncrlnumber=crlnumber\n"
                                "default_md=sm3\ndefault_crl_days=1\nunique_subject=no\n")
    t0 = time.perf_counter()
    run("ca", "-gencrl", "-config", "ca.cnf", "-keyfile", "key.pem", "-cert", "cert.pem",
        "-sigopt", "distid:1234567812345678", "-out", "crl.pem")
    return time.perf_counter() - t0


def test_crl_1m_entries_build_and_sign(benchmark, region, million_rows, tmp_path):
    now = dt.datetime.now(UTC).replace(microsecond=0)

    def build() -> bytes:
        return (CRLBuilder(region.issuing, region.config).crl_number(1)
                .this_update(now).next_update(now + dt.timedelta(days=1))
                .revoked(million_rows).sign(region.issuing_signer))

    der = benchmark.pedantic(build, rounds=3, iterations=1)
    assert len(der) > 30 * ENTRIES
    ours = benchmark.stats.stats.mean if benchmark.stats else None
    benchmark.extra_info["entries"] = ENTRIES
    benchmark.extra_info["bytes"] = len(der)
    reference = _openssl_gencrl_seconds(tmp_path, OPENSSL_ENTRIES)
    if ours and reference:
        per_ours = ours / ENTRIES * 1e6
        per_ref = reference / OPENSSL_ENTRIES * 1e6
        benchmark.extra_info["us_per_entry"] = round(per_ours, 3)
        benchmark.extra_info["openssl_us_per_entry"] = round(per_ref, 3)
        benchmark.extra_info["ratio_vs_openssl"] = round(per_ref / per_ours, 2)
        print(f"\nCRL: {ENTRIES} entries in {ours:.2f} s ({per_ours:.2f} us/entry); "
              f"openssl ca -gencrl: {OPENSSL_ENTRIES} in {reference:.2f} s "
              f"({per_ref:.2f} us/entry); ours is {per_ref / per_ours:.1f}x faster per entry")


def test_issue_certificate(benchmark, region):
    key = LocalSigner().public_key
    base = (CertificateBuilder("personal", region.config).subject("C=CN,CN=张三")
            .public_key(key).issuer(region.issuing).identity(citizen_id="11010519491231002X"))
    cert = benchmark(lambda: base.sign(region.issuing_signer))
    assert to_pem(cert).startswith(b"-----BEGIN CERTIFICATE-----")


def test_ocsp_answer_parse_build_sign(benchmark, region):
    """One live answer: parse a request with a nonce, build and SM2-sign the response."""
    signer = LocalSigner()
    responder = (CertificateBuilder("ocsp", region.config).subject("C=CN,O=x,CN=OCSP")
                 .public_key(signer.public_key).issuer(region.issuing).sign(region.issuing_signer))
    now = dt.datetime.now(UTC).replace(microsecond=0)
    cid = ocsp.cert_id_for(region.issuing, 12345)
    from asn1crypto import core, ocsp as aocsp

    request = aocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": cid.raw}],
        "request_extensions": [{"extn_id": "nonce", "critical": False,
                                "extn_value": core.OctetString(b"\x07" * 16)}]}}).dump()

    live = ocsp.Responder(signer, responder)

    def answer() -> bytes:
        req = ocsp.parse_request(request)
        return live.respond([
            ocsp.Answer(req.cert_ids[0], "good", now, now + dt.timedelta(hours=1))], nonce=req.nonce)

    assert benchmark(answer)[:1] == b"\x30"


# --------------------------------------------------------------------------- through the database
# Issuance as the service does it (CSR parsed and its proof of possession checked, TBS built,
# signed by the key store (with its key.sign audit record), certificate row + cert.issue audit
# record stored) on SQLite and PostgreSQL, next to `openssl x509 -req` signing the same CSR
# with an SM2 CA key, one subprocess per certificate (how a shell-script CA issues). And the
# 1,000,000-entry CRL read from the database (rows bulk-inserted with SQL) and signed by
# ca.service.generate_crl; skipped under --benchmark-disable (`make test`), run by `make bench`.

DISTID = "distid:1234567812345678"
PEER_CERTS = 30
ISSUE_ROUNDS = 100


def _db_params() -> list:
    return ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]


@pytest.fixture(params=_db_params())
def db_region(request, tmp_path):
    """A region (root, issuing CA, service certificates) in a fresh home on each database."""
    import os
    from contextlib import ExitStack

    from ca import service
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker
    from store.home import Home
    from store.testing import pg_schema_url

    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            base = os.environ.get("ESEAL_TEST_DATABASE_URL")
            if not base:
                pytest.skip("ESEAL_TEST_DATABASE_URL is not set (PostgreSQL)")
            url = stack.enter_context(pg_schema_url(base))
        home = Home.create(tmp_path / "home", database_url=url)
        stack.callback(home.close)
        ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin",
                                     passphrase="bench passphrase").store
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="https://pki.example")
        yield request.param, home, ks


@pytest.fixture(scope="module")
def bench_csr(tmp_path_factory) -> Path:
    openssl = shutil.which("openssl")
    if not openssl:
        pytest.skip("openssl CLI not installed")
    d = tmp_path_factory.mktemp("csr")
    run = lambda *a: subprocess.run([openssl, *a], cwd=d, check=True, capture_output=True)  # noqa: E731
    run("genpkey", "-algorithm", "SM2", "-out", "ca.key")
    run("req", "-x509", "-new", "-key", "ca.key", "-sm3", "-sigopt", DISTID, "-subj", "/C=CN/O=bench/CN=bench CA",
        "-days", "3650", "-out", "ca.pem")
    run("genpkey", "-algorithm", "SM2", "-out", "k.pem")
    run("req", "-new", "-key", "k.pem", "-sm3", "-sigopt", DISTID, "-utf8", "-subj", "/C=CN/O=某某局/CN=设备",
        "-out", "req.pem")
    return d


def _openssl_x509_req_seconds(d: Path, n: int) -> float:
    """Seconds per certificate of `openssl x509 -req` (one process per certificate)."""
    openssl = shutil.which("openssl")
    t0 = time.perf_counter()
    for i in range(n):
        subprocess.run([openssl, "x509", "-req", "-in", "req.pem", "-CA", "ca.pem", "-CAkey", "ca.key", "-sm3",
                        "-sigopt", DISTID, "-vfyopt", DISTID, "-set_serial", str((1 << 64) + i), "-days", "730",
                        "-out", f"peer-{i}.pem"], cwd=d, check=True, capture_output=True)
    return (time.perf_counter() - t0) / n


def test_issue_from_csr_through_the_database(benchmark, db_region, bench_csr):
    from ca import service

    backend, home, ks = db_region
    csr = (bench_csr / "req.pem").read_bytes()
    counter = iter(range(10**9))

    def issue() -> str:
        return service.issue_certificate(home, ks, profile="device", csr_pem=csr,
                                         subject=f"C=CN,O=某某局,CN=设备-{next(counter)}", actor="bench")[0]

    serial = benchmark.pedantic(issue, rounds=ISSUE_ROUNDS, iterations=1, warmup_rounds=3)
    assert int(serial, 16) >= 1 << 64
    if benchmark.disabled:
        return
    ours = benchmark.stats.stats.mean
    peer = _openssl_x509_req_seconds(bench_csr, PEER_CERTS)
    benchmark.extra_info.update(database=backend, per_second=round(1 / ours, 1),
                                openssl_x509_req_per_second=round(1 / peer, 1), ratio_vs_openssl=round(peer / ours, 2))
    print(f"\nissuance on {backend}: {1 / ours:.1f} certificates/s (CSR in, stored certificate out); "
          f"openssl x509 -req: {1 / peer:.1f}/s; ratio {peer / ours:.2f}x")


def _bulk_revoked(home, n: int) -> None:
    """n revoked certificates, then their CRL entries as revoke/suspend write them (and
    migration 0011 backfills them)."""
    from ca.crl_entries import backfill
    from ca.testing import bulk_certificates

    bulk_certificates(home, ((serial, when, reason) for serial, when, reason, _ in revoked_rows(n, seed=3)))
    with home.engine.begin() as conn:
        assert backfill(conn) == n


def test_crl_1m_entries_through_the_database(benchmark, db_region, tmp_path):
    from asn1crypto import crl as acrl

    from ca import service

    if benchmark.disabled:
        pytest.skip("1,000,000 rows: run with `make bench` (benchmarks enabled)")
    backend, home, ks = db_region
    t0 = time.perf_counter()
    _bulk_revoked(home, ENTRIES)
    insert_seconds = time.perf_counter() - t0
    der = benchmark.pedantic(lambda: service.generate_crl(home, ks, actor="bench"), rounds=2, iterations=1)
    assert len(der) > 30 * ENTRIES
    tbs = acrl.CertificateList.load(der)["tbs_cert_list"]
    assert len(tbs["revoked_certificates"]) == ENTRIES
    seconds = benchmark.stats.stats.mean
    # CPU seconds of this process for one more CRL: on a loaded machine, closer to the quiet
    # wall time than the wall time is (all of it on SQLite; the client's share on PostgreSQL)
    cpu = time.process_time()
    service.generate_crl(home, ks, actor="bench")
    cpu = time.process_time() - cpu
    benchmark.extra_info.update(database=backend, entries=ENTRIES, bytes=len(der), seconds=round(seconds, 2),
                                process_cpu_seconds=round(cpu, 2), bulk_insert_seconds=round(insert_seconds, 1))
    print(f"\nCRL through {backend}: {ENTRIES} revoked rows read and signed in {seconds:.2f} s "
          f"({cpu:.2f} s CPU in this process; {len(der) / 1e6:.1f} MB); bulk insert and entry backfill took "
          f"{insert_seconds:.1f} s")
    reference = _openssl_gencrl_seconds(tmp_path, OPENSSL_ENTRIES)
    if reference:
        per_ours, per_ref = seconds / ENTRIES * 1e6, reference / OPENSSL_ENTRIES * 1e6
        benchmark.extra_info.update(us_per_entry=round(per_ours, 3), openssl_us_per_entry=round(per_ref, 3),
                                    ratio_vs_openssl=round(per_ref / per_ours, 2))
        print(f"openssl ca -gencrl: {OPENSSL_ENTRIES} in {reference:.2f} s ({per_ref:.2f} us/entry); "
              f"ours {per_ours:.2f} us/entry, {per_ref / per_ours:.1f}x faster per entry")
