"""kill -9 in the middle of issuance, revocation and CRL signing, 20 rounds, on SQLite and
PostgreSQL. Afterwards: no duplicate serial, no certificate without its audit record, no
revocation without one, CRL numbers unique, no half-written CRL file, and the audit chain
verifies. (Sealing gets the same treatment in test_faults_kill_seal.py.)"""
from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from pathlib import Path

from asn1crypto import crl as acrl
from sqlalchemy import select

from ca import service
from keystore.soft import SoftKeyStore
from store import audit
from store.db import make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.models.ca import IssuedCertificate
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "kill nine passphrase"
ROUNDS = int(os.environ.get("ESEAL_FAULT_ROUNDS", "20"))
ROOT = Path(__file__).resolve().parents[1]


def _round(home_path: Path, out: Path, env: dict[str, str], rng: random.Random) -> None:
    ready = out / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.ca_worker", str(home_path), str(out), str(ready)],
                            cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 60
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker died before starting: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "worker did not start within 60 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.1, 1.5))  # somewhere inside issue / revoke / CRL / file write
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]


def test_kill_9_during_issuance_and_crl_signing(eseal_home, tmp_path) -> None:
    sessions = make_sessionmaker(eseal_home.engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url="http://pki.example")
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, ESEAL_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(ROOT))
    rng = random.Random(9)
    for _ in range(ROUNDS):
        _round(eseal_home.path, out, env, rng)

    with transaction(eseal_home.engine, readonly=True) as s:
        certs = s.execute(select(IssuedCertificate.serial, IssuedCertificate.status)
                          .where(IssuedCertificate.profile == "device")).all()
        records = s.execute(select(AuditRecord.action, AuditRecord.subject)).all()
        report = audit.verify(s)
    assert report.ok, report.findings
    assert certs, "the workers issued nothing: the kill came too early every time"
    serials = [c.serial for c in certs]
    assert len(serials) == len(set(serials))
    issued = {subj for action, subj in records if action == "cert.issue"}
    revoked = {subj for action, subj in records if action == "cert.revoke"}
    assert {f"cert:{s}" for s in serials} <= issued, "a certificate without its audit record"
    assert {f"cert:{c.serial}" for c in certs if c.status == "revoked"} == revoked & {f"cert:{s}" for s in serials}

    numbers = []
    for path in out.glob("*.crl"):
        crl = acrl.CertificateList.load(path.read_bytes(), strict=True)  # raises on a truncated file
        numbers.append(crl.crl_number_value.native)
    assert numbers, "no CRL was ever written"
    assert len(numbers) == len(set(numbers))
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    # a kill between write and rename may leave a temporary file, never a partial .crl
    assert all(not name.endswith(".crl") for name in leftovers)
    # the region still works after the carnage
    serial, _ = service.issue_certificate(eseal_home, ks, profile="device",
                                          csr_pem=_csr(), subject="C=CN,O=测试,CN=after")
    assert service.certificate_status(eseal_home, serial).status == "good"


def _csr() -> bytes:
    from ca.csr import build_csr
    from ca.testing import LocalSigner
    return build_csr(LocalSigner(), "C=CN,O=测试,CN=设备").dump()
