"""The e-license directory: issue, look up, check status, revoke. Every change is audited.

``issue_license`` runs in phases so that no database write lock is held while signing
(on SQLite the key store signs in its own transaction, see ca/service.py):

1. validate the fields against the type (no database access; errors name the fields);
2. read the region (code and public base URL of the root CA) and, with an
   ``external_id``, return the license already issued for it (idempotent batches);
3. take the next sequence number of (region, type, year) under a row lock -> identifier;
4. render the face (render.py) and, with a seal, have the sealer stamp and sign it
   (and timestamp it, when the sealer has a TSA);
5. store the record and its audit record in one transaction. If another worker stored
   the same external id meanwhile, the unique constraint refuses ours and the existing
   license is returned: sequence numbers may then have a gap, identifiers never repeat.

Sealing is pluggable (``sealing.Sealer``: authorise, then seal). The use is authorised
before the identifier is taken, so a refused seal burns no sequence number; the default
sealer (``sealing.RegistrySealer``) uses the registry, seal/ofd and the region's TSA.
With ``seal_id`` and no ``agency``, the agency is the seal's own.

Status: ``valid`` and ``revoked`` are stored; ``expired`` is derived from ``valid_to`` at
the time asked (dates are Beijing time, the licenses' own calendar).
"""
from __future__ import annotations

import datetime as _dt
import json
import zoneinfo
from collections import namedtuple
from typing import Any

from sqlalchemy import Engine, func, or_, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, defer, sessionmaker

from ca.workflow import Page
from gm.records import frozen_record
from gm.sm3 import sm3
from seal.license.errors import (
    AlreadyRevoked,
    ExternalIdConflict,
    FieldError,
    LicenseError,
    LicenseNotFound,
    LicenseValidationError,
    NoSealChosen,
    RegionNotReady,
    SealingUnavailable,
)
from seal.license.identifiers import SEQUENCE_MAX, make_license_id, parse_license_id
from seal.license.render import render_license, verification_url
from seal.license.sealing import RegistrySealer, Sealer
from seal.license.types import LicenseType, get_type
from seal.license.validation import unfit_character, validate_fields, validity_end
from store import audit, db
from store.models.ca import CertificateAuthority
from store.models.license import LicenseCounter, LicenseRecord
from store.status_epoch import StatusRows
from store.text import actor_problem, reason_problem

__all__ = [
    "issue_license", "license_status", "revoke_license", "get_license", "find_by_external_id", "list_licenses",
    "Page", "agency_seal", "seal_to_use",
    "public_record", "LicenseInfo", "LicenseStatus", "Issued", "ExternalIdConflict", "Sealer", "default_sealer",
    "region_of", "Region", "TZ",
]

TZ = zoneinfo.ZoneInfo("Asia/Shanghai")


class Issued(tuple):
    """``(license_id, ofd_bytes)`` as issue_license returns it; ``already_issued`` is True when
    the external id had been issued before (by an earlier call or a concurrent worker)."""

    already_issued: bool

    def __new__(cls, license_id: str, ofd: bytes, already_issued: bool = False) -> Issued:
        self = super().__new__(cls, (license_id, ofd))
        self.already_issued = already_issued
        return self

    @property
    def license_id(self) -> str:
        return self[0]

    @property
    def ofd(self) -> bytes:
        return self[1]


@frozen_record
class Region:
    code: str
    name: str
    base_url: str


@frozen_record
class LicenseStatus:
    license_id: str
    status: str  # valid | revoked | expired
    type_code: str
    holder_name: str
    holder_id: str | None
    issued_at: _dt.datetime
    valid_to: _dt.date | None
    revoked_at: _dt.datetime | None
    revoke_reason: str | None
    agency: str  # 发证机关, as recorded

    def to_dict(self) -> dict[str, Any]:
        return {"license_id": self.license_id, "status": self.status, "type": self.type_code,
                "holder_name": self.holder_name, "holder_id": self.holder_id,
                "issued_at": self.issued_at.isoformat(),
                "valid_to": self.valid_to.isoformat() if self.valid_to else None,
                "revoked_at": self.revoked_at.isoformat() if self.revoked_at else None,
                "revoke_reason": self.revoke_reason, "agency": self.agency}


