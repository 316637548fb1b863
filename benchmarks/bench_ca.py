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
