"""The e-license directory on SQLite and PostgreSQL: issuance stored and audited, status,
revocation, expiry, idempotent external ids, batches (twice; with bad rows) and the CLI."""
from __future__ import annotations

import csv
import datetime as dt
import io
import json
import re
import zipfile

import pytest
from click.testing import CliRunner
from sqlalchemy import func, select

from ca import service as ca_service
from cli.main import main
from keystore.soft import SoftKeyStore
from seal.license import batch, service
from seal.license.errors import (
    AlreadyRevoked,
    InvalidLicenseId,
    LicenseError,
    LicenseNotFound,
    LicenseValidationError,
    RegionNotReady,
)
from seal.license.identifiers import make_license_id, parse_license_id
from store import audit
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.models.license import LicenseRecord
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"
CREDIT_CODE = "91350100M000100Y43"
BASE_URL = "https://pki.sz.example.gov.cn"
BUSINESS = {
    "credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "深圳市南山区科技园", "scope": "软件开发",
}
FOOD = {"operator_name": "某某餐馆", "credit_code": "11010519491231002X", "legal_representative": "李四",
        "address": "深圳市福田区", "main_business": "餐饮服务经营者", "scope": "热食类食品制售"}


@pytest.fixture
def region(eseal_home):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440300", region_name="深圳市", base_url=BASE_URL)
    return eseal_home, ks


def _audit(home, action: str) -> list[AuditRecord]:
    with transaction(home.engine, readonly=True) as s:
        rows = list(s.scalars(select(AuditRecord).where(AuditRecord.action == action).order_by(AuditRecord.seq)))
        assert audit.verify(s).ok
    return rows


def _count(home) -> int:
    with transaction(home.engine, readonly=True) as s:
        return s.scalar(select(func.count()).select_from(LicenseRecord))


def test_issue_stores_the_license_and_audits_it(region) -> None:
    home, ks = region
    lid, ofd = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="深圳市市场监督管理局",
                                     actor="clerk", now=dt.datetime(2026, 11, 23, 17, 0, tzinfo=dt.UTC))
    # 17:00 UTC is already 24 November in Beijing: the license's calendar
    assert lid == make_license_id("440300", "YYZZ", 2026, 1)
    info = service.get_license(home, lid)
    assert info.ofd == ofd and info.data["name"] == "深圳某某科技有限公司" and info.agency == "深圳市市场监督管理局"
    assert info.status.status == "valid" and info.status.valid_to is None
    from gm.sm3 import sm3
    assert info.ofd_sm3 == sm3(ofd).hex()
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        record = json.loads(z.read("Doc_0/Attachs/license.json"))
    assert record["issue_date"] == "2026-11-24"
    assert record["verify_url"] == f"{BASE_URL}/verify/license/{lid}"
    [entry] = _audit(home, "license.issue")
    assert entry.actor == "clerk" and entry.subject == f"license:{lid}"
    details = json.loads(entry.details)
    assert details["ofd_sm3"] == info.ofd_sm3 and details["holder_id"] == CREDIT_CODE and details["sealed"] is False
    lid2, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, actor="clerk",
                                    now=dt.datetime(2026, 12, 1, tzinfo=dt.UTC))
    assert parse_license_id(lid2).sequence == 2
    assert service.get_license(home, lid2).agency == "深圳市"  # the region's name by default


def test_invalid_data_names_the_field_and_stores_nothing(region) -> None:
    home, ks = region
    with pytest.raises(LicenseValidationError, match=r"credit_code: unified social credit code: wrong check"):
        service.issue_license(home, ks, type="YYZZ", data={**BUSINESS, "credit_code": "91350100M000100Y40"},
                              agency="局", actor="clerk")
    assert _count(home) == 0 and _audit(home, "license.issue") == []


def test_an_issuer_longer_than_its_column_is_refused(region) -> None:
    """licenses.issued_by is VARCHAR(200), the audit log's actor 255: an actor of 201-255
    characters (the CLI's --actor) was a driver error on PostgreSQL, stored whole on SQLite."""
    home, ks = region
    with pytest.raises(LicenseError, match="the actor is longer than 200 characters"):
        service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="发证员" * 67)
    assert _count(home) == 0 and _audit(home, "license.issue") == []
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="发证员" * 66 + "甲乙")
    assert [e.actor for e in _audit(home, "license.issue")] == ["发证员" * 66 + "甲乙"]
    assert service.get_license(home, lid).status.status == "valid"