@frozen_record
class LicenseInfo:
    status: LicenseStatus
    data: dict[str, str]
    agency: str
    external_id: str | None
    seal_id: str | None
    ofd: bytes
    ofd_sm3: str


def _sessions(home: Any, sessions: sessionmaker[Session] | None) -> sessionmaker[Session]:
    return sessions if sessions is not None else db.make_sessionmaker(home.engine)


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.UTC).replace(microsecond=0)


def _canonical(values: dict[str, str]) -> str:
    return json.dumps(values, ensure_ascii=False, sort_keys=True, separators=(",", ":"))


def region_of(sessions: sessionmaker[Session]) -> Region:
    """The region's code, name and public base URL (from its root CA)."""
    with db.transaction(sessions, readonly=True) as s:
        row = s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root").limit(1))
    if row is None:
        raise RegionNotReady("this home has no region yet (no root CA): run `eseal init` first; "
                             "license identifiers and QR codes need the region code and public URL")
    return Region(row.region_code, row.region_name, row.base_url)


def default_sealer(home: Any, keystore: Any) -> Sealer | None:
    """The registry sealer (seal/service.py + seal/ofd + seal/tsa), or None where those are
    not installed (then a license can be issued only without a seal)."""
    try:
        import seal.ofd.signing  # noqa: F401
        import seal.service  # noqa: F401
    except ImportError:
        return None
    return RegistrySealer(home, keystore)


def _why_not(seal: Any) -> str | None:
    """Why a registered seal cannot seal licenses by default (None: it can)."""
    if seal.status != "valid":
        return seal.status
    if seal.seal_type != "organization":
        return f"a {seal.seal_type} seal"  # a license carries the agency's official seal, not a person's
    if not any(not h.startswith("sm3:") for h in seal.holders):
        return "binds no signer certificate of this region"
    return None


def agency_seal(home: Any, type: str | LicenseType, agency: str | None, *,  # noqa: A002
                sessions: sessionmaker[Session] | None = None) -> str:
    """The seal a license of ``type`` is sealed with when none is named: the one valid
    organization seal that ``agency`` is authorised to use (any agency's without one) and that
    binds a signer certificate of this region. Seal grants are per agency, not per license
    type; the type only has to have a seal position (SealingUnavailable when it has none).
    NoSealChosen names the candidates (and why the agency's other seals do not qualify) when
    there is none or more than one."""
    from seal import service as seal_service

    license_type = type if isinstance(type, LicenseType) else get_type(type, home)
    if license_type.face.seal is None:
        raise SealingUnavailable(f"license type {license_type.code} has no seal position (face.seal), "
                                 "so its licenses cannot be sealed")
    seals = [i for i in seal_service.list_seals(home, sessions=_sessions(home, sessions))
             if agency is None or agency in i.agencies]
    usable = [i for i in seals if _why_not(i) is None]
    if len(usable) == 1:
        return usable[0].es_id
    if usable:
        names = ", ".join(f"{i.es_id} ({i.name}, agency {i.agency})" for i in usable)
        whose = f"agency {agency!r} may" if agency is not None else "this home's agencies may"
        raise NoSealChosen(f"{whose} seal {license_type.code} licenses with {len(usable)} seals: {names}; "
                           "name the one to use")
    unfit = "; ".join(f"{i.es_id} ({i.name}): {_why_not(i)}" for i in seals)
    if agency is not None:
        found = f"agency {agency!r} has no seal"
        rest = f"its seals: {unfit}" if unfit else "no seal is granted to it"
    else:
        found, rest = "this home has no seal", f"its seals: {unfit}" if unfit else "no seal is registered"
    raise NoSealChosen(f"{found} to seal {license_type.code} licenses with (a valid organization seal "
                       f"binding a signer certificate of this region); {rest}")


