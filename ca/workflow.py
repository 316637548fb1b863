"""Registration workflow: application -> review -> approval (issuance), or rejection.

    submit_application   (RA operator, for an applicant)          -> submitted
    review_application   (reviewer checks the papers)   submitted -> reviewed
    approve_application  (approver; issues the certificate)  reviewed -> issued
    reject_application   (with a reason)         submitted | reviewed -> rejected

Every step is one transaction that changes the row and writes its audit record
(``cert.application.submit|review|approve|reject``); approval stores the certificate, its
``cert.issue`` record and the application's move to ``issued`` in the same transaction, under
a row lock, so an application is issued at most once even with concurrent approvers. Any
other move raises ``InvalidTransition`` naming the current status.

Separation of duties (the rule other packages and the API rely on): for ORGANIZATION
certificates (profiles ``organization`` and ``organization_encryption``, listed in
:data:`FOUR_EYES_PROFILES`) the approver must be a different person from the operator who
submitted the application; otherwise ``SeparationOfDuties`` is raised and the refusal is
audited (``cert.application.refused``). Reviewer and approver may be the same person, and for
the other profiles the submitting operator may approve (a one-person RA desk). Identities are
the ``actor`` strings the CLI and API pass (the authenticated user), compared exactly.

Applications are validated when submitted (CSR proof of possession, profile, subject,
identity check characters, SAN, validity) with the same builder that issues, so an application
that reaches approval fails only on a state change of the region. Direct issuance
(``ca.service.issue_certificate``) stays available to operators with the right role.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import json
from typing import Any, Unpack

from asn1crypto import x509
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from ca.csr import DEFAULT_UID, parse_csr
from ca.errors import CAError, InvalidTransition, ProfileViolation, SeparationOfDuties, UnknownApplication
from ca.profiles import parse_dn
from ca.request import CertificateRequest, RequestFields
from ca.service import _builder, _issuing_ca, _now, _sessions, issue_for_public_key
from gm.records import frozen_record
from store import audit, db
from store.models.ca_workflow import CertificateApplication
from store.text import actor_problem, too_long

__all__ = ["ApplicationInfo", "FOUR_EYES_PROFILES", "MAX_APPLICATION_ID", "submit_application",
           "review_application", "approve_application", "reject_application", "list_applications", "get_application",
           "Page"]

FOUR_EYES_PROFILES = frozenset({"organization", "organization_encryption"})


@frozen_record
class ApplicationInfo:
    id: int
    profile: str
    subject: str
    status: str
    operator: str
    reviewer: str | None
    decided_by: str | None
    rejection_reason: str | None
    serial: str | None
    created_at: _dt.datetime
    updated_at: _dt.datetime


def _info(row: CertificateApplication) -> ApplicationInfo:
    return ApplicationInfo(row.id, row.profile, row.subject, row.status, row.operator, row.reviewer,
                           row.decided_by, row.rejection_reason, row.serial, row.created_at, row.updated_at)


def _actor(actor: str) -> str:
    actor = (actor or "").strip() if isinstance(actor, str) else ""
    if not actor:
        raise CAError("every workflow step needs the name of the person taking it (actor)")
    problem = actor_problem(actor)  # it is stored (operator, reviewer, decided_by: VARCHAR(200))
    if problem is not None:
        raise CAError(problem)
    return actor


MAX_APPLICATION_ID = 2 ** 31 - 1   # ca_applications.id is an INTEGER column: PostgreSQL's int4, the narrower of the two


def _id(application_id: int) -> int:
    """``application_id`` as the database can look it up; UnknownApplication for a number no
    application can have (0, negative, or wider than the column: a driver error otherwise)."""
    if not 1 <= int(application_id) <= MAX_APPLICATION_ID:
        raise UnknownApplication(f"no certificate application {application_id}")
    return int(application_id)


def _locked(s: Session, application_id: int) -> CertificateApplication:
    row = s.scalar(select(CertificateApplication).where(CertificateApplication.id == _id(application_id))
                   .with_for_update())
    if row is None:
        raise UnknownApplication(f"no certificate application {application_id}")
    return row


def _expect(row: CertificateApplication, allowed: tuple[str, ...], step: str) -> None:
    if row.status not in allowed:
        raise InvalidTransition(
            f"application {row.id} is {row.status}; it can be {step} only when {' or '.join(allowed)}")


def submit_application(
    home: Any,
    *,
    csr_pem: bytes,
    uid: bytes = DEFAULT_UID,
    operator: str,
    sessions: sessionmaker[Session] | None = None,
    **request: Unpack[RequestFields],
) -> int:
    """Record an application entered by ``operator``; returns its id. Validated now."""
    operator = _actor(operator)
    wanted = CertificateRequest.of(request)
    parsed = parse_csr(csr_pem, uid=uid)
    subject_text = wanted.subject or ",".join(
        f"{k}={v}" for k, vs in parsed.subject_attributes.items() for v in ([vs] if isinstance(vs, str) else vs))
    problem = too_long(subject_text, CertificateApplication.subject, "the subject")  # stored as entered
    if problem is not None:
        raise ProfileViolation(problem)
    san_list = [list(x) for x in wanted.san or ()]
    wanted = dataclasses.replace(wanted, subject=parse_dn(subject_text), san=[tuple(x) for x in san_list])
    sessions = _sessions(home, sessions)
    with db.transaction(sessions) as s:
        # the same builder that issues: refuses a bad subject, identifier, SAN or validity now
        _builder(_issuing_ca(s), wanted, parsed.public_key)
        now = _now()
        row = CertificateApplication(
            profile=wanted.profile, subject=subject_text, id_number=wanted.id_number,
            credit_code=wanted.credit_code, san=json.dumps(san_list, ensure_ascii=False) if san_list else None,
            days=wanted.days, csr=parsed.der or csr_pem, uid=bytes(uid), operator=operator, status="submitted",
            created_at=now, updated_at=now)
        s.add(row)
        s.flush()
        audit.append(s, actor=operator, action="cert.application.submit", subject=f"application:{row.id}",
                     details={"profile": wanted.profile, "subject": subject_text, "id_number": wanted.id_number,
                              "credit_code": wanted.credit_code, "san": san_list, "days": wanted.days})
        return row.id


def review_application(home: Any, application_id: int, *, reviewer: str, note: str = "",
                       sessions: sessionmaker[Session] | None = None) -> ApplicationInfo:
    """submitted -> reviewed (the reviewer has checked the applicant's papers)."""
    reviewer = _actor(reviewer)
    with db.transaction(_sessions(home, sessions)) as s:
        row = _locked(s, application_id)
        _expect(row, ("submitted",), "reviewed")
        now = _now()
        row.status, row.reviewer, row.reviewed_at, row.review_note, row.updated_at = (
            "reviewed", reviewer, now, note or None, now)
        audit.append(s, actor=reviewer, action="cert.application.review", subject=f"application:{row.id}",
                     details={"note": note or None})
        return _info(row)


def _refuse(sessions: sessionmaker[Session], application_id: int, actor: str, error: CAError) -> None:
    with db.transaction(sessions) as s:
        audit.append(s, actor=actor, action="cert.application.refused", subject=f"application:{application_id}",
                     details={"error": type(error).__name__, "message": str(error)})
    raise error


def approve_application(home: Any, keystore: Any, application_id: int, *, approver: str,
                        sessions: sessionmaker[Session] | None = None) -> tuple[str, x509.Certificate]:
    """reviewed -> issued: issue the certificate; returns (serial_hex, certificate)."""
    approver = _actor(approver)
    sessions = _sessions(home, sessions)
    with db.transaction(sessions, readonly=True) as s:
        row = s.get(CertificateApplication, _id(application_id))
        if row is None:
            raise UnknownApplication(f"no certificate application {application_id}")
        _expect(row, ("reviewed",), "approved")
        wanted = CertificateRequest(
            profile=row.profile, subject=parse_dn(row.subject), id_number=row.id_number, credit_code=row.credit_code,
            san=[tuple(x) for x in json.loads(row.san)] if row.san else None, days=row.days)
        csr_der, uid, operator = bytes(row.csr), bytes(row.uid), row.operator
    if wanted.profile in FOUR_EYES_PROFILES and approver == operator:
        _refuse(sessions, application_id, approver, SeparationOfDuties(
            f"application {application_id} for a {wanted.profile} certificate was submitted by {approver}; "
            "organization certificates must be approved by someone else"))
    parsed = parse_csr(csr_der, uid=uid)

    def move(s: Session, serial: str) -> None:
        row = _locked(s, application_id)
        _expect(row, ("reviewed",), "approved")  # a concurrent approval or rejection won
        now = _now()
        row.status, row.decided_by, row.decided_at, row.serial, row.updated_at = "issued", approver, now, serial, now
        audit.append(s, actor=approver, action="cert.application.approve", subject=f"application:{row.id}",
                     details={"serial": serial, "operator": row.operator, "reviewer": row.reviewer})

    return issue_for_public_key(home, keystore, wanted, public_key=parsed.public_key, actor=approver,
                                details={"application": int(application_id)}, before_store=move, sessions=sessions)


def reject_application(home: Any, application_id: int, *, actor: str, reason: str,
                       sessions: sessionmaker[Session] | None = None) -> ApplicationInfo:
    """submitted | reviewed -> rejected, with the reason the applicant is told."""
    actor = _actor(actor)
    if not (reason or "").strip():
        raise CAError("a rejection needs a reason (it is what the applicant is told)")
    with db.transaction(_sessions(home, sessions)) as s:
        row = _locked(s, application_id)
        _expect(row, ("submitted", "reviewed"), "rejected")
        now = _now()
        row.status, row.decided_by, row.decided_at, row.rejection_reason, row.updated_at = (
            "rejected", actor, now, reason.strip(), now)
        audit.append(s, actor=actor, action="cert.application.reject", subject=f"application:{row.id}",
                     details={"reason": reason.strip()})
        return _info(row)


def get_application(home: Any, application_id: int, *,
                    sessions: sessionmaker[Session] | None = None) -> ApplicationInfo:
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        row = s.get(CertificateApplication, _id(application_id))
        if row is None:
            raise UnknownApplication(f"no certificate application {application_id}")
        return _info(row)


class Page(list):  # type: ignore[type-arg]
    """One page of a listing (a list, so callers that want the rows just iterate); ``total``
    counts every row matching the filters, on all pages. Also seal.license.service's pages."""

    total: int

    def __init__(self, items: list[Any], total: int) -> None:
        super().__init__(items)
        self.total = total


def list_applications(home: Any, *, status: str | None = None, offset: int = 0, limit: int | None = None,
                      sessions: sessionmaker[Session] | None = None) -> Page:
    """Applications, oldest first; ``status`` filters (submitted | reviewed | rejected | issued).
    ``limit`` of them (all without one) from ``offset``; the page's ``total`` is counted in SQL."""
    from store.models.ca_workflow import APPLICATION_STATUSES

    if status is not None and status not in APPLICATION_STATUSES:
        raise CAError(f"unknown application status {status!r}; expected one of {', '.join(APPLICATION_STATUSES)}")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise CAError("offset must be an integer >= 0")
    if limit is not None and (not isinstance(limit, int) or isinstance(limit, bool) or limit < 1):
        raise CAError("limit must be an integer >= 1")
    where = [CertificateApplication.status == status] if status is not None else []
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(CertificateApplication).where(*where)) or 0
        rows = s.scalars(select(CertificateApplication).where(*where).order_by(CertificateApplication.id)
                         .offset(offset).limit(limit))
        return Page([_info(r) for r in rows], total)
