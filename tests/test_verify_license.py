"""A sealed e-license (seal/license issue with the agency's registry seal, timestamped by the
region's TSA) verified by the engine on SQLite and PostgreSQL: PASSED with the seal picture,
the timestamp and the license id read from the signed license.json; LICENSE_REVOKED after
the directory revokes it; SEAL_REVOKED after the registry revokes the seal."""
from __future__ import annotations

from ca import service as ca_service
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal.license import service as license_service
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.engine import Verifier, home_license_status, home_seal_status
from verify.path import StaticTrust, load_certificate
from verify.report import CheckResult, Indication, SubIndication
from verify.revocation import RevocationChecker

AGENCY = "深圳市市场监督管理局"
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
    "scope": "软件开发",
}


def licensed_region(home):
    """(key store, signer certificate, seal id, license id, sealed OFD): a region with an agency
    seal bound to its signer and one e-license issued with it (timestamped)."""
    ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase="pw for the test").store
    ca_service.init_region(home, ks, region_code="440300", region_name="深圳市", base_url="https://pki.sz.example")
    key_ref = ks.generate("smr-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject=f"C=CN,O={AGENCY},CN={AGENCY}", credit_code="11440300MB2C92051K")
    es_id = seal_service.make_seal(home, ks, seal_type="organization", name=AGENCY, agency=AGENCY,
                                   holder_certs=[cert.dump()], actor="ra")
    lid, ofd = license_service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id,
                                             actor="clerk")
    return ks, cert, es_id, lid, ofd


def test_sealed_e_license_through_the_engine(eseal_home) -> None:
    home = eseal_home
    ks, _, es_id, lid, ofd = licensed_region(home)
    root = load_certificate((home.path / "root.pem").read_bytes())
    issuing = ca_service.service_certificate(home, "seal_maker").chain[0]

    def verifier() -> Verifier:
        crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
        return Verifier(StaticTrust([root], [issuing]), RevocationChecker(online=False, offline_crls=crls),
                        seal_status=home_seal_status(home), license_status=home_license_status(home))

    report = verifier().verify_ofd(ofd, name=f"{lid}.ofd")
    [sig] = report.signatures
    assert (sig.indication, sig.sub_indication) == (Indication.PASSED, None), \
        [(c.code, c.message) for c in sig.checks if c.failed]
    assert sig.seal.esid == es_id and sig.seal.picture[:8] == b"\x89PNG\r\n\x1a\n"
    assert sig.timestamp_time is not None            # the region's TSA stamped the seal signature
    assert sig.check("LICENSE_STATUS").result is CheckResult.PASSED and lid in sig.check("LICENSE_STATUS").message
    assert "data:image/png;base64," in report.html()

    license_service.revoke_license(home, lid, "吊销营业执照", actor="admin")
    revoked = verifier().verify_ofd(ofd).signatures[0]
    assert (revoked.indication, revoked.sub_indication) == (Indication.FAILED, SubIndication.LICENSE_REVOKED)

    # times are kept to the second: revoke strictly after the timestamp's second, or the
    # revocation and the proof of existence tie and the seal counts as revoked at signing
    __import__("time").sleep(1.1)
    seal_service.revoke_seal(home, es_id, reason="印章遗失")
    no_seal = verifier().verify_ofd(ofd).signatures[0]
    # revoked after the timestamp: the seal check passes with the evidence, the license stays revoked
    assert no_seal.check("SEAL_STATUS").result is CheckResult.PASSED
    assert "after the signature's proven existence" in no_seal.check("SEAL_STATUS").message


def test_an_e_license_verified_by_its_id(eseal_home) -> None:
    """The engine's input "an e-license id": the directory's sealed OFD, verified with the
    home's verifier, from the CLI and over HTTP; an unknown or malformed id is a clear error."""
    import json

    from click.testing import CliRunner

    from api import create_app
    from cli.main import main
    from seal.license.identifiers import make_license_id, parse_license_id
    from verify.service import license_document

    home = eseal_home
    _, _, _, lid, ofd = licensed_region(home)
    assert license_document(home, lid) == (f"{lid}.ofd", ofd)
    parsed = parse_license_id(lid)
    never_issued = make_license_id(parsed.region_code, parsed.type_code, parsed.year, parsed.sequence + 1000)
    home.close()

    def cli(*args: str):
        return CliRunner().invoke(main, ["verify", "--home", str(home.path), *args], catch_exceptions=False)

    passed = cli("--license", lid, "--json")
    assert passed.exit_code == 0, passed.output
    report = json.loads(passed.output)
    [sig] = report["signatures"]
    assert (report["input"]["name"], report["indication"]) == (f"{lid}.ofd", "PASSED")
    assert {c["code"]: c["result"] for c in sig["checks"]}["LICENSE_STATUS"] == "PASSED"
    unknown = cli("--license", never_issued)
    assert unknown.exit_code == 3 and "no license" in unknown.output
    assert cli("--license", "not-a-license-id").exit_code == 3
    both = CliRunner().invoke(main, ["verify", "--license", lid])
    assert both.exit_code == 3 and "--license needs --home" in both.output   # no verdict, not INDETERMINATE

    app = create_app(home.path, passphrase="pw for the test")
    client = app.test_client()
    try:
        resp = client.get(f"/api/v1/verify/license/{lid}")
        assert resp.status_code == 200 and resp.headers["X-Eseal-Indication"] == "PASSED", resp.json
        assert resp.json["signatures"][0]["seal"]["esid"] == sig["seal"]["esid"]
        missing = client.get(f"/api/v1/verify/license/{never_issued}")
        assert missing.status_code == 404 and missing.json["type"].endswith("/unknown-license")
        assert missing.headers["Content-Type"] == "application/problem+json"
        bad = client.get("/api/v1/verify/license/not-a-license-id")
        assert bad.status_code == 400 and bad.json["type"].endswith("/invalid-license-id")

        license_service.revoke_license(app.extensions["eseal"].home, lid, "吊销营业执照", actor="admin")
        revoked = client.get(f"/api/v1/verify/license/{lid}?policy=lenient")
        assert (revoked.json["indication"], revoked.json["sub_indication"]) == ("FAILED", "LICENSE_REVOKED")
    finally:
        app.extensions["eseal"].home.close()
    assert cli("--license", lid).exit_code == 1