def seal_to_use(home: Any, type: str | LicenseType, agency: str | None, seal_id: str | None,  # noqa: A002
                unsealed: bool, *, how_to_choose: str,
                sessions: sessionmaker[Session] | None = None) -> str | None:
    """The seal an issuance uses: the one named, else the agency's one seal (:func:`agency_seal`);
    None only when the caller opted out. Sealing is the default (issue #5); CLI and API share
    this rule and differ only in ``how_to_choose``, the hint added when no single seal fits."""
    if unsealed:
        if seal_id:
            raise LicenseError("a seal and 'unsealed' exclude each other: name a seal or opt out, not both")
        return None
    if seal_id:
        return seal_id
    try:
        return agency_seal(home, type, agency, sessions=sessions)
    except NoSealChosen as exc:
        raise NoSealChosen(f"{exc} ({how_to_choose})") from exc


def _next_sequence(sessions: sessionmaker[Session], region: str, type_code: str, year: int) -> int:
    with db.transaction(sessions) as s:
        key = {"region_code": region, "type_code": type_code, "year": year}
        row = s.get(LicenseCounter, key, with_for_update=True)
        if row is None:
            try:
                with s.begin_nested():
                    s.add(LicenseCounter(**key, last_sequence=0))
            except IntegrityError:  # another worker created it first; lock theirs
                pass
            row = s.get(LicenseCounter, key, with_for_update=True, populate_existing=True)
        if row.last_sequence >= SEQUENCE_MAX:
            raise LicenseError(f"the {type_code} sequence of {region} for {year} is exhausted ({SEQUENCE_MAX})")
        row.last_sequence += 1
        return row.last_sequence


def _existing(sessions: sessionmaker[Session], type_code: str, external_id: str,
              values: dict[str, str] | None) -> Issued | None:
    with db.transaction(sessions, readonly=True) as s:
        row = s.scalar(select(LicenseRecord).where(LicenseRecord.type_code == type_code,
                                                   LicenseRecord.external_id == external_id))
    if row is None:
        return None
    if values is not None and row.data != _canonical(values):
        raise ExternalIdConflict(
            f"external id {external_id!r} was already issued as license {row.id} with different data; "
            "revoke it and issue under a new external id to change a license")
    return Issued(row.id, row.ofd, already_issued=True)


def _check_holder(license_type: LicenseType, values: dict[str, str]) -> None:
    """The directory's holder columns hold 200 / 64 characters, whatever a home template allows."""
    errors = []
    for name, limit in ((license_type.holder_name_field, 200), (license_type.holder_id_field, 64)):
        if name and len(values.get(name, "")) > limit:
            errors.append(FieldError(name, f"at most {limit} characters for the holder, got {len(values[name])}"))
    if errors:
        raise LicenseValidationError(errors)


def _refuse_unfit(name: str, text: str | None) -> None:
    problem = unfit_character(text) if isinstance(text, str) else None
    if problem is not None:
        raise LicenseError(f"{name} {problem}")


def find_by_external_id(home: Any, type_code: str, external_id: str, *,
                        sessions: sessionmaker[Session] | None = None) -> str | None:
    """The license id issued for (type, external id), or None."""
    _refuse_unfit("external_id", external_id)
    found = _existing(_sessions(home, sessions), type_code.upper(), external_id, None)
    return found[0] if found else None


