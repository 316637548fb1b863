"""DESIGN: the cost of an operation stays flat from 1 k to 1 M certificates in the database.

One region per database and size: its own certificates plus 1,000 or 1,000,000 device
certificates inserted in bulk (benchmarks.bench_ca.bulk_certificates). Measured at both
sizes, in the same run: a timestamp, a live OCSP answer about one of the bulk
certificates, a certificate's status, an issuance, and a 4 KB e-license sealing. Each
benchmark's extra_info carries ``vs_1k`` (the 1 M mean over the 1 k mean) once both sizes
ran. tests/test_query_plans.py checks the plans behind these without timing them.
"""
from __future__ import annotations

import itertools
import os
import random
import time

import pytest

from benchmarks.sizes import SIZES, record_size


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def regions(request, tmp_path_factory):
    """Both sizes on one database at once, so that the two measurements of an operation run
    one after the other (this machine's speed drifts over minutes)."""
    from benchmarks.bench_license import AGENCY
    from benchmarks.bench_seal import database_home, make_region
    from ca.testing import bulk_certificates

    kind = request.param
    if kind == "postgresql" and not os.environ.get("ESEAL_TEST_DATABASE_URL"):
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set (PostgreSQL)")
    made, cleanups = {}, []
    for size in SIZES:
        home, cleanup = database_home(kind, tmp_path_factory.mktemp(f"bench-scale-{kind}-{size}"))
        cleanups.append(cleanup)
        ks, es_id, _, _ = make_region(home, agency=AGENCY, region_code="440300")
        rnd = random.Random(5)
        serials = [(1 << 126) | rnd.getrandbits(126) for _ in range(size)]
        t0 = time.perf_counter()
        bulk_certificates(home, ((s, None, None) for s in serials))
        if kind == "postgresql":
            with home.engine.begin() as conn:
                conn.exec_driver_sql("ANALYZE")   # as autovacuum would have by then
        print(f"\n{size:,} certificates on {kind} inserted in {time.perf_counter() - t0:.1f} s")
        made[size] = (kind, size, home, ks, es_id, serials)
    yield made
    for cleanup in cleanups:
        cleanup()


@pytest.fixture(params=SIZES)
def populated(request, regions):
    return regions[request.param]


def test_bench_timestamp(benchmark, populated) -> None:
    from seal import tsa

    kind, size, home, ks, _, _ = populated
    request = tsa.request_for(b"a 4 KB e-license" * 256)[0]
    answer = benchmark(lambda: tsa.timestamp(home, ks, request, actor="bench"))
    assert tsa.parse_response(answer).status == "granted"
    record_size(benchmark, "timestamp", kind, size, "certificates")


def test_bench_ocsp_live(benchmark, populated) -> None:
    from sqlalchemy import select

    from ca import service
    from ca.certificate import load_certificate
    from store.db import transaction
    from store.models.ca import CertificateAuthority
    from tests.helpers.lifecycle import ocsp_request

    kind, size, home, ks, _, serials = populated
    with transaction(home.engine, readonly=True) as s:
        issuer = load_certificate(bytes(s.scalar(select(CertificateAuthority.certificate)
                                                 .where(CertificateAuthority.kind == "issuing"))))
    requests = itertools.cycle([ocsp_request(issuer, [serials[(i * 7919) % size]]) for i in range(200)])
    answer = benchmark(lambda: service.ocsp_respond(home, ks, next(requests)))
    assert len(answer) > 100
    record_size(benchmark, "live OCSP answer", kind, size, "certificates")


def test_bench_certificate_status(benchmark, populated) -> None:
    from ca import service

    kind, size, home, _, _, serials = populated
    picks = itertools.cycle([serials[(i * 7919) % size] for i in range(200)])
    assert benchmark(lambda: service.certificate_status(home, next(picks))).status == "good"
    record_size(benchmark, "certificate status", kind, size, "certificates")


def test_bench_issue(benchmark, populated) -> None:
    from ca import service
    from gm.sm2 import PrivateKey

    kind, size, home, ks, _, _ = populated
    key = PrivateKey.generate().public_key
    counter = itertools.count()

    def issue() -> str:
        return service.issue_for_public_key(home, ks, profile="device", public_key=key,
                                           subject=f"C=CN,O=某某局,CN=设备-{next(counter)}", actor="bench")[0]
    benchmark.pedantic(issue, rounds=40, iterations=1, warmup_rounds=3)
    record_size(benchmark, "issuance", kind, size, "certificates")


def test_bench_seal_license(benchmark, populated) -> None:
    from benchmarks.bench_license import _license_ofd
    from seal.license.sealing import RegistrySealer

    kind, size, home, ks, es_id, _ = populated
    ofd, box = _license_ofd()
    sealer = RegistrySealer(home, ks, timestamp=False)

    def one() -> bytes:
        return sealer.seal(ofd, sealer.authorise(seal_id=es_id, agency=None, actor="bench"), box=box)
    assert len(benchmark(one)) > len(ofd)
    record_size(benchmark, "license sealing", kind, size, "certificates")
