"""tests/deps/audit.py against a PyPI-shaped JSON API served on 127.0.0.1.

The documents have the shape of PyPI's (``info``, ``vulnerabilities`` with ``id``, ``aliases``,
``fixed_in``, ``withdrawn``); the advisories are real ones (jinja2 2.10's sandbox escape,
setuptools 65.5.0's package_index advisories). The run against the real PyPI is
`make test`'s first step, not a test: its answer changes when PyPI's data does.
"""
from __future__ import annotations

import json
import subprocess
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from tests.deps.audit import audit, fetch_json, installed, render

JINJA2_2_10 = [{
    "id": "PYSEC-2019-217", "aliases": ["CVE-2019-10906", "GHSA-462w-v97r-4m45"], "fixed_in": ["2.10.1"],
    "summary": "", "details": "In Pallets Jinja before 2.10.1, str.format_map allows a sandbox escape.",
    "link": "https://osv.dev/vulnerability/PYSEC-2019-217", "source": "osv", "withdrawn": None,
}]
SETUPTOOLS_LATEST = [{
    "id": "PYSEC-2025-49", "aliases": ["CVE-2025-47273", "GHSA-5rjg-fvgr-3xxf"], "fixed_in": ["78.1.1"],
    "summary": "Path traversal in PackageIndex.download", "details": "", "link": "", "source": "osv",
    "withdrawn": None,
}, {
    "id": "GHSA-withdrawn-0000", "aliases": [], "fixed_in": [], "summary": "withdrawn advisory",
    "details": "", "link": "", "source": "osv", "withdrawn": "2025-01-01T00:00:00Z",
}]

ASN1CRYPTO = [{"id": "TEST-0001", "aliases": [], "fixed_in": ["99"], "summary": "made up for this test",
               "details": "", "link": "", "source": "osv", "withdrawn": None}]

# path -> (status, document)
PYPI = {
    "/pypi/jinja2/2.10/json": (200, {"info": {"version": "2.10"}, "vulnerabilities": JINJA2_2_10}),
    "/pypi/flask/3.1.3/json": (404, None),
    "/pypi/flask/json": (200, {"info": {"version": "3.1.3"}, "vulnerabilities": []}),
    "/pypi/setuptools/78.0.0/json": (404, None),
    "/pypi/setuptools/json": (200, {"info": {"version": "78.0.0"}, "vulnerabilities": SETUPTOOLS_LATEST}),
    "/pypi/numpy/2.4.6/json": (404, None),
    "/pypi/numpy/json": (200, {"info": {"version": "2.5.5"}, "vulnerabilities": []}),
    "/pypi/no-such-project/1.0/json": (404, None),
    "/pypi/no-such-project/json": (404, None),
    "/pypi/broken/1.0/json": (500, None),
}


class Handler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802
        status, document = PYPI.get(self.path, (404, None))
        if self.path.startswith("/asn1crypto-vulnerable/pypi/"):  # every version of everything answered
            name = self.path.split("/")[3]
            document = {"info": {}, "vulnerabilities": ASN1CRYPTO if name == "asn1crypto" else []}
            status = 200
        body = json.dumps(document).encode() if document is not None else b"not found"
        self.send_response(status)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, *args) -> None:  # noqa: ANN002
        pass


@pytest.fixture(scope="module")
def index():
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/pypi"
    server.shutdown()


def fetch(url: str):  # noqa: ANN201
    return fetch_json(url, timeout=5, tries=1)


def test_a_vulnerable_version_is_found_through_its_per_version_document(index) -> None:
    report = audit([("jinja2", "2.10")], fetch, index=index)
    assert [(f.name, f.id, f.fixed_in) for f in report.findings] == [("jinja2", "PYSEC-2019-217", ["2.10.1"])]
    assert "CVE-2019-10906" in report.findings[0].aliases
    assert report.status(strict=False) == 1
    assert "VULNERABLE jinja2 2.10: PYSEC-2019-217 (CVE-2019-10906" in render(report)


def test_the_latest_release_is_checked_through_the_project_document(index) -> None:
    report = audit([("flask", "3.1.3"), ("setuptools", "78.0.0")], fetch, index=index)
    assert [n for n, _, how in report.checked if how.startswith("latest release")] == ["flask", "setuptools"]
    assert [(f.name, f.id) for f in report.findings] == [("setuptools", "PYSEC-2025-49")]  # not the withdrawn one
    assert report.status(strict=True) == 1


def test_an_ignored_advisory_by_id_or_alias_is_skipped(index) -> None:
    for ignore in ("PYSEC-2025-49", "CVE-2025-47273"):
        report = audit([("setuptools", "78.0.0")], fetch, index=index, ignore=[ignore])
        assert report.findings == [] and report.status(strict=True) == 0


def test_what_cannot_be_checked_is_listed_and_fails_only_when_strict(index) -> None:
    report = audit([("numpy", "2.4.6"), ("no-such-project", "1.0"), ("broken", "1.0")], fetch, index=index)
    why = {name: reason for name, _, reason in report.unchecked}
    assert why["numpy"].startswith("not the latest release (2.5.5)")
    assert why["no-such-project"] == "not on PyPI"
    assert why["broken"].startswith("lookup failed") and "500" in why["broken"]
    assert report.findings == [] and report.checked == []
    assert report.status(strict=False) == 0 and report.status(strict=True) == 1
    assert "3 unchecked" in render(report)


def test_past_its_deadline_the_audit_lists_the_rest_unchecked(index) -> None:
    report = audit([("flask", "3.1.3"), ("jinja2", "2.10")], fetch, index=index, deadline_seconds=-1)
    assert [why for _, _, why in report.unchecked] == ["not looked up: the audit's -1 s were over"] * 2
    assert report.status(strict=False) == 0 and report.status(strict=True) == 1


def test_the_environment_is_listed_without_eseal_itself() -> None:
    names = dict(installed())
    assert "cryptography" in names and "asn1crypto" in names and "eseal" not in names


def test_the_command_fails_on_a_vulnerability_in_this_environment(index) -> None:
    root = index.replace("/pypi", "/asn1crypto-vulnerable/pypi")
    proc = subprocess.run([sys.executable, "-m", "tests.deps.audit", "--index", root],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1, proc.stdout
    assert "VULNERABLE asn1crypto" in proc.stdout and "TEST-0001" in proc.stdout and ", 0 unchecked" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "tests.deps.audit", "--index", root, "--ignore-vuln", "TEST-0001"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout


def test_the_command_lists_what_it_could_not_look_up_and_fails_on_it_only_when_strict(index) -> None:
    proc = subprocess.run([sys.executable, "-m", "tests.deps.audit", "--index", index + "/nowhere"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "unchecked asn1crypto" in proc.stdout
    proc = subprocess.run([sys.executable, "-m", "tests.deps.audit", "--strict", "--index", index + "/nowhere"],
                          capture_output=True, text=True, timeout=120)
    assert proc.returncode == 1
