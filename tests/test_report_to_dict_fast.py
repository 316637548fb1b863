"""``Report.to_dict`` (verify/report.py, written for speed: datetimes' text held by identity,
fast paths for the usual types) gives exactly the documented JSON shape.

Referee: :func:`reference`, a plain walk over the report's dataclass fields written here,
with its own datetime formatting (UTC wall time + ``Z``) and its own indication summary.
Both forms must be equal as Python values and as JSON text (so key order counts too), on
real reports of every kind verified against a real home (a sealed, timestamped e-license;
the same license tampered with; a sealed PDF; a detached CMS; the seal alone; a certificate;
a certificate without any trust anchor), each serialised twice (the second time from held
text), and on hand-built reports holding the unusual values the fields allow.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import enum
import io
import json
import zipfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import pytest

from verify.report import (
    STRICT,
    CertificateInfo,
    Check,
    CheckResult,
    Report,
    RevocationEvidence,
    SealInfo,
    Severity,
    SignatureReport,
    SubIndication,
)

UTC = dt.UTC
PASSPHRASE = "correct horse battery staple"
BUSINESS = {
    "credit_code": "91350100M000100Y43", "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
    "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
    "scope": "软件开发",
}

# ----------------------------------------------------------------------------- referee

# (JSON key, field) in the order of the JSON form; "der" of a certificate is not shown
CERTIFICATE_KEYS = (("subject", "subject"), ("issuer", "issuer"), ("serial", "serial"),
                    ("not_before", "not_before"), ("not_after", "not_after"), ("sha256", "sha256"))
SEAL_KEYS = (("name", "name"), ("esid", "esid"), ("type", "seal_type"), ("version", "version"),
             ("valid_from", "valid_from"), ("valid_to", "valid_to"), ("maker", "maker"))
SIGNATURE_KEYS = (("id", "id"), ("kind", "kind"), ("indication", "indication"),
                  ("sub_indication", "sub_indication"), ("policy", "policy"),
                  ("validation_time", "validation_time"), ("claimed_signing_time", "claimed_signing_time"),
                  ("timestamp_time", "timestamp_time"), ("signer", "signer"), ("seal", "seal"),
                  ("trust_path", "trust_path"), ("revocation", "revocation"), ("checks", "checks"))
WORST = ("FAILED", "INDETERMINATE")


def when(t: dt.datetime | None) -> str | None:
    """UTC wall time to the microsecond when there is one, then ``Z``; naive means UTC."""
    if t is None:
        return None
    if t.tzinfo is None:
        t = t.replace(tzinfo=UTC)
    return t.astimezone(UTC).replace(tzinfo=None).isoformat() + "Z"


def value(v: Any) -> Any:
    if isinstance(v, dt.datetime):
        return when(v)
    if isinstance(v, enum.Enum):
        return v.value
    if isinstance(v, (bytes, bytearray)):
        return bytes(v).hex()
    if isinstance(v, Mapping):
        return {str(k): value(x) for k, x in v.items()}
    if isinstance(v, (list, tuple, set, frozenset)):
        return [value(x) for x in v]
    if isinstance(v, CertificateInfo):
        return {key: value(getattr(v, name)) for key, name in CERTIFICATE_KEYS}
    if isinstance(v, SealInfo):
        out = {key: value(getattr(v, name)) for key, name in SEAL_KEYS}
        if v.picture:
            out["picture"] = {"type": v.picture_type, "size": len(v.picture)}
        return out
    if isinstance(v, RevocationEvidence):
        return {f.name: value(getattr(v, f.name)) for f in dataclasses.fields(v)}
    if isinstance(v, Check):
        out = {"code": v.code, "result": v.result.value, "severity": v.severity.value, "message": v.message}
        if v.sub_indication is not None:
            out["sub_indication"] = v.sub_indication.value
        if v.subject:
            out["subject"] = v.subject
        if v.details:
            out["details"] = value(v.details)
        return out
    if isinstance(v, SignatureReport):
        return {key: value(getattr(v, name)) for key, name in SIGNATURE_KEYS}
    return v


def reference(report: Report) -> dict[str, Any]:
    signatures = [value(s) for s in report.signatures]
    indication, sub = "INDETERMINATE", "SIGNED_DATA_NOT_FOUND"
    if signatures:
        indication = next((w for w in WORST if any(s["indication"] == w for s in signatures)), "PASSED")
        sub = next(s["sub_indication"] for s in signatures if s["indication"] == indication)
    return {"input": {"name": report.input_name, "kind": report.input_kind, "sha256": report.input_sha256},
            "indication": indication, "sub_indication": sub, "policy": report.policy,
            "created_at": when(report.created_at), "signatures": signatures}


def assert_serialises_as_documented(report: Report) -> dict[str, Any]:
    expected = reference(report)
    for _ in range(2):          # the second time the datetimes' text is held
        got = report.to_dict()
        assert got == expected
        assert json.dumps(got, ensure_ascii=False) == json.dumps(expected, ensure_ascii=False)
        assert (report.indication.value, report.sub_indication and report.sub_indication.value) == (
            expected["indication"], expected["sub_indication"])
    assert report.json() == json.dumps(expected, ensure_ascii=False, indent=2)
    return got


# ----------------------------------------------------------------------------- real reports


@pytest.fixture(scope="module")
def region(tmp_path_factory):
    """A home on SQLite with a region, the demo agency and its seal; what it sealed."""
    from asn1crypto import x509
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    from ca import service as ca_service
    from keystore.soft import SoftKeyStore
    from seal import sealing
    from seal.demo import create_demo_agency
    from seal.license import service as licenses
    from store.db import make_sessionmaker
    from store.home import Home

    with pytest.MonkeyPatch.context() as mp:
        mp.delenv("ESEAL_DATABASE_URL", raising=False)
        home = Home.create(Path(tmp_path_factory.mktemp("report")) / "home", database_url=None)
        ks = SoftKeyStore.initialise(make_sessionmaker(home.engine), actor="admin", passphrase=PASSPHRASE).store
        ca_service.init_region(home, ks, region_code="440000", region_name="广东省", base_url="http://127.0.0.1:9")
        agency = create_demo_agency(home, ks)
        _, license_ofd = licenses.issue_license(home, ks, type="YYZZ", data=BUSINESS, agency=agency.agency,
                                                actor="clerk")

        def seal(data: bytes, **kw: Any) -> bytes:
            grant = sealing.authorise(home, ks, agency.es_id, agency=agency.agency, actor="clerk")
            return sealing.seal_document(home, ks, grant, data, **kw).data

        buf = io.BytesIO()
        page = canvas.Canvas(buf, pagesize=A4, pageCompression=0)
        page.drawString(72, 760, "Certificate of business registration")
        page.showPage()
        page.save()
        grant = sealing.authorise(home, ks, agency.es_id, agency=agency.agency, actor="clerk")
        made = {"ofd": seal(license_ofd), "pdf": seal(buf.getvalue()), "data": b"Hello Secret World!" * 50,
                "signer": x509.Certificate.load(grant.signer_cert), "seal": grant.seal_der}
        made["cms"] = seal(made["data"], cms=True)
        yield home, made
        home.close()


def _tampered(ofd: bytes) -> bytes:
    src = zipfile.ZipFile(io.BytesIO(ofd))
    out = io.BytesIO()
    with zipfile.ZipFile(out, "w", zipfile.ZIP_DEFLATED) as dst:
        for item in src.infolist():
            data = src.read(item.filename)
            if item.filename.endswith("license.json"):
                data = data.replace("深圳某某科技有限公司".encode(), "深圳另一家科技公司".encode())
            dst.writestr(item, data)
    return out.getvalue()


def test_sealed_timestamped_license_passes_and_serialises_as_documented(region) -> None:
    from verify.service import shared_verifier

    home, made = region
    verifier = shared_verifier(home)
    for _ in range(2):          # cold, then warm caches (shared certificate and seal objects)
        report = verifier.verify_bytes(made["ofd"], name="license.ofd")
        data = assert_serialises_as_documented(report)
        assert data["indication"] == "PASSED"
        [sig] = data["signatures"]
        assert sig["timestamp_time"] and sig["seal"]["picture"]["size"] > 0 and sig["seal"]["maker"]
        assert len(sig["trust_path"]) == 3 and sig["revocation"] and sig["checks"]
        assert all(t.endswith("Z") for t in (sig["validation_time"], sig["timestamp_time"],
                                             *(c["not_after"] for c in sig["trust_path"])))


def test_tampered_license_fails_and_serialises_as_documented(region) -> None:
    from verify.service import shared_verifier

    home, made = region
    tampered = _tampered(made["ofd"])
    assert tampered != made["ofd"]
    report = shared_verifier(home).verify_bytes(tampered, name="tampered.ofd")
    data = assert_serialises_as_documented(report)
    assert data["indication"] == "FAILED" and data["sub_indication"]
    assert any(c["result"] == "FAILED" for c in data["signatures"][0]["checks"])


@pytest.mark.parametrize("kind", ["pdf", "cms", "seal", "certificate"])
def test_other_kinds_serialise_as_documented(region, kind) -> None:
    from verify.service import shared_verifier

    home, made = region
    verifier = shared_verifier(home)
    if kind == "certificate":
        report = verifier.verify_certificate(made["signer"])
    elif kind == "cms":
        report = verifier.verify_bytes(made["cms"], name="data.p7s", detached=made["data"])
    else:
        report = verifier.verify_bytes(made[kind], name=f"x.{kind}")
    data = assert_serialises_as_documented(report)
    assert data["signatures"] and data["signatures"][0]["checks"]


def test_certificate_without_trust_anchor_is_indeterminate_and_serialises_as_documented(region) -> None:
    from verify.engine import verify_certificate
    from verify.revocation import RevocationChecker

    _, made = region
    report = verify_certificate(made["signer"], revocation=RevocationChecker(online=False))
    data = assert_serialises_as_documented(report)
    assert data["indication"] == "INDETERMINATE" and data["sub_indication"]


# ----------------------------------------------------------------------------- built by hand


class Colour(enum.Enum):
    RED = 1


def test_unusual_values_serialise_as_documented() -> None:
    """Naive, non-UTC and microsecond datetimes; details of every kind the walk converts;
    revocation evidence with a revocation and errors; a failed and a passed signature."""
    east8 = dt.timezone(dt.timedelta(hours=8))
    naive = dt.datetime(2026, 1, 2, 3, 4, 5)
    micro = dt.datetime(999, 12, 31, 23, 59, 59, 10, tzinfo=UTC)
    local = dt.datetime(2026, 1, 1, 7, 30, tzinfo=east8)        # 2025-12-31T23:30:00Z
    info = CertificateInfo("CN=A", "CN=B", "0a", naive, local, "ab" * 32)
    seal = SealInfo(name="测试专用章", esid="1", seal_type="1", version=4, valid_from=micro, valid_to=None,
                    maker=info, picture=b"\x89PNG", picture_type="png")
    evidence = (RevocationEvidence("0a", "ocsp", "revoked", "http://ocsp", local, None, micro, naive,
                                   "keyCompromise", "CN=R", True, ("timeout", "bad answer")),
                RevocationEvidence("0b", "none", "unavailable", errors=()))
    details = {"when": local, "der": b"\x01\x02", "colour": Colour.RED, "severity": Severity.WARNING,
               "nested": {1: [naive, (1, 2.5)], "set": frozenset({"x"})}, "tuple": ("a", None, True),
               "bytearray": bytearray(b"\xff"), "none": None}
    checks = (STRICT.passed("A", "fine", subject="CN=A", **details),
              STRICT.failed("B", "broken", SubIndication.HASH_FAILURE),
              STRICT.info("C", "note"),
              Check("D", CheckResult.WARNING, "odd", Severity.WARNING, SubIndication.FORMAT_FAILURE))
    failed = SignatureReport.from_checks("s1", "ofd", checks, naive, signer=info, seal=seal,
                                         claimed_signing_time=local, timestamp_time=micro,
                                         trust_path=(info, info), revocation=evidence, policy="lenient")
    passed = SignatureReport.from_checks("s2", "cms", checks[:1], local)
    for signatures in ((failed, passed), (passed,), (passed, failed), ()):
        report = Report("a.ofd", "ofd", signatures, micro, "00" * 32, "lenient")
        assert_serialises_as_documented(report)
    data = Report("a.ofd", "ofd", (failed,), local).to_dict()
    sig = data["signatures"][0]
    assert (data["created_at"], sig["validation_time"], sig["timestamp_time"]) == (
        "2025-12-31T23:30:00Z", "2026-01-02T03:04:05Z", "0999-12-31T23:59:59.000010Z")
    assert sig["checks"][0]["details"] == {
        "when": "2025-12-31T23:30:00Z", "der": "0102", "colour": 1, "severity": "warning",
        "nested": {"1": ["2026-01-02T03:04:05Z", [1, 2.5]], "set": ["x"]}, "tuple": ["a", None, True],
        "bytearray": "ff", "none": None}
    assert sig["revocation"][0]["errors"] == ["timeout", "bad answer"] and sig["revocation"][1]["errors"] == []
