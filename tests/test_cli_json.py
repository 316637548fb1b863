"""`--json` on every command (issue: "human-readable output by default, --json for scripts").

Every leaf command of the `eseal` tree takes ``--json`` except the few named in ALLOWED_WITHOUT
(each with its reason). Run end to end against a home made by ``eseal init --demo`` (SQLite
and PostgreSQL), each command's stdout is one JSON document (nothing else: progress and
notices go to stderr) whose facts agree with the database and with the files written.
"""
from __future__ import annotations

import json
from pathlib import Path

import click
import pytest
from asn1crypto import crl as acrl
from asn1crypto import pem, x509
from click.testing import CliRunner

from ca import service as ca_service
from cli.main import load_all
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal.license import service as license_service
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "cli json passphrase"
KEY_PASS = "cli json key passphrase"
CITIZEN_ID = "11010519491231002X"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}

# Leaf commands without --json, each with the reason. Keep this short: a command belongs here only
# when it cannot print one document at its end.
ALLOWED_WITHOUT = {
    # Runs the HTTP service in the foreground until it is stopped: a long-running process whose
    # stdout is the server's start-up banner and log, not a result.
    "serve",
}


def _leaves(command: click.Command, path: tuple[str, ...] = ()) -> list[tuple[tuple[str, ...], click.Command]]:
    if isinstance(command, click.Group):
        return [leaf for name, sub in sorted(command.commands.items()) for leaf in _leaves(sub, (*path, name))]
    return [(path, command)]


def test_every_leaf_command_has_a_json_option() -> None:
    leaves = _leaves(load_all())
    names = {" ".join(path) for path, _ in leaves}
    assert ALLOWED_WITHOUT <= names, f"stale allow-list entries: {ALLOWED_WITHOUT - names}"
    missing = [" ".join(path) for path, cmd in leaves
               if " ".join(path) not in ALLOWED_WITHOUT and not any("--json" in p.opts for p in cmd.params)]
    assert not missing, f"commands without --json: {missing}"
    assert len(names) > 40  # the walk reached the groups' subcommands


def _json(*args: object, code: int = 0) -> dict:
    """Run the CLI with --json; its stdout must be exactly one JSON document."""
    res = CliRunner().invoke(load_all(), [*map(str, args), "--json"])
    assert res.exit_code == code, res.output
    return json.loads(res.stdout)


def _cert_serial(path: Path) -> str:
    return format(x509.Certificate.load(pem.unarmor(path.read_bytes())[2]).serial_number, "x")


@pytest.fixture
def demo_home(eseal_home, monkeypatch):
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    monkeypatch.setenv("ESEAL_KEY_PASSPHRASE", KEY_PASS)
    return eseal_home


