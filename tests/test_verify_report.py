"""verify/report.py and the certificate path of verify/engine.py: indications derived from
checks, policies, JSON and HTML forms, exit codes."""
from __future__ import annotations

import base64
import datetime as dt
import json

from verify.engine import Verifier, verify_certificate
from verify.path import StaticTrust
from verify.report import (
    LENIENT,
    STRICT,
    Check,
    CheckResult,
    Indication,
    Report,
    SealInfo,
    Severity,
    SignatureReport,
    SubIndication,
    summarise,
)

UTC = dt.timezone.utc
PNG_1x1 = base64.b64decode(
    "iVBORw0KGgoAAAANSUhEUgAAAAEAAAABCAYAAAAfFcSJAAAADUlEQVR42mNkYPhfDwAChwGA60e6kgAAAABJRU5ErkJggg==")


def test_summary_prefers_failed_over_indeterminate() -> None:
    checks = [STRICT.failed("A", "later", SubIndication.TRY_LATER),
              STRICT.failed("B", "broken", SubIndication.HASH_FAILURE),
              STRICT.passed("C", "fine")]
    assert summarise(checks) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert summarise(checks[:1]) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)
    assert summarise([checks[2]]) == (Indication.PASSED, None)


def test_policy_makes_quirks_errors_or_warnings() -> None:
    strict = STRICT.failed("SIG_ENC", "raw r||s", SubIndication.FORMAT_FAILURE, quirk=True)
    lenient = LENIENT.failed("SIG_ENC", "raw r||s", SubIndication.FORMAT_FAILURE, quirk=True)
    assert (strict.result, strict.severity) == (CheckResult.FAILED, Severity.ERROR)
    assert (lenient.result, lenient.severity) == (CheckResult.WARNING, Severity.WARNING)
    # a real failure stays a failure under the lenient policy
    assert LENIENT.failed("X", "bad", SubIndication.HASH_FAILURE).result is CheckResult.FAILED
    assert summarise([lenient]) == (Indication.PASSED, None)


def test_certificate_report_passes_with_evidence(pki) -> None:
    leaf, _ = pki.issue()
    report = verify_certificate(leaf, trust=StaticTrust([pki.root], [pki.issuing]))
    assert report.indication is Indication.PASSED and report.exit_code == 0
    sig = report.signatures[0]
    assert [c.serial for c in sig.trust_path] == [format(c.serial_number, "x") for c in (leaf, pki.issuing, pki.root)]
    # leaf by OCSP, issuing CA by the root's CRL
    assert [(r.source, r.status) for r in sig.revocation] == [("ocsp", "good"), ("crl", "good")]
    data = json.loads(report.json())
    assert data["indication"] == "PASSED" and data["signatures"][0]["signer"]["serial"] == format(leaf.serial_number, "x")
    codes = {c["code"] for c in data["signatures"][0]["checks"]}
    assert {"X509_PATH_BUILT", "X509_SIGNATURE", "X509_VALIDITY", "REVOCATION_STATUS"} <= codes


def test_revoked_certificate_fails_with_exit_code_1(pki) -> None:
    leaf, _ = pki.issue()
    pki.revoke(leaf)
    report = verify_certificate(leaf, trust=StaticTrust([pki.root], [pki.issuing]))
    assert (report.indication, report.sub_indication, report.exit_code) == (Indication.FAILED, SubIndication.REVOKED, 1)
    assert report.signatures[0].revocation[0].status == "revoked"


def test_unreachable_status_is_indeterminate_try_later(pki) -> None:
    leaf, _ = pki.issue()
    pki.server.routes.clear()
    report = verify_certificate(leaf, trust=StaticTrust([pki.root], [pki.issuing]))
    assert (report.indication, report.sub_indication, report.exit_code) == (
        Indication.INDETERMINATE, SubIndication.TRY_LATER, 2)


def test_verifier_reuses_caches(pki) -> None:
    leaf, _ = pki.issue()
    v = Verifier(StaticTrust([pki.root], [pki.issuing]))
    assert v.verify_certificate(leaf).indication is Indication.PASSED
    hits = dict(pki.server.hits)
    assert v.verify_certificate(leaf).indication is Indication.PASSED
    assert pki.server.hits == hits


def test_html_shows_verdict_escaped_and_seal_picture() -> None:
    now = dt.datetime.now(UTC)
    checks = (STRICT.failed("DOCUMENT_REFERENCES", "<script>alert(1)</script> changed", SubIndication.HASH_FAILURE),)
    sig = SignatureReport.from_checks("s1", "ofd", checks, now,
                                      seal=SealInfo(name="测试专用章", picture=PNG_1x1, picture_type="png"))
    report = Report("a.ofd", "ofd", (sig,), now, "00" * 32)
    html = report.html()
    assert 'id="indication">FAILED<' in html and "HASH_FAILURE" in html
    assert "<script>alert(1)</script>" not in html and "&lt;script&gt;" in html
    assert "data:image/png;base64," + base64.b64encode(PNG_1x1).decode() in html
    assert "测试专用章" in html
    assert json.loads(report.json())["signatures"][0]["seal"]["picture"] == {"type": "png", "size": len(PNG_1x1)}


def test_no_signature_is_indeterminate() -> None:
    report = Report("empty.ofd", "ofd", (), dt.datetime.now(UTC))
    assert (report.indication, report.sub_indication, report.exit_code) == (
        Indication.INDETERMINATE, SubIndication.SIGNED_DATA_NOT_FOUND, 2)


def test_check_lookup_by_code() -> None:
    sig = SignatureReport.from_checks("x", "certificate", [Check("A", CheckResult.PASSED, "ok")], dt.datetime.now(UTC))
    assert sig.check("A").message == "ok" and sig.check("B") is None
