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


def test_seal_signature_warm(benchmark, pki):
    """A seal signature over a 4 KB e-license (SES_Signature v4, seal bound to the signer),
    verified with warm caches: chain, revocation and the seal's own signature are cached,
    so each run costs one SM2 verification (the signature value) plus the checks."""
    import base64
    import datetime as dt

    from gm.sm3 import sm3
    from seal import structures as st

    maker, maker_key = pki.issue("seal_maker", "制章人")
    signer, signer_key = pki.issue("device", "某局")
    now = dt.datetime.now(dt.timezone.utc).replace(microsecond=0)
    png = base64.b64decode("iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")
    info = st.build_seal_info(es_id="44000020260000009", seal_type=1, name="某局", valid_start=now - dt.timedelta(days=1),
                              valid_end=now + dt.timedelta(days=365), picture=st.Picture("PNG", png, 40, 40),
                              certificates=[signer.dump()])
    seal = st.assemble_seal(info, maker.dump(), maker_key.sign(info))
    data = bytes(range(256)) * 16
    tbs = st.build_tbs_sign(seal, data_hash=sm3(data), property_info="license.ofd")
    sig = st.assemble_signature(tbs, signer.dump(), signer_key.sign(tbs))
    verifier = Verifier(StaticTrust([pki.root], [pki.issuing]))
    assert verifier.verify_ses_signature(sig, data).indication is Indication.PASSED
    report = benchmark(lambda: verifier.verify_ses_signature(sig, data))
    assert report.indication is Indication.PASSED
    _rate(benchmark)
