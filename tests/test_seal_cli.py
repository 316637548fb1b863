"""`eseal seal ...` through click's runner on SQLite and PostgreSQL: make, list, status, lifecycle, show."""
from __future__ import annotations

import json

import pytest
from click.testing import CliRunner

from ca import service as ca_service
from ca.certificate import to_pem
from cli.main import main
from keystore.soft import SoftKeyStore
from seal import service, structures
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def region(eseal_home, monkeypatch):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                           base_url="http://pki.gd.example.gov.cn")
    key_ref = ks.generate("cli-signer", "seal", actor="admin")
    serial, cert = ca_service.issue_for_key(eseal_home, ks, profile="organization", key_ref=key_ref,
                                            subject="C=CN,O=某某局,CN=某某局", credit_code="91350100M000100Y43")
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    return eseal_home, serial, cert


def test_seal_cli_round_trip(region, tmp_path):
    home, serial, cert = region
    (tmp_path / "holder.pem").write_bytes(to_pem(cert))
    runner = CliRunner()
    h = ["--home", str(home.path)]
    made = runner.invoke(main, ["seal", "make", *h, "--type", "organization", "--name", "某某局",
                                "--holder-cert", str(tmp_path / "holder.pem"), "--agency", "AG-1",
                                "--valid-days", "30", "--out", str(tmp_path / "seal.esl")])
    assert made.exit_code == 0, made.output
    es_id = made.output.strip()
    assert service.es_id_valid(es_id)
    seal = structures.parse_seal((tmp_path / "seal.esl").read_bytes())
    assert seal.es_id == es_id and seal.binds(cert.dump()) and structures.verify_seal_signature(seal).ok

    listed = runner.invoke(main, ["seal", "list", *h, "--json"])
    assert listed.exit_code == 0, listed.output
    (row,) = json.loads(listed.output)
    assert row["es_id"] == es_id and row["status"] == "valid" and row["holders"] == [serial]

    for command, status in (("suspend", "suspended"), ("resume", "valid"), ("revoke", "revoked")):
        out = runner.invoke(main, ["seal", command, *h, es_id, "--reason", "test"])
        assert out.exit_code == 0, out.output
        assert status in out.output
    status = runner.invoke(main, ["seal", "status", *h, es_id, "--json"])
    assert json.loads(status.output)["status"] == "revoked"
    again = runner.invoke(main, ["seal", "resume", *h, es_id])
    assert again.exit_code == 1 and "revocation is final" in again.output

    shown = runner.invoke(main, ["seal", "show", str(tmp_path / "seal.esl"), "--json"])
    assert shown.exit_code == 0, shown.output
    facts = json.loads(shown.output)
    assert facts["es_id"] == es_id and facts["maker_signature"] == "ok"


def test_seal_cli_errors(region, tmp_path):
    home, _, _ = region
    (tmp_path / "junk.pem").write_bytes(b"junk")
    runner = CliRunner()
    out = runner.invoke(main, ["seal", "make", "--home", str(home.path), "--type", "organization", "--name", "x",
                               "--holder-cert", str(tmp_path / "junk.pem"), "--out", str(tmp_path / "s.esl")])
    assert out.exit_code == 1 and "neither PEM nor DER" in out.output
    assert not (tmp_path / "s.esl").exists()
    out = runner.invoke(main, ["seal", "status", "--home", str(home.path), "440000202600000999"])
    assert out.exit_code == 1 and "no seal" in out.output


def test_seal_show_checks_a_real_signature(shared_vectors):
    out = CliRunner().invoke(main, ["seal", "show", str(shared_vectors / "seals" / "SignedValueV4.dat")])
    assert out.exit_code == 0, out.output
    assert "signer_signature     ok" in out.output and "/Doc_0/Signs/Sign_0/Signature.xml" in out.output


def test_init_demo_creates_an_agency_with_its_seal(tmp_path, monkeypatch):
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    runner = CliRunner()
    home = tmp_path / "H"
    out = runner.invoke(main, ["init", "--home", str(home), "--region-code", "440000", "--region-name", "演示省", "--demo"])
    assert out.exit_code == 0, out.output
    assert "demo agency 演示市市场监督管理局 (DEMO-AMR) with seal 440000" in out.output
    listed = runner.invoke(main, ["seal", "list", "--home", str(home), "--json"])
    (row,) = json.loads(listed.output)
    assert row["agency"] == "DEMO-AMR" and row["status"] == "valid"
    types = runner.invoke(main, ["license", "types", "--home", str(home), "--json"])
    assert "YYZZ" in {t["code"] for t in json.loads(types.output)}
