"""Three regions and a national operator, end to end, with the real `eseal` command and HTTP.

Regions A (广东省, SQLite), B (浙江省, PostgreSQL) and C (四川省, SQLite) each run `eseal serve`
on their own port of 127.0.0.1 over their own database; the national operator N is an eseal
home of its own that only signs the list of lists (LOTL). B learns A's and C's trust
services only from the signed lists: A and C publish their TLs (`eseal tl publish`, served
by their own servers), N signs a LOTL pointing at those URLs (`eseal tl lotl --add`, which
fetches them), and B imports it with N's signer pinned (`eseal tl import`). B verifies
through its public POST /api/v1/verify; revocation comes from A's OCSP responder, e-license
status from A's public license record at the address A's TL names. B is configured to reuse
no status answer (ESEAL_VERIFY_STATUS_MAX_AGE=0), so a change in A shows at B's next request.

The story:
1. A issues a certificate, its demo agency seals a document (timestamped) and issues a
   sealed e-license; C seals a document. B verifies all of them -> PASSED.
2. A revokes the agency's signer certificate -> B: the certificate is REVOKED, the
   document timestamped before the revocation stays PASSED with the revocation shown.
3. N withdraws region C and B re-imports -> C's new seal gives TRUST_SERVICE_WITHDRAWN,
   C's document timestamped before the withdrawal stays PASSED.
4. A revokes the e-license in its directory -> B: LICENSE_REVOKED.
Independent commands run at the same time (the three changes of 2.-4. are one batch), which
keeps the test near a minute on an idle machine. Every command and request has a timeout, so
a hang fails the test instead of blocking it.
"""
from __future__ import annotations

import datetime as dt
import http.client
import json
import os
import re
import subprocess
import sys
import time
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path

import pytest

from api.testing import free_port
from store.testing import pg_schema_url

pytestmark = pytest.mark.postgres      # region B's database
PASSPHRASE = "three regions passphrase"
ESEAL = str(Path(sys.executable).with_name("eseal"))
COMMAND_TIMEOUT = 180
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "广州某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "registered_capital": "100", "establishment_date": "2020-02-03",
    "address": "广州市天河区", "scope": "软件开发",
}


@dataclass
class Region:
    name: str
    code: str
    home: Path
    port: int
    env: dict[str, str]
    seal: str = ""
    admin_token: str = ""
    proc: subprocess.Popen | None = None

    @property
    def base(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self, *args: str) -> tuple[list[str], subprocess.Popen]:
        cmd = [ESEAL, *args, "--home", str(self.home)]
        return cmd, subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=self.env)

    def eseal(self, *args: str) -> str:
        """Run `eseal ARGS --home H`; its stdout (fails the test on a non-zero exit)."""
        return together((self, *args))[0]

    def request(self, method: str, path: str, body: bytes | None = None,
                headers: dict[str, str] | None = None) -> tuple[int, bytes]:
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=60)
        try:
            conn.request(method, path, body=body, headers=headers or {})
            r = conn.getresponse()
            return r.status, r.read()
        finally:
            conn.close()

    def verify(self, data: bytes) -> dict:
        """This region's public verification endpoint: the JSON report."""
        status, body = self.request("POST", "/api/v1/verify", data, {"Content-Type": "application/octet-stream"})
        assert status == 200, body[:2000]
        return json.loads(body)


def together(*commands: tuple) -> list[str]:
    """Run `eseal` commands ((region, *args), ...) at the same time (independent steps); their
    stdouts. A command that fails or hangs fails the test."""
    started = [region.start(*args) for region, *args in commands]
    outputs = []
    try:
        for cmd, proc in started:
            try:
                out, err = proc.communicate(timeout=COMMAND_TIMEOUT)
            except subprocess.TimeoutExpired:
                pytest.fail(f"{' '.join(cmd)} did not finish within {COMMAND_TIMEOUT} s")
            assert proc.returncode == 0, f"{' '.join(cmd)} exited {proc.returncode}:\n{out}\n{err}"
            outputs.append(out)
    finally:
        for _, proc in started:       # none left running after a failure
            if proc.poll() is None:
                proc.kill()
                proc.wait(10)
    return outputs


