"""`eseal audit verify --home H`: exit 0 on a clean log, 1 with the finding named on a tampered one."""

from __future__ import annotations

from pathlib import Path

from click.testing import CliRunner

from cli.main import main
from gm.sm2 import PrivateKey
from store import audit
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.testing import *  # noqa: F401,F403


def _fill(home: Home, n: int, key: PrivateKey) -> None:
    factory = make_sessionmaker(home.engine, audit_signer=audit.SM2AuditSigner(key), checkpoint_every=4)
    for i in range(n):
        with transaction(factory) as s:
            audit.append(s, actor="operator:bob", action="seal.make", subject=f"seal:{i}", details={"i": i})


def test_verify_clean_and_tampered(eseal_home: Home) -> None:
    key = PrivateKey.generate()
    _fill(eseal_home, 8, key)
    eseal_home.audit_public_key_path.write_bytes(key.public_key.to_pem())
    runner = CliRunner()
    clean = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path)])
    assert clean.exit_code == 0, clean.output
    assert "0 finding(s): OK" in clean.output

    with eseal_home.engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            conn.exec_driver_sql("DROP TRIGGER audit_record_append_only ON audit_record")
        else:
            conn.exec_driver_sql("DROP TRIGGER audit_record_no_update")
        conn.exec_driver_sql("UPDATE audit_record SET actor = 'operator:mallory' WHERE seq = 3")
    tampered = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path)])
    assert tampered.exit_code == 1, tampered.output
    assert "FINDING edited at seq 3" in tampered.output


def test_verify_with_a_wrong_pinned_key_fails(eseal_home: Home, tmp_path: Path) -> None:
    _fill(eseal_home, 4, PrivateKey.generate())
    wrong = tmp_path / "wrong.pem"
    wrong.write_bytes(PrivateKey.generate().public_key.to_pem())
    result = CliRunner().invoke(main, ["audit", "verify", "--home", str(eseal_home.path), "--public-key", str(wrong)])
    assert result.exit_code == 1
    assert "FINDING bad_checkpoint_signature at seq 4" in result.output


def test_verify_on_a_missing_home_is_a_clear_error(tmp_path: Path) -> None:
    result = CliRunner().invoke(main, ["audit", "verify", "--home", str(tmp_path / "none")])
    assert result.exit_code == 2 and "not an eseal home" in result.output


def test_verify_records_the_verification_in_the_log(eseal_home: Home) -> None:
    import json

    from sqlalchemy import select

    from store.models.audit import AuditRecord

    _fill(eseal_home, 5, PrivateKey.generate())
    runner = CliRunner()
    first = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path), "--actor", "auditor:li"])
    assert first.exit_code == 0 and "verification recorded as audit record 6 (audit.verify)" in first.output
    as_json = runner.invoke(main, ["audit", "verify", "--home", str(eseal_home.path), "--actor", "auditor:li", "--json"])
    assert as_json.exit_code == 0 and json.loads(as_json.stdout)["recorded_seq"] == 7
    with transaction(eseal_home.engine, readonly=True) as s:
        rows = s.execute(select(AuditRecord.seq, AuditRecord.actor, AuditRecord.details)
                         .where(AuditRecord.action == "audit.verify").order_by(AuditRecord.seq)).all()
    assert [(seq, actor) for seq, actor, _ in rows] == [(6, "auditor:li"), (7, "auditor:li")]
    first_details, second_details = (json.loads(details) for _, _, details in rows)
    assert first_details["ok"] is True and first_details["head_seq"] == 5 and first_details["findings"] == 0
    assert second_details["head_seq"] == 6  # the second verification covered the first one's record
