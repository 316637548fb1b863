"""Timestamp responses and CMS signatures per second, in process.

Run: ``python -m pytest benchmarks/bench_cms_tsa.py --benchmark-only``. Rates are in
extra_info (``per_second``). Skipped under ``--benchmark-disable`` (each case would
otherwise run once against a freshly initialised region for nothing).

* ``timestamp``: the whole TSA path — parse and check the request, build TSTInfo, sign
  through the key store (policy check + key-use audit), store the token row and the
  ``tsa.timestamp`` audit record — on SQLite in a temporary home (the embedded default).
* CMS detached sign of 4 KB: through the key store (as seal/ signs: audited), and with an
  in-memory key (the CMS cost alone); verify_cms of the same signature.
"""
from __future__ import annotations

import itertools

import pytest

from ca import service as ca_service
from ca.certificate import CertificateBuilder, load_certificate
from ca.testing import LocalSigner, make_hierarchy
from keystore.soft import SoftKeyStore
from seal import cms as scms
from seal import tsa
from store.db import make_sessionmaker
from store.home import Home

PASSPHRASE = "bench passphrase for the key store"
DATA_4K = bytes(range(256)) * 16


@pytest.fixture(autouse=True)
def _skip_when_disabled(benchmark):
    if benchmark.disabled:
        pytest.skip("benchmarks disabled (--benchmark-disable)")


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    home = Home.create(tmp_path_factory.mktemp("bench-tsa") / "home")
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(home, ks, region_code="440000", region_name="广东省",
                           base_url="http://pki.gd.example.gov.cn")
    yield home, ks, ca_service.service_certificate(home, "tsa")
    home.close()


def _rate(benchmark) -> None:
    benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean, 1)


def test_bench_timestamp_response(benchmark, region):
    home, ks, ident = region
    sessions = make_sessionmaker(home.engine)
    counter = itertools.count()
    requests = [tsa.request_for(f"document {i}".encode())[0] for i in range(64)]

    def one() -> bytes:
        return tsa.timestamp(home, ks, requests[next(counter) % 64], actor="bench", tsa=ident, sessions=sessions)

    resp = benchmark(one)
    assert tsa.parse_response(resp).status == "granted"
    _rate(benchmark)


def test_bench_cms_detached_sign_4kb_keystore(benchmark, region):
    home, ks, ident = region
    sign = scms.keystore_signer(ks, ident.key_ref, actor="bench", role="tsa")
    der = benchmark(lambda: scms.sign_data(DATA_4K, ident.certificate, sign, flavour="gmt0010", detached=True))
    assert scms.verify_cms(der, DATA_4K).ok
    _rate(benchmark)


@pytest.fixture(scope="module")
def local_signer():
    h = make_hierarchy()
    signer = LocalSigner()
    cert = (CertificateBuilder("tsa", h.config).subject({"C": "CN", "O": "基准", "CN": "基准"})
            .public_key(signer.public_key).issuer(h.issuing).sign(h.issuing_signer))
    return signer, load_certificate(cert.dump())  # as certificates come from the store


def test_bench_cms_detached_sign_4kb_in_memory_key(benchmark, local_signer):
    signer, cert = local_signer
    der = benchmark(lambda: scms.sign_data(DATA_4K, cert, signer.sign, flavour="gmt0010", detached=True))
    assert scms.verify_cms(der, DATA_4K).ok
    _rate(benchmark)


def test_bench_verify_cms_4kb(benchmark, local_signer):
    signer, cert = local_signer
    der = scms.sign_data(DATA_4K, cert, signer.sign, flavour="gmt0010", detached=True)
    assert benchmark(lambda: scms.verify_cms(der, DATA_4K)).ok
    _rate(benchmark)