def issue_license(home: Any, keystore: Any, *, type: str | LicenseType, data: dict[str, Any],  # noqa: A002
                  agency: str | None, seal_id: str | None = None, external_id: str | None = None,
                  actor: str, sealer: Sealer | None = None, now: _dt.datetime | None = None,
                  sessions: sessionmaker[Session] | None = None) -> Issued:
    """Issue one license; returns (license_id, ofd_bytes), an :class:`Issued`. Phases: see the module doc.

    With ``external_id``, a repeat with the same data returns the license issued before (no
    second license); different data raises ExternalIdConflict. ``agency`` (发证机关) defaults
    to the region's name.
    """
    license_type = type if isinstance(type, LicenseType) else get_type(type, home)
    values = validate_fields(license_type, data)
    _check_holder(license_type, values)
    if agency is not None and (not isinstance(agency, str) or not agency.strip() or len(agency) > 200):
        raise LicenseError("agency (发证机关) must be a non-empty name of at most 200 characters")
    if external_id is not None and (not isinstance(external_id, str) or not external_id.strip()
                                    or len(external_id) > 128):
        raise LicenseError("external_id must be a non-empty string of at most 128 characters")
    for name, text in (("agency (发证机关)", agency), ("external_id", external_id)):
        _refuse_unfit(name, text)
    problem = actor_problem(actor)  # stored as the license's issued_by
    if problem is not None:
        raise LicenseError(problem)
    sessions = _sessions(home, sessions)
    region = region_of(sessions)
    if external_id is not None:
        found = _existing(sessions, license_type.code, external_id, values)
        if found:
            return found
    grant = None
    if seal_id is not None:
        if license_type.face.seal is None:
            raise LicenseError(f"license type {license_type.code} has no seal position (face.seal)")
        sealer = sealer or default_sealer(home, keystore)
        if sealer is None:
            raise SealingUnavailable(f"seal {seal_id!r} was asked for, but no OFD sealer is installed (seal/ofd)")
        grant = sealer.authorise(seal_id=seal_id, agency=agency.strip() if agency else None, actor=actor)
        agency = grant.agency
    agency = agency.strip() if agency else region.name
    issued_at = (now or _now()).astimezone(_dt.UTC)
    issued_on = issued_at.astimezone(TZ).date()
    valid_to = validity_end(license_type, values, issued_on)
    if valid_to is not None and valid_to < issued_on:
        field = license_type.validity.field or "validity"
        raise LicenseError(f"{field}: the license would already be expired ({valid_to.isoformat()})")
    sequence = _next_sequence(sessions, region.code, license_type.code, issued_on.year)
    license_id = make_license_id(region.code, license_type.code, issued_on.year, sequence)
    url = verification_url(region.base_url, license_id)
    holder_name = values[license_type.holder_name_field]
    holder_id = values.get(license_type.holder_id_field) if license_type.holder_id_field else None
    record = {"license_id": license_id, "type": license_type.code, "type_name": license_type.name_zh,
              "region_code": region.code, "holder_name": holder_name, "holder_id": holder_id,
              "fields": values, "agency": agency, "issue_date": issued_on.isoformat(),
              "valid_to": valid_to.isoformat() if valid_to else None, "verify_url": url}
    rendered = render_license(license_type, license_id=license_id, values=values, agency=agency,
                              issued_on=issued_on, valid_to=valid_to, verify_url=url, record=record)
    ofd = rendered.ofd
    if grant is not None:
        ofd = sealer.seal(ofd, grant, box=rendered.seal_box)  # type: ignore[union-attr,arg-type]
    digest = sm3(ofd).hex()
    try:
        with db.transaction(sessions) as s:
            s.add(LicenseRecord(
                id=license_id, type_code=license_type.code, holder_name=holder_name, holder_id=holder_id,
                data=_canonical(values), external_id=external_id, agency=agency, status="valid",
                issued_at=issued_at, valid_from=issued_on, valid_to=valid_to, ofd=ofd, ofd_sm3=digest,
                seal_id=seal_id, issued_by=actor))
            s.flush()
            audit.append(s, actor=actor, action="license.issue", subject=f"license:{license_id}", details={
                "type": license_type.code, "holder_name": holder_name, "holder_id": holder_id,
                "external_id": external_id, "agency": agency, "valid_to": record["valid_to"],
                "ofd_sm3": digest, "seal_id": seal_id, "sealed": seal_id is not None})
    except IntegrityError:
        if external_id is not None:
            found = _existing(sessions, license_type.code, external_id, values)
            if found:
                return found
        raise
    return Issued(license_id, ofd)


