"""Finding certificates: one query shared by the REST list and the console's search.

Filters are optional and combine: profile, status, and a case-insensitive fragment of the
subject DN or the serial (hex). Newest first, paginated; returns the page and the total.
"""
from __future__ import annotations

from typing import Any

from sqlalchemy import func, or_, select
from sqlalchemy.orm import Session, sessionmaker

from ca.errors import CAError
from gm.records import frozen_record
from store import db
from store.models.ca import CERT_STATUSES, IssuedCertificate

__all__ = ["CertificatePage", "search_certificates", "MAX_PER_PAGE"]

MAX_PER_PAGE = 200


@frozen_record
class CertificatePage:
    rows: list[IssuedCertificate]
    total: int
    page: int
    per_page: int

    @property
    def has_next(self) -> bool:
        return self.page * self.per_page < self.total


def search_certificates(home: Any, *, profile: str | None = None, status: str | None = None,
                        text: str | None = None, page: int = 1, per_page: int = 50,
                        sessions: sessionmaker[Session] | None = None) -> CertificatePage:
    if status and status not in CERT_STATUSES:
        raise CAError(f"status must be one of {', '.join(CERT_STATUSES)}, not {status!r}")
    if page < 1 or not 1 <= per_page <= MAX_PER_PAGE:
        raise CAError(f"page must be >= 1 and per_page between 1 and {MAX_PER_PAGE}")
    query = select(IssuedCertificate)
    if status:
        query = query.where(IssuedCertificate.status == status)
    if profile:
        query = query.where(IssuedCertificate.profile == profile)
    if text:
        # the subject as typed ("Common Name: 张三" is how the list shows it); a serial also
        # without the colons of its "1f:2e:..." form
        typed = text.strip().lower()[:200]
        query = query.where(or_(func.lower(IssuedCertificate.subject).like(_contains(typed), escape="\\"),
                                IssuedCertificate.serial.like(_contains(typed.replace(":", "")), escape="\\")))
    sessions = sessions if sessions is not None else db.make_sessionmaker(home.engine)
    with db.transaction(sessions, readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = list(s.scalars(query.order_by(IssuedCertificate.id.desc())
                              .offset((page - 1) * per_page).limit(per_page)))
        s.expunge_all()
    return CertificatePage(rows, total, page, per_page)


def _contains(typed: str) -> str:
    """A LIKE pattern for ``typed`` anywhere, its own wildcards (a "_" in a name) matching themselves."""
    return "%" + typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
