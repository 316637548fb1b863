"""The public verification pages in a real browser (Debian's headless Chromium driven by
Playwright) against a real `eseal serve` (gunicorn, 2 workers), on SQLite and PostgreSQL:

* /verify: upload an e-license OFD that this service sealed with the region's seal (file
  input, submit) and read the report: PASSED, the seal picture (its data: URL decodes to
  exactly the picture the seal carries), the signer, the signing time and the trust path up
  to the region's root;
* the same upload with one byte of a page changed is FAILED;
* /verify/license/<id>, the page the license's QR code points at: valid with holder and
  type; revoked through the service (another process), a reload says revoked;
* neither page has a <script> element: they work without JavaScript.

Screenshots are kept in test-artifacts/ (gitignored), beside the console's."""
from __future__ import annotations

import base64
import datetime as dt
import json
import os
from contextlib import ExitStack
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from asn1crypto import pem, x509

from api.testing import free_port, serving
from ca import service as ca_service
from seal import service as seal_service
from seal import structures
from seal.license import service as license_service
from seal.license.render import METADATA_ATTACHMENT, verification_url
from seal.license.types import get_type
from seal.ofd.signing import verify_package
from store.home import Home
from store.testing import pg_schema_url
from tests.helpers.region import seal_region
from tests.helpers.zip_records import entries, rezip
from tests.test_console_browser import ARTIFACTS, BUSINESS, browser  # noqa: F401  (the browser fixture)
from tests.test_serve_http import PASSPHRASE, Server

AGENCY = "广东省市场监督管理局"
PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _without_db_env():
    """ESEAL_DATABASE_URL set aside while the test process opens the home itself."""
    saved = os.environ.pop("ESEAL_DATABASE_URL", None)

    def restore() -> None:
        if saved is not None:
            os.environ["ESEAL_DATABASE_URL"] = saved

    return restore


def _region(home_path: Path, base: str, database_url: str | None) -> dict:
    """A region served at ``base`` with an organization seal of its agency and two e-licenses
    sealed with it (one to upload, one to revoke); the key store is left locked."""
    restore = _without_db_env()
    try:
        home = Home.create(home_path, database_url=database_url)
        try:
            made = seal_region(home, passphrase=PASSPHRASE, agency=AGENCY, name=AGENCY, base_url=base,
                               label="smr-signer", credit_code="11440000MB2C920514", actor="ra")
            ks, es_id, signer = made.keystore, made.es_id, made.signer
            uploaded = license_service.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=None,
                                                     seal_id=es_id, actor="test")
            revoked = license_service.issue_license(home, ks, type="YYZZ",
                                                    data={**BUSINESS, "name": "广州某某贸易有限公司"},
                                                    agency=None, seal_id=es_id, actor="test")
            chain = pem.unarmor(ca_service.ca_chain(home), multiple=True)
            ks.lock()
            return {"ofd": uploaded.ofd, "license_id": uploaded.license_id, "to_revoke": revoked.license_id,
                    "to_revoke_ofd": revoked.ofd, "seal_der": seal_service.get_seal(home, es_id).der,
                    "signer": signer, "chain": [x509.Certificate.load(der) for _, _, der in chain]}
        finally:
            home.close()
    finally:
        restore()


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def live(request, tmp_path_factory):
    """:func:`_region` served by `eseal serve` on a free port, on SQLite and on PostgreSQL."""
    folder = tmp_path_factory.mktemp(f"public-verify-browser-{request.param}")
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(pg_schema_url(request.getfixturevalue("pg_url")))
        made = _region(folder / "home", base, url)
        stack.enter_context(serving(folder / "home", port, passphrase=PASSPHRASE, log=folder / "serve.log"))
        yield {"server": Server(base, port, folder / "home", {}, folder), "kind": request.param, **made}


