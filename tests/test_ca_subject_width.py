"""A certificate's subject as the certificate list keeps it (issued_certificates.subject,
VARCHAR(1000): search, the API's listing, the console), on SQLite and PostgreSQL.

The profiles bound each name attribute (ST, L 128 characters; O, OU, CN, serialNumber 64) but
not how many OU values a subject holds, and the list's text labels every attribute
("Organizational Unit: ..."). The service stored that text cut to 1,000 characters: an
organization certificate with seven 64-character OU values and the other attributes at their
bounds was issued, and listed and searched under a subject that was not its own. Now such a
subject is refused like any other profile violation (400 ``profile-violation``) before anything
is signed or stored; the largest subject that fits is issued and kept whole."""
from __future__ import annotations

from asn1crypto import pem, x509
from sqlalchemy import func, select

from store.db import make_sessionmaker
from store.models.audit import AuditRecord
from store.models.ca import IssuedCertificate
from store.models.translog import TransLogEntry
from store.testing import *  # noqa: F401,F403
from tests.test_api_app import app, assert_problem, bearer, csr_pem, issue, region  # noqa: F401

COLUMN = 1000


def _subject(ou_count: int) -> str:
    """Every attribute the organization profile allows at its bound, and ``ou_count`` OU values."""
    ous = "".join(f",OU={n}" + "处" * 63 for n in range(ou_count))
    return ("C=CN,ST=" + "省" * 128 + ",L=" + "市" * 128 + ",O=" + "局" * 64 + ous + ",CN=" + "名" * 64
            + ",serialNumber=" + "7" * 64)


def _counts(home) -> tuple[int, int, int]:
    with make_sessionmaker(home.engine)() as s:
        return (s.scalar(select(func.count()).select_from(IssuedCertificate)),
                s.scalar(select(func.count()).select_from(AuditRecord).where(AuditRecord.action == "cert.issue")),
                s.scalar(select(func.count()).select_from(TransLogEntry)))


def test_a_subject_too_long_for_the_list_is_refused_before_signing(app, region, csr_pem) -> None:  # noqa: F811
    home, _, tokens = region
    before = _counts(home)
    body = assert_problem(issue(app.test_client(), tokens["admin"], csr_pem, subject=_subject(7)),
                          400, "profile-violation")
    assert str(COLUMN) in body["detail"], body["detail"]
    assert _counts(home) == before  # no certificate, no cert.issue record, no log entry


def test_the_largest_subject_that_fits_is_issued_and_listed_whole(app, region, csr_pem) -> None:  # noqa: F811
    home, _, tokens = region
    client = app.test_client()
    r = issue(client, tokens["admin"], csr_pem, subject=_subject(6))
    assert r.status_code == 201, r.get_data(as_text=True)
    serial = r.json["serial"]
    listed = client.get(f"/api/v1/certificates/{serial}", headers=bearer(tokens["admin"])).json
    text = x509.Certificate.load(pem.unarmor(listed["pem"].encode())[2]).subject.human_friendly
    assert COLUMN - 66 < len(text) <= COLUMN  # one more OU value would not fit
    assert listed["subject"] == text
    assert text.endswith("State/Province: " + "省" * 128 + "; Country: CN")  # the text's end, where a cut falls
    found = client.get("/api/v1/certificates", query_string={"q": "省" * 128}, headers=bearer(tokens["admin"])).json
    assert [c["serial"] for c in found["items"]] == [serial]
