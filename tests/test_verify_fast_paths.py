"""The shortcuts of a warm verification give what the general path gives, and a changed
input is never answered from memory: rows of a report made once (verify/report.py Policy),
facts that read the same for every document (verify/documents.py), the signer's Z_A kept
per key and user ID (gm/sm2.py)."""
from __future__ import annotations

import json
from types import SimpleNamespace

from gm.sm2 import PrivateKey
from gm.sm3 import sm3
from gm.curve import A_BYTES, B_BYTES, GX_BYTES, GY_BYTES
from seal.ofd.references import RefStatus
from verify import documents
from verify.report import (LENIENT, STRICT, Check, CheckResult, Indication, Policy, Severity, SubIndication,
                           summarise)


# --------------------------------------------------------------------------- report rows


def test_a_row_made_once_equals_one_made_afresh() -> None:
    policy = Policy("strict", Severity.ERROR)
    first = policy.passed("SEAL_SIGNATURE", "the seal maker's signature verifies", subject="某局")
    assert first == Check("SEAL_SIGNATURE", CheckResult.PASSED, "the seal maker's signature verifies",
                          Severity.ERROR, None, "某局", {})
    assert policy.passed("SEAL_SIGNATURE", "the seal maker's signature verifies", subject="某局") is first
    assert policy.info("X509_AIA_FETCH", "fetched") == Check("X509_AIA_FETCH", CheckResult.INFO, "fetched",
                                                             Severity.INFO, None, "", {})
    # another message, subject, result or policy is another row
    assert policy.passed("SEAL_SIGNATURE", "other", subject="某局").message == "other"
    assert policy.passed("SEAL_SIGNATURE", "the seal maker's signature verifies").subject == ""
    assert policy.info("SEAL_SIGNATURE", "the seal maker's signature verifies", subject="某局").result \
        is CheckResult.INFO
    assert LENIENT.passed("X", "m") is not STRICT.passed("X", "m")


def test_an_override_set_later_is_not_served_from_memory() -> None:
    overrides: dict[str, Severity] = {}
    policy = Policy("desk", Severity.ERROR, overrides)
    assert policy.passed("REVOCATION_STATUS", "good").severity is Severity.ERROR
    overrides["REVOCATION_STATUS"] = Severity.WARNING
    assert policy.passed("REVOCATION_STATUS", "good").severity is Severity.WARNING
    del overrides["REVOCATION_STATUS"]
    assert policy.passed("REVOCATION_STATUS", "good").severity is Severity.ERROR


def test_rows_with_details_are_made_each_time() -> None:
    a = STRICT.passed("REVOCATION_STATUS", "revoked later", revoked_at="2026-01-01")
    b = STRICT.passed("REVOCATION_STATUS", "revoked later", revoked_at="2026-02-01")
    assert a.details == {"revoked_at": "2026-01-01"} and b.details == {"revoked_at": "2026-02-01"}
    assert STRICT.info("X", "m", n=1) is not STRICT.info("X", "m", n=1)


def test_the_summary_and_failed_read_every_result() -> None:
    passed = STRICT.passed("A", "ok")
    warning = LENIENT.failed("B", "odd", SubIndication.FORMAT_FAILURE, quirk=True)
    late = STRICT.failed("C", "later", SubIndication.TRY_LATER)
    bad = STRICT.failed("D", "bad", SubIndication.HASH_FAILURE)
    assert [c.failed for c in (passed, warning, late, bad)] == [False, False, True, True]
    assert summarise([passed, warning]) == (Indication.PASSED, None)
    assert summarise([passed, late, bad]) == (Indication.FAILED, SubIndication.HASH_FAILURE)
    assert summarise([passed, late]) == (Indication.INDETERMINATE, SubIndication.TRY_LATER)


# --------------------------------------------------------------------------- OFD facts


def _ref(path: str, status: RefStatus = RefStatus.OK):
    return SimpleNamespace(path=path, status=status, file_ref="/" + path)


class _Package:
    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files

    def read(self, name: str) -> bytes:
        return self.files[name]


def test_the_license_id_is_read_only_from_a_protected_license_json() -> None:
    record = json.dumps({"license_id": "440300YYZZ2026000001"}).encode()
    pkg = _Package({"Doc_0/Attachs/license.json": record, "license.json": record,
                    "Doc_0/Attachs/xlicense.json": record})
    facts = lambda *refs: SimpleNamespace(references=list(refs))  # noqa: E731
    assert documents._license_id(pkg, facts(_ref("Doc_0/Attachs/license.json"))) == "440300YYZZ2026000001"
    assert documents._license_id(pkg, facts(_ref("license.json"))) == "440300YYZZ2026000001"
    # another file name, a changed file, no path: no license id
    assert documents._license_id(pkg, facts(_ref("Doc_0/Attachs/xlicense.json"))) is None
    assert documents._license_id(pkg, facts(_ref("Doc_0/Attachs/license.json", RefStatus.MISMATCH))) is None
    assert documents._license_id(pkg, facts(_ref(""))) is None


def test_the_references_fact_names_its_count() -> None:
    three, four = documents._references_unchanged(3), documents._references_unchanged(4)
    assert (three.code, three.ok, three.message) == ("DOCUMENT_REFERENCES", True,
                                                     "all 3 referenced files are unchanged")
    assert four.message == "all 4 referenced files are unchanged"
    assert documents._references_unchanged(3) is three


# --------------------------------------------------------------------------- SM2 Z_A


def _z(point: bytes, uid: bytes) -> bytes:
    return sm3((len(uid) * 8).to_bytes(2, "big") + uid + A_BYTES + B_BYTES + GX_BYTES + GY_BYTES + point[1:])


def test_z_is_kept_per_user_id() -> None:
    key = PrivateKey.generate().public_key
    point = key.to_bytes()
    assert key.z() == _z(point, b"1234567812345678")
    assert key.z(b"alice@example") == _z(point, b"alice@example") != key.z()
    assert key.z(b"") == _z(point, b"")
    assert key.z() == _z(point, b"1234567812345678")          # asked again: the default ID's
    assert key.digest(b"data", b"alice@example") == sm3(_z(point, b"alice@example") + b"data")
