"""ca/service.py on SQLite and PostgreSQL: region set-up, issuance from OpenSSL CSRs,
suspend / resume / revoke, full and delta CRLs checked with the OpenSSL CLI, audit."""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from asn1crypto import crl as acrl
from asn1crypto import pem

from ca import service
from ca.certificate import to_pem
from ca.crl import tbs_of
from ca.errors import AlreadyRevoked, CAError, InvalidCSR, InvalidTransition, RegionExists, UnknownSerial
from ca.testing import soft_region
from store import audit
from store.db import transaction
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403

DISTID = "distid:1234567812345678"
PASSPHRASE = "correct horse battery staple"
CREDIT_CODE = "91350100M000100Y43"


def run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


@pytest.fixture
def region(eseal_home):
    return eseal_home, *soft_region(eseal_home, PASSPHRASE)


@pytest.fixture(scope="module")
def openssl_req(openssl_bin, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("req")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt", DISTID,
                    "-utf8", "-subj", "/C=CN/O=某某局/CN=某某局", "-out", str(d / "req.pem")],
                   check=True, capture_output=True)
    return d


def pem_cert(path: Path):
    from asn1crypto import x509

    return x509.Certificate.load(pem.unarmor(path.read_bytes())[2])


def _actions(home) -> list[str]:
    with transaction(home.engine, readonly=True) as s:
        return [r.action for r in s.query(AuditRecord).order_by(AuditRecord.seq)]


def _audit_clean(home) -> None:
    with transaction(home.engine, readonly=True) as s:
        report = audit.verify(s)
    assert report.ok, report.findings


def test_init_writes_root_and_chain(region) -> None:
    home, _, info = region
    assert info.root_pem_path == home.path / "root.pem"
    chain = service.ca_chain(home)
    certs = [c for _, _, c in pem.unarmor(chain, multiple=True)]
    assert len(certs) == 2
    root_der = pem.unarmor(info.root_pem_path.read_bytes())[2]
    assert certs[-1] == root_der  # root last
    from asn1crypto import x509
    issuing = x509.Certificate.load(certs[0])
    assert issuing.ca and issuing.issuer == x509.Certificate.load(root_der).subject
    assert "ca.init_region" in _actions(home)
    _audit_clean(home)


def test_init_twice_refused(region) -> None:
    home, ks, _ = region
    before = info_bytes = (home.path / "root.pem").read_bytes()
    with pytest.raises(RegionExists, match="already"):
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://x.example")
    (home.path / "root.pem").unlink()
    with pytest.raises(RegionExists, match="already holds region 440000"):
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://x.example")
    assert before == info_bytes


def test_a_base_url_longer_than_its_column_is_refused(eseal_home) -> None:
    """ca_authorities.base_url is VARCHAR(400): a longer one was a driver error on PostgreSQL
    (`eseal init` a traceback) and stored whole on SQLite; nothing is written."""
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker

    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    long_url = "https://pki.example/" + "a" * 381
    with pytest.raises(CAError, match="the base URL is longer than 400 characters"):
        service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url=long_url)
    assert not (eseal_home.path / "root.pem").exists()
    info = service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url=long_url[:400])
    assert info.base_url == long_url[:400]


