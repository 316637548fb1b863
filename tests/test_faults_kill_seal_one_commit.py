"""kill -9 in the middle of sealings that commit once (no timestamp: the key store's key-use
record, the seal.sign audit record and the transparency-log entry share one transaction),
20 rounds, on SQLite and PostgreSQL.

Afterwards: every sealed file on disk has its seal.sign record and its log entry; seal.sign
records, key-use records of the signer key and log entries match one for one (a kill never
leaves a key use recorded without its sealing, or the reverse); the audit chain and the log
verify; the seal still seals.
"""
from __future__ import annotations

import io
import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

from sqlalchemy import select

from gm.sm3 import sm3
from seal import sealing
from store import audit, translog
from store.db import transaction
from store.models.audit import AuditRecord
from store.models.translog import TransLogEntry
from store.testing import *  # noqa: F401,F403
from tests.faults.seal_fast_worker import document
from tests.test_faults_kill_seal import PASSPHRASE, _audit_key, _region

ROUNDS = int(os.environ.get("ESEAL_FAULT_ROUNDS", "20"))
ROOT = Path(__file__).resolve().parents[1]


def _round(home_path: Path, es_id: str, out: Path, env: dict[str, str], rng: random.Random) -> None:
    ready = out / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.seal_fast_worker", str(home_path), es_id, str(out),
                             str(ready)], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker died before starting: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "worker did not start within 90 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.02, 3.0))
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]


def test_kill_9_during_one_commit_sealing(eseal_home, tmp_path) -> None:
    _, ks, es_id = _region(eseal_home)
    key_ref = sealing.authorise(eseal_home, ks, es_id, actor="setup").key_ref
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, ESEAL_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(ROOT))
    env.pop("ESEAL_DATABASE_URL", None)  # the worker reads the database from the home's config
    rng = random.Random(9)
    for _ in range(ROUNDS):
        _round(eseal_home.path, es_id, out, env, rng)

    with transaction(eseal_home.engine, readonly=True) as s:
        signs = [json.loads(r.details) for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "seal.sign"))]
        key_uses = s.scalars(select(AuditRecord).where(AuditRecord.subject == key_ref,
                                                       AuditRecord.action.like("key.sign%"))).all()
        logged = set(s.scalars(select(TransLogEntry.subject).where(TransLogEntry.kind == "sealed-document")))
        report = audit.verify(s)
        log_problems = translog.verify_log(s, _audit_key(eseal_home))
    assert report.ok, report.findings
    assert log_problems == [], log_problems
    audited = {d["signature_sm3"] for d in signs}
    assert len(audited) == len(signs) == len(key_uses), (len(signs), len(key_uses))
    assert {f"signature:{h}" for h in audited} == logged

    files = [p for p in out.iterdir() if p.suffix == ".ofd" and ".tmp-" not in p.name]
    assert files, "the workers sealed nothing: the kill came too early every time"
    for path in files:
        with zipfile.ZipFile(io.BytesIO(path.read_bytes())) as z:
            assert z.testzip() is None, f"{path.name}: a damaged zip member"
            (value,) = [n for n in z.namelist() if n.endswith("SignedValue.dat")]
            assert sm3(z.read(value)).hex() in audited, f"{path.name}: a sealed document without its audit record"
    print(f"\nkill -9 during one-commit sealing: {ROUNDS} rounds, {len(signs)} sealings recorded with as many key "
          f"uses and log entries, {len(files)} sealed files all whole and audited")

    grant = sealing.authorise(eseal_home, ks, es_id, actor="after")
    sealed = sealing.seal_document(eseal_home, ks, grant, document(), timestamp=False)
    assert sealed.format == "ofd"
