"""`eseal demo` (what `make serve` runs until the API lands) works from nothing and again on reopen."""
from __future__ import annotations

from click.testing import CliRunner

from cli.main import main
from keystore.demo import run_demo


def test_demo_creates_then_reopens(tmp_path, monkeypatch):
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    monkeypatch.setenv("ESEAL_PASSPHRASE", "a demo passphrase")
    runner = CliRunner()
    first = runner.invoke(main, ["demo", "--home", str(tmp_path / "h")])
    assert first.exit_code == 0, first.output
    assert "created" in first.output and "signature verifies with the public key: yes" in first.output
    second = runner.invoke(main, ["demo", "--home", str(tmp_path / "h")])
    assert second.exit_code == 0, second.output
    assert "reopened" in second.output
    result = run_demo(tmp_path / "h", "a demo passphrase")
    assert result.signature_valid and result.tampered_document_rejected and result.audit_ok
    # each run generates nothing new after the first, but every signature is audited
    assert result.audit_records > 3


def test_demo_refuses_wrong_passphrase(tmp_path, monkeypatch):
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    run_demo(tmp_path / "h", "right passphrase")
    monkeypatch.setenv("ESEAL_PASSPHRASE", "wrong passphrase")
    result = CliRunner().invoke(main, ["demo", "--home", str(tmp_path / "h")])
    assert result.exit_code == 1
    assert "Error:" in result.output and "passphrase" in result.output.lower()
    assert result.exception is None or isinstance(result.exception, SystemExit)