def test_json_end_to_end(demo_home, tmp_path) -> None:
    home = demo_home
    h = home.path

    # init --demo: the region's serials, the files written, the demo agency's seal
    init = _json("init", "--home", h, "--region-code", "440000", "--region-name", "广东省", "--demo")
    assert init["region_code"] == "440000" and init["region_name"] == "广东省" and init["home"] == str(h)
    assert _cert_serial(Path(init["root_certificate"])) == init["root_serial"]
    assert Path(init["admin_token_path"]).is_file()
    assert init["service_serials"]
    for serial in init["service_serials"].values():
        assert ca_service.certificate_status(home, serial).status == "good"
    es_id = init["demo"]["es_id"]
    assert seal_service.get_seal(home, es_id).agency == init["demo"]["agency"]

    # cert issue: the serial printed is the one stored and the one in the file written
    issued = _json("cert", "issue", "--home", h, "--profile", "personal", "--generate-key", "--subject", "C=CN,CN=张三",
                   "--id-number", CITIZEN_ID, "--key-out", tmp_path / "key.pem", "--out", tmp_path / "cert.pem")
    serial = issued["serial"]
    assert issued["encryption_serial"] is None and issued["profile"] == "personal"
    assert ca_service.certificate_status(home, serial).status == "good"
    assert _cert_serial(Path(issued["out"])) == serial and Path(issued["key_out"]).is_file()

    # cert revoke
    revoked = _json("cert", "revoke", "--home", h, "--serial", serial, "--reason", "keyCompromise")
    row = ca_service.certificate_status(home, serial)
    assert revoked["serial"] == serial and revoked["status"] == row.status == "revoked"
    assert revoked["reason"] == row.reason == "keyCompromise"
    assert revoked["revoked_at"] == row.revoked_at.isoformat()

    # crl: the file written holds the CRL number reported, and lists the revoked certificate
    crl = _json("crl", "--home", h, "--out", tmp_path / "ca.crl")
    signed = acrl.CertificateList.load(Path(crl["out"]).read_bytes())
    assert crl["delta"] is False and crl["crl_number"] == signed.crl_number_value.native
    listed = {format(e["user_certificate"].native, "x") for e in signed["tbs_cert_list"]["revoked_certificates"]}
    assert serial in listed and crl["revoked"] == len(listed)

    # sign: a detached CMS with the demo seal
    (tmp_path / "data.bin").write_bytes("一份需要盖章的数据".encode())
    sealed = _json("sign", "--home", h, "--seal", es_id, "--in", tmp_path / "data.bin", "--out", tmp_path / "data.p7s",
                   "--cms")
    assert sealed["format"] == "cms" and sealed["es_id"] == es_id
    assert Path(sealed["out"]).stat().st_size == sealed["bytes"] > 0

    # tl publish: the written list is the one reported
    tl = _json("tl", "publish", "--home", h, "--out", tmp_path / "tl.json")
    body = json.loads(Path(tl["out"]).read_text(encoding="utf-8"))["list"]
    assert tl["kind"] == "tl" and tl["sequence_number"] == body["sequence_number"] == 1
    assert tl["territory"] == body["scheme_territory"] == "CN-440000"

    # license batch: counts, and the license issued is in the directory
    rows = tmp_path / "rows.csv"
    rows.write_text("external_id," + ",".join(BUSINESS) + "\nB1," + ",".join(BUSINESS.values()) + "\n",
                    encoding="utf-8")
    batch = _json("license", "batch", "--home", h, "--type", "YYZZ", "--csv", rows, "--out", tmp_path / "out")
    assert (batch["issued"], batch["already_issued"], batch["errors"]) == (1, 0, 0)
    assert Path(batch["results"]).is_file() and batch["seal_id"] == es_id
    [row] = batch["rows"]
    assert row["external_id"] == "B1" and row["status"] == "issued"
    assert license_service.license_status(home, row["license_id"]).status == "valid"

    # keys list: the key store's keys, as the store lists them
    keys = _json("keys", "list", "--home", h)
    store = SoftKeyStore.from_home(home)
    assert keys["store_id"] == store.store_id and "passphrase" in keys["activation"]
    assert sorted(k["key_ref"] for k in keys["keys"]) == sorted(i.key_ref for i in store.list())

    # audit verify, last: every command above left its records, and the chain holds
    audit = _json("audit", "verify", "--home", h)
    assert audit["ok"] is True and audit["findings"] == [] and audit["transparency_log_findings"] == []
    assert audit["records"] > 0 and audit["public_key"] == str(home.audit_public_key_path)


def test_json_goes_to_stdout_alone_and_text_is_unchanged(demo_home, tmp_path) -> None:
    """Notices stay on stderr with --json; without it the text is what it was."""
    h = demo_home.path
    runner = CliRunner()
    init = runner.invoke(load_all(), ["init", "--home", str(h), "--region-code", "440000", "--region-name", "广东省"])
    assert init.exit_code == 0, init.output
    assert init.stdout.startswith("region 440000 广东省 initialised in ")
    created = runner.invoke(load_all(), ["token", "create", "--home", str(h), "--role", "auditor", "--json"])
    assert created.exit_code == 0, created.output
    token = json.loads(created.stdout)
    assert token["token"].startswith("esk_") and "not shown again" in created.stderr
    revoked = _json("token", "revoke", "--home", h, token["token_id"])
    assert revoked["token_id"] == token["token_id"] and revoked["revoked_at"]
    # a command that fails prints its reason on stderr and no JSON, with its usual exit status
    res = runner.invoke(load_all(), ["cert", "revoke", "--home", str(h), "--serial", "abcdef", "--json"])
    assert res.exit_code == 1 and res.stdout == "" and "abcdef" in res.stderr
