"""`eseal keys init / unlock / list` through click's CliRunner: exit codes and messages."""
from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from cli.main import main
from keystore import SoftKeyStore, Usage
from store.home import Home
from store.testing import *  # noqa: F401,F403


@pytest.fixture
def home_with_shares(eseal_home: Home, tmp_path: Path, monkeypatch):
    monkeypatch.delenv("ESEAL_PASSPHRASE", raising=False)
    shares = tmp_path / "shares"
    result = CliRunner().invoke(
        main,
        ["keys", "init", "--home", str(eseal_home.path), "--custodians", "5", "--threshold", "3",
         "--shares-out", str(shares), "--actor", "setup-admin"],
    )
    assert result.exit_code == 0, result.output
    files = sorted(shares.glob("share-*-of-5.json"))
    assert len(files) == 5
    assert all((f.stat().st_mode & 0o077) == 0 for f in files)  # owner-only
    return eseal_home, files


def _unlock(home: Home, files: list[Path]):
    args = ["keys", "unlock", "--home", str(home.path)]
    for f in files:
        args += ["--share", str(f)]
    return CliRunner().invoke(main, args)


def test_cli_three_shares_unlock(home_with_shares):
    home, files = home_with_shares
    result = _unlock(home, [files[0], files[2], files[4]])
    assert result.exit_code == 0, result.output
    assert "unlock OK: 3 custodian shares rebuild the key-encryption key" in result.output


def test_cli_two_shares_fail(home_with_shares):
    home, files = home_with_shares
    result = _unlock(home, files[:2])
    assert result.exit_code == 1
    assert "unlock failed: 2 share(s) given, 3 different custodian shares are needed" in result.output


def test_cli_corrupted_share_is_named(home_with_shares, tmp_path):
    home, files = home_with_shares
    doc = json.loads(files[1].read_text())
    doc["share"] = doc["share"][:-2] + ("00" if doc["share"][-2:] != "00" else "11")
    bad = tmp_path / "custodian-2.json"
    bad.write_text(json.dumps(doc))
    result = _unlock(home, [files[0], bad, files[3]])
    assert result.exit_code == 1
    assert f"{bad}: share 2 is corrupted" in result.output


def test_cli_unreadable_share_is_named(home_with_shares, tmp_path):
    home, files = home_with_shares
    missing = tmp_path / "nope.json"
    result = _unlock(home, [files[0], files[1], missing])
    assert result.exit_code == 1
    assert str(missing) in result.output and "cannot read share file" in result.output


def test_cli_passphrase_init_unlock_and_list(eseal_home, tmp_path, monkeypatch):
    monkeypatch.setenv("ESEAL_PASSPHRASE", "operator passphrase 42")
    runner = CliRunner()
    result = runner.invoke(main, ["keys", "init", "--home", str(eseal_home.path)])
    assert result.exit_code == 0, result.output
    assert "activation: passphrase" in result.output

    store = SoftKeyStore.from_home(eseal_home)
    store.unlock_with_passphrase("operator passphrase 42")
    store.generate("region-root", Usage.CA, actor="admin")
    store.generate("holder-1", Usage.PERSONAL_SEAL, actor="admin")

    result = runner.invoke(main, ["keys", "unlock", "--home", str(eseal_home.path)])
    assert result.exit_code == 0 and "unlock OK: the passphrase" in result.output
    wrong = tmp_path / "wrong.txt"
    wrong.write_text("not it at all\n")
    result = runner.invoke(main, ["keys", "unlock", "--home", str(eseal_home.path), "--passphrase-file", str(wrong)])
    assert result.exit_code == 1 and "wrong passphrase" in result.output

    result = runner.invoke(main, ["keys", "list", "--home", str(eseal_home.path)])
    assert result.exit_code == 0, result.output
    assert "region-root  ca  active" in result.output
    assert "holder-1  personal-seal  active" in result.output and "pin-not-set" in result.output

    result = runner.invoke(main, ["keys", "init", "--home", str(eseal_home.path)])
    assert result.exit_code == 1 and "already holds a key store" in result.output


def test_cli_init_needs_an_activation_method(eseal_home, monkeypatch):
    monkeypatch.delenv("ESEAL_PASSPHRASE", raising=False)
    result = CliRunner().invoke(main, ["keys", "init", "--home", str(eseal_home.path)])
    assert result.exit_code == 2 and "--custodians" in result.output