def _env(pycache: Path, database_url: str | None = None, **extra: str) -> dict[str, str]:
    """The environment of one region's commands. Byte code goes to one folder that every
    command of the test shares: twenty-odd `eseal` processes do not each compile the sources
    again (where PYTHONDONTWRITEBYTECODE is set), and the work tree gets no __pycache__."""
    drop = ("ESEAL_DATABASE_URL", "ESEAL_VERIFY_STATUS_MAX_AGE", "PYTHONDONTWRITEBYTECODE")
    env = {k: v for k, v in os.environ.items() if k not in drop}
    env.update(ESEAL_PASSPHRASE=PASSPHRASE, ESEAL_KEY_PASSPHRASE=PASSPHRASE, PYTHONPYCACHEPREFIX=str(pycache),
               **extra)
    if database_url is not None:
        env["ESEAL_DATABASE_URL"] = database_url
    return env


def _init_all(regions: list[tuple[Region, bool]]) -> None:
    outs = together(*((r, "init", "--region-code", r.code, "--region-name", r.name, "--base-url", r.base,
                       *(["--demo"] if demo else [])) for r, demo in regions))
    for (region, demo), out in zip(regions, outs, strict=True):
        if demo:
            region.seal = re.search(r"with seal (\S+);", out).group(1)
        token_file = re.search(r"administrator API token: (\S+)", out).group(1)
        region.admin_token = Path(token_file).read_text().strip()


def _serve(region: Region, log: Path) -> None:
    handle = open(log, "wb")
    region.proc = subprocess.Popen([ESEAL, "serve", "--home", str(region.home), "--port", str(region.port),
                                    "--workers", "1", "--threads", "4"], stdout=handle, stderr=subprocess.STDOUT,
                                   env=region.env, start_new_session=True)


def _wait_healthy(region: Region, log: Path) -> None:
    deadline = time.monotonic() + 120      # a start-up wait, not a timing assertion
    while time.monotonic() < deadline:
        if region.proc.poll() is not None:
            pytest.fail(f"eseal serve ({region.name}) exited {region.proc.returncode}:\n"
                        f"{log.read_text(errors='replace')}")
        try:
            if region.request("GET", "/health")[0] == 200:
                return
        except OSError:
            pass
        time.sleep(0.2)
    pytest.fail(f"eseal serve ({region.name}) did not answer /health:\n{log.read_text(errors='replace')}")


def _stop(regions: list[Region]) -> None:
    """SIGTERM to every server first (gunicorn stops gracefully), then wait for each."""
    running = [r.proc for r in regions if r.proc is not None and r.proc.poll() is None]
    for proc in running:
        proc.terminate()
    for proc in running:
        try:
            proc.wait(30)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, 9)
            proc.wait(10)


@pytest.fixture(scope="module")
def regions(tmp_path_factory, pg_url):
    """A, B, C serving (B on PostgreSQL, with no reuse of status answers) and N initialised."""
    folder = tmp_path_factory.mktemp("regions")
    with ExitStack() as stack:
        b_url = stack.enter_context(pg_schema_url(pg_url))
        pyc = folder / "pycache"
        a = Region("广东省", "440000", folder / "a", free_port(), _env(pyc))
        b = Region("浙江省", "330000", folder / "b", free_port(), _env(pyc, b_url, ESEAL_VERIFY_STATUS_MAX_AGE="0"))
        c = Region("四川省", "510000", folder / "c", free_port(), _env(pyc))
        n = Region("国家信任列表", "100000", folder / "n", free_port(), _env(pyc))
        # compile the byte code once, before four commands at once would
        subprocess.run([ESEAL, "--help"], env=n.env, capture_output=True, timeout=COMMAND_TIMEOUT, check=True)
        _init_all([(a, True), (b, False), (c, True), (n, False)])
        stack.callback(_stop, [a, b, c])
        for region in (a, b, c):
            _serve(region, folder / f"{region.code}.log")
        # while the servers start: the list signers (made on first use), each home's own
        together((a, "tl", "signer", "--kind", "tl", "--out", str(folder / "440000-tl-signer.pem")),
                 (c, "tl", "signer", "--kind", "tl", "--out", str(folder / "510000-tl-signer.pem")),
                 (n, "tl", "signer", "--kind", "lotl", "--out", str(folder / "national.pem")))
        for region in (a, b, c):
            _wait_healthy(region, folder / f"{region.code}.log")
        yield {"A": a, "B": b, "C": c, "N": n, "folder": folder}


