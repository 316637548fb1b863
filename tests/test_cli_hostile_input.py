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


DEEP_JSON = "[" * 100_000 + "]" * 100_000     # past Python's recursion limit: json.loads raised RecursionError


def _proof(**changes: object) -> dict:
    head = {"size": 2, "root": "AA==", "signed_at": "2026-01-01T00:00:00Z", "key_id": "k", "signature": "AA=="}
    proof = {"index": 0, "kind": "certificate", "subject": "cert:01", "logged_at": "2026-01-01T00:00:00Z",
             "artefact_sm3": "00" * 32, "path": ["AA=="], "head": head}
    for key, value in changes.items():
        if key.startswith("head_"):
            head[key[5:]] = value
        else:
            proof[key] = value
    return proof


def test_log_check_with_a_proof_that_is_not_one(tmp_path) -> None:
    import json

    from gm import sm2

    key = tmp_path / "audit.pub.pem"
    key.write_bytes(sm2.PrivateKey.generate().public_key.to_pem())
    artefact = tmp_path / "cert.der"
    artefact.write_bytes(b"\x30\x00")
    cases = {
        "deep.json": (DEEP_JSON, "is JSON nested too deeply"),
        "logged_at.json": (json.dumps(_proof(logged_at="yesterday")), "logged_at 'yesterday' is not an ISO 8601 time"),
        "signed_at.json": (json.dumps(_proof(head_signed_at=5)), "head.signed_at '5' is not an ISO 8601 time"),
        "size.json": (json.dumps(_proof(head_size="many")), "invalid literal for int()"),
        "negative.json": (json.dumps(_proof(head_size=-1)), "entry 0 is not in a tree of size -1"),
        "index.json": (json.dumps(_proof(index=10 ** 40)), f"entry {10 ** 40} is not in a tree of size 2"),
    }
    for name, (text, message) in cases.items():
        (tmp_path / name).write_text(text, encoding="utf-8")
        refused(eseal("log", "check", "--proof", tmp_path / name, "--artefact", artefact, "--public-key", key), 1,
                message)


def test_json_inputs_nested_too_deeply(region, tmp_path) -> None:
    deep = tmp_path / "deep.json"
    deep.write_text(DEEP_JSON, encoding="utf-8")
    refused(eseal("keys", "unlock", "--home", region.path, "--share", deep, "--share", deep), 1,
            "not a readable share file (JSON nested too deeply)")
    refused(eseal("license", "issue", "--home", region.path, "--type", "YYZZ", "--data", deep,
                  "--out", tmp_path / "l.ofd", "--unsealed"), 1, "is not a JSON file: nested too deeply")


