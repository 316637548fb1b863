"""`eseal sign` end to end on SQLite and PostgreSQL: an OFD, a PDF and raw data sealed with a
registered seal, each judged PASSED by the verification engine (trust at the region's root,
revocation from its CRLs, the TSA's token); a refused use writes no file and an audit record;
every sealing is in the transparency log."""
from __future__ import annotations

import pytest
from asn1crypto import pem as apem
from click.testing import CliRunner
from sqlalchemy import select

from ca import service as ca_service
from cli.main import main
from gm.sm3 import sm3
from seal import service
from seal.ofd.document import Page, Text, build_ofd
from store.db import transaction
from store.models.audit import AuditRecord
from store.models.translog import TransLogEntry
from store.testing import *  # noqa: F401,F403
from tests.helpers.region import seal_region
from tests.test_pdf_seal import make_pdf

PASSPHRASE = "sign cli passphrase"
AGENCY = "GD-AMR"


@pytest.fixture
def sealed_region(eseal_home, monkeypatch):
    made = seal_region(eseal_home, passphrase=PASSPHRASE, agency=AGENCY, name="广东省市场监督管理局")
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    return eseal_home, made.keystore, made.es_id


def _verifier(home, ks):
    from verify.engine import Verifier
    from verify.path import StaticTrust
    from verify.revocation import RevocationChecker

    chain = [der for _, _, der in apem.unarmor(ca_service.ca_chain(home), multiple=True)]
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    return Verifier(StaticTrust([chain[-1]], chain[:-1]), revocation=RevocationChecker(online=False, offline_crls=crls))


def _passed(report) -> None:
    from verify.report import Indication

    problems = [(c.code, c.message) for s in report.signatures for c in s.checks if c.failed]
    assert report.indication is Indication.PASSED, problems


def test_sign_ofd_pdf_and_data(sealed_region, tmp_path) -> None:
    home, ks, es_id = sealed_region
    runner = CliRunner()
    (tmp_path / "doc.ofd").write_bytes(build_ofd([Page([Text(20, 20, "营业执照 正本", size=6)])]))
    (tmp_path / "doc.pdf").write_bytes(make_pdf(1))
    (tmp_path / "data.bin").write_bytes("一份需要盖章的数据".encode())
    for name, out, extra in (("doc.ofd", "sealed.ofd", ["--x", "120", "--y", "200"]),
                             ("doc.pdf", "sealed.pdf", ["--x", "120", "--y", "200"]),
                             ("data.bin", "data.p7s", [])):
        run = runner.invoke(main, ["sign", "--home", str(home.path), "--seal", es_id, "--in", str(tmp_path / name),
                                   "--out", str(tmp_path / out), *extra])
        assert run.exit_code == 0, run.output
    verifier = _verifier(home, ks)
    ofd_report = verifier.verify_ofd((tmp_path / "sealed.ofd").read_bytes(), name="sealed.ofd")
    _passed(ofd_report)
    assert ofd_report.signatures[0].timestamp_time is not None
    _passed(verifier.verify_pdf((tmp_path / "sealed.pdf").read_bytes(), name="sealed.pdf"))
    _passed(verifier.verify_cms((tmp_path / "data.p7s").read_bytes(), (tmp_path / "data.bin").read_bytes(),
                                name="data.p7s"))
    with transaction(home.engine, readonly=True) as s:
        formats = [r.details for r in s.scalars(select(AuditRecord).where(AuditRecord.action == "seal.sign"))]
        logged = s.scalar(select(TransLogEntry.idx).where(TransLogEntry.kind == "sealed-document").limit(1))
    assert sorted('"format":"' + f in d for d in formats for f in ("ses", "pdf", "cms")).count(True) == 3
    assert logged is not None


def test_refused_use_writes_nothing(sealed_region, tmp_path) -> None:
    home, ks, es_id = sealed_region
    service.revoke_seal(home, es_id, reason="lost", actor="admin")
    (tmp_path / "data.bin").write_bytes(b"data")
    run = CliRunner().invoke(main, ["sign", "--home", str(home.path), "--seal", es_id, "--in",
                                    str(tmp_path / "data.bin"), "--out", str(tmp_path / "out.p7s")])
    assert run.exit_code == 1 and "revoked" in run.output
    assert not (tmp_path / "out.p7s").exists()
    with transaction(home.engine, readonly=True) as s:
        refused = s.scalar(select(AuditRecord).where(AuditRecord.action == "seal.use_refused"))
    assert refused is not None and refused.subject == f"seal:{es_id}"
    assert sm3(b"data")  # the input is untouched
