"""Malformed input to the `eseal` commands is one clear message and a documented exit code,
never a traceback (click reports an uncaught exception with exit code 1 and no message of
ours: ``result.exception`` is then not a SystemExit)."""
from __future__ import annotations

import pytest
from click.testing import CliRunner, Result

from ca.testing import soft_region
from cli.main import load_all
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "hostile input passphrase"


def eseal(*args: object, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(load_all(), [str(a) for a in args], env=env)


def refused(result: Result, code: int, message: str) -> None:
    """Exit ``code`` with ``message`` and no uncaught exception behind it."""
    assert isinstance(result.exception, SystemExit), (result.exception, result.output)
    assert result.exit_code == code, (result.exit_code, result.output)
    assert message in result.output, result.output
    assert "Traceback" not in result.output


@pytest.fixture
def region(eseal_home, monkeypatch):
    soft_region(eseal_home, PASSPHRASE)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    return eseal_home


def test_a_home_whose_database_is_not_a_database(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "eseal.toml").write_text("# eseal configuration\n", encoding="utf-8")
    (home / "eseal.db").write_bytes(b"this is not a SQLite database" * 10)
    for args in (["keys", "list"], ["seal", "list"], ["init", "--region-code", "440000", "--region-name", "x"]):
        refused(eseal(*args, "--home", home, env={"ESEAL_PASSPHRASE": PASSPHRASE}), 1,
                f"cannot use the database of {home}")
    refused(eseal("audit", "verify", "--home", home), 2, "file is not a database")


def test_a_home_whose_database_server_is_down(tmp_path) -> None:
    home = tmp_path / "home"
    home.mkdir()
    (home / "eseal.toml").write_text('database_url = "postgresql://eseal:secret@127.0.0.1:1/eseal"\n',
                                     encoding="utf-8")
    result = eseal("keys", "list", "--home", home)
    refused(result, 1, f"cannot use the database of {home} (postgresql+psycopg://eseal:***@127.0.0.1:1/eseal)")
    assert "secret" not in result.output


def test_audit_verify_with_a_pinned_key_that_is_not_a_key(eseal_home, tmp_path) -> None:
    for name, data in (("garbage.pem", b"\x93" * 300), ("truncated.pem", b"-----BEGIN PUBLIC KEY-----\nMFkw\n"),
                       ("empty.pem", b"")):
        (tmp_path / name).write_bytes(data)
        refused(eseal("audit", "verify", "--home", eseal_home.path, "--public-key", tmp_path / name), 2,
                "the pinned audit public key is not an SM2 public key")