@pytest.mark.interop
def test_issue_verify_revoke_crl(region, openssl_bin, openssl_req, tmp_path) -> None:
    home, ks, _ = region
    csr = (openssl_req / "req.pem").read_bytes()
    serial, cert = service.issue_certificate(home, ks, profile="organization", csr_pem=csr,
                                             credit_code=CREDIT_CODE)
    assert serial == format(cert.serial_number, "x") and cert.serial_number >= 1 << 64
    chain = [c for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", chain[0]))
    (tmp_path / "cert.pem").write_bytes(to_pem(cert))
    r = run([openssl_bin, "verify", "-partial_chain", "-vfyopt", DISTID,
             "-CAfile", str(tmp_path / "issuing.pem"), str(tmp_path / "cert.pem")])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
    text = run([openssl_bin, "x509", "-in", str(tmp_path / "cert.pem"), "-noout", "-text", "-nameopt", "utf8"]).stdout
    assert CREDIT_CODE in text and "某某局" in text

    # a second certificate: suspended, then it shows as certificateHold
    serial2, _ = service.issue_certificate(home, ks, profile="device", csr_pem=csr,
                                           subject="C=CN,O=某某局,CN=dev-1")
    service.suspend(home, serial2)
    service.revoke(home, serial.upper(), "keyCompromise",
                   invalidity_date=dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=dt.timezone.utc))
    der = service.generate_crl(home, ks)
    (tmp_path / "crl.der").write_bytes(der)
    out = run([openssl_bin, "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text"])
    assert out.returncode == 0, out.stderr
    assert f"Serial Number: {serial.upper().rjust(len(serial) + len(serial) % 2, '0')}" in out.stdout
    assert "Key Compromise" in out.stdout and "Certificate Hold" in out.stdout
    assert "Invalidity Date" in out.stdout
    # the CRL signature verifies with the issuing CA key over the TBS bytes (pkeyutl, with the
    # signer ID: `openssl crl -CAfile` checks SM2 with an empty ID, see test_ca_interop.py)
    subprocess.run([openssl_bin, "x509", "-in", str(tmp_path / "issuing.pem"), "-pubkey", "-noout",
                    "-out", str(tmp_path / "issuing.pub")], check=True)
    (tmp_path / "tbs.der").write_bytes(tbs_of(der))
    (tmp_path / "sig.der").write_bytes(acrl.CertificateList.load(der)["signature"].native)
    v = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "issuing.pub"), "-rawin",
             "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(tmp_path / "tbs.der"),
             "-sigfile", str(tmp_path / "sig.der")])
    assert v.returncode == 0 and "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr
    # and the issuing CA certificate verifies under the region's root.pem
    r = run([openssl_bin, "verify", "-vfyopt", DISTID, "-CAfile", str(home.path / "root.pem"),
             str(tmp_path / "issuing.pem")])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
    _audit_clean(home)


def _crl_number(der: bytes) -> tuple[int, int | None, list[tuple[int, str | None]]]:
    c = acrl.CertificateList.load(der)
    entries = [(e["user_certificate"].native, e.crl_reason_value.native if e.crl_reason_value else None)
               for e in c["tbs_cert_list"]["revoked_certificates"]]
    delta = c.delta_crl_indicator_value
    return c.crl_number_value.native, delta.native if delta is not None else None, entries


def test_lifecycle_errors_crl_numbers_and_audit(region, openssl_req) -> None:
    home, ks, _ = region
    csr = (openssl_req / "req.pem").read_bytes()
    serial, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    good, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    held, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)

    with pytest.raises(CAError, match="delta CRL needs a full CRL"):
        service.generate_crl(home, ks, delta=True)
    n1, _, entries = _crl_number(service.generate_crl(home, ks))
    assert entries == []

    service.suspend(home, held)
    with pytest.raises(InvalidTransition, match="already suspended"):
        service.suspend(home, held)
    with pytest.raises(InvalidTransition, match="not suspended"):
        service.resume(home, good)
    service.revoke(home, serial, "cessationOfOperation")
    with pytest.raises(AlreadyRevoked, match="revocation is final"):
        service.revoke(home, serial, "keyCompromise")
    with pytest.raises(AlreadyRevoked):
        service.resume(home, serial)
    with pytest.raises(AlreadyRevoked):
        service.suspend(home, serial)
    with pytest.raises(UnknownSerial, match="no certificate with serial"):
        service.revoke(home, "0123456789abcdef01", "keyCompromise")
    with pytest.raises(UnknownSerial, match="not a serial number"):
        service.revoke(home, "not-hex", "keyCompromise")
    with pytest.raises(CAError, match="unknown CRL reason"):
        service.revoke(home, good, "bored")
    with pytest.raises(CAError, match="use suspend"):
        service.revoke(home, good, "certificateHold")

    n2, _, entries = _crl_number(service.generate_crl(home, ks))
    assert {(format(s, "x"), r) for s, r in entries} == {(serial, "cessation_of_operation"),
                                                         (held, "certificate_hold")}
    service.resume(home, held)
    n3, base, entries = _crl_number(service.generate_crl(home, ks, delta=True))
    assert base == n2
    # the delta lists the changes since its base (with an overlap, so the revocation made in
    # the same minute as the base CRL is repeated) and removeFromCRL for the resumed hold
    assert {(format(s, "x"), r) for s, r in entries} == {(held, "remove_from_crl"),
                                                         (serial, "cessation_of_operation")}
    n4, _, entries = _crl_number(service.generate_crl(home, ks))
    assert [format(s, "x") for s, _ in entries] == [serial]
    assert n1 < n2 < n3 < n4

    assert service.certificate_status(home, serial).status == "revoked"
    assert service.certificate_status(home, held).status == "good"
    actions = _actions(home)
    for action, count in (("cert.issue", 8), ("cert.suspend", 1), ("cert.resume", 1), ("cert.revoke", 1),
                          ("crl.generate", 4)):
        assert actions.count(action) == count, (action, actions)
    _audit_clean(home)