def _row(s: Session, license_id: str, *, for_update: bool = False) -> LicenseRecord:
    query = select(LicenseRecord).where(LicenseRecord.id == license_id)
    row = s.scalar(query.with_for_update() if for_update else query)
    if row is None:
        raise LicenseNotFound(f"no license {license_id} in this directory")
    return row


def _status(row: LicenseRecord | _StatusRow, at: _dt.datetime | None) -> LicenseStatus:
    status = row.status
    if status == "valid" and row.valid_to is not None:
        today = (at or _now()).astimezone(TZ).date()
        if today > row.valid_to:
            status = "expired"
    return LicenseStatus(row.id, status, row.type_code, row.holder_name, row.holder_id, row.issued_at,
                         row.valid_to, row.revoked_at, row.revoke_reason, row.agency)


_STATUS_COLUMNS = ("id", "status", "type_code", "holder_name", "holder_id", "issued_at", "valid_to", "revoked_at",
                   "revoke_reason", "agency")
_StatusRow = namedtuple("_StatusRow", _STATUS_COLUMNS)  # what _status reads of a LicenseRecord
# Every verification of one of this region's licenses asks this (verify/license_status.py):
# one plain statement for the status columns, not an ORM session loading the OFD too.
_STATUS = StatusRows(db.HotStatement(
    f"SELECT {', '.join(_STATUS_COLUMNS)} FROM license_records WHERE id = :id",
    results=tuple(LicenseRecord.__table__.c[name] for name in _STATUS_COLUMNS)))


def license_status(home: Any, license_id: str, *, at: _dt.datetime | None = None,
                   sessions: sessionmaker[Session] | None = None) -> LicenseStatus:
    """valid / revoked / expired (at `at`, default now). The check character is verified first."""
    lid = str(parse_license_id(license_id))
    bind = sessions.kw.get("bind") if sessions is not None else None
    rows = _STATUS.read(bind if isinstance(bind, Engine) else home.engine, {"id": lid})
    if not rows:
        raise LicenseNotFound(f"no license {lid} in this directory")
    return _status(_StatusRow(*rows[0]), at)


def get_license(home: Any, license_id: str, *, at: _dt.datetime | None = None,
                sessions: sessionmaker[Session] | None = None) -> LicenseInfo:
    """The whole record: status, field data, agency, external id, seal and the OFD bytes."""
    lid = str(parse_license_id(license_id))
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        row = _row(s, lid)
        return LicenseInfo(_status(row, at), json.loads(row.data), row.agency, row.external_id, row.seal_id,
                           row.ofd, row.ofd_sm3)


def _mask(value: str | None) -> str | None:
    """A citizen ID number keeps its region and last four characters (110105********002X);
    organisation codes (public by law, printed on the licence) are shown whole."""
    if value is None:
        return None
    if len(value) == 18 and value[:17].isdigit():
        return value[:6] + "*" * 8 + value[14:]
    return value


def public_record(home: Any, license_id: str, *, at: _dt.datetime | None = None,
                  sessions: sessionmaker[Session] | None = None) -> dict[str, Any]:
    """What the public verification page (the QR code's URL) shows: type, holder, agency,
    dates, status, the SM3 of the OFD as issued (to compare a copy against), never a whole
    citizen ID number. InvalidLicenseId / LicenseNotFound as for get_license."""
    info = get_license(home, license_id, at=at, sessions=sessions)
    st = info.status
    try:
        type_name = get_type(st.type_code, home).name_zh
    except LicenseError:
        type_name = st.type_code  # a type since removed from this home still verifies
    return {"license_id": st.license_id, "type": st.type_code, "type_name": type_name, "status": st.status,
            "holder_name": st.holder_name, "holder_id": _mask(st.holder_id), "agency": info.agency,
            "issued_at": st.issued_at.isoformat(), "valid_to": st.valid_to.isoformat() if st.valid_to else None,
            "revoked_at": st.revoked_at.isoformat() if st.revoked_at else None,
            "revoke_reason": st.revoke_reason, "sealed": info.seal_id is not None, "ofd_sm3": info.ofd_sm3}