def test_numbers_out_of_range(region, tmp_path) -> None:
    from asn1crypto import pem

    from ca.csr import build_csr
    from ca.testing import LocalSigner

    csr = tmp_path / "csr.pem"
    csr.write_bytes(pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,CN=张三").dump()))
    home = ["--home", region.path]
    huge = str(10 ** 40)
    for app_id in (huge, str(2 ** 31), "0", "-1"):     # OverflowError (SQLite) / DataError (PostgreSQL) before
        refused(eseal("cert", "review", *home, "--id", app_id), 1, f"no certificate application {app_id}")
        refused(eseal("cert", "approve", *home, "--id", app_id, "--out", tmp_path / "a.pem"), 1,
                f"no certificate application {app_id}")
        refused(eseal("cert", "reject", *home, "--id", app_id, "--reason", "r"), 1,
                f"no certificate application {app_id}")
    for days in (huge, "3000000"):                     # timedelta / datetime OverflowError before
        refused(eseal("cert", "issue", *home, "--profile", "personal", "--csr", csr, "--id-number",
                      "11010519491231002X", "--days", days, "--out", tmp_path / "c.pem"), 1,
                f"days {days} is out of range: the validity would end after the year 9999")
        refused(eseal("cert", "apply", *home, "--profile", "personal", "--csr", csr, "--id-number",
                      "11010519491231002X", "--days", days), 1, f"days {days} is out of range")
    assert not (tmp_path / "c.pem").exists()
    refused(eseal("log", "consistency", *home, "--old", "1", "--new", huge), 1, f"{huge} is not a tree size")


def test_seal_make_with_a_holder_certificate_whose_pem_is_broken(region, tmp_path) -> None:
    cases = {"base64.pem": b"-----BEGIN CERTIFICATE-----\n!!!notbase64@@@\n-----END CERTIFICATE-----\n",
             "truncated.pem": b"-----BEGIN CERTIFICATE-----\nMIIB\n"}
    for name, data in cases.items():
        (tmp_path / name).write_bytes(data)
        refused(eseal("seal", "make", "--home", region.path, "--type", "organization", "--name", "某局",
                      "--holder-cert", tmp_path / name, "--out", tmp_path / "seal.esl"), 1,
                "holder certificate 1 is neither PEM nor DER X.509")
    assert not (tmp_path / "seal.esl").exists()


def test_verify_at_a_time_that_leaves_the_calendar_in_utc(tmp_path) -> None:
    from ca.testing import make_hierarchy

    cert = tmp_path / "cert.der"
    cert.write_bytes(make_hierarchy().issuing.dump())
    for at in ("9999-12-31T23:59:59-05:00", "0001-01-01T00:00:00+05:00"):   # OverflowError in the engine before
        refused(eseal("verify", cert, "--offline", "--at", at), 3, f"{at!r} is out of range")


def test_verify_an_empty_der_sequence(tmp_path) -> None:
    empty = tmp_path / "empty.der"
    empty.write_bytes(b"\x30\x00")           # KeyError out of detect_kind before
    refused(eseal("verify", empty, "--offline"), 3, "not a certificate, OFD, PDF, CMS SignedData or SES_Signature")


def test_a_passphrase_file_that_is_not_utf8(region, tmp_path) -> None:
    gbk = tmp_path / "passphrase.txt"
    gbk.write_bytes("口令口令口令口令".encode("gbk"))     # UnicodeDecodeError before
    home = ["--home", region.path]
    message = f"{gbk} is not UTF-8 text; save the passphrase as UTF-8"
    refused(eseal("crl", *home, "--out", tmp_path / "c.crl", "--passphrase-file", gbk), 1, message)
    refused(eseal("keys", "unlock", *home, "--passphrase-file", gbk), 1, message)
    refused(eseal("cert", "issue", *home, "--profile", "personal", "--generate-key", "--subject", "C=CN,CN=王五",
                  "--id-number", "11010519491231002X", "--key-out", tmp_path / "k.pem", "--out", tmp_path / "c.pem",
                  "--key-passphrase-file", gbk), 1, message)


def test_serve_demo_with_a_passphrase_file_of_comments_only(tmp_path) -> None:
    home = tmp_path / "demo"
    home.mkdir()
    (home / "PASSPHRASE-demo").write_text("# the demo passphrase goes on the next line\n\n", encoding="utf-8")
    result = eseal("serve", "--home", home, "--demo", "--port", "0", env={"ESEAL_PASSPHRASE": ""})
    refused(result, 1, "PASSPHRASE-demo holds no passphrase (only comments or blank lines)")   # StopIteration before


def test_outputs_where_no_folder_can_be(region, tmp_path) -> None:
    from seal.ofd.document import Page, Text, build_ofd

    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    doc = tmp_path / "doc.ofd"
    doc.write_bytes(build_ofd([Page([Text(20, 20, "正文", size=6)])]))
    home = ["--home", region.path]
    refused(eseal("init", "--home", blocked / "home", "--region-code", "440000", "--region-name", "x"), 1,
            f"cannot create the home {blocked / 'home'}: Not a directory")
    refused(eseal("keys", "init", "--home", tmp_path / "keys-home", "--custodians", "3", "--threshold", "2",
                  "--shares-out", blocked / "shares"), 1, f"cannot create {blocked / 'shares'}: Not a directory")
    refused(eseal("license", "batch", *home, "--type", "YYZZ", "--csv", _csv(tmp_path), "--out", blocked / "out",
                  "--unsealed"), 1, f"cannot create the output folder {blocked / 'out'}: Not a directory")
    verified = eseal("verify", doc, "--offline", "--html", blocked / "report.html")
    refused(verified, 3, f"cannot write the HTML report {blocked / 'report.html'}: Not a directory")


def _csv(tmp_path) -> object:
    path = tmp_path / "rows.csv"
    path.write_text("external_id,credit_code,name,entity_type,legal_representative,establishment_date,address,scope\n"
                    "x1,91440300MA5EXAMPLA,测试,有限责任公司,张三,2020-01-01,广州,软件\n", encoding="utf-8")
    return path


def test_sign_into_a_folder_that_cannot_be(eseal_home, tmp_path, monkeypatch) -> None:
    from seal.ofd.document import Page, Text, build_ofd
    from tests.helpers.region import seal_region

    made = seal_region(eseal_home, passphrase=PASSPHRASE, agency="GD-AMR", name="广东省市场监督管理局")
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    blocked = tmp_path / "a-file"
    blocked.write_text("not a folder", encoding="utf-8")
    doc = tmp_path / "doc.ofd"
    doc.write_bytes(build_ofd([Page([Text(20, 20, "正文", size=6)])]))
    refused(eseal("sign", "--home", eseal_home.path, "--seal", made.es_id, "--in", doc, "--out", blocked / "s.ofd",
                  "--no-timestamp"), 1, f"cannot write {blocked / 's.ofd'}: Not a directory")


def test_a_trust_list_location_too_long_for_a_file_name(region, tmp_path) -> None:
    from ca.certificate import to_pem
    from ca.testing import make_hierarchy

    signer = tmp_path / "signer.pem"
    signer.write_bytes(to_pem(make_hierarchy().issuing))
    location = "x" * 5000                               # OSError 'File name too long' before
    refused(eseal("tl", "lotl", "--home", region.path, "--add", f"{location},{signer}", "--out", tmp_path / "l.json"),
            1, "cannot be read as a file (File name too long), and not an http(s) URL")


def test_a_token_agency_or_label_longer_than_its_column(region) -> None:
    """api_tokens.agency and label are VARCHAR(200): a traceback (a driver error) on
    PostgreSQL, stored whole on SQLite."""
    refused(eseal("token", "create", "--home", region.path, "--role", "agency", "--agency", "某" * 201),
            1, "the agency is longer than 200 characters (201)")
    refused(eseal("token", "create", "--home", region.path, "--role", "admin", "--label", "标" * 201),
            1, "the label is longer than 200 characters (201)")
    made = eseal("token", "create", "--home", region.path, "--role", "agency", "--agency", "某" * 100)
    assert made.exit_code == 0 and "created" in made.output, made.output


def _a_seal(home) -> str:
    from ca import service as ca_service
    from keystore.soft import SoftKeyStore
    from seal import service

    ks = SoftKeyStore.from_home(home)
    ks.unlock_with_passphrase(PASSPHRASE, actor="admin")
    key_ref = ks.generate("agency-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject="C=CN,O=某某局,CN=某某局", credit_code="91350100M000100Y43")
    es_id = service.make_seal(home, ks, seal_type="organization", name="某某局", agency="某某局",
                              holder_certs=[cert.dump()], actor="admin")
    ks.lock()
    return es_id


def test_an_actor_longer_than_its_columns_is_a_usage_error(region) -> None:
    """--actor is stored as created_by, granted_by, issued_by, ... (VARCHAR(200)) and as the
    audit log's actor (255): a traceback on PostgreSQL, or an audit error past 255; now every
    command refuses it before it does anything."""
    from seal import service

    es_id = _a_seal(region)
    for actor, words in (("经办人" * 67, "the actor is longer than 200 characters (201)"),
                         ("x" * 256, "the actor is longer than 200 characters (256)"),
                         ("ops\nadmin", "the actor contains U+000A")):
        refused(eseal("seal", "grant", "--home", region.path, "--agency", "另一局", "--actor", actor, es_id),
                2, words)
        refused(eseal("cert", "revoke", "--home", region.path, "--serial", "ab", "--actor", actor), 2, words)
    assert "另一局" not in service.get_seal(region, es_id).agencies
    ok = eseal("seal", "grant", "--home", region.path, "--agency", "另一局", "--actor", "经办人" * 66 + "甲乙", es_id)
    assert ok.exit_code == 0, ok.output
    assert "另一局" in service.get_seal(region, es_id).agencies