def test_bad_requests_refused(region, openssl_req) -> None:
    home, ks, _ = region
    csr = (openssl_req / "req.pem").read_bytes()
    before = _actions(home)
    _, _, der = pem.unarmor(csr)
    tampered = bytearray(der)
    tampered[40] ^= 1
    with pytest.raises(InvalidCSR):
        service.issue_certificate(home, ks, profile="organization", csr_pem=bytes(tampered),
                                  credit_code=CREDIT_CODE)
    with pytest.raises(CAError, match="check"):
        service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code="91350100M000100Y44")
    with pytest.raises(CAError, match="CA certificates"):
        service.issue_certificate(home, ks, profile="issuing_ca", csr_pem=csr)
    assert _actions(home) == before  # refused before any key use or state change


def test_serial_clash_is_retried(region, openssl_req, monkeypatch) -> None:
    home, ks, _ = region
    csr = (openssl_req / "req.pem").read_bytes()
    first, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    draws = iter([int(first, 16), int(first, 16), (1 << 100) + 7])
    monkeypatch.setattr(service, "random_serial", lambda: next(draws))
    second, cert = service.issue_certificate(home, ks, profile="organization", csr_pem=csr,
                                             credit_code=CREDIT_CODE)
    assert second == format((1 << 100) + 7, "x") == format(cert.serial_number, "x")
    _audit_clean(home)


def test_crl_numbers_unique_under_concurrency(region) -> None:
    from concurrent.futures import ThreadPoolExecutor

    home, ks, _ = region
    service.generate_crl(home, ks)

    def work(i: int) -> list[int]:
        return [_crl_number(service.generate_crl(home, ks, delta=bool((i + j) % 2), actor=f"w{i}"))[0]
                for j in range(3)]

    with ThreadPoolExecutor(4) as pool:
        numbers = [n for ns in pool.map(work, range(4)) for n in ns]
    assert sorted(numbers) == list(range(2, 14))
    for ns in (numbers[i:i + 3] for i in range(0, 12, 3)):
        assert ns == sorted(ns)  # each worker sees its own numbers strictly increase
    _audit_clean(home)