def test_revocation_is_final_and_audited(region) -> None:
    home, ks = region
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="clerk")
    status = service.revoke_license(home, lid, "吊销营业执照", actor="director")
    assert status.status == "revoked" and status.revoke_reason == "吊销营业执照"
    assert service.license_status(home, lid).status == "revoked"
    with pytest.raises(AlreadyRevoked, match=rf"license {lid} was already revoked .*吊销营业执照"):
        service.revoke_license(home, lid, "again", actor="director")
    [entry] = _audit(home, "license.revoke")
    assert entry.actor == "director" and json.loads(entry.details)["reason"] == "吊销营业执照"


CONTROL_REASONS = {"\x01": "U+0001", "注销\x7f": "U+007F", "注销\n原因": "U+000A", "注\r销": "U+000D",
                   "a\tb": "U+0009", "注销\x9b": "U+009B"}


@pytest.mark.parametrize("reason", CONTROL_REASONS, ids=["soh", "del", "lf", "cr", "tab", "c1-csi"])
def test_a_revocation_reason_with_a_control_character_is_refused(region, reason) -> None:
    """It was stored and shown as is on the status pages, as seal and certificate names are not."""
    home, ks = region
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="clerk")
    with pytest.raises(LicenseError, match=re.escape(f"the revocation reason contains {CONTROL_REASONS[reason]}: "
                                                     "control characters and line breaks are not allowed")):
        service.revoke_license(home, lid, reason, actor="director")
    assert service.license_status(home, lid).status == "valid" and _audit(home, "license.revoke") == []
    res = CliRunner().invoke(main, ["license", "revoke", "--home", str(home.path), lid, "--reason", reason])
    assert res.exit_code == 1 and f"contains {CONTROL_REASONS[reason]}: control characters" in res.output, res.output
    assert service.license_status(home, lid).status == "valid"
    trimmed = service.revoke_license(home, lid, " 注销\n", actor="director")  # surrounding blanks are trimmed
    assert trimmed.revoke_reason == "注销"


def test_expiry_is_derived_from_the_validity_rule(region) -> None:
    home, ks = region
    lid, _ = service.issue_license(home, ks, type="SPJY", data=FOOD, agency="局", actor="clerk",
                                   now=dt.datetime(2020, 3, 1, 4, 0, tzinfo=dt.UTC))
    assert service.license_status(home, lid, at=dt.datetime(2025, 2, 28, 15, 0, tzinfo=dt.UTC)).status == "valid"
    status = service.license_status(home, lid, at=dt.datetime(2025, 2, 28, 16, 0, tzinfo=dt.UTC))  # 3/1 Beijing
    assert status.status == "expired" and status.valid_to == dt.date(2025, 2, 28)
    assert lid.startswith("440300SPJY2020")


def test_public_record_masks_citizen_ids(region) -> None:
    home, ks = region
    food, ofd = service.issue_license(home, ks, type="SPJY", data=FOOD, agency="福田局", actor="a")
    biz, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="a")
    service.revoke_license(home, biz, "注销", actor="a")
    from gm.sm3 import sm3
    record = service.public_record(home, food)
    assert record["holder_id"] == "110105********002X" and record["status"] == "valid"
    assert record["type_name"] == "食品经营许可证" and record["agency"] == "福田局"
    assert record["ofd_sm3"] == sm3(ofd).hex() and record["sealed"] is False
    other = service.public_record(home, biz)
    assert other["holder_id"] == CREDIT_CODE and other["status"] == "revoked" and other["revoke_reason"] == "注销"
    with pytest.raises(InvalidLicenseId):
        service.public_record(None, biz[:-1] + ("0" if biz[-1] != "0" else "1"))


def test_list_by_holder_type_and_status(region) -> None:
    home, ks = region
    early = dt.datetime(2020, 3, 1, 4, 0, tzinfo=dt.UTC)
    old, _ = service.issue_license(home, ks, type="SPJY", data=FOOD, agency="局", actor="a", now=early)
    food, _ = service.issue_license(home, ks, type="SPJY", data=FOOD, agency="局", actor="a")
    biz, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="a")
    gone, _ = service.issue_license(home, ks, type="YYZZ", data={**BUSINESS, "name": "乙"}, agency="局", actor="a")
    service.revoke_license(home, gone, "注销", actor="a")
    ids = lambda found: [st.license_id for st in found]  # noqa: E731
    assert set(ids(service.list_licenses(home, holder_id=FOOD["credit_code"].lower()))) == {old, food}
    assert ids(service.list_licenses(home, holder_id=FOOD["credit_code"], status="expired")) == [old]
    assert ids(service.list_licenses(home, type_code="yyzz", status="valid")) == [biz]
    assert ids(service.list_licenses(home, status="revoked")) == [gone]
    assert len(service.list_licenses(home, limit=2)) == 2
    with pytest.raises(LicenseError, match=r"status 'lost': expected valid, revoked or expired"):
        service.list_licenses(home, status="lost")
    res = CliRunner().invoke(main, ["license", "list", "--home", str(home.path), "--status", "expired", "--json"])
    assert [d["license_id"] for d in json.loads(res.output)] == [old]


