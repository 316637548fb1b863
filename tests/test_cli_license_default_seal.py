"""`eseal license issue|batch` without --seal (issue #5), on SQLite and PostgreSQL: the license
is sealed with the one seal the issuing agency may use (the demo agency's, after `eseal init
--demo`) and timestamped, and the verification engine passes it; no seal, several seals or an
unusable one are errors that name the candidates; --unsealed opts out."""
from __future__ import annotations

import json
import re

import pytest
from asn1crypto import pem
from click.testing import CliRunner

from ca import service as ca_service
from cli.main import main
from keystore.soft import SoftKeyStore
from seal import service as seal_service
from seal import structures
from seal.demo import DEMO_AGENCY
from seal.license import service
from seal.ofd.signing import verify_package
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403
from verify.engine import Verifier
from verify.path import StaticTrust
from verify.report import Indication
from verify.revocation import RevocationChecker

PASSPHRASE = "default seal passphrase"
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


def _eseal(*args: str, code: int = 0):
    res = CliRunner().invoke(main, list(args))
    assert res.exit_code == code, res.output
    return res


@pytest.fixture
def demo(eseal_home, tmp_path, monkeypatch):
    """`eseal init --demo` in the test's home (its database); returns (home path, demo seal id, data file)."""
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    out = _eseal("init", "--home", str(eseal_home.path), "--region-code", "440000", "--region-name", "广东省",
                 "--demo").output
    es_id = re.search(rf"\({DEMO_AGENCY}\) with seal (\d{{17}}[\dX])", out).group(1)
    data = tmp_path / "fields.json"
    data.write_text(json.dumps(BUSINESS, ensure_ascii=False), encoding="utf-8")
    return eseal_home, es_id, data


def _keystore(home) -> SoftKeyStore:
    ks = SoftKeyStore(make_sessionmaker(home.engine))
    ks.unlock_with_passphrase(PASSPHRASE, actor="admin")
    return ks


def _verified(home, ofd: bytes):
    """The engine's report as a relying party gets it: trust in the region's root, CRLs offline."""
    ks = _keystore(home)
    chain = [der for _, _, der in pem.unarmor(ca_service.ca_chain(home), multiple=True)]
    crls = [ca_service.generate_crl(home, ks), ca_service.generate_crl(home, ks, authority="root")]
    verifier = Verifier(StaticTrust([chain[-1]], chain[:-1]), revocation=RevocationChecker(online=False,
                                                                                           offline_crls=crls))
    return verifier.verify_ofd(ofd, name="license.ofd")


def test_issue_without_seal_seals_with_the_agency_s_seal(demo, tmp_path) -> None:
    home, es_id, data = demo
    out = tmp_path / "license.ofd"
    license_id = _eseal("license", "issue", "--home", str(home.path), "--type", "YYZZ", "--data", str(data),
                        "--out", str(out)).stdout.strip()
    report = _verified(home, out.read_bytes())
    [sig] = report.signatures
    assert report.indication is Indication.PASSED, [(c.name, c.detail) for c in sig.checks
                                                    if c.indication is not Indication.PASSED]
    assert sig.seal is not None and sig.timestamp_time is not None
    [facts] = verify_package(out.read_bytes())
    assert structures.parse_signature(facts.signed_value).seal.es_id == es_id
    info = service.get_license(home, license_id)
    assert info.seal_id == es_id and info.agency == DEMO_AGENCY and info.ofd == out.read_bytes()


def test_batch_without_seal_seals_every_license(demo, tmp_path) -> None:
    home, es_id, _ = demo
    rows = tmp_path / "rows.csv"
    rows.write_text("external_id," + ",".join(BUSINESS) + "\nB1," + ",".join(BUSINESS.values()) + "\n",
                    encoding="utf-8")
    res = _eseal("license", "batch", "--home", str(home.path), "--type", "YYZZ", "--csv", str(rows),
                 "--out", str(tmp_path / "out"))
    assert "1 issued, 0 already issued, 0 errors" in res.output
    [ofd] = (tmp_path / "out").glob("*.ofd")
    [facts] = verify_package(ofd.read_bytes())
    assert facts.references_ok and structures.parse_signature(facts.signed_value).seal.es_id == es_id


def test_unsealed_is_an_explicit_choice(demo, tmp_path, monkeypatch) -> None:
    home, _, data = demo
    args = ["license", "issue", "--home", str(home.path), "--type", "YYZZ", "--data", str(data)]
    res = _eseal(*args, "--out", str(tmp_path / "a.ofd"), "--seal", "440000202600000010", "--unsealed", code=2)
    assert "--seal and --unsealed exclude each other" in res.output
    monkeypatch.delenv("ESEAL_PASSPHRASE")  # an unsealed license needs no key store
    license_id = _eseal(*args, "--out", str(tmp_path / "u.ofd"), "--unsealed").stdout.strip()
    assert verify_package((tmp_path / "u.ofd").read_bytes()) == []
    assert service.get_license(home, license_id).seal_id is None