@pytest.mark.interop
def test_cli_round_trip(eseal_cli, tmp_path, monkeypatch, openssl_bin, openssl_req) -> None:
    from store.home import Home

    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    home = tmp_path / "H"
    eseal = eseal_cli

    out = eseal("init", "--home", str(home), "--region-code", "440000", "--region-name", "广东省")
    assert str(home / "root.pem") in out and str(home / "admin.token") in out
    again = eseal("init", "--home", str(home), "--region-code", "440000", "--region-name", "广东省", code=1)
    assert "already" in again
    serial = eseal("cert", "issue", "--home", str(home), "--profile", "organization",
                   "--csr", str(openssl_req / "req.pem"), "--subject", "C=CN,O=某某局,CN=某某局",
                   "--credit-code", CREDIT_CODE, "--out", str(tmp_path / "cert.pem")).strip()
    assert int(serial, 16) >= 1 << 64
    bad = eseal("cert", "issue", "--home", str(home), "--profile", "organization",
                "--csr", str(openssl_req / "req.pem"), "--credit-code", "91350100M000100Y44",
                "--out", str(tmp_path / "bad.pem"), code=1)
    assert "check" in bad and not (tmp_path / "bad.pem").exists()
    eseal("ca", "chain", "--home", str(home), "--out", str(tmp_path / "chain.pem"))
    chain = [c for _, _, c in pem.unarmor((tmp_path / "chain.pem").read_bytes(), multiple=True)]
    assert chain[-1] == pem.unarmor((home / "root.pem").read_bytes())[2]
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", chain[0]))
    r = run([openssl_bin, "verify", "-partial_chain", "-vfyopt", DISTID,
             "-CAfile", str(tmp_path / "issuing.pem"), str(tmp_path / "cert.pem")])
    assert r.returncode == 0, r.stdout + r.stderr

    assert "revoked" in eseal("cert", "revoke", "--home", str(home), "--serial", serial, "--reason", "keyCompromise")
    assert "revocation is final" in eseal("cert", "revoke", "--home", str(home), "--serial", serial,
                                          "--reason", "keyCompromise", code=1)
    assert "no certificate" in eseal("cert", "revoke", "--home", str(home), "--serial", "abcdef0123456789",
                                     "--reason", "keyCompromise", code=1)
    eseal("crl", "--home", str(home), "--out", str(tmp_path / "crl.der"))
    eseal("crl", "--home", str(home), "--out", str(tmp_path / "delta.der"), "--delta")
    full, _, entries = _crl_number((tmp_path / "crl.der").read_bytes())
    delta, base, _ = _crl_number((tmp_path / "delta.der").read_bytes())
    assert entries == [(int(serial, 16), "key_compromise")] and base == full < delta
    text = run([openssl_bin, "crl", "-inform", "DER", "-in", str(tmp_path / "crl.der"), "-noout", "-text"])
    assert "Key Compromise" in text.stdout
    monkeypatch.setenv("ESEAL_PASSPHRASE", "wrong passphrase!")
    assert "passphrase" in eseal("crl", "--home", str(home), "--out", str(tmp_path / "x.der"), code=1).lower()
    opened = Home.open(home)
    try:
        _audit_clean(opened)
    finally:
        opened.close()


