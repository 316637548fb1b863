"""Seal signature throughput, in process, on SQLite (the embedded default).

Run: ``python -m pytest benchmarks/bench_seal.py --benchmark-only``; signatures per second
are in extra_info (``per_second``).

- ``signature_4k``: the sealing step of DESIGN's quality bar for a 4 KB document: SM3 of the
  4 KB, TBS_Sign v4 over the registry's seal, one SM2 signature through the key store (which
  writes its key-use audit record), SES_Signature assembled, and the seal.sign audit record.
- ``structures_only``: the same without the key store and database (SM3, TBS_Sign, an SM2
  signature with an in-memory key, SES_Signature): what the ASN.1 and crypto cost alone.
- ``authorise``: one `authorise_use` (registry, CA status and binding checks) for comparison.
"""
from __future__ import annotations

import os

import pytest

from ca import service as ca_service
from gm import sm2
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import service, structures
from store.db import make_sessionmaker
from store.home import Home

AGENCY = "某某市人民政府"
DOCUMENT = os.urandom(4096)


def _rate(benchmark) -> None:
    benchmark.extra_info["per_second"] = round(1 / benchmark.stats.stats.mean, 1)


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    home = Home.create(tmp_path_factory.mktemp("bench-seal") / "home")
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="bench passphrase").store
    ca_service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="https://pki.example")
    key_ref = ks.generate("bench-seal-signer", "seal", actor="admin")
    serial, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                            subject=f"C=CN,O={AGENCY},CN={AGENCY}", credit_code="91350100M000100Y43")
    es_id = service.make_seal(home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                              holder_certs=[cert.dump()], actor="ra")
    yield home, ks, es_id, serial, cert
    home.close()


def test_bench_signature_4k(benchmark, region) -> None:
    home, ks, es_id, serial, _ = region
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)

    def one() -> bytes:
        return service.make_signature(home, ks, grant, sm3(DOCUMENT), "/Doc_0/Signs/Sign_0/Signature.xml")

    der = benchmark(one)
    assert structures.verify_signature_value(structures.parse_signature(der)).ok
    _rate(benchmark)


def test_bench_structures_only(benchmark, region) -> None:
    home, _, es_id, _, cert = region
    seal_der = service.get_seal(home, es_id).der
    key = sm2.PrivateKey.generate()
    cert_der = cert.dump()

    def one() -> bytes:
        tbs = structures.build_tbs_sign(seal_der, data_hash=sm3(DOCUMENT), property_info="/Doc_0/Signs/Sign_0/Signature.xml")
        return structures.assemble_signature(tbs, cert_der, key.sign(tbs))

    benchmark(one)
    _rate(benchmark)


def test_bench_authorise(benchmark, region) -> None:
    home, ks, es_id, serial, _ = region
    benchmark(lambda: service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial))
    _rate(benchmark)