def test_no_seal_is_an_error_that_says_so(eseal_home, tmp_path, monkeypatch) -> None:
    monkeypatch.setenv("ESEAL_PASSPHRASE", PASSPHRASE)
    _eseal("init", "--home", str(eseal_home.path), "--region-code", "440000", "--region-name", "广东省")
    (tmp_path / "f.json").write_text(json.dumps(BUSINESS, ensure_ascii=False), encoding="utf-8")
    res = _eseal("license", "issue", "--home", str(eseal_home.path), "--type", "YYZZ", "--data",
                 str(tmp_path / "f.json"), "--out", str(tmp_path / "l.ofd"), code=1)
    assert "this home has no seal to seal YYZZ licenses with" in res.output and "no seal is registered" in res.output
    assert "--unsealed" in res.output and not (tmp_path / "l.ofd").exists()


def test_an_agency_without_a_grant_or_with_two_seals_names_the_candidates(demo, tmp_path) -> None:
    home, es_id, data = demo
    issue = ["license", "issue", "--home", str(home.path), "--type", "YYZZ", "--data", str(data),
             "--out", str(tmp_path / "l.ofd")]
    res = _eseal(*issue, "--agency", "某某区政府", code=1)
    assert "agency '某某区政府' has no seal to seal YYZZ licenses with" in res.output
    assert "no seal is granted to it" in res.output

    ks = _keystore(home)  # a second agency's seal, granted to the demo agency too
    key_ref = ks.generate("other-signer", "seal", actor="admin")
    _, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                       subject="C=CN,O=演示市人民政府,CN=演示市人民政府",
                                       credit_code="11440300MB2C92051K")
    other = seal_service.make_seal(home, ks, seal_type="organization", name="演示市人民政府", agency="GOV",
                                   holder_certs=[cert.dump()], actor="ra")
    seal_service.grant_use(home, other, agency=DEMO_AGENCY, actor="ra")
    res = _eseal(*issue, "--agency", DEMO_AGENCY, code=1)
    assert f"agency '{DEMO_AGENCY}' may seal YYZZ licenses with 2 seals" in res.output
    assert es_id in res.output and other in res.output and "--seal" in res.output
    res = _eseal(*issue, code=1)  # without --agency: every agency's seals are candidates
    assert "this home's agencies may seal YYZZ licenses with 2 seals" in res.output
    assert not (tmp_path / "l.ofd").exists()

    seal_service.suspend_seal(home, es_id, reason="audit", actor="ra")  # one usable seal left: it is used
    license_id = _eseal(*issue, "--agency", DEMO_AGENCY).stdout.strip()
    assert service.get_license(home, license_id).seal_id == other
    seal_service.suspend_seal(home, other, reason="audit", actor="ra")  # none: each seal says why not
    res = _eseal(*issue, "--agency", DEMO_AGENCY, code=1)
    assert f"{es_id} (演示市市场监督管理局): suspended" in res.output and f"{other} (演示市人民政府): suspended" in res.output


# ------------------------------------------------------------------ the same rule over REST

def _api(home):
    from api import create_app
    from store.tokens import create_token

    app = create_app(home.path, passphrase=PASSPHRASE)
    token, _ = create_token(make_sessionmaker(home.engine), role="admin", label="t", actor="t")
    return app.test_client(), {"Authorization": f"Bearer {token}"}


def test_rest_issue_seals_by_default_and_unsealed_is_explicit(demo) -> None:
    import base64

    home, es_id, _ = demo
    client, auth = _api(home)
    issued = client.post("/api/v1/licenses", headers=auth, json={"type": "YYZZ", "data": BUSINESS})
    assert issued.status_code == 201, issued.json
    ofd = base64.b64decode(issued.json["ofd"])
    assert _verified(home, ofd).indication is Indication.PASSED
    [facts] = verify_package(ofd)
    assert structures.parse_signature(facts.signed_value).seal.es_id == es_id

    both = client.post("/api/v1/licenses", headers=auth,
                       json={"type": "YYZZ", "data": BUSINESS, "seal_id": es_id, "unsealed": True})
    assert both.status_code == 400 and "exclude each other" in both.json["detail"]
    plain = client.post("/api/v1/licenses", headers=auth, json={"type": "YYZZ", "data": BUSINESS, "unsealed": True})
    assert plain.status_code == 201 and verify_package(base64.b64decode(plain.json["ofd"])) == []
    odd = client.post("/api/v1/licenses/batch", headers=auth,
                      json={"csv": "external_id\n", "type": "YYZZ", "unsealed": "yes"})
    assert odd.status_code == 400 and "'unsealed'" in odd.json["detail"]


def test_rest_issue_without_a_usable_seal_is_a_409_naming_the_choice(demo) -> None:
    home, es_id, _ = demo
    seal_service.suspend_seal(home, es_id, reason="audit", actor="ra")
    client, auth = _api(home)
    refused = client.post("/api/v1/licenses", headers=auth, json={"type": "YYZZ", "data": BUSINESS})
    assert refused.status_code == 409 and refused.json["type"].endswith("/no-agency-seal")
    assert f"{es_id} (演示市市场监督管理局): suspended" in refused.json["detail"]
    assert "unsealed: true" in refused.json["detail"]
    assert service.list_licenses(home).total == 0