def list_licenses(home: Any, *, holder_id: str | None = None, type_code: str | None = None,
                  status: str | None = None, agency: str | None = None, offset: int = 0, limit: int = 100,
                  at: _dt.datetime | None = None, sessions: sessionmaker[Session] | None = None) -> Page:
    """Licenses of a holder, a type and/or an issuing agency, newest first: ``limit`` of them
    from ``offset``, and the total. ``status`` filters on the derived status (valid | revoked |
    expired at ``at``, default now), in SQL like the rest, so a page costs two queries."""
    if status is not None and status not in ("valid", "revoked", "expired"):
        raise LicenseError(f"status {status!r}: expected valid, revoked or expired")
    if not isinstance(limit, int) or isinstance(limit, bool) or not 1 <= limit <= 10_000:
        raise LicenseError("limit must be an integer from 1 to 10000")
    if not isinstance(offset, int) or isinstance(offset, bool) or offset < 0:
        raise LicenseError("offset must be an integer >= 0")
    where = []
    if holder_id is not None:
        where.append(LicenseRecord.holder_id == holder_id.strip().upper())
    if type_code is not None:
        where.append(LicenseRecord.type_code == type_code.strip().upper())
    if agency is not None:
        where.append(LicenseRecord.agency == agency)
    at = at or _now()  # one "today" for the filter and each row's derived status
    today = at.astimezone(TZ).date()
    if status == "revoked":
        where.append(LicenseRecord.status == "revoked")
    elif status == "valid":
        where += [LicenseRecord.status == "valid",
                  or_(LicenseRecord.valid_to.is_(None), LicenseRecord.valid_to >= today)]
    elif status == "expired":
        where += [LicenseRecord.status == "valid", LicenseRecord.valid_to < today]
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(LicenseRecord).where(*where)) or 0
        rows = s.scalars(select(LicenseRecord).where(*where)
                         .options(defer(LicenseRecord.ofd), defer(LicenseRecord.data))  # not needed for a status
                         .order_by(LicenseRecord.issued_at.desc(), LicenseRecord.id.desc()).offset(offset).limit(limit))
        return Page([_status(row, at) for row in rows], total)


def revoke_license(home: Any, license_id: str, reason: str, *, actor: str = "admin",
                   now: _dt.datetime | None = None, sessions: sessionmaker[Session] | None = None) -> LicenseStatus:
    """Revoke a license (final); the reason is required and recorded with the time and the actor."""
    lid = str(parse_license_id(license_id))
    if not isinstance(reason, str) or not reason.strip():
        raise LicenseError("a revocation needs a reason")
    problem = reason_problem(reason, "the revocation reason")
    if problem is not None:
        raise LicenseError(problem)
    when = (now or _now()).astimezone(_dt.UTC)
    with db.transaction(_sessions(home, sessions)) as s:
        row = _row(s, lid, for_update=True)
        if row.status == "revoked":
            raise AlreadyRevoked(f"license {lid} was already revoked on {row.revoked_at.isoformat()} "
                                 f"({row.revoke_reason})")
        row.status, row.revoked_at, row.revoke_reason = "revoked", when, reason.strip()
        audit.append(s, actor=actor, action="license.revoke", subject=f"license:{lid}",
                     details={"reason": row.revoke_reason, "type": row.type_code})
        s.flush()
        return _status(row, when)