def test_four_processes_issue_and_revoke(region, tmp_path) -> None:
    import multiprocessing

    from ca.csr import build_csr
    from ca.testing import LocalSigner, issue_revoke_worker
    from store.models.ca import IssuedCertificate

    home, ks, _ = region
    workers, count = 4, 8
    csr_der = build_csr(LocalSigner(), "C=CN,O=测试,CN=设备").dump()
    out = tmp_path / "crls"
    out.mkdir()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(workers)
    procs = [ctx.Process(target=issue_revoke_worker,
                         args=(str(home.path), PASSPHRASE, csr_der, count, str(out), f"w{w}", start))
             for w in range(workers)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(timeout=240)
    assert [p.exitcode for p in procs] == [0] * workers

    with transaction(home.engine, readonly=True) as s:
        rows = s.query(IssuedCertificate).filter(IssuedCertificate.profile == "device").all()
    assert len(rows) == workers * count == len({r.serial for r in rows})
    revoked = {r.serial for r in rows if r.status == "revoked"}
    assert len(revoked) == workers * count // 2
    numbers: dict[str, list[int]] = {}
    for path in sorted(out.iterdir()):
        numbers.setdefault(path.name.split("-")[0], []).append(_crl_number(path.read_bytes())[0])
    every = [n for ns in numbers.values() for n in ns]
    assert sorted(every) == list(range(1, workers * count // 2 + 1))  # unique, no gaps
    for ns in numbers.values():
        assert ns == sorted(ns)
    _, _, entries = _crl_number(service.generate_crl(home, ks))
    assert {format(s, "x") for s, _ in entries} == revoked
    actions = _actions(home)
    assert actions.count("cert.issue") == workers * count + 5 and actions.count("cert.revoke") == len(revoked)
    _audit_clean(home)


@pytest.mark.interop
def test_ocsp_good_revoked_unknown(region, openssl_bin, openssl_req, tmp_path) -> None:
    from asn1crypto import ocsp as aocsp

    home, ks, _ = region
    csr = (openssl_req / "req.pem").read_bytes()
    good, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    bad, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    held, _ = service.issue_certificate(home, ks, profile="organization", csr_pem=csr, credit_code=CREDIT_CODE)
    service.revoke(home, bad, "keyCompromise")
    service.suspend(home, held)
    chain = [c for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", chain[0]))
    expected = {good: "good", bad: "revoked", held: "revoked", "7" * 32: "unknown"}
    for serial, status in expected.items():
        req, resp = tmp_path / f"{serial}.req", tmp_path / f"{serial}.resp"
        subprocess.run([openssl_bin, "ocsp", "-issuer", str(tmp_path / "issuing.pem"), "-serial", f"0x{serial}",
                        "-reqout", str(req)], check=True, capture_output=True)
        resp.write_bytes(service.ocsp_respond(home, ks, req.read_bytes()))
        text = run([openssl_bin, "ocsp", "-respin", str(resp), "-resp_text", "-noverify"])
        assert text.returncode == 0, text.stderr
        assert f"Cert Status: {status}" in text.stdout, text.stdout
        if serial == bad:
            assert "Revocation Reason: keyCompromise (0x1)" in text.stdout
        if serial == held:
            assert "Revocation Reason: certificateHold (0x6)" in text.stdout
        parsed = aocsp.OCSPResponse.load(resp.read_bytes())
        # signed by the delegated responder (certificate included, issued by the issuing CA):
        # the signature verifies over the TBS bytes with the signer ID (openssl pkeyutl)
        from ca import ocsp as cocsp

        basic = parsed.basic_ocsp_response
        responder_cert = basic["certs"][0]
        assert responder_cert.issuer == pem_cert(tmp_path / "issuing.pem").subject
        (tmp_path / "responder.pem").write_bytes(to_pem(responder_cert))
        subprocess.run([openssl_bin, "x509", "-in", str(tmp_path / "responder.pem"), "-pubkey", "-noout",
                        "-out", str(tmp_path / "responder.pub")], check=True)
        tbs, sig = cocsp.tbs_of(resp.read_bytes())
        (tmp_path / "tbs.der").write_bytes(tbs)
        (tmp_path / "sig.der").write_bytes(sig)
        v = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "responder.pub"), "-rawin",
                 "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(tmp_path / "tbs.der"),
                 "-sigfile", str(tmp_path / "sig.der")])
        assert "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr
        assert parsed.nonce_value.native == aocsp.OCSPRequest.load(req.read_bytes()).nonce_value.native
    malformed = aocsp.OCSPResponse.load(service.ocsp_respond(home, ks, b"\x30\x00"))
    assert malformed["response_status"].native == "malformed_request"


def test_crl_entries_follow_the_lifecycle_and_backfill_makes_the_same(region) -> None:
    """ca_crl_entries holds exactly the suspended and revoked certificates, written by
    suspend / revoke / resume; migration 0011's backfill makes the same bytes from the rows."""
    from sqlalchemy import delete, select

    from ca.crl_entries import backfill, read_elements
    from ca.csr import build_csr
    from ca.testing import LocalSigner
    from store.models.ca import CRLEntry, IssuedCertificate

    home, ks, _ = region
    csr = pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,O=某某局,CN=设备").dump())
    held, revoked, held_then_revoked, resumed = (
        service.issue_certificate(home, ks, profile="device", csr_pem=csr)[0] for _ in range(4))
    service.suspend(home, held)
    service.revoke(home, revoked, "keyCompromise", invalidity_date=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    service.suspend(home, held_then_revoked)
    service.revoke(home, held_then_revoked, "unspecified")
    service.suspend(home, resumed)
    service.resume(home, resumed)

    def entries() -> dict[str, bytes]:
        with transaction(home.engine) as s:
            return {serial: bytes(der) for serial, der in s.execute(
                select(IssuedCertificate.serial, CRLEntry.entry).join(
                    CRLEntry, CRLEntry.certificate_id == IssuedCertificate.id))}

    written = entries()
    assert set(written) == {held, revoked, held_then_revoked}
    _, _, listed = _crl_number(service.generate_crl(home, ks))
    assert {(format(s, "x"), r) for s, r in listed} == {
        (held, "certificate_hold"), (revoked, "key_compromise"), (held_then_revoked, None)}
    with home.engine.begin() as conn:
        conn.execute(delete(CRLEntry))
        assert backfill(conn) == 3
        assert backfill(conn) == 0  # only what is missing
    assert entries() == written
    with transaction(home.engine) as s:  # joined by the database, or row by row: the same bytes
        issuer_id = s.scalar(select(IssuedCertificate.issuer_id).where(IssuedCertificate.serial == held))
        joined = read_elements(s, issuer_id)
        assert joined == read_elements(s, issuer_id, joined_by_database=False)
    assert joined[1] == 3 and sorted(joined[0]) == sorted(b"".join(written.values()))
