"""kill -9 in the middle of sealing, 20 rounds, on SQLite and PostgreSQL.

A worker (tests/faults/seal_worker.py) seals an OFD, a PDF and raw data in turn with the
region's TSA, from three threads whose records share commits when they finish together
(store.group_commit), and writes each result like `eseal sign`; it is killed at a random moment.
Afterwards: every sealed file on disk is whole and its signature has its audit record and its
transparency-log entry; every sealing audit record has its log entry and the other way round
(one transaction); no half-written output file; `eseal audit verify` and
``translog.verify_log`` find nothing, and tree heads signed between rounds still match the
log; the seal still seals afterwards.
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

from asn1crypto import cms as acms
from click.testing import CliRunner
from sqlalchemy import select

from cli.main import main
from gm.sm2 import PublicKey
from gm.sm3 import sm3
from keystore.region import audit_signer
from seal import sealing
from store import audit, translog
from store.db import make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.models.translog import TransLogEntry
from store.testing import *  # noqa: F401,F403
from tests.faults.seal_worker import seal_inputs
from tests.helpers.region import seal_region

PASSPHRASE = "kill nine sealing passphrase"
ROUNDS = int(os.environ.get("ESEAL_FAULT_ROUNDS", "20"))
ROOT = Path(__file__).resolve().parents[1]
AGENCY = "GD-AMR"


def _region(home):
    made = seal_region(home, passphrase=PASSPHRASE, agency=AGENCY, name="广东省市场监督管理局",
                       base_url="http://pki.example")
    return make_sessionmaker(home.engine), made.keystore, made.es_id


def _audit_key(home) -> PublicKey:
    return PublicKey.from_pem(home.audit_public_key_path.read_bytes())


def _round(home_path: Path, es_id: str, out: Path, env: dict[str, str], rng: random.Random, first: int) -> None:
    ready = out / f"ready-{time.monotonic_ns()}"
    proc = subprocess.Popen([sys.executable, "-m", "tests.faults.seal_worker", str(home_path), es_id, str(out),
                             str(ready), str(first)], cwd=ROOT, env=env, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 90
    while not ready.exists():
        if proc.poll() is not None:
            raise AssertionError(f"worker died before starting: {proc.stderr.read().decode()[-2000:]}")
        assert time.monotonic() < deadline, "worker did not start within 90 s"
        time.sleep(0.02)
    time.sleep(rng.uniform(0.05, 6.0))  # somewhere inside sign / timestamp / audit + log / file write
    proc.send_signal(signal.SIGKILL)
    proc.wait(timeout=30)
    assert proc.returncode == -signal.SIGKILL, proc.stderr.read().decode()[-2000:]


def _logged_signature(path: Path) -> bytes:
    """The signature value a sealing logs, read back from the output file; raises on a damaged file."""
    data = path.read_bytes()
    if path.suffix == ".ofd":
        with zipfile.ZipFile(io.BytesIO(data)) as z:
            assert z.testzip() is None, f"{path.name}: a damaged zip member"
            values = [n for n in z.namelist() if n.endswith("SignedValue.dat")]
            assert len(values) == 1, f"{path.name}: {values}"
            return z.read(values[0])
    if path.suffix == ".pdf":
        from pyhanko.pdf_utils.reader import PdfFileReader

        signatures = PdfFileReader(io.BytesIO(data), strict=False).embedded_signatures
        assert len(signatures) == 1, f"{path.name}: {len(signatures)} signatures"
        return signatures[0].signer_info["signature"].native
    assert path.suffix == ".p7s", path.name
    info = acms.ContentInfo.load(data, strict=True)
    return info["content"]["signer_infos"][0]["signature"].native


def test_kill_9_during_sealing(eseal_home, tmp_path) -> None:
    sessions, ks, es_id = _region(eseal_home)
    out = tmp_path / "out"
    out.mkdir()
    env = dict(os.environ, ESEAL_PASSPHRASE=PASSPHRASE, PYTHONPATH=str(ROOT))
    env.pop("ESEAL_DATABASE_URL", None)  # the worker reads the database from the home's config
    rng = random.Random(8)
    heads = []
    for n in range(ROUNDS):
        _round(eseal_home.path, es_id, out, env, rng, first=n % 3)
        # a signed tree head over what survived each kill: the log must never be rewritten under it
        heads.append(translog.sign_tree_head(sessions, audit_signer(eseal_home, ks)))

    with transaction(eseal_home.engine, readonly=True) as s:
        signs = [json.loads(r.details) for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "seal.sign"))]
        logged = set(s.scalars(select(TransLogEntry.subject).where(TransLogEntry.kind == "sealed-document")))
        report = audit.verify(s)
        log_problems = translog.verify_log(s, _audit_key(eseal_home))
    assert report.ok, report.findings
    assert log_problems == [], log_problems

    audited = {d["signature_sm3"] for d in signs}
    assert len(audited) == len(signs), "one sealing recorded twice"
    assert {f"signature:{h}" for h in audited} == logged, "an audit record without its log entry, or the reverse"

    files = [p for p in out.iterdir() if p.suffix in (".ofd", ".pdf", ".p7s") and ".tmp-" not in p.name]
    assert files, "the workers sealed nothing: the kill came too early every time"
    kinds = {p.suffix for p in files}
    # each worker starts with another kind; on a slow machine a worker may die inside its first one
    assert len(kinds) >= 2 or ROUNDS < 6, f"only {kinds} were ever written"
    for path in files:
        digest = sm3(_logged_signature(path)).hex()
        assert digest in audited, f"{path.name}: a sealed document without its audit record"
    # a kill between write and rename leaves a temporary file, never a partial document under its name
    leftovers = [p.name for p in out.iterdir() if ".tmp-" in p.name]
    assert all(name.startswith(".") for name in leftovers), leftovers
    assert len(audited) >= len(files)
    # the kills met shared commits too: some worker wrote a group of more than one sealing
    largest = max((int(p.read_text() or 0) for p in out.glob("*.groups")), default=0)
    assert largest >= 2, f"no two sealings ever shared a commit (largest group {largest})"
    print(f"\nkill -9 during sealing: {ROUNDS} rounds, {len(signs)} sealings recorded, {len(files)} sealed files "
          f"({', '.join(sorted(kinds))}) all whole and audited, {len(leftovers)} temporary files left by a kill "
          f"before rename, {len(heads)} tree heads consistent, largest shared commit {largest} sealings")

    # `eseal audit verify`, the command an auditor runs, agrees
    run = CliRunner().invoke(main, ["audit", "verify", "--home", str(eseal_home.path)])
    assert run.exit_code == 0, run.output
    assert "FINDING" not in run.output

    # the seal still seals, and the log still grows consistently from every head signed above
    grant = sealing.authorise(eseal_home, ks, es_id, actor="after")
    sealed = sealing.seal_document(eseal_home, ks, grant, seal_inputs()[2][1], cms=True)
    assert sealed.format == "cms"
    last = translog.sign_tree_head(sessions, audit_signer(eseal_home, ks))
    for head in heads:
        proof = translog.prove_consistency(sessions, head.size, last.size)
        assert translog.check_consistency(proof, head, last, _audit_key(eseal_home)) == []