def _to_seal(region: Region, folder: Path, name: str, text: str) -> tuple:
    """An OFD to seal, and the `eseal sign` command sealing it into FOLDER/NAME.ofd."""
    from seal.ofd.document import Page, Text, build_ofd

    (folder / f"{name}.in.ofd").write_bytes(build_ofd([Page([Text(20, 20, text, size=6)])]))
    return (region, "sign", "--seal", region.seal, "--in", str(folder / f"{name}.in.ofd"),
            "--out", str(folder / f"{name}.ofd"), "--x", "100", "--y", "150")


def _check(report: dict, code: str, index: int = 0) -> dict:
    return next(c for c in report["signatures"][index]["checks"] if c["code"] == code)


def _failed(report: dict) -> list[tuple[str, str]]:
    return [(c["code"], c["message"]) for s in report["signatures"] for c in s["checks"]
            if c["result"] in ("FAILED", "INDETERMINATE")]


def _after(moment: dt.datetime) -> None:
    """Wait until the clock is past ``moment`` + 1 s: times in OCSP, CRLs and lists are kept to
    the second, and "before" must stay strictly before."""
    wait = (moment + dt.timedelta(seconds=1.1) - dt.datetime.now(dt.timezone.utc)).total_seconds()
    if wait > 0:
        time.sleep(wait)


def _signing_time(report: dict) -> dt.datetime:
    return dt.datetime.fromisoformat(report["signatures"][0]["timestamp_time"])