def test_lookups_check_the_id_before_the_database(region) -> None:
    home, ks = region
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="clerk")
    wrong = lid[:-1] + ("A" if lid[-1] != "A" else "B")
    for call in (lambda h: service.license_status(h, wrong), lambda h: service.get_license(h, wrong),
                 lambda h: service.revoke_license(h, wrong, "x")):
        with pytest.raises(InvalidLicenseId, match="wrong check character"):
            call(None)  # no home at all: the error comes before any database access
    unknown = make_license_id("440300", "YYZZ", 2026, 999)
    with pytest.raises(LicenseNotFound, match=f"no license {unknown}"):
        service.license_status(home, unknown)


def test_external_id_makes_issuance_idempotent(region) -> None:
    home, ks = region
    first = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="a", external_id="APP-1")
    again = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", actor="a", external_id="APP-1")
    assert again == first and _count(home) == 1
    with pytest.raises(service.ExternalIdConflict, match=rf"'APP-1' was already issued as license {first[0]}"):
        service.issue_license(home, ks, type="YYZZ", data={**BUSINESS, "name": "另一家公司"}, agency="局",
                              actor="a", external_id="APP-1")
    assert len(_audit(home, "license.issue")) == 1


def test_no_region_is_a_clear_error(eseal_home) -> None:
    with pytest.raises(RegionNotReady, match=r"no region yet .*eseal init"):
        service.issue_license(eseal_home, None, type="YYZZ", data=BUSINESS, agency="局", actor="a")


def test_a_seal_on_a_type_without_a_seal_position_is_refused(region) -> None:
    home, ks = region
    folder = home.path / "license-types"
    folder.mkdir()
    (folder / "note.json").write_text(json.dumps({
        "code": "NOTE", "name_zh": "告知书", "name_en": "Notice", "holder_name_field": "name",
        "fields": [{"name": "name", "label_zh": "名称", "label_en": "Name", "type": "text"}],
        "face": {"width": 148, "height": 105, "fields": [{"field": "name", "x": 10, "y": 20}]},
        "validity": {"kind": "none"}}, ensure_ascii=False), encoding="utf-8")
    with pytest.raises(LicenseError, match=r"license type NOTE has no seal position \(face.seal\)"):
        service.issue_license(home, ks, type="NOTE", data={"name": "某"}, agency="局", actor="a", seal_id="S1")
    lid, _ = service.issue_license(home, ks, type="note", data={"name": "某"}, agency="局", actor="a")
    assert lid.startswith("440300NOTE") and parse_license_id(lid).sequence == 1
    # the template sets no max_length; the directory's holder column still bounds the name
    with pytest.raises(LicenseValidationError, match=r"name: at most 200 characters for the holder, got 201"):
        service.issue_license(home, ks, type="NOTE", data={"name": "某" * 201}, agency="局", actor="a")


