"""The console in a real browser (Debian's headless Chromium driven by Playwright) against a
real `eseal serve` (gunicorn, 2 workers): sign in, revoke a certificate through the dialog,
and see it revoked in OCSP over HTTP; revoke an e-license through its dialog and see it
revoked in the public status; the trust-list page. Screenshots are kept in test-artifacts/."""
from __future__ import annotations

import importlib.util
import os
import shutil
from pathlib import Path

import pytest
from asn1crypto import ocsp as aocsp

from api.testing import free_port, serving
from ca import ocsp, service
from ca.csr import build_csr
from ca.testing import LocalSigner
from keystore.soft import SoftKeyStore
from seal.license.service import issue_license
from store.db import make_sessionmaker
from store.home import Home
from store.tokens import create_token
from tests.conftest import require
from tests.test_serve_http import PASSPHRASE, Server
from verify.trustlist.service import publish_region_tl

ARTIFACTS = Path(os.environ.get("ESEAL_TEST_ARTIFACTS", Path(__file__).resolve().parents[1] / "test-artifacts"))
BUSINESS = {"credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}
CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run", "--disable-sync",
                 "--disable-background-networking", "--disable-component-update"]


@pytest.fixture(scope="module")
def browser():
    require(Path(CHROMIUM).exists(), "Debian's chromium (make sysdeps installs it)")
    require(importlib.util.find_spec("playwright") is not None, "Playwright (a test dependency of the project)")
    from playwright import sync_api
    with sync_api.sync_playwright() as p:
        b = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        yield b
        b.close()


@pytest.fixture(scope="module")
def live(tmp_path_factory):
    folder = tmp_path_factory.mktemp("console-browser")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    saved = os.environ.pop("ESEAL_DATABASE_URL", None)
    try:
        home = Home.create(folder / "home")
        sessions = make_sessionmaker(home.engine)
        ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE).store
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=base)
        token, _ = create_token(sessions, role="ra_operator", label="browser test")
        csr = build_csr(LocalSigner(), "C=CN,O=某某局,CN=设备").dump()
        serial, _ = service.issue_certificate(home, ks, profile="device", csr_pem=csr, subject="C=CN,O=某某局,CN=门禁设备")
        issuing = service.ca_chain(home)
        license_id = issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None, actor="test").license_id
        publish_region_tl(home, ks, actor="test")
        ks.lock()
        home.close()
    finally:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved
    with serving(folder / "home", port, passphrase=PASSPHRASE, log=folder / "serve.log"):
        yield Server(base, port, folder / "home", {"ra_operator": token}, folder), serial, issuing, license_id


def _ocsp_status(server: Server, serial: str, chain_pem: bytes) -> str:
    from asn1crypto import pem
    issuing_der = next(der for _, _, der in pem.unarmor(chain_pem, multiple=True))
    request = aocsp.OCSPRequest({"tbs_request": {"request_list": [
        {"req_cert": ocsp.cert_id_for(issuing_der, int(serial, 16)).raw}]}}).dump()
    status, headers, body = server.request("POST", "/ocsp", request, {"Content-Type": "application/ocsp-request"})
    assert status == 200 and headers["content-type"] == "application/ocsp-response"
    single = aocsp.OCSPResponse.load(body).basic_ocsp_response["tbs_response_data"]["responses"][0]
    return single["cert_status"].name


def test_revoke_through_the_dialog_then_ocsp_says_revoked(browser, live) -> None:
    server, serial, chain, _ = live
    assert _ocsp_status(server, serial, chain) == "good"
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{server.base}/console/login")
    page.fill("input[name=token]", server.tokens["ra_operator"])
    page.click("#sign-in")
    page.wait_for_url("**/console/certificates")
    page.screenshot(path=str(ARTIFACTS / "console-certificates.png"), full_page=True)
    page.click(f"text={serial}")
    page.click("#revoke-dialog summary")
    page.select_option("select[name=reason]", "keyCompromise")
    page.check("input[name=confirm]")
    page.screenshot(path=str(ARTIFACTS / "console-revoke-dialog.png"), full_page=True)
    page.click("#revoke-submit")
    page.wait_for_selector("#status.status-revoked")
    assert "已吊销" in page.inner_text("#status")
    assert "证书已吊销" in page.inner_text("main")
    page.screenshot(path=str(ARTIFACTS / "console-revoked.png"), full_page=True)
    page.close()
    assert _ocsp_status(server, serial, chain) == "revoked"


def test_revoke_a_license_through_the_dialog_and_see_the_trust_lists(browser, live) -> None:
    import json

    server, _, _, license_id = live
    ARTIFACTS.mkdir(exist_ok=True)
    page = browser.new_page(locale="zh-CN")
    page.goto(f"{server.base}/console/login")
    page.fill("input[name=token]", server.tokens["ra_operator"])
    page.click("#sign-in")
    page.wait_for_url("**/console/certificates")
    page.click("nav >> text=电子证照")
    page.wait_for_url("**/console/licenses")
    page.click(f"text={license_id}")
    page.click("#revoke-dialog summary")
    page.fill("input[name=reason]", "企业注销")
    page.check("input[name=confirm]")
    page.screenshot(path=str(ARTIFACTS / "console-license-revoke-dialog.png"), full_page=True)
    page.click("#revoke-submit")
    page.wait_for_selector("#status.status-revoked")
    assert "证照已吊销" in page.inner_text("main")
    status, _, body = server.request("GET", f"/api/v1/licenses/{license_id}")
    assert status == 200 and json.loads(body)["status"] == "revoked"
    page.click("nav >> text=信任列表")
    page.wait_for_url("**/console/trust-lists")
    region = page.inner_text("#region-tl")
    assert "验证通过" in region and "root_ca" in region and "已认可" in region
    page.screenshot(path=str(ARTIFACTS / "console-trust-lists.png"), full_page=True)
    page.close()