def _png_artefact(page, name: str) -> Path:
    ARTIFACTS.mkdir(exist_ok=True)
    path = ARTIFACTS / name
    page.screenshot(path=str(path), full_page=True)
    assert path.is_file() and path.stat().st_size > len(PNG_SIGNATURE)
    assert path.read_bytes().startswith(PNG_SIGNATURE)
    return path


def _upload(page, base: str, name: str, document: bytes):
    """Open /verify, choose ``document`` in its file input, submit: the report's response."""
    form = page.goto(f"{base}/verify")
    assert form.status == 200 and "<script" not in form.text().lower()
    assert page.locator("script").count() == 0
    page.set_input_files("input[name=file]", files=[{"name": name, "mimeType": "application/ofd",
                                                      "buffer": document}])
    with page.expect_navigation() as navigation:
        page.click("#verify-submit")
    report = navigation.value
    assert report.status == 200 and report.request.method == "POST"
    assert "<script" not in report.text().lower() and page.locator("script").count() == 0
    return report


def _row(page, heading: str):
    """The <td> of the report table row whose <th> says ``heading``."""
    return page.locator("section.signature tr", has=page.locator("th", has_text=heading)).locator("td")


def _cn(cert: x509.Certificate) -> str:
    return cert.subject.native["common_name"]


def test_a_license_we_sealed_passes_with_picture_signer_time_and_trust_path(browser, live) -> None:  # noqa: F811
    server: Server = live["server"]
    page = browser.new_page(locale="zh-CN")
    try:
        report = _upload(page, server.base, "license.ofd", live["ofd"])
        assert report.headers["x-eseal-indication"] == "PASSED"
        assert page.locator("#indication").inner_text() == "PASSED"
        [section] = page.locator("section.signature").all()
        assert "PASSED" in section.locator("h2").inner_text()
        # the seal picture: a data: URL whose bytes are exactly the picture in the seal
        expected = structures.parse_seal(live["seal_der"]).picture
        src = section.locator("img.seal").get_attribute("src")
        assert src is not None and src.startswith("data:image/")
        header, _, payload = src.partition(",")
        assert header.endswith(";base64") and base64.b64decode(payload, validate=True) == expected.data
        assert page.evaluate("() => document.querySelector('img.seal').naturalWidth") > 0  # the browser drew it
        # the signer: the agency's certificate
        signer: x509.Certificate = live["signer"]
        signer_text = _row(page, "签名人 Signer").inner_text()
        assert AGENCY in signer_text and format(signer.serial_number, "x") in signer_text
        # the signing time: the one the signature claims (and a timestamp's, the region's TSA)
        [facts] = verify_package(live["ofd"])
        claimed = structures.parse_signature(facts.signed_value).time_info
        assert claimed is not None
        shown = _row(page, "声称签名时间 Claimed signing time").inner_text().strip()
        assert dt.datetime.fromisoformat(shown) == claimed
        stamped = _row(page, "时间戳时间 Timestamp time").inner_text().strip()
        assert abs(dt.datetime.fromisoformat(stamped) - claimed) < dt.timedelta(minutes=5)
        # the trust path: signer, issuing CA(s), the region's root, each named with its serial
        path = [signer, *live["chain"]]
        items = section.locator("h3:has-text('信任路径') + ol > li").all_inner_texts()
        assert len(items) == len(path), items
        for text, cert in zip(items, path, strict=True):
            assert _cn(cert) in text and f"serial {format(cert.serial_number, 'x')}" in text, (text, _cn(cert))
        root_pem = (server.home / "root.pem").read_bytes()
        assert live["chain"][-1].dump() == pem.unarmor(root_pem)[2]  # the last one named is the region's root
        _png_artefact(page, f"public-verify-passed-{live['kind']}.png")
    finally:
        page.close()