def _csv(rows: list[dict[str, str]]) -> str:
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=["external_id", *BUSINESS])
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def _results(path) -> list[dict[str, str]]:
    with open(path, encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_batch_twice_issues_nothing_twice(region, tmp_path) -> None:
    home, ks = region
    rows = [{"external_id": f"R{i}", **BUSINESS, "name": f"公司{i}"} for i in range(4)]
    text = _csv(rows)
    first = batch.issue_batch(home, ks, type="YYZZ", rows=batch.read_rows(text), agency="局",
                              out_dir=tmp_path / "one", actor="clerk")
    assert [r.status for r in first] == ["issued"] * 4
    assert sorted(p.name for p in (tmp_path / "one").glob("*.ofd")) == sorted(f"{r.license_id}.ofd" for r in first)
    seen = []
    second = batch.issue_batch(home, ks, type="YYZZ", rows=batch.read_rows(text), agency="局",
                               out_dir=tmp_path / "two", actor="clerk", progress=seen.append)
    assert [r.status for r in second] == ["already issued"] * 4
    assert [r.license_id for r in second] == [r.license_id for r in first]
    assert seen == second
    assert _count(home) == 4 and len(_audit(home, "license.issue")) == 4
    assert not list((tmp_path / "two").glob("*.ofd"))
    assert [(r["row"], r["external_id"], r["status"], r["license_id"]) for r in _results(tmp_path / "two/results.csv")] \
        == [(str(i + 1), f"R{i}", "already issued", first[i].license_id) for i in range(4)]


def test_batch_with_bad_rows_reports_them_and_issues_the_good_ones(region, tmp_path) -> None:
    home, ks = region
    rows = [
        {"external_id": "G1", **BUSINESS},
        {"external_id": "B1", **BUSINESS, "credit_code": "91350100M000100Y49"},
        {"external_id": "", **BUSINESS},
        {"external_id": "B2", **BUSINESS, "establishment_date": "2020-02-30", "legal_representative": ""},
        {"external_id": "G1", **BUSINESS},
        {"external_id": "G2", **BUSINESS, "name": "第二家"},
    ]
    results = batch.issue_batch(home, ks, type="YYZZ", rows=batch.read_rows(_csv(rows)), agency="局",
                                out_dir=tmp_path, actor="clerk")
    written = _results(tmp_path / "results.csv")
    assert [(r["row"], r["status"]) for r in written] == [
        ("1", "issued"), ("2", "error"), ("3", "error"), ("4", "error"), ("5", "error"), ("6", "issued")]
    assert "credit_code: unified social credit code: wrong check character '9'" in written[1]["error"]
    assert written[2]["error"] == "external_id: required"
    assert "establishment_date:" in written[3]["error"] and "legal_representative: required" in written[3]["error"]
    assert written[4]["error"] == "external_id: repeats row 1"
    assert _count(home) == 2
    assert {r.license_id for r in results if r.status == "issued"} == {written[0]["license_id"], written[5]["license_id"]}


def test_characters_a_document_cannot_hold_are_refused_by_name(region, tmp_path) -> None:
    """A control character or an unpaired surrogate in a field, the agency or the external id
    is a LicenseError naming it, never lxml's ValueError from deep in rendering (a 500 over
    HTTP, and the end of a batch); on PostgreSQL a NUL never reaches a query."""
    home, ks = region
    for data, agency, words in (({**BUSINESS, "name": "某某\x00公司"}, "局", "name: contains U+0000 at position 3"),
                                ({**BUSINESS, "address": "深圳\x07"}, "局", "address: contains U+0007 at position 3"),
                                ({**BUSINESS, "scope": "\ud800"}, "局", "scope: contains U+D800 at position 1"),
                                (BUSINESS, "某\x01局", "agency (发证机关) contains U+0001 at position 2")):
        with pytest.raises(LicenseError, match=re.escape(words)):
            service.issue_license(home, ks, type="YYZZ", data=data, agency=agency, actor="clerk")
    with pytest.raises(LicenseError, match=re.escape("external_id contains U+0000 at position 2")):
        service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="局", external_id="E\x00", actor="clerk")
    rows = [{"external_id": "N\x00", **BUSINESS}, {"external_id": "C1", **BUSINESS, "name": "a\x0bb"},
            {"external_id": "G1", **BUSINESS}]
    results = batch.issue_batch(home, ks, type="YYZZ", rows=batch.read_rows(_csv(rows)), agency="局",
                                out_dir=tmp_path, actor="clerk")
    assert [r.status for r in results] == ["error", "error", "issued"]   # the batch goes on
    assert "external_id contains U+0000" in results[0].error and "name: contains U+000B" in results[1].error
    assert _count(home) == 1


