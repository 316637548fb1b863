"""Sealed e-licenses on SQLite and PostgreSQL: the agency's seal from the region's registry,
applied by seal/ofd and timestamped by the region's TSA; refusals cost no identifier.

Referees: seal/ofd's package facts (References over the files an independent unzip reads),
the OpenSSL CLI for the SM2 signature over TBS_Sign, seal/tsa's token check, ofdkit for the
page text after sealing.
"""
from __future__ import annotations

import json
import subprocess

import pytest
from asn1crypto import pem
from sqlalchemy import select

from ca import service as ca_service
from gm.sm3 import sm3
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal import structures
from seal.errors import NotAuthorised, SealRevoked
from seal.license import batch, service
from seal.license.identifiers import parse_license_id
from seal.ofd.signing import verify_package
from seal.tsa import verify_token
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"
AGENCY = "深圳市市场监督管理局"
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
    "scope": "软件开发",
}


@pytest.fixture
def agency_seal(eseal_home):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    ca_service.init_region(eseal_home, ks, region_code="440300", region_name="深圳市",
                           base_url="https://pki.sz.example.gov.cn")
    key_ref = ks.generate("smr-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(eseal_home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={AGENCY},CN={AGENCY}", credit_code="11440300MB2C92051K")
    es_id = seal_service.make_seal(eseal_home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                                   holder_certs=[cert.dump()], actor="ra")
    return eseal_home, ks, es_id, cert


def _actions(home, action):
    with transaction(home.engine, readonly=True) as s:
        return [json.loads(r.details) for r in s.scalars(select(AuditRecord).where(AuditRecord.action == action))]


def test_sealed_license_verifies(agency_seal, tmp_path, openssl_bin) -> None:
    home, ks, es_id, cert = agency_seal
    lid, ofd = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id,
                                     actor="clerk")
    info = service.get_license(home, lid)
    assert info.seal_id == es_id and info.agency == AGENCY and info.ofd == ofd  # the seal's agency by default
    [facts] = verify_package(ofd)
    assert facts.references_ok and not facts.unreferenced_shown
    [(annot, page)] = facts.stamp_pages
    assert page == 0 and annot.boundary == (200.0, 140.0, 42.0, 42.0)  # the template's seal box
    sig = structures.parse_signature(facts.signed_value)
    assert sig.data_hash == sm3(facts.signature_xml)
    assert sig.seal.es_id == es_id and sig.signer_cert == cert.dump()
    assert structures.verify_signature_value(sig).ok
    # OpenSSL checks the SM2 signature over TBS_Sign with the signer certificate's key
    (tmp_path / "cert.pem").write_bytes(pem.armor("CERTIFICATE", cert.dump()))
    pub = subprocess.run([openssl_bin, "x509", "-in", str(tmp_path / "cert.pem"), "-pubkey", "-noout"],
                         capture_output=True, check=True).stdout
    (tmp_path / "pub.pem").write_bytes(pub)
    (tmp_path / "tbs.der").write_bytes(sig.tbs)
    (tmp_path / "sig.der").write_bytes(sig.signature)
    res = subprocess.run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "pub.pem"), "-rawin",
                          "-digest", "sm3", "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / "tbs.der"),
                          "-sigfile", str(tmp_path / "sig.der")], capture_output=True, text=True)
    assert res.returncode == 0 and "Signature Verified Successfully" in res.stdout, res.stdout + res.stderr
    assert sig.timestamp is not None
    check = verify_token(sig.timestamp, sig.signature)
    assert check.ok, check.detail
    # the page still reads the same after sealing
    import ofdkit

    (tmp_path / "l.ofd").write_bytes(ofd)
    with ofdkit.open(str(tmp_path / "l.ofd")) as doc:
        assert f"发证机关：{AGENCY}" in doc.text() and "名称：深圳某某科技有限公司" in doc.text()
    # easyofd (independent) reads the text and places the stamp from Signatures.xml
    import base64

    from easyofd.ofd import OFD

    reader = OFD()
    reader.read(ofd, fmt="binary")
    assert "名称：深圳某某科技有限公司" in [t["text"] for t in reader.data[0]["page_info"][0]["text_list"]]
    [(page_key, [stamp])] = reader.data[0]["signatures_page_id"].items()
    assert stamp["Boundary"] == "200 140 42 42"
    assert base64.b64decode(stamp["SignedValue"]) == facts.signed_value
    [issued] = _actions(home, "license.issue")
    assert issued["sealed"] is True and issued["seal_id"] == es_id
    assert [d["property_info"] for d in _actions(home, "seal.sign")] == ["/Doc_0/Signs/Sign_0/Signature.xml"]


