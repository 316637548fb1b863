"""Audit checkpoints signed by the audit key held in the key store (keystore.region), on SQLite and PostgreSQL."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from cli.main import main
from gm.sm2 import PrivateKey, PublicKey
from keystore.audit_signer import KeyStoreAuditSigner
from keystore.errors import KeyStoreError, KeyStoreLocked, PolicyDenied
from keystore.policy import Usage
from keystore.region import AUDIT_KEY_LABEL, ensure_audit_key, final_checkpoint, open_sessions, running
from keystore.soft import SoftKeyStore
from store import audit
from store.audit import FindingKind
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.models import AuditCheckpoint, AuditRecord
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "region passphrase 1"


@pytest.fixture
def keys(eseal_home: Home) -> SoftKeyStore:
    return SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store


def _counts(home: Home) -> tuple[int, int]:
    with transaction(home.engine, readonly=True) as s:
        return (
            s.scalar(select(func.count()).select_from(AuditRecord)),
            s.scalar(select(func.count()).select_from(AuditCheckpoint)),
        )


def _append(sessions, n: int, actor: str = "ca-service") -> None:
    for i in range(n):
        with transaction(sessions) as s:
            audit.append(s, actor=actor, action="cert.issue", subject=f"cert:{i:04x}", details={"i": i})


def _verify(home: Home, public_key=None) -> audit.AuditReport:
    with transaction(home.engine, readonly=True) as s:
        return audit.verify(s, public_key=public_key)


def _checkpoints(home: Home) -> list[AuditCheckpoint]:
    with transaction(home.engine, readonly=True) as s:
        return list(s.scalars(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)))


def test_checkpoints_signed_in_the_keystore_verify_under_the_audit_key_only(eseal_home: Home, keys: SoftKeyStore) -> None:
    ref = ensure_audit_key(keys, eseal_home, actor="admin")
    assert keys.info(ref).usage == Usage.AUDIT.value and keys.info(ref).label == AUDIT_KEY_LABEL
    published = eseal_home.audit_public_key_path.read_bytes()
    assert PublicKey.from_pem(published).to_bytes() == keys.public_key(ref).to_bytes()
    assert ensure_audit_key(keys, eseal_home, actor="admin") == ref  # idempotent: no second key

    sessions = make_sessionmaker(eseal_home.engine, audit_signer=KeyStoreAuditSigner(keys, ref), checkpoint_every=3)
    _append(sessions, 7)
    cps = _checkpoints(eseal_home)
    records, _ = _counts(eseal_home)
    assert records == 9  # keystore.init, key.generate, then 7 appends through the signing sessions
    assert [c.seq for c in cps] == [3, 6, 9]
    assert all(c.key_id == ref and bytes(c.public_key) == keys.public_key(ref).to_bytes() for c in cps)

    good = _verify(eseal_home, public_key=published)
    assert good.ok and good.key_pinned and good.last_valid_checkpoint == cps[-1].seq
    other = _verify(eseal_home, public_key=PrivateKey.generate().public_key.to_pem())
    assert not other.ok
    assert {f.kind for f in other.findings} == {FindingKind.BAD_CHECKPOINT_SIGNATURE}
    assert [f.seq for f in other.findings] == [c.seq for c in cps]


def test_checkpoint_signing_writes_no_audit_record(eseal_home: Home, keys: SoftKeyStore) -> None:
    ref = ensure_audit_key(keys, eseal_home, actor="admin")
    signer = KeyStoreAuditSigner(keys, ref)
    _append(make_sessionmaker(eseal_home.engine), 2)
    before = _counts(eseal_home)
    with transaction(eseal_home.engine) as s:
        row = audit.checkpoint(s, signer)
    assert row is not None and row.seq == before[0]
    # one checkpoint more, not one record more (a key.sign record would also move the head)
    assert _counts(eseal_home) == (before[0], before[1] + 1)
    sig = keys.sign_audit_checkpoint(ref, b"message")
    assert keys.public_key(ref).verify(sig, b"message")
    assert _counts(eseal_home) == (before[0], before[1] + 1)
    # whereas the ordinary sign path audits every use
    keys.sign(ref, b"message", actor="auditor", role="audit")
    assert _counts(eseal_home)[0] == before[0] + 1


def test_locked_keystore_refuses_to_sign_checkpoints(eseal_home: Home, keys: SoftKeyStore) -> None:
    ref = ensure_audit_key(keys, eseal_home, actor="admin")
    sessions = open_sessions(eseal_home, keys)
    keys.lock()
    with pytest.raises(KeyStoreLocked):
        keys.sign_audit_checkpoint(ref, b"data")
    with pytest.raises(KeyStoreLocked):
        KeyStoreAuditSigner(keys, ref).sign(b"data")
    _append(make_sessionmaker(eseal_home.engine), 1)
    before = _counts(eseal_home)
    with pytest.raises(KeyStoreLocked):
        final_checkpoint(sessions)
    assert _counts(eseal_home) == before  # nothing half-written
    keys.unlock_with_passphrase(PASSPHRASE)
    assert final_checkpoint(sessions) is not None
    assert _verify(eseal_home, public_key=eseal_home.audit_public_key_path.read_bytes()).ok


def test_non_audit_keys_are_refused(eseal_home: Home, keys: SoftKeyStore) -> None:
    seal = keys.generate("agency-seal", Usage.SEAL, actor="admin")
    with pytest.raises(PolicyDenied, match="audit"):
        keys.sign_audit_checkpoint(seal, b"data")
    with pytest.raises(PolicyDenied):
        KeyStoreAuditSigner(keys, seal)
    # a key merely labelled "audit" is not the audit key either
    keys.generate(AUDIT_KEY_LABEL, Usage.SEAL, actor="admin")
    with pytest.raises(KeyStoreError, match="usage"):
        ensure_audit_key(keys, eseal_home, actor="admin")
    assert not eseal_home.audit_public_key_path.exists()


def test_a_pinned_key_file_of_another_key_is_not_overwritten(eseal_home: Home, keys: SoftKeyStore) -> None:
    other = PrivateKey.generate().public_key.to_pem()
    eseal_home.audit_public_key_path.write_bytes(other)
    with pytest.raises(KeyStoreError, match="different public key"):
        ensure_audit_key(keys, eseal_home, actor="admin")
    with pytest.raises(KeyStoreError, match="different public key"):
        open_sessions(eseal_home, keys)
    assert eseal_home.audit_public_key_path.read_bytes() == other


def test_leaving_running_writes_a_final_checkpoint(eseal_home: Home, keys: SoftKeyStore) -> None:
    ensure_audit_key(keys, eseal_home, actor="admin")
    pinned = eseal_home.audit_public_key_path.read_bytes()
    with running(eseal_home, keys) as sessions:
        _append(sessions, 3)
        assert _checkpoints(eseal_home) == []  # checkpoint_every is 1000: none yet
    last = _counts(eseal_home)[0]
    cps = _checkpoints(eseal_home)
    assert [c.seq for c in cps] == [last]
    report = _verify(eseal_home, public_key=pinned)
    assert report.ok and report.last_valid_checkpoint == report.last_seq == last
    assert not any("not yet covered" in w for w in report.warnings)

    with pytest.raises(RuntimeError, match="boom"):
        with running(eseal_home, keys) as sessions:
            _append(sessions, 2)
            raise RuntimeError("boom")
    last = _counts(eseal_home)[0]
    assert _checkpoints(eseal_home)[-1].seq == last
    assert _verify(eseal_home, public_key=pinned).last_valid_checkpoint == last


def test_running_respects_checkpoint_every(eseal_home: Home, keys: SoftKeyStore, monkeypatch) -> None:
    ensure_audit_key(keys, eseal_home, actor="admin")
    monkeypatch.setenv("ESEAL_AUDIT_CHECKPOINT_EVERY", "2")
    home = Home.open(eseal_home.path)
    try:
        with running(home, keys) as sessions:
            _append(sessions, 4)
            assert len(_checkpoints(home)) >= 2
        assert _verify(home, public_key=home.audit_public_key_path.read_bytes()).ok
    finally:
        home.close()


def _tamper_record(home: Home, seq: int) -> None:
    with home.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_record_append_only ON audit_record")
        else:
            conn.exec_driver_sql("DROP TRIGGER IF EXISTS audit_record_no_update")
        conn.exec_driver_sql(f"UPDATE audit_record SET actor = 'mallory' WHERE seq = {int(seq)}")


def test_region_cli_verify_pins_the_keystore_key(eseal_home: Home, keys: SoftKeyStore) -> None:
    ensure_audit_key(keys, eseal_home, actor="admin")
    with running(eseal_home, keys) as sessions:
        _append(sessions, 3)
    runner = CliRunner()
    clean = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path)])
    assert clean.exit_code == 0, clean.output
    assert f"pinned audit key {eseal_home.audit_public_key_path}" in clean.output
    _tamper_record(eseal_home, 4)
    tampered = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path)])
    assert tampered.exit_code == 1, tampered.output
    assert "FINDING edited at seq 4" in tampered.output


def test_demo_twice_then_audit_verify_pins_the_keystore_key(tmp_path: Path, monkeypatch) -> None:
    # `eseal demo` uses its home's default SQLite database (ESEAL_DATABASE_URL unset);
    # the same flow on PostgreSQL is test_region_cli_verify_pins_the_keystore_key
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    monkeypatch.setenv("ESEAL_PASSPHRASE", "a demo passphrase")
    home_path = tmp_path / "demo"
    runner = CliRunner()
    for _ in range(2):
        run = runner.invoke(main, ["demo", "--home", str(home_path)])
        assert run.exit_code == 0, run.output
        assert "signed by the key store's audit key" in run.output

    pem = (home_path / "audit-signer.pub.pem").read_bytes()
    with Home.open(home_path) as home:
        keys = SoftKeyStore.from_home(home)
        audit_key = keys.find(AUDIT_KEY_LABEL)
        assert PublicKey.from_pem(pem).to_bytes() == bytes(audit_key.public_key)
        records, _ = _counts(home)
        cps = _checkpoints(home)
        assert len(cps) == 2 and cps[-1].seq == records  # one per run, the last covers everything
        assert all(c.key_id == audit_key.key_ref for c in cps)

    clean = runner.invoke(main, ["audit", "verify", "--home", str(home_path)])
    assert clean.exit_code == 0, clean.output
    assert f"pinned audit key {home_path / 'audit-signer.pub.pem'}" in clean.output
    assert "0 finding(s): OK" in clean.output

    with Home.open(home_path) as home:
        _tamper_record(home, 2)
    tampered = runner.invoke(main, ["audit", "verify", "--home", str(home_path)])
    assert tampered.exit_code == 1, tampered.output
    assert "FINDING edited at seq 2" in tampered.output