def test_three_regions_recognise_revoke_and_withdraw(regions) -> None:
    a, b, c, n, folder = regions["A"], regions["B"], regions["C"], regions["N"], regions["folder"]

    # ---- trust lists: A and C publish (served by their own servers), N names them, B imports
    together(*((r, "tl", "publish", "--out", str(folder / f"{r.code}-tl.json")) for r in (a, c)))
    pointers = []
    for region in (a, c):
        status, served = region.request("GET", "/api/v1/trust-lists/tl")
        assert status == 200 and served == (folder / f"{region.code}-tl.json").read_bytes()
        pointers += ["--add", f"{region.base}/api/v1/trust-lists/tl,{folder / f'{region.code}-tl-signer.pem'}"]
    n.eseal("tl", "lotl", *pointers, "--out", str(folder / "lotl-1.json"))
    imported = b.eseal("tl", "import", "--lotl", str(folder / "lotl-1.json"), "--pin", str(folder / "national.pem"))
    assert "2 regional list(s) imported" in imported and "CN-440000" in imported and "CN-510000" in imported

    # ---- A issues a certificate, seals a document and a sealed e-license; C seals a document
    (folder / "license.json").write_text(json.dumps(BUSINESS, ensure_ascii=False), encoding="utf-8")
    outputs = together(
        (a, "cert", "issue", "--profile", "organization", "--generate-key", "--key-out", str(folder / "org.key"),
         "--subject", "C=CN,O=广州某某科技有限公司,CN=广州某某科技有限公司", "--credit-code", BUSINESS["credit_code"],
         "--out", str(folder / "org.pem")),
        _to_seal(a, folder, "a-doc", "广东省 某某通知 正本"),
        (a, "license", "issue", "--type", "YYZZ", "--data", str(folder / "license.json"), "--seal", a.seal,
         "--out", str(folder / "a-license.ofd")),
        _to_seal(c, folder, "c-early", "四川省 某某通知 正本"))
    license_id = outputs[2].strip().split()[-1]
    a_doc, a_license, c_early = (
        (folder / f).read_bytes() for f in ("a-doc.ofd", "a-license.ofd", "c-early.ofd"))

    # ---- 1. B recognises all of them
    for what, data in (("A's certificate", (folder / "org.pem").read_bytes()), ("A's sealed document", a_doc),
                       ("A's e-license", a_license), ("C's sealed document", c_early)):
        report = b.verify(data)
        assert report["indication"] == "PASSED", (what, _failed(report))
    doc_report = b.verify(a_doc)
    signer = doc_report["signatures"][0]["signer"]
    assert _check(doc_report, "TRUST_ANCHOR_STATUS")["message"].count("CN-440000") == 1
    assert any(e["source"] == "ocsp" and e["url"].startswith(a.base) and e["status"] == "good"
               for e in doc_report["signatures"][0]["revocation"])
    license_check = _check(b.verify(a_license), "LICENSE_STATUS")
    assert license_check["result"] == "PASSED" and f"{a.base}/api/v1/licenses/{license_id}" in license_check["message"]

    # ---- 2.-4. at once (independent steps): A revokes the agency's signer certificate and the
    # e-license in its directory; the national operator withdraws region C
    _after(max(_signing_time(doc_report), _signing_time(b.verify(a_license)), _signing_time(b.verify(c_early))))
    c_url = f"{c.base}/api/v1/trust-lists/tl"
    together((a, "cert", "revoke", "--serial", signer["serial"], "--reason", "keyCompromise"),
             (a, "license", "revoke", license_id, "--reason", "依法吊销"),
             (n, "tl", "lotl", "--withdraw", c_url, "--out", str(folder / "lotl-2.json")))

    # 2. B: the signer certificate is REVOKED; the document timestamped before stays PASSED
    status, body = a.request("GET", f"/api/v1/certificates/{signer['serial']}",
                             headers={"Authorization": f"Bearer {a.admin_token}"})
    assert status == 200, body
    signer_report = b.verify(json.loads(body)["pem"].encode())
    assert (signer_report["indication"], signer_report["sub_indication"]) == ("FAILED", "REVOKED"), signer_report
    still = b.verify(a_doc)
    assert still["indication"] == "PASSED", _failed(still)
    revocation = _check(still, "REVOCATION_STATUS")
    assert "revoked at" in revocation["message"] and "after the signature's proven existence" in revocation["message"]
    evidence = [e for e in still["signatures"][0]["revocation"] if e["certificate_serial"] == signer["serial"]]
    assert evidence and evidence[0]["status"] == "revoked" and evidence[0]["revoked_at"], evidence
    assert dt.datetime.fromisoformat(evidence[0]["revoked_at"]) > _signing_time(still)
    assert b.verify((folder / "org.pem").read_bytes())["indication"] == "PASSED"  # A's other certificate

    # 4. B: the e-license revoked in A's directory is LICENSE_REVOKED (its signature alone would pass)
    revoked = b.verify(a_license)
    assert (revoked["indication"], revoked["sub_indication"]) == ("FAILED", "LICENSE_REVOKED"), _failed(revoked)
    assert "依法吊销" in _check(revoked, "LICENSE_STATUS")["message"]
    assert [code for code, _ in _failed(revoked)] == ["LICENSE_STATUS"]

    # 3. B imports the new national list while C seals again: C's new seal is not recognised,
    # its seal timestamped before the withdrawal still is
    together((b, "tl", "import", "--lotl", str(folder / "lotl-2.json"), "--pin", str(folder / "national.pem")),
             _to_seal(c, folder, "c-late", "四川省 撤销后 某某通知"))
    time.sleep(1.2)   # B's server looks for newly imported lists once a second (verify/service.py TRUST_CHECK)
    late = b.verify((folder / "c-late.ofd").read_bytes())
    assert (late["indication"], late["sub_indication"]) == ("INDETERMINATE", "TRUST_SERVICE_WITHDRAWN"), _failed(late)
    assert "withdrawn from the national list" in _check(late, "TRUST_ANCHOR_STATUS")["message"]
    early = b.verify(c_early)
    assert early["indication"] == "PASSED", _failed(early)
    assert "granted" in _check(early, "TRUST_ANCHOR_STATUS")["message"]
