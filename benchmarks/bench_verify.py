"""Verification throughput: certificate path validation (3 certificates, SM2) with warm
caches, with and without revocation answers (OCSP and CRL from a local server, cached by
nextUpdate), and a cold path (caches cleared) for comparison; per second in extra_info.

Run: ``python -m pytest benchmarks/bench_verify.py --benchmark-only``. Skipped under
``--benchmark-disable`` (each case serves HTTP and builds a PKI: not a unit test).
"""
from __future__ import annotations

import pytest

from verify import path as vpath
from verify.engine import Verifier
from verify.path import StaticTrust, validate_path
from verify.report import Indication
from verify.testing import PKIServer, TestPKI


@pytest.fixture(autouse=True)
def _skip_when_disabled(benchmark):
    if benchmark.disabled:
        pytest.skip("benchmarks disabled (--benchmark-disable)")


@pytest.fixture(scope="module")
def pki():
    with PKIServer() as srv:
        yield TestPKI(srv)


def _rate(benchmark) -> None:
    if benchmark.stats:
        benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean)


def test_path_validation_warm(benchmark, pki):
    leaf, _ = pki.issue()
    trust = StaticTrust([pki.root], [pki.issuing])
    assert validate_path(leaf, trust=trust).ok
    result = benchmark(lambda: validate_path(leaf, trust=trust))
    assert result.ok
    _rate(benchmark)


def test_path_validation_cold(benchmark, pki):
    """Caches cleared each round: two SM2 verifications and key decoding per path."""
    leaf, _ = pki.issue()
    trust = StaticTrust([pki.root], [pki.issuing])

    def cold():
        vpath.clear_caches()
        return validate_path(leaf, trust=trust)

    assert benchmark(cold).ok
    _rate(benchmark)


def test_certificate_with_revocation_warm(benchmark, pki):
    """Full verify_certificate: path + OCSP (leaf) + CRL (issuing CA), answers cached."""
    leaf, _ = pki.issue()
    verifier = Verifier(StaticTrust([pki.root], [pki.issuing]))
    assert verifier.verify_certificate(leaf).indication is Indication.PASSED
    hits = dict(pki.server.hits)
    report = benchmark(lambda: verifier.verify_certificate(leaf))
    assert report.indication is Indication.PASSED
    assert pki.server.hits == hits, "warm runs must not fetch"
    _rate(benchmark)
