"""`eseal log` end to end: the region signs a tree head and proves an entry; a verifier in
another region checks it offline with only the artefact, the proof and the region's audit
key; `eseal audit verify` finds a rewritten log (SQLite and PostgreSQL)."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner
from sqlalchemy import text

from cli.main import main
from keystore.region import ensure_audit_key
from keystore.soft import SoftKeyStore
from store import translog
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "log test passphrase"


@pytest.fixture
def region(eseal_home: Home) -> Home:
    keys = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ensure_audit_key(keys, eseal_home, actor="admin")
    with transaction(make_sessionmaker(eseal_home.engine)) as s:
        for i in range(5):
            translog.append(s, kind="seal", subject=f"seal:{i}", artefact=f"SESeal #{i}".encode())
    return eseal_home


def test_sign_prove_and_check_offline(region: Home, tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    signed = runner.invoke(main, ["log", "sign", "--home", str(region.path)])
    assert signed.exit_code == 0, signed.output
    assert json.loads(signed.output)["size"] == 5
    proved = runner.invoke(main, ["log", "prove", "--home", str(region.path), "--subject", "seal:3"])
    assert proved.exit_code == 0, proved.output
    proof = tmp_path / "proof.json"
    proof.write_text(proved.output, encoding="utf-8")
    artefact = tmp_path / "seal.esl"
    artefact.write_bytes(b"SESeal #3")
    key = region.audit_public_key_path
    ok = runner.invoke(main, ["log", "check", "--proof", str(proof), "--artefact", str(artefact), "--public-key", str(key)])
    assert ok.exit_code == 0, ok.output
    assert "seal:3 is entry 3 of the tree of size 5" in ok.output
    artefact.write_bytes(b"SESeal #4")
    bad = runner.invoke(main, ["log", "check", "--proof", str(proof), "--artefact", str(artefact), "--public-key", str(key)])
    assert bad.exit_code == 1
    assert "NOT LOGGED: the artefact is not the one logged" in bad.output


def test_audit_verify_reports_a_rewritten_log(region: Home, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    assert runner.invoke(main, ["log", "sign", "--home", str(region.path)]).exit_code == 0
    clean = runner.invoke(main, ["audit", "verify", "--home", str(region.path)])
    assert clean.exit_code == 0, clean.output
    assert "transparency log: OK" in clean.output
    with region.engine.begin() as c:
        c.execute(text("UPDATE translog_entries SET subject = 'seal:forged' WHERE idx = 1"))
    tampered = runner.invoke(main, ["audit", "verify", "--home", str(region.path)])
    assert tampered.exit_code == 1
    assert "FINDING transparency log: log entry 1 (seal:forged) was altered" in tampered.output


def test_prove_unknown_subject_is_a_clear_error(region: Home, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    runner.invoke(main, ["log", "sign", "--home", str(region.path)])
    run = runner.invoke(main, ["log", "prove", "--home", str(region.path), "--subject", "cert:nope"])
    assert run.exit_code == 1
    assert "cert:nope is not in the log at tree size 5" in run.output
