"""Seal signature throughput, in process, on SQLite (the embedded default) and PostgreSQL,
next to a peer that signs the same 4 KB with SM2 in the same run.

Run: ``python -m pytest benchmarks/bench_seal.py`` (``make bench``); rates are in
extra_info (``per_second``; ``vs_openssl_pkeyutl`` is the ratio to the peer measured here).
PostgreSQL cases run when ESEAL_TEST_DATABASE_URL is set (a fresh schema each run).

The layers of one sealing, so the cost of each shows:

- ``sm2_sign_4k``: SM3(Z_A || 4 KB) and one SM2 signature with an in-memory key: the
  cryptography alone.
- ``structures_only``: SM3 of the 4 KB, TBS_Sign v4 over the registry's seal, the SM2
  signature, SES_Signature: no key store, no database.
- ``signature_4k[db]``: ``seal.service.make_signature`` -- the above through the key store,
  with its key-use record, the seal.sign audit record and the transparency-log entry,
  committed once.
- ``authorise[db]``: one ``authorise_use`` (seal status, agency, signer certificate status).
- ``authorise_and_sign_4k[db]``: both, i.e. one complete sealing use of the registry.

Peers: ``openssl pkeyutl -sign`` (SM2 with SM3 and the default signer ID) over the same 4 KB
file, one process per signature as a shell script or a CGI signer would run it, and the
pure-Python ``gmssl`` signing the same 4 KB. The whole OFD e-license sealing (DESIGN's
figure) is in bench_license.py.
"""
from __future__ import annotations

import os
import shutil
import subprocess

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
SIGNATURE_XML = "/Doc_0/Signs/Sign_0/Signature.xml"
_PEER_RATES: dict[str, float] = {}


def _rate(benchmark, peer: str | None = "openssl_pkeyutl") -> float:
    per_second = 1 / benchmark.stats.stats.mean
    benchmark.extra_info["per_second"] = round(per_second, 1)
    if peer and peer in _PEER_RATES:
        benchmark.extra_info[f"vs_{peer}"] = round(per_second / _PEER_RATES[peer], 2)
    return per_second


def make_region(home: Home, *, agency: str = AGENCY, region_code: str = "440000", picture: bytes | None = None):
    """A region with an agency, its signer key and certificate, and its seal (drawn unless given)."""
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="bench passphrase").store
    ca_service.init_region(home, ks, region_code=region_code, region_name="广东省", base_url="https://pki.example")
    key_ref = ks.generate("bench-seal-signer", "seal", actor="admin")
    serial, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                            subject=f"C=CN,O={agency},CN={agency}", credit_code="91350100M000100Y43")
    es_id = service.make_seal(home, ks, seal_type="organization", name=agency, agency=agency,
                              holder_certs=[cert.dump()], actor="ra", picture=picture)
    return ks, es_id, serial, cert


def database_home(kind: str, path):
    """(Home, cleanup) on SQLite in ``path`` or on a fresh PostgreSQL schema."""
    if kind == "sqlite":
        home = Home.create(path / "home")
        return home, home.close
    url = os.environ.get("ESEAL_TEST_DATABASE_URL")
    if not url:
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set: no PostgreSQL to measure")
    from store.testing import pg_schema_url

    schema = pg_schema_url(url)
    home = Home.create(path / "home", database_url=schema.__enter__())

    def cleanup() -> None:
        home.close()
        schema.__exit__(None, None, None)

    return home, cleanup


@pytest.fixture(scope="module", params=["sqlite", "postgresql"])
def region(request, tmp_path_factory):
    home, cleanup = database_home(request.param, tmp_path_factory.mktemp(f"bench-seal-{request.param}"))
    ks, es_id, serial, cert = make_region(home)
    yield home, ks, es_id, serial, cert
    cleanup()


# ----------------------------------------------------------------------------- peers first


def test_bench_peer_openssl_pkeyutl_4k(benchmark, tmp_path) -> None:
    """One `openssl pkeyutl -sign` process per 4 KB document (SM2 with SM3, default ID)."""
    openssl = shutil.which("openssl")
    if openssl is None:
        pytest.skip("no openssl CLI")
    key, doc, sig = tmp_path / "key.pem", tmp_path / "doc.bin", tmp_path / "sig.der"
    subprocess.run([openssl, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True, capture_output=True)
    doc.write_bytes(DOCUMENT)
    command = [openssl, "pkeyutl", "-sign", "-inkey", str(key), "-rawin", "-digest", "sm3",
               "-pkeyopt", "distid:1234567812345678", "-in", str(doc), "-out", str(sig)]
    benchmark.pedantic(lambda: subprocess.run(command, check=True, capture_output=True), rounds=40, warmup_rounds=2)
    assert sig.stat().st_size > 64
    _PEER_RATES["openssl_pkeyutl"] = _rate(benchmark, peer=None)


def test_bench_peer_gmssl_sign_4k(benchmark) -> None:
    """The pure-Python gmssl package signing the same 4 KB (SM3 with Z_A, as GB/T 32918 says)."""
    try:
        from gmssl import func, sm2 as gmssl_sm2
    except ImportError:
        pytest.skip("gmssl is not installed")
    ours = sm2.PrivateKey.generate()
    d = ours.to_bytes().hex()
    public = ours.public_key.to_bytes()[1:].hex()
    signer = gmssl_sm2.CryptSM2(private_key=d, public_key=public)
    benchmark.pedantic(lambda: signer.sign_with_sm3(DOCUMENT, func.random_hex(signer.para_len)), rounds=10,
                       warmup_rounds=1)
    _PEER_RATES["gmssl"] = _rate(benchmark)


# ----------------------------------------------------------------------------- layers


def test_bench_sm2_sign_4k(benchmark) -> None:
    key = sm2.PrivateKey.generate()
    signature = benchmark(key.sign, DOCUMENT)
    assert key.public_key.verify(signature, DOCUMENT)
    _rate(benchmark)


def test_bench_structures_only(benchmark, region) -> None:
    home, _, es_id, _, cert = region
    if home.engine.dialect.name != "sqlite":
        pytest.skip("no database involved: measured once")
    seal_der = service.get_seal(home, es_id).der
    key = sm2.PrivateKey.generate()
    cert_der = cert.dump()

    def one() -> bytes:
        tbs = structures.build_tbs_sign(seal_der, data_hash=sm3(DOCUMENT), property_info=SIGNATURE_XML)
        return structures.assemble_signature(tbs, cert_der, key.sign(tbs))

    benchmark(one)
    benchmark.extra_info["seal_bytes"] = len(seal_der)
    _rate(benchmark)


def test_bench_signature_4k(benchmark, region) -> None:
    home, ks, es_id, serial, _ = region
    grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
    der = benchmark(lambda: service.make_signature(home, ks, grant, sm3(DOCUMENT), SIGNATURE_XML))
    assert structures.verify_signature_value(structures.parse_signature(der)).ok
    _rate(benchmark)


def test_bench_authorise(benchmark, region) -> None:
    home, ks, es_id, serial, _ = region
    benchmark(lambda: service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial))
    _rate(benchmark)


def test_bench_authorise_and_sign_4k(benchmark, region) -> None:
    home, ks, es_id, serial, _ = region

    def one() -> bytes:
        grant = service.authorise_use(home, ks, es_id, agency=AGENCY, signer_cert_serial=serial)
        return service.make_signature(home, ks, grant, sm3(DOCUMENT), SIGNATURE_XML)

    benchmark(one)
    _rate(benchmark)