def test_cli_types_issue_status_revoke_batch(region, tmp_path) -> None:
    home, _ = region
    runner = CliRunner()
    h = str(home.path)
    res = runner.invoke(main, ["license", "types", "--home", h, "--json"])
    assert res.exit_code == 0, res.output
    types = {t["code"]: t for t in json.loads(res.output)}
    assert [f["name"] for f in types["YYZZ"]["fields"]][:2] == ["credit_code", "name"]
    res = runner.invoke(main, ["license", "types", "--home", h])
    assert "YYZZ  营业执照 / Business licence" in res.output and "credit_code" in res.output

    (tmp_path / "f.json").write_text(json.dumps(BUSINESS, ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(main, ["license", "issue", "--home", h, "--type", "YYZZ", "--data", str(tmp_path / "f.json"),
                               "--out", str(tmp_path / "l.ofd"), "--actor", "clerk", "--unsealed"])
    assert res.exit_code == 0, res.output
    lid = res.output.strip()
    assert (tmp_path / "l.ofd").read_bytes() == service.get_license(home, lid).ofd
    twice = ["license", "issue", "--home", h, "--type", "YYZZ", "--data", str(tmp_path / "f.json"),
             "--external-id", "E-7", "--out", str(tmp_path / "e7.ofd"), "--unsealed"]
    first_id = runner.invoke(main, twice).output.strip()
    res = runner.invoke(main, twice)
    assert res.exit_code == 0 and res.stdout.strip() == first_id and "already issued for external id 'E-7'" in res.stderr
    res = runner.invoke(main, ["license", "status", "--home", h, lid, "--json"])
    assert json.loads(res.output)["status"] == "valid"
    res = runner.invoke(main, ["license", "get", "--home", h, lid, "--out", str(tmp_path / "copy.ofd")])
    assert res.exit_code == 0 and f"{lid} valid sm3 " in res.output
    assert (tmp_path / "copy.ofd").read_bytes() == (tmp_path / "l.ofd").read_bytes()
    res = runner.invoke(main, ["license", "revoke", "--home", h, lid, "--reason", "注销"])
    assert res.exit_code == 0 and f"{lid} revoked" in res.output
    res = runner.invoke(main, ["license", "status", "--home", h, lid])
    assert f"{lid} revoked YYZZ" in res.output and "(注销)" in res.output
    res = runner.invoke(main, ["license", "status", "--home", h, lid[:-1] + ("0" if lid[-1] != "0" else "1")])
    assert res.exit_code == 1 and "wrong check character" in res.output

    (tmp_path / "bad.json").write_text(json.dumps({**BUSINESS, "name": ""}, ensure_ascii=False), encoding="utf-8")
    res = runner.invoke(main, ["license", "issue", "--home", h, "--type", "YYZZ", "--data", str(tmp_path / "bad.json"),
                               "--out", str(tmp_path / "x.ofd"), "--unsealed"])
    assert res.exit_code == 1 and "name: required" in res.output and not (tmp_path / "x.ofd").exists()

    (tmp_path / "rows.csv").write_text(_csv([{"external_id": "C1", **BUSINESS}, {"external_id": "C2", **BUSINESS,
                                                                                  "entity_type": "?"}]),
                                       encoding="utf-8")
    args = ["license", "batch", "--home", h, "--type", "YYZZ", "--csv", str(tmp_path / "rows.csv"), "--unsealed"]
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "b1")])
    assert res.exit_code == 1 and "1 issued, 0 already issued, 1 errors" in res.output
    res = runner.invoke(main, [*args, "--out", str(tmp_path / "b2")])
    assert "0 issued, 1 already issued, 1 errors" in res.output
    assert _results(tmp_path / "b2/results.csv")[0]["license_id"] == _results(tmp_path / "b1/results.csv")[0]["license_id"]


def test_three_processes_running_the_same_batch_issue_each_row_once(region, tmp_path) -> None:
    import multiprocessing

    from seal.license.testing import batch_worker

    home, _ = region
    text = _csv([{"external_id": f"P{i}", **BUSINESS, "name": f"公司{i}"} for i in range(6)])
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(3)
    procs = [ctx.Process(target=batch_worker, args=(str(home.path), text, str(tmp_path / f"w{w}"), f"w{w}", start))
             for w in range(3)]
    for p in procs:
        p.start()
    for p in procs:
        p.join(300)
    assert [p.exitcode for p in procs] == [0, 0, 0]
    results = [_results(tmp_path / f"w{w}/results.csv") for w in range(3)]
    for per_worker in results:
        assert all(r["status"] in ("issued", "already issued") for r in per_worker), per_worker
    by_external = {r["external_id"]: {w[i]["license_id"] for w in results} for i, r in enumerate(results[0])}
    assert all(len(ids) == 1 for ids in by_external.values()), by_external  # every worker names one license
    assert sum(r["status"] == "issued" for w in results for r in w) == 6
    with transaction(home.engine, readonly=True) as s:
        rows = list(s.scalars(select(LicenseRecord)))
    assert len(rows) == 6 and {r.external_id for r in rows} == set(by_external)
    assert {r.id for r in rows} == {ids.pop() for ids in by_external.values()}
    assert len(_audit(home, "license.issue")) == 6


def test_csv_the_csv_module_cannot_read_is_a_license_error() -> None:
    oversized = "external_id,name\nAPP-1," + "名" * (200 * 1024) + "\n"   # over csv's 128 KiB field limit
    with pytest.raises(LicenseError, match=r"the CSV file cannot be read \(line \d+: field larger than field limit"):
        batch.read_rows(oversized)
    with pytest.raises(LicenseError, match=r"the CSV header has no 'external_id' column"):
        batch.read_rows("name\n某\n")