def test_refused_seal_use_issues_nothing_and_takes_no_identifier(agency_seal, tmp_path) -> None:
    home, ks, es_id, _ = agency_seal
    with pytest.raises(NotAuthorised, match=rf"agency '某某区政府' is not authorised to use seal {es_id}"):
        service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency="某某区政府", seal_id=es_id, actor="x")
    seal_service.revoke_seal(home, es_id, reason="lost", actor="ra")
    with pytest.raises(SealRevoked, match=rf"seal {es_id} is revoked"):
        service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id, actor="x")
    assert _actions(home, "license.issue") == []
    assert len(_actions(home, "seal.use_refused")) == 2
    results = batch.issue_batch(home, ks, type="YYZZ", rows=[(1, {"external_id": "A", **BUSINESS})], agency=None,
                                out_dir=tmp_path, actor="x", seal_id=es_id)
    assert results[0].status == "error" and f"seal {es_id} is revoked" in results[0].error
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=AGENCY, actor="x")
    assert parse_license_id(lid).sequence == 1  # the refusals burnt no sequence number


def test_a_seal_without_a_signer_of_this_region_is_an_audited_refusal(agency_seal) -> None:
    from ca.testing import make_hierarchy, organization_signer
    from seal.license.errors import SealingUnavailable

    home, ks, _, _ = agency_seal
    _, foreign = organization_signer(make_hierarchy(), name=AGENCY)  # another CA: no key of this region
    es_id = seal_service.make_seal(home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                                   holder_certs=[foreign.dump()], actor="ra")
    with pytest.raises(SealingUnavailable, match=rf"seal {es_id} binds no signer certificate of this region"):
        service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id, actor="clerk")
    [refusal] = _actions(home, "seal.use_refused")
    assert refusal["reason"] == "signer-certificate-invalid" and refusal["agency"] == AGENCY
    assert refusal["message"].startswith(f"seal {es_id} binds no signer certificate of this region")
    assert _actions(home, "license.issue") == []
    lid, _ = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=AGENCY, actor="x")
    assert parse_license_id(lid).sequence == 1  # the refusal burnt no sequence number


def test_cli_issue_and_batch_with_a_seal(agency_seal, tmp_path, monkeypatch) -> None:
    from click.testing import CliRunner

    from cli.main import main

    home, ks, es_id, _ = agency_seal
    runner = CliRunner()
    (tmp_path / "f.json").write_text(json.dumps(BUSINESS, ensure_ascii=False), encoding="utf-8")
    args = ["license", "issue", "--home", str(home.path), "--type", "YYZZ", "--data", str(tmp_path / "f.json"),
            "--out", str(tmp_path / "l.ofd"), "--seal", es_id]
    monkeypatch.delenv("ESEAL_PASSPHRASE", raising=False)
    res = runner.invoke(main, args)
    assert res.exit_code != 0 and "passphrase is needed" in res.output and not (tmp_path / "l.ofd").exists()
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    res = runner.invoke(main, args)
    assert res.exit_code == 0, res.output
    [facts] = verify_package((tmp_path / "l.ofd").read_bytes())
    assert facts.references_ok and structures.parse_signature(facts.signed_value).seal.es_id == es_id
    (tmp_path / "rows.csv").write_text("external_id,credit_code,name,entity_type,legal_representative,"
                                       "establishment_date,address,scope\n"
                                       "X1,91350100M000100Y43,甲公司,有限责任公司,张三,2020-02-03,深圳,软件\n",
                                       encoding="utf-8")
    res = runner.invoke(main, ["license", "batch", "--home", str(home.path), "--type", "YYZZ", "--csv",
                               str(tmp_path / "rows.csv"), "--out", str(tmp_path / "out"), "--seal", es_id])
    assert res.exit_code == 0 and "1 issued, 0 already issued, 0 errors" in res.output, res.output
    [ofd_file] = (tmp_path / "out").glob("*.ofd")
    [facts] = verify_package(ofd_file.read_bytes())
    assert facts.references_ok


def test_sealed_license_passes_the_verification_engine(agency_seal) -> None:
    """verify/ judges the license as a relying party would: References, SES signature, seal,
    signer path to the region's root, revocation from the region's CRLs, TSA token."""
    from asn1crypto import pem as apem

    from verify.engine import Verifier
    from verify.path import StaticTrust
    from verify.report import Indication
    from verify.revocation import RevocationChecker

    home, ks, es_id, _ = agency_seal
    _, ofd = service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id, actor="clerk")
    chain = [der for _, _, der in apem.unarmor(ca_service.ca_chain(home), multiple=True)]
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    verifier = Verifier(StaticTrust([chain[-1]], chain[:-1]),
                        revocation=RevocationChecker(online=False, offline_crls=crls))
    report = verifier.verify_ofd(ofd, name="license.ofd")
    [sig] = report.signatures
    assert report.indication is Indication.PASSED, [(c.name, c.indication, c.detail) for c in sig.checks
                                                    if c.indication is not Indication.PASSED]
    assert sig.seal is not None and sig.timestamp_time is not None
    # the metadata attachment is protected too: change one field in license.json and it fails
    import io
    import zipfile

    src = zipfile.ZipFile(io.BytesIO(ofd))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename == "Doc_0/Attachs/license.json":
                data = data.replace("深圳某某科技有限公司".encode(), "深圳另一家科技公司".encode())
            dst.writestr(item, data)
    tampered = verifier.verify_ofd(out.getvalue(), name="tampered.ofd")
    assert tampered.indication is Indication.FAILED