def test_one_changed_byte_of_a_page_fails(browser, live) -> None:  # noqa: F811
    server: Server = live["server"]
    files = entries(live["ofd"])
    [content] = [name for name in files if "/Pages/" in name and name.endswith("/Content.xml")]
    data = files[content]
    code = BUSINESS["credit_code"].encode()  # printed on the page: its last character changed
    assert data.count(code) == 1
    files[content] = data.replace(code, code[:-1] + (b"4" if code[-1:] != b"4" else b"5"))
    assert len(files[content]) == len(data) and sum(a != b for a, b in zip(files[content], data)) == 1
    tampered = rezip(files)
    page = browser.new_page(locale="zh-CN")
    try:
        report = _upload(page, server.base, "tampered.ofd", tampered)
        assert report.headers["x-eseal-indication"] == "FAILED"
        assert page.locator("#indication").inner_text() == "FAILED"
        assert page.locator("#sub-indication").inner_text() == "HASH_FAILURE"
        assert "HASH_FAILURE · 策略" in page.inner_text("body")  # the header reads as words
        failed = page.locator("section.signature tr", has=page.locator("td.FAILED")).all_inner_texts()
        [row] = failed  # the one failed check: the changed page's digest, named
        assert row.startswith("DOCUMENT_REFERENCES") and f"/{content}: mismatch" in row, row
        _png_artefact(page, f"public-verify-failed-{live['kind']}.png")
    finally:
        page.close()


def test_the_license_page_before_and_after_revocation(browser, live) -> None:  # noqa: F811
    server: Server = live["server"]
    lid = live["to_revoke"]
    page = browser.new_page(locale="zh-CN")
    try:
        page.goto(f"{server.base}/verify/license/{lid}")
        assert page.locator("script").count() == 0
        status = page.locator("#license-status")
        assert "status-valid" in status.get_attribute("class") and "valid" in status.inner_text()
        facts = page.locator("dl.facts").inner_text()
        assert "广州某某贸易有限公司" in facts and "YYZZ" in facts
        yyzz = get_type("YYZZ")
        assert page.locator("#license-type").inner_text() == f"{yyzz.name_zh} · {yyzz.name_en} (YYZZ)"
        _png_artefact(page, f"public-license-valid-{live['kind']}.png")
        # the QR code's address (the license's metadata in its OFD says what it encodes) is this very page
        [metadata] = [data for name, data in entries(live["to_revoke_ofd"]).items()
                      if name.endswith("/" + METADATA_ATTACHMENT)]
        assert json.loads(metadata)["verify_url"] == verification_url(server.base, lid)
        qr = urlsplit(json.loads(metadata)["verify_url"])
        assert (qr.scheme, qr.netloc) == ("http", f"127.0.0.1:{server.port}")
        page.goto(qr.geturl())
        assert page.url == f"{server.base}/verify/license/{lid}"
        assert page.locator("#license-status").inner_text() == status.inner_text()
        # revoked through the service, by another process than the server's
        restore = _without_db_env()
        try:
            home = Home.open(server.home)
            try:
                license_service.revoke_license(home, lid, "企业注销", actor="test")
            finally:
                home.close()
        finally:
            restore()
        page.reload()
        status = page.locator("#license-status")
        assert "status-revoked" in status.get_attribute("class") and "revoked" in status.inner_text()
        assert "企业注销" in page.locator("dl.facts").inner_text()
        _png_artefact(page, f"public-license-revoked-{live['kind']}.png")
    finally:
        page.close()


def test_the_public_pages_work_without_javascript(browser, live) -> None:  # noqa: F811
    """JavaScript off in the browser: the form still uploads and the report still shows its
    verdict and seal; neither page nor the license page has a <script> element."""
    server: Server = live["server"]
    context = browser.new_context(locale="zh-CN", java_script_enabled=False)
    try:
        page = context.new_page()
        _upload(page, server.base, "license.ofd", live["ofd"])  # no <script> on the form, nor on the report
        assert page.locator("#indication").inner_text() == "PASSED"
        assert page.locator("img.seal").count() == 1
        answer = page.goto(f"{server.base}/verify/license/{live['license_id']}")
        assert answer.status == 200 and "<script" not in answer.text().lower()
        assert page.locator("script").count() == 0 and page.locator("#license-status").count() == 1
    finally:
        context.close()
