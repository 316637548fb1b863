"""The seal registry and seal use: make seals, change their status, authorise a use, sign.

Making a seal (DESIGN data flow 3): the agency names its signer certificates; the region's
seal maker (制章人) key, found through ``ca.service.service_certificate(home, "seal_maker")``,
signs the GB/T 38540 v4 SESeal; the seal is stored with status valid and the agency is
authorised to use it. Suspend / resume / revoke change the stored status; "expired" is
derived from the validity when asked. Every change writes one audit record in its
transaction.

Seal identifiers (esID), unique in the region::

    RRRRRR YYYY SSSSSSS C      e.g. 440000 2026 0000017 6  ->  "440000202600000176"
    region code (6 digits, the region's administrative division code), year of making,
    sequence in that region and year (7 digits, from a locked counter), and an ISO 7064
    MOD 11-2 check character (0-9 or X, as in the citizen ID number) over the 17 digits.

Using a seal (data flow 4) is two calls. `authorise_use` checks, in this order: the seal
exists, the calling agency is authorised, the seal is neither revoked nor suspended nor
outside its validity, the signer certificate is one the seal binds, that certificate is
good and within its validity in this region's CA records, the key store holds its key,
and for personal seals the holder's PIN (proven by the holder key signing the use grant,
so a wrong PIN is refused before anything is sealed). Each refusal raises its own error
from `seal.errors` and writes an audit record ("seal.use_refused") in its own
transaction. `make_signature` then builds TBS_Sign, has the key store sign it and
returns the SES_Signature DER; one audit record ("seal.sign") per sealing. The transaction
that records the sealing reads the seal's and the signer certificate's state again, under a
share lock on their rows (PostgreSQL; SQLite's writer holds the database): a revocation,
suspension or withdrawn authorisation committed since the check refuses the sealing as the
check would have, so no sealing is ever recorded after the change that forbids it.

Cost of a use (it runs per sealing): `authorise_use` reads the seal's immutable facts once
per process and the state that can refuse a use with one statement every time;
`make_signature` hashes the seal once (e = SM3(Z_A || TBS_Sign)) and commits once -- the
key store's key-use record, the seal.sign record and the transparency-log entry together,
and for a timestamped sealing the TSA's key-use record, token row and tsa.timestamp record.
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import weakref
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from functools import lru_cache
from typing import Any

from asn1crypto import pem, x509
from sqlalchemy import Engine, and_, bindparam, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ca import service as ca_service
from ca.errors import ServiceCertificateMissing, UnknownSerial
from ca.identifiers import citizen_id_check_char
from gm.asn1 import ses
from gm.errors import GMError
from gm.records import frozen_record
from gm.sm3 import sm3
from keystore import errors as ks_errors
from seal import structures
from seal.after_seal import seal_offset, sm3_after_seal
from seal.errors import (
    InvalidSealTransition,
    NotAuthorised,
    SealBuildError,
    SealExpired,
    SealMakerUnavailable,
    SealNotFound,
    SealRevoked,
    SealSuspended,
    SealUseRefused,
    SignerCertificateInvalid,
    SignerNotBound,
    WrongPin,
)
from seal.tsa import TsaError
from store import audit, db, group_commit, translog
from store.models.ca import CertificateAuthority, IssuedCertificate
from store.models.seal import SealAuthorisation, SealCounter, SealHolder, SealRecord
from store.status_epoch import StatusRows
from store.text import actor_problem, control_character, reason_problem

SEAL_ROLE = "seal"  # the key-store role that may sign with seal and personal-seal keys
PICTURE_TYPES = {"png": "PNG", "jpg": "JPG", "jpeg": "JPG", "svg": "SVG", "ofd": "OFD"}
SEAL_TYPES = {"organization": ses.SEAL_TYPE_ORGANIZATION, "personal": ses.SEAL_TYPE_PERSONAL}
# the key a holder certificate's seal signs with: a person's needs their PIN at every use (the
# personal path asks for it), an organization's has none (its path would be granted, then refused)
HOLDER_KEY_USAGE = {"organization": "seal", "personal": "personal-seal"}
DEFAULT_VALID_DAYS = 3 * 365
GRANT_LIFETIME = dt.timedelta(minutes=10)
SEQUENCE_DIGITS = 7


def _now() -> dt.datetime:
    return dt.datetime.now(dt.timezone.utc).replace(microsecond=0)


def _sessions(home: Any, sessions: sessionmaker[Session] | None) -> sessionmaker[Session]:
    return sessions if sessions is not None else db.make_sessionmaker(home.engine)


# ----------------------------------------------------------------------------- identifiers


def make_es_id(region_code: str, year: int, sequence: int) -> str:
    """The seal identifier for a region, year and sequence number (format in the module doc)."""
    if len(region_code) != 6 or not region_code.isdigit():
        raise SealBuildError(f"region code {region_code!r} must be 6 digits")
    if not 2000 <= year <= 9999:
        raise SealBuildError(f"year {year} out of range")
    if not 1 <= sequence < 10**SEQUENCE_DIGITS:
        raise SealBuildError(f"the region has used all {10**SEQUENCE_DIGITS - 1} seal numbers of {year}")
    body = f"{region_code}{year:04d}{sequence:0{SEQUENCE_DIGITS}d}"
    return body + citizen_id_check_char(body)


def es_id_valid(es_id: str) -> bool:
    """True for a well-formed identifier whose check character matches."""
    if not isinstance(es_id, str) or len(es_id) != 18 or not es_id[:17].isdigit():
        return False
    return citizen_id_check_char(es_id[:17]) == es_id[17].upper()


# ----------------------------------------------------------------------------- views


@frozen_record
class SealInfo:
    """A registered seal as the registry knows it; `status` already accounts for expiry."""

    es_id: str
    seal_type: str
    name: str
    agency: str
    status: str  # valid | suspended | revoked | expired | not-yet-valid
    stored_status: str
    valid_from: dt.datetime
    valid_to: dt.datetime
    maker_cert_serial: str
    picture_type: str
    bind_by: str
    created_at: dt.datetime
    status_changed_at: dt.datetime | None
    status_reason: str | None
    der: bytes = dataclasses.field(repr=False)
    holders: tuple[str, ...] = ()  # signer certificate serials (or SM3 when foreign)
    agencies: tuple[str, ...] = ()  # agencies authorised to use the seal


def _effective_status(status: str, valid_from: dt.datetime, valid_to: dt.datetime, now: dt.datetime) -> str:
    if status != "valid":
        return status
    if now > valid_to:
        return "expired"
    if now < valid_from:
        return "not-yet-valid"
    return "valid"


def _info(s: Session, row: SealRecord, now: dt.datetime) -> SealInfo:
    holders = s.scalars(select(SealHolder).where(SealHolder.es_id == row.es_id).order_by(SealHolder.id)).all()
    agencies = s.scalars(select(SealAuthorisation.agency).where(SealAuthorisation.es_id == row.es_id)
                         .order_by(SealAuthorisation.agency)).all()
    return SealInfo(
        es_id=row.es_id, seal_type=row.seal_type, name=row.name, agency=row.agency,
        status=_effective_status(row.status, row.valid_from, row.valid_to, now), stored_status=row.status, valid_from=row.valid_from,
        valid_to=row.valid_to, maker_cert_serial=row.maker_cert_serial, picture_type=row.picture_type,
        bind_by=row.bind_by, created_at=row.created_at, status_changed_at=row.status_changed_at,
        status_reason=row.status_reason, der=bytes(row.der),
        holders=tuple(h.cert_serial or f"sm3:{h.cert_sm3}" for h in holders), agencies=tuple(agencies))


def get_seal(home: Any, es_id: str, *, sessions: sessionmaker[Session] | None = None) -> SealInfo:
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        row = s.get(SealRecord, es_id)
        if row is None:
            raise SealNotFound(f"no seal {es_id!r} is registered in this region")
        return _info(s, row, _now())


def seal_status(home: Any, es_id: str, *, sessions: sessionmaker[Session] | None = None) -> SealInfo:
    """The seal's record with its status now (valid / suspended / revoked / expired)."""
    return get_seal(home, es_id, sessions=sessions)


@dataclasses.dataclass(frozen=True)
class SealState:
    status: str                         # as SealInfo.status: the effective status now
    since: dt.datetime | None
    reason: str | None


_STATE = StatusRows(db.HotStatement(
    "SELECT status, valid_from, valid_to, status_changed_at, status_reason FROM seals WHERE es_id = :es_id",
    results=(None, SealRecord.__table__.c.valid_from, SealRecord.__table__.c.valid_to,
             SealRecord.__table__.c.status_changed_at, None)))


def seal_state(home: Any, es_id: str) -> SealState | None:
    """What a verifier asks for every seal it sees, in one plain statement: the seal's status
    now, since when and why; None when this region holds no such seal.

    The esID comes from the document being verified, anybody's: one not in this registry's
    format (another region's or vendor's, or text PostgreSQL refuses, such as a NUL) is not
    looked up."""
    if not es_id_valid(es_id):
        return None
    rows = _STATE.read(home.engine, {"es_id": es_id})
    if not rows:
        return None
    status, valid_from, valid_to, since, reason = rows[0]
    return SealState(_effective_status(status, valid_from, valid_to, _now()), since, reason)


SEAL_STATUSES = ("valid", "suspended", "revoked", "expired", "not-yet-valid")


@frozen_record
class SealPage:
    """One page of :func:`list_seals` and how many seals match in all."""
    items: list[SealInfo]
    total: int


def list_seals(home: Any, *, agency: str | None = None, status: str | None = None,
               sessions: sessionmaker[Session] | None = None) -> list[SealInfo]:
    """Registered seals, oldest first; filtered by owning agency and/or effective status."""
    return find_seals(home, agency=agency, status=status, sessions=sessions).items


def find_seals(home: Any, *, agency: str | None = None, status: str | None = None, offset: int = 0,
               limit: int | None = None, sessions: sessionmaker[Session] | None = None) -> SealPage:
    """A page of :func:`list_seals` (``offset``, ``limit``) with the number of matches. The
    effective status (:func:`_effective_status`: a valid seal outside its dates is expired or
    not yet valid) is matched in SQL, so a page costs its own rows only."""
    if status is not None and status not in SEAL_STATUSES:
        raise SealBuildError(f"status must be one of {', '.join(SEAL_STATUSES)}, not {status!r}")
    now = _now()
    where = []
    if agency is not None:
        where.append(SealRecord.agency == agency)
    if status in ("suspended", "revoked"):
        where.append(SealRecord.status == status)
    elif status is not None:
        where.append(SealRecord.status == "valid")
        where.append({"valid": and_(SealRecord.valid_from <= now, SealRecord.valid_to >= now),
                      "expired": SealRecord.valid_to < now, "not-yet-valid": SealRecord.valid_from > now}[status])
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(SealRecord).where(*where)) or 0
        query = select(SealRecord).where(*where).order_by(SealRecord.created_at, SealRecord.es_id).offset(offset)
        if limit is not None:
            query = query.limit(limit)
        return SealPage([_info(s, row, now) for row in s.scalars(query)], total)


# ----------------------------------------------------------------------------- making


def _certificate_der(value: bytes | str, index: int) -> bytes:
    data = value.encode() if isinstance(value, str) else bytes(value)
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)    # ValueError (binascii.Error too) for a broken PEM
        x509.Certificate.load(data, strict=True)["tbs_certificate"]["serial_number"].native
    except (ValueError, TypeError) as exc:
        raise SealBuildError(f"holder certificate {index + 1} is neither PEM nor DER X.509 ({exc})") from None
    return data


def _serial_hex(cert_der: bytes) -> str:
    return format(x509.Certificate.load(cert_der).serial_number, "x")


def _region_code(s: Session) -> str:
    code = s.scalar(select(CertificateAuthority.region_code).where(CertificateAuthority.kind == "root").limit(1))
    if code is None:
        raise SealMakerUnavailable("this home has no region yet; run `eseal init` first")
    return code


def _next_es_id(sessions: sessionmaker[Session], now: dt.datetime) -> str:
    """Take the next sequence number of the region and year under the counter row's lock.

    Two makers racing to create the first counter row of a year: one insert fails on the
    primary key and is retried, then finds the row and waits for its lock."""
    for attempt in range(3):
        try:
            with db.transaction(sessions) as s:
                region = _region_code(s)
                counter = s.scalar(select(SealCounter).where(SealCounter.region_code == region,
                                                             SealCounter.year == now.year).with_for_update())
                if counter is None:
                    counter = SealCounter(region_code=region, year=now.year, last_sequence=0)
                    s.add(counter)
                counter.last_sequence += 1
                s.flush()
                return make_es_id(region, now.year, counter.last_sequence)
        except IntegrityError:
            if attempt == 2:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


def _check_holder(s: Session, cert_der: bytes, now: dt.datetime, index: int) -> IssuedCertificate | None:
    """The region's record of a holder certificate (None for one issued elsewhere); refuse bad ones."""
    structures.public_key_of(cert_der)  # SealFormatError if it is not an SM2 certificate
    row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == _serial_hex(cert_der)))
    if row is not None and bytes(row.der) != cert_der:
        row = None  # same serial, other issuer: not ours
    if row is not None:
        if row.status != "good":
            raise SignerCertificateInvalid(
                f"holder certificate {index + 1} (serial {row.serial}) is {row.status}; a seal cannot bind it")
        if row.not_after < now:
            raise SignerCertificateInvalid(
                f"holder certificate {index + 1} (serial {row.serial}) expired on {row.not_after.isoformat()}")
    return row


def make_seal(
    home: Any,
    keystore: Any,
    *,
    seal_type: str,
    name: str,
    agency: str,
    holder_certs: Sequence[bytes | str],
    bind_by: str = "certificate",
    picture: bytes | None = None,
    picture_type: str = "png",
    width_mm: int | None = None,
    height_mm: int | None = None,
    valid_days: int = DEFAULT_VALID_DAYS,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> str:
    """Make, sign and register a GB/T 38540 v4 seal; returns its esID.

    holder_certs are the signer certificates (PEM or DER) the seal binds, by certificate or
    by SM3 digest (bind_by). Without a picture one is drawn: for an organization the red
    round official seal (name on the rim, star, the esID as seal code; 42 mm by default), for
    a person the square name seal (张三之印; 20 mm by default). A personal seal binds
    exactly one certificate.
    """
    if seal_type not in SEAL_TYPES:
        raise SealBuildError(f"seal type {seal_type!r}: expected organization or personal")
    if bind_by not in ("certificate", "digest"):
        raise SealBuildError(f"bind_by {bind_by!r}: expected certificate or digest")
    if not isinstance(agency, str) or not agency.strip() or len(agency) > 200:
        raise SealBuildError("agency must be 1-200 characters (the agency that owns and uses the seal)")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise SealBuildError("seal name must be 1-200 characters")
    for what, text in (("agency", agency), ("seal name", name)):
        found = control_character(text)
        if found is not None:
            raise SealBuildError(f"{what} contains {found}: control characters are not allowed in a name")
    problem = actor_problem(actor)  # stored as the seal's created_by
    if problem is not None:
        raise SealBuildError(problem)
    kind = PICTURE_TYPES.get(str(picture_type).lower())
    if kind is None:
        raise SealBuildError(f"picture type {picture_type!r}: expected one of png, jpg, svg, ofd")
    default_mm = 42 if seal_type == "organization" else 20
    width_mm = default_mm if width_mm is None else width_mm
    height_mm = default_mm if height_mm is None else height_mm
    structures.check_picture_size(width_mm, height_mm)
    if picture is not None:
        from seal.picture import check_picture

        check_picture(picture, kind)
    if not isinstance(valid_days, int) or not 1 <= valid_days <= 20 * 366:
        raise SealBuildError(f"valid_days {valid_days!r}: 1 day to 20 years")
    if not holder_certs:
        raise SealBuildError("a seal binds at least one signer certificate (holder_certs is empty)")
    certs = [_certificate_der(c, i) for i, c in enumerate(holder_certs)]
    if len({sm3(c) for c in certs}) != len(certs):
        raise SealBuildError("the same holder certificate is given twice")
    if seal_type == "personal" and len(certs) != 1:
        raise SealBuildError(f"a personal seal binds exactly one signer certificate, not {len(certs)}")

    sessions = _sessions(home, sessions)
    try:
        maker = ca_service.service_certificate(home, "seal_maker", sessions=sessions)
    except ServiceCertificateMissing as exc:
        raise SealMakerUnavailable(str(exc)) from None
    now = _now()
    with db.transaction(sessions, readonly=True) as s:
        records = [_check_holder(s, c, now, i) for i, c in enumerate(certs)]
    wanted = HOLDER_KEY_USAGE[seal_type]
    for record in records:
        usage = keystore.info(record.key_ref).usage if record is not None and record.key_ref is not None else wanted
        if usage != wanted:
            raise SealBuildError(f"{'a personal' if seal_type == 'personal' else 'an organization'} seal needs a "
                                 f"holder key of usage {wanted} (the key store holds the key of certificate "
                                 f"{record.serial} with usage {usage})")

    es_id = _next_es_id(sessions, now)
    if picture is None:
        from seal import picture as drawing

        if seal_type == "organization":
            picture = drawing.draw_official_seal(name, code=es_id, diameter_mm=float(max(width_mm, height_mm)))
        else:
            picture = drawing.draw_personal_seal(name, size_mm=float(max(width_mm, height_mm)))
        kind = "PNG"
    valid_end = now + dt.timedelta(days=valid_days)
    binding: dict[str, Any] = ({"certificates": certs} if bind_by == "certificate"
                               else {"cert_digests": [structures.certificate_digest(c) for c in certs]})
    info_der = structures.build_seal_info(
        es_id=es_id, seal_type=SEAL_TYPES[seal_type], name=name, valid_start=now, valid_end=valid_end,
        create_date=now, picture=structures.Picture(kind, bytes(picture), width_mm, height_mm), **binding)
    signature = keystore.sign(maker.key_ref, info_der, actor=actor, role=SEAL_ROLE)
    seal_der = structures.assemble_seal(info_der, maker.certificate.dump(), signature)

    with db.transaction(sessions) as s:
        region = _region_code(s)
        s.add(SealRecord(
            es_id=es_id, region_code=region, seal_type=seal_type, name=name, agency=agency, version=4,
            der=seal_der, picture_type=kind, bind_by=bind_by, status="valid", valid_from=now,
            valid_to=valid_end, maker_cert_serial=maker.serial, created_at=now, created_by=actor))
        s.flush()
        for cert, record in zip(certs, records, strict=True):
            s.add(SealHolder(es_id=es_id, certificate=cert, cert_sm3=sm3(cert).hex(),
                             cert_serial=record.serial if record is not None else None,
                             key_ref=record.key_ref if record is not None else None))
        s.add(SealAuthorisation(es_id=es_id, agency=agency, granted_at=now, granted_by=actor))
        audit.append(s, actor=actor, action="seal.make", subject=f"seal:{es_id}", details={
            "seal_type": seal_type, "name": name, "agency": agency, "bind_by": bind_by,
            "holders": [r.serial if r is not None else f"sm3:{sm3(c).hex()}" for c, r in zip(certs, records)],
            "valid_from": now.isoformat(), "valid_to": valid_end.isoformat(),
            "maker_cert_serial": maker.serial, "picture_type": kind, "seal_sm3": sm3(seal_der).hex(),
        })
        translog.append(s, kind="seal", subject=f"seal:{es_id}", artefact=seal_der)
    return es_id


# ----------------------------------------------------------------------------- status changes


_TRANSITIONS = {
    "seal.suspend": ({"valid"}, "suspended"),
    "seal.resume": ({"suspended"}, "valid"),
    "seal.revoke": ({"valid", "suspended"}, "revoked"),
}


def _transition(home: Any, es_id: str, action: str, *, reason: str, actor: str,
                sessions: sessionmaker[Session] | None) -> SealInfo:
    allowed, new_status = _TRANSITIONS[action]
    what = f"the reason to {action.split('.')[1]} seal {es_id}"
    problem = reason_problem(reason, what) if isinstance(reason, str) else f"{what} must be text"
    if problem is not None:
        raise SealBuildError(problem)
    reason = reason.strip()
    with db.transaction(_sessions(home, sessions)) as s:
        row = s.scalar(select(SealRecord).where(SealRecord.es_id == es_id).with_for_update())
        if row is None:
            raise SealNotFound(f"no seal {es_id!r} is registered in this region")
        if row.status not in allowed:
            final = " (revocation is final)" if row.status == "revoked" else ""
            raise InvalidSealTransition(
                f"seal {es_id} is {row.status}; {action.split('.')[1]} needs status {' or '.join(sorted(allowed))}{final}")
        now = _now()
        previous = row.status
        row.status, row.status_changed_at, row.status_reason = new_status, now, (reason or None)
        audit.append(s, actor=actor, action=action, subject=f"seal:{es_id}",
                     details={"previous_status": previous, "reason": reason})
        s.flush()
        return _info(s, row, now)


def suspend_seal(home: Any, es_id: str, *, reason: str = "", actor: str = "admin",
                 sessions: sessionmaker[Session] | None = None) -> SealInfo:
    """valid -> suspended: uses are refused until resumed."""
    return _transition(home, es_id, "seal.suspend", reason=reason, actor=actor, sessions=sessions)


def resume_seal(home: Any, es_id: str, *, reason: str = "", actor: str = "admin",
                sessions: sessionmaker[Session] | None = None) -> SealInfo:
    """suspended -> valid."""
    return _transition(home, es_id, "seal.resume", reason=reason, actor=actor, sessions=sessions)


def revoke_seal(home: Any, es_id: str, *, reason: str = "", actor: str = "admin",
                sessions: sessionmaker[Session] | None = None) -> SealInfo:
    """valid or suspended -> revoked (final)."""
    return _transition(home, es_id, "seal.revoke", reason=reason, actor=actor, sessions=sessions)


def _lock_seal(s: Session, es_id: str) -> SealRecord | None:
    """The seal's row, locked: its grants change one at a time. Two grants of the same agency at
    once would otherwise both find none and the second insert fail on the unique constraint,
    and two withdrawals both delete (PostgreSQL; SQLite's writers queue anyway)."""
    return s.scalar(select(SealRecord).where(SealRecord.es_id == es_id).with_for_update())


def grant_use(home: Any, es_id: str, *, agency: str, actor: str = "admin",
              sessions: sessionmaker[Session] | None = None) -> None:
    """Authorise one more agency to use a seal (e.g. an office sealing for its department)."""
    if not isinstance(agency, str) or not agency.strip() or len(agency) > 200:
        raise SealBuildError("agency must be 1-200 characters")
    problem = actor_problem(actor)  # stored as the grant's granted_by
    if problem is not None:
        raise SealBuildError(problem)
    with db.transaction(_sessions(home, sessions)) as s:
        if _lock_seal(s, es_id) is None:
            raise SealNotFound(f"no seal {es_id!r} is registered in this region")
        exists = s.scalar(select(SealAuthorisation.id).where(SealAuthorisation.es_id == es_id,
                                                             SealAuthorisation.agency == agency))
        if exists is not None:
            return
        s.add(SealAuthorisation(es_id=es_id, agency=agency, granted_at=_now(), granted_by=actor))
        audit.append(s, actor=actor, action="seal.grant_use", subject=f"seal:{es_id}", details={"agency": agency})


def withdraw_use(home: Any, es_id: str, *, agency: str, actor: str = "admin",
                 sessions: sessionmaker[Session] | None = None) -> bool:
    """Withdraw an agency's authorisation; False when it had none."""
    with db.transaction(_sessions(home, sessions)) as s:
        if _lock_seal(s, es_id) is None:
            return False
        row = s.scalar(select(SealAuthorisation).where(SealAuthorisation.es_id == es_id,
                                                       SealAuthorisation.agency == agency))
        if row is None:
            return False
        s.delete(row)
        audit.append(s, actor=actor, action="seal.withdraw_use", subject=f"seal:{es_id}", details={"agency": agency})
        return True


# ----------------------------------------------------------------------------- using


@frozen_record
class UseGrant:
    """Permission to seal once with `es_id` as `agency`, valid for a few minutes (in memory only)."""

    es_id: str
    agency: str
    actor: str
    seal_der: bytes = dataclasses.field(repr=False)
    key_ref: str
    signer_cert: bytes = dataclasses.field(repr=False)
    signer_serial: str
    personal: bool
    expires_at: dt.datetime
    pin: str | None = dataclasses.field(default=None, repr=False)
    consent_signature: bytes | None = dataclasses.field(default=None, repr=False)  # personal seals


def _refuse(sessions: sessionmaker[Session], exc: SealUseRefused, *, es_id: str, agency: str, actor: str,
            extra: dict[str, Any] | None = None) -> SealUseRefused:
    """Write the refusal's audit record in its own transaction and hand the error back to raise."""
    with db.transaction(sessions) as s:
        audit.append(s, actor=actor, action="seal.use_refused", subject=f"seal:{es_id}", details={
            "agency": agency, "reason": exc.code, "message": str(exc), **(extra or {})})
    return exc


def refuse_use(home: Any, es_id: str, exc: SealUseRefused, *, agency: str, actor: str,
               sessions: sessionmaker[Session] | None = None) -> SealUseRefused:
    """A refusal found before :func:`authorise_use` could ask (the seal binds no signer this
    region holds a key for): audited as its refusals are; returns the error to raise."""
    return _refuse(_sessions(home, sessions), exc, es_id=es_id, agency=agency, actor=actor)


def consent_message(es_id: str, agency: str, when: dt.datetime) -> bytes:
    """What a personal seal's holder key signs to prove the PIN before a use is granted."""
    return f"eseal seal-use\nseal={es_id}\nagency={agency}\ntime={when.isoformat()}\n".encode()


@frozen_record
class _Holder:
    cert_sm3: str
    cert_serial: str | None  # None: issued by another region
    key_ref: str | None
    certificate: bytes = dataclasses.field(repr=False)


@frozen_record
class _SealFacts:
    """What never changes about a registered seal (its status, validity and authorisations may)."""

    seal_type: str
    agency: str
    der: bytes = dataclasses.field(repr=False)
    holders: tuple[_Holder, ...]


# Per engine (so per home and database): esID -> _SealFacts. A seal's DER, type, owner and
# bound certificates are written once when it is made and never updated, so they are read
# once per process; everything a use may be refused for is read on every use.
_FACTS: weakref.WeakKeyDictionary[Engine, dict[str, _SealFacts]] = weakref.WeakKeyDictionary()
_FACTS_PER_ENGINE = 4096

_SEAL_FACTS = select(SealRecord.seal_type, SealRecord.agency, SealRecord.der).where(
    SealRecord.es_id == bindparam("es_id"))
_HOLDER_FACTS = (select(SealHolder.cert_sm3, SealHolder.cert_serial, SealHolder.key_ref, SealHolder.certificate)
                 .where(SealHolder.es_id == bindparam("es_id")).order_by(SealHolder.id))
# The mutable state a use is checked against, in one statement: the seal's status and
# validity, whether the agency is authorised, and the signer certificate's status and
# validity in this region's CA records (plain SQL: it runs on every use, see
# store.db.HotStatement).
_USE_STATE_RESULTS = (None, SealRecord.__table__.c.valid_from, SealRecord.__table__.c.valid_to, None, None,
                      IssuedCertificate.__table__.c.not_before, IssuedCertificate.__table__.c.not_after)
_USE_STATE = db.HotStatement(
    "SELECT s.status, s.valid_from, s.valid_to, "
    "(SELECT a.id FROM seal_authorisations a WHERE a.es_id = :es_id AND a.agency = :agency LIMIT 1), "
    "c.status, c.not_before, c.not_after "
    "FROM seals s LEFT OUTER JOIN ca_certificates c ON c.serial = :serial "
    "WHERE s.es_id = :es_id",
    results=_USE_STATE_RESULTS)


# The same state, read again by the transaction that records a sealing: the signer is known
# (an inner join) and, on PostgreSQL, the seal's and the certificate's rows are share-locked,
# so a revocation either commits first and is seen, or waits for the sealing's COMMIT.
_RECORDED_USE_STATE = _USE_STATE.sql.replace("LEFT OUTER JOIN", "JOIN")
_USE_STATE_AT_COMMIT = {
    "sqlite": db.HotStatement(_RECORDED_USE_STATE, results=_USE_STATE_RESULTS),
    "postgresql": db.HotStatement(_RECORDED_USE_STATE + " FOR SHARE OF s, c", results=_USE_STATE_RESULTS),
}


def _engine_of(sessions: sessionmaker[Session]) -> Engine | None:
    bind = sessions.kw.get("bind")
    return bind if isinstance(bind, Engine) else None


def _seal_facts(conn: Any, cache: dict[str, _SealFacts] | None, es_id: str) -> _SealFacts | None:
    facts = cache.get(es_id) if cache is not None else None
    if facts is not None:
        return facts
    row = conn.execute(_SEAL_FACTS, {"es_id": es_id}).first()
    if row is None:
        return None
    holders = tuple(_Holder(h.cert_sm3, h.cert_serial, h.key_ref, bytes(h.certificate))
                    for h in conn.execute(_HOLDER_FACTS, {"es_id": es_id}))
    facts = _SealFacts(row.seal_type, row.agency, bytes(row.der), holders)
    if cache is not None:
        if len(cache) >= _FACTS_PER_ENGINE:
            cache.clear()
        cache[es_id] = facts
    return facts


def _facts_cache(sessions: sessionmaker[Session]) -> tuple[Engine | None, dict[str, _SealFacts] | None]:
    engine = _engine_of(sessions)
    if engine is None:
        return None, None
    return engine, _FACTS.setdefault(engine, {})


def default_signer(home: Any, es_id: str, *, sessions: sessionmaker[Session] | None = None) -> tuple[str, str | None]:
    """(owning agency, serial of the seal's first signer certificate of this region or None).

    What `seal.sealing.authorise` and the license sealer need to ask for a use; read from
    the seal's immutable facts, so it costs nothing after the seal's first use."""
    sessions = _sessions(home, sessions)
    engine, cache = _facts_cache(sessions)
    if engine is None:
        info = get_seal(home, es_id, sessions=sessions)
        return info.agency, next((h for h in info.holders if not h.startswith("sm3:")), None)
    facts = cache.get(es_id) if cache is not None else None
    if facts is None:
        with db.read_connection(engine) as conn:
            facts = _seal_facts(conn, cache, es_id)
    if facts is None:
        raise SealNotFound(f"no seal {es_id!r} is registered in this region")
    return facts.agency, next((h.cert_serial for h in facts.holders if h.cert_serial is not None), None)


def _state_refusal(es_id: str, agency: str, holder: _Holder | None, state: Sequence[Any], now: dt.datetime, *,
                   wanted: str) -> tuple[SealUseRefused, dict[str, Any]] | None:
    """Why the seal's state (a row of _USE_STATE) forbids ``agency`` to seal with ``holder``
    now, with the refusal record's extra details; None when nothing does. One piece for the
    check before a sealing and the one in the transaction that records it."""
    status, valid_from, valid_to, authorised, cert_status, cert_not_before, cert_not_after = state
    if authorised is None:
        return NotAuthorised(f"agency {agency!r} is not authorised to use seal {es_id}"), {}
    if status == "revoked":
        return SealRevoked(f"seal {es_id} is revoked"), {}
    if status == "suspended":
        return SealSuspended(f"seal {es_id} is suspended"), {}
    if now > valid_to or now < valid_from:
        return SealExpired(f"seal {es_id} is valid from {valid_from.isoformat()} to "
                           f"{valid_to.isoformat()}, not at {now.isoformat()}"), {}
    if holder is None:
        return SignerNotBound(f"the signer certificate ({wanted}) is not bound to seal {es_id}"), {}
    if holder.cert_serial is None:
        return SignerCertificateInvalid(
            f"the signer certificate of seal {es_id} was not issued by this region; its status cannot be checked"), {}
    if cert_status is None:
        return SignerCertificateInvalid(f"signer certificate {holder.cert_serial} is unknown to this region"), {}
    if cert_status != "good":
        state_text = "revoked" if cert_status == "revoked" else "suspended (on hold)"
        return (SignerCertificateInvalid(f"signer certificate {holder.cert_serial} is {state_text}"),
                {"cert_status": cert_status})
    if not cert_not_before <= now <= cert_not_after:
        return SignerCertificateInvalid(
            f"signer certificate {holder.cert_serial} is valid from {cert_not_before.isoformat()} to "
            f"{cert_not_after.isoformat()}, not now"), {"cert_status": "expired"}
    if holder.key_ref is None:
        return SignerCertificateInvalid(f"the key store holds no key for signer certificate {holder.cert_serial}"), {}
    return None


def authorise_use(
    home: Any,
    keystore: Any,
    es_id: str,
    *,
    agency: str,
    signer_cert_serial: str | int | None = None,
    cert: bytes | str | None = None,
    pin: str | None = None,
    actor: str = "agency",
    sessions: sessionmaker[Session] | None = None,
) -> UseGrant:
    """Check everything a seal use needs (see the module doc) and return a short-lived grant.

    The seal's immutable facts (DER, type, owner, bound certificates) are cached per
    database; its status and validity, the agency's authorisation and the signer
    certificate's status and validity are read on every call, in one statement, so a
    revocation is refused at once, whichever process or host made it.
    """
    sessions = _sessions(home, sessions)
    now = _now()

    def refuse(exc: SealUseRefused, **extra: Any) -> SealUseRefused:
        return _refuse(sessions, exc, es_id=es_id, agency=agency, actor=actor, extra=extra)

    if (signer_cert_serial is None) == (cert is None):
        raise SealBuildError("name the signer by exactly one of signer_cert_serial or cert")
    wanted_serial = None
    wanted_sm3 = None
    if cert is not None:
        wanted_sm3 = sm3(_certificate_der(cert, 0)).hex()
    else:
        try:
            wanted_serial = ca_service.normalise_serial(signer_cert_serial)  # type: ignore[arg-type]
        except UnknownSerial as exc:
            raise SealBuildError(str(exc)) from None

    engine, cache = _facts_cache(sessions)
    with (db.read_connection(engine) if engine is not None else _session_connection(sessions)) as conn:
        facts = _seal_facts(conn, cache, es_id)
        if facts is None:
            state = None
        else:
            holder = next((h for h in facts.holders if (wanted_sm3 is not None and h.cert_sm3 == wanted_sm3)
                           or (wanted_serial is not None and h.cert_serial == wanted_serial)), None)
            serial = holder.cert_serial if holder is not None else None
            states = _USE_STATE.run(conn, {"es_id": es_id, "agency": agency, "serial": serial})
            state = states[0] if states else None
    if facts is None or state is None:
        raise refuse(NotAuthorised(f"no seal {es_id!r} is registered in this region"), found=False)
    refusal = _state_refusal(es_id, agency, holder, state, now, wanted=f"serial {wanted_serial}" if wanted_serial
                             else f"SM3 {wanted_sm3}")
    if refusal is not None:
        raise refuse(refusal[0], **refusal[1])

    personal = facts.seal_type == "personal"
    consent = None
    if personal:
        try:
            consent = keystore.sign(holder.key_ref, consent_message(es_id, agency, now), actor=actor,
                                    role=SEAL_ROLE, pin=pin)
        except (ks_errors.WrongPin, ks_errors.PinRequired, ks_errors.PinLocked) as exc:
            raise refuse(WrongPin(f"personal seal {es_id}: {exc}"), key_error=type(exc).__name__) from None
    return UseGrant(es_id=es_id, agency=agency, actor=actor, seal_der=facts.der, key_ref=holder.key_ref,
                    signer_cert=holder.certificate, signer_serial=holder.cert_serial,
                    personal=personal, expires_at=now + GRANT_LIFETIME, pin=pin,
                    consent_signature=consent)


@contextmanager
def _session_connection(sessions: sessionmaker[Session]) -> Iterator[Any]:
    """The connection of a read-only session, for a session factory not bound to one Engine."""
    with db.transaction(sessions, readonly=True) as s:
        yield s.connection()


def make_signature(
    home: Any,
    keystore: Any,
    grant: UseGrant,
    data_hash: bytes,
    property_info: str,
    *,
    timestamp: Callable[[bytes], bytes] | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> bytes:
    """SES_Signature v4 DER over ``data_hash`` (SM3 of the protected data, e.g. Signature.xml).

    ``property_info`` says what was sealed (the Signature.xml path in an OFD). ``timestamp``,
    if given, receives the signature value and returns an RFC 3161 token (DER) that goes
    into timeStamp.

    One commit per sealing where it can be (:func:`seal_with`).
    """
    if not isinstance(grant, UseGrant):
        raise SealBuildError("make_signature needs the UseGrant from authorise_use")
    now = _now()
    if now > grant.expires_at:
        raise SealBuildError(f"the use grant for seal {grant.es_id} expired at {grant.expires_at.isoformat()}; "
                             "authorise the use again")
    tbs = structures.build_tbs_sign(grant.seal_der, data_hash=data_hash, property_info=property_info, time_info=now)
    # Prepare, sign, assemble (STYLE.md #2): e = SM3(Z_A || TBS_Sign) under the signer
    # certificate's key, here, so the key store signs a digest -- the seal (picture and
    # all) is not hashed once more for the key store's record.
    e = sm3_after_seal(_signer_z(grant.signer_cert), tbs, grant.seal_der, seal_offset(tbs, 1))

    def make(use: KeyUse) -> Made:
        signature = use.sign_digest(e)
        token = use.stamp(signature) if use.stamp is not None else None
        der = structures.assemble_signature(tbs, grant.signer_cert, signature, timestamp=token)
        return Made(der, der, "ses", token is not None,
                    {"data_hash": bytes(data_hash).hex(), "property_info": property_info})

    return seal_with(home, keystore, grant, timestamp, make, sessions=sessions)


@frozen_record
class KeyUse:
    """The signer key and the TSA as a sealing's maker reaches them: bound to one open
    transaction, or each in its own (:func:`seal_with`)."""
    sign: Callable[[bytes], bytes]          # data -> SM2 signature (the key store hashes Z_A || data)
    sign_digest: Callable[[bytes], bytes]   # e = SM3(Z_A || data) -> SM2 signature
    stamp: Callable[[bytes], bytes] | None  # signature value -> RFC 3161 token DER


@frozen_record
class Made:
    """What a sealing's maker built: the result, the signature value the log entry is keyed by
    (the SES_Signature, or a SignerInfo's signature), and what the audit record says."""
    result: Any
    signature: bytes
    format: str
    timestamped: bool
    details: dict[str, Any]


class _Attempt:
    """Notes a refusal by the key store or the TSA inside the one-commit attempt, however the
    maker (pyHanko, say) wraps the exception on its way out."""

    def __init__(self) -> None:
        self.retry = False

    def guard(self, fn: Callable[[bytes], bytes]) -> Callable[[bytes], bytes]:
        def call(value: bytes) -> bytes:
            try:
                return fn(value)
            except (ks_errors.KeyStoreError, GMError, TsaError):
                self.retry = True
                raise
            except IntegrityError as exc:
                self.retry = _serial_clash(exc)
                raise
        return call


def _serial_clash(exc: BaseException) -> bool:
    """Another worker took the token serial meanwhile: worth repeating in the TSA's own transaction."""
    return isinstance(exc, IntegrityError) and "serial" in str(exc.orig).lower()


def _key_use(keystore: Any, grant: UseGrant, stamp: Callable[[bytes], bytes] | None, *,
             later: list[Callable[[Session], None]] | None = None,
             guard: Callable[[Callable[[bytes], bytes]], Callable[[bytes], bytes]] = lambda fn: fn) -> KeyUse:
    """The key store's two signing calls for ``grant``: their records left to ``later`` (the
    caller's transaction), or (without it) each in its own with the holder's PIN."""
    where: dict[str, Any] = {"later": later} if later is not None else {"pin": grant.pin}
    return KeyUse(
        sign=guard(lambda data: keystore.sign(grant.key_ref, data, actor=grant.actor, role=SEAL_ROLE, **where)),
        sign_digest=guard(lambda e: keystore.sign_digest(grant.key_ref, e, actor=grant.actor, role=SEAL_ROLE,
                                                         **where)),
        stamp=guard(stamp) if stamp is not None else None)


def seal_with(home: Any, keystore: Any, grant: UseGrant, timestamp: Callable[[bytes], bytes] | None,
              make: Callable[[KeyUse], Made], *, sessions: sessionmaker[Session] | None = None) -> Any:
    """Run a sealing's maker and record it: one commit where it can be. The maker runs first,
    outside any transaction: the key store signs (``keystore.sign(later=)``) and the timestamp
    is made (``timestamp.leaving_records``, seal.tsa.TsaClient), each leaving its records --
    the seal key's use; the TSA key's use, the token row and tsa.timestamp -- for one short
    write transaction that then writes them, re-reading each key row, with the seal.sign
    audit record and the log entry. The signing, the token and the document (CPU work) thus
    never hold the database's one writer (SQLite) or the audit chain's lock (PostgreSQL);
    nothing leaves this function before that commit. Sealings of this process that reach
    their write while another's is under way share one transaction (``store.group_commit``):
    on a served worker their pages and the audit head's lock are taken once. The transaction is pipelined
    (``store.db.transaction``): its audit records and log entry are queued and written at
    its end, so on PostgreSQL the audit head's and the log's row locks, which every sealing
    of the region waits for, are held for one round trip and the COMMIT's, and the whole
    transaction costs three round trips instead of sixteen (tests/test_seal_round_trips.py).

    Three cases take the longer way -- the key store signs and records in its own transaction,
    the timestamp is made in the TSA's own, then `record_sealing` commits: a timestamp callable
    that cannot stamp in the caller's transaction (SQLite has one writer), a personal seal (a
    wrong PIN must be counted even if the sealing rolls back), and a refusal by the key store
    or the TSA (repeated in their own transactions so that it is recorded). ``make`` may
    therefore run twice; it must only build bytes.
    """
    sessions = _sessions(home, sessions)
    stamps_here = timestamp is None or getattr(timestamp, "records_later", False)
    if stamps_here and not grant.personal and getattr(keystore, "records_use_later", False):
        attempt = _Attempt()
        later: list[Callable[[Session], None]] = []
        try:
            stamp = None if timestamp is None else (
                lambda value: timestamp.leaving_records(later, value))  # type: ignore[union-attr]
            with db.reading_together():     # the key rows and the TSA's identity: one connection
                made = make(_key_use(keystore, grant, stamp, later=later, guard=attempt.guard))
            def record(s: Session) -> None:
                for write in later:
                    write(s)
                _record_sealing(s, grant, made.signature, format=made.format, timestamped=made.timestamped,
                                details=made.details)
            _recorded(sessions, grant, lambda: group_commit.commit_together(sessions, record))
            return made.result
        except Exception as exc:
            if isinstance(exc, ks_errors.KeyChanged):
                attempt.retry = True
            if not (attempt.retry or _serial_clash(exc)):
                raise  # rolled back; not a refusal to record, nor a serial clash worth signing again for
            # rolled back, nothing recorded: the own transactions below record the refusal (or
            # take another token serial)
    made = make(_key_use(keystore, grant, timestamp))
    _recorded(sessions, grant, lambda: record_sealing(home, grant, made.signature, format=made.format,
                                                      timestamped=made.timestamped, sessions=sessions,
                                                      **made.details))
    return made.result


class _RefusedAtCommit(Exception):
    """The recording transaction found the use forbidden now (`_check_use_at_commit`)."""

    def __init__(self, refusal: SealUseRefused, details: dict[str, Any]) -> None:
        super().__init__(str(refusal))
        self.refusal, self.details = refusal, details


def _recorded(sessions: sessionmaker[Session], grant: UseGrant, write: Callable[[], None]) -> None:
    """Run ``write``, which records a sealing; a refusal found there is audited in its own
    transaction, as the use check's are, and raised."""
    try:
        write()
    except _RefusedAtCommit as refused:
        raise _refuse(sessions, refused.refusal, es_id=grant.es_id, agency=grant.agency, actor=grant.actor,
                      extra={**refused.details, "found": "when recording"}) from None


def _check_use_at_commit(s: Session, grant: UseGrant) -> None:
    """Read the use's state again in the transaction that records it (the module doc says
    why); the answer is checked before COMMIT, with the chains' (`store.db.check_at_end`)."""
    conn = db.connection_of(s)
    states = _USE_STATE_AT_COMMIT[conn.dialect.name].send(
        conn, {"es_id": grant.es_id, "agency": grant.agency, "serial": grant.signer_serial})
    holder = _Holder("", grant.signer_serial, grant.key_ref, grant.signer_cert)

    def check() -> None:
        rows = states()
        refusal = (_state_refusal(grant.es_id, grant.agency, holder, rows[0], _now(),
                                  wanted=f"serial {grant.signer_serial}") if rows else
                   (SignerCertificateInvalid(f"seal {grant.es_id} or its signer certificate "
                                             f"{grant.signer_serial} is gone from this region"), {}))
        if refusal is not None:
            raise _RefusedAtCommit(*refusal)
    db.check_at_end(s, check)


def record_sealing(home: Any, grant: UseGrant, signature: bytes, *, format: str, timestamped: bool,  # noqa: A002
                   sessions: sessionmaker[Session] | None = None, **details: Any) -> None:
    """One audit record and one transparency-log entry for a sealing (SES, PDF or CMS), in one
    transaction. The log entry is keyed by the signature's SM3: whoever holds the sealed
    document can ask for its inclusion proof."""
    with db.transaction(_sessions(home, sessions)) as s:
        _record_sealing(s, grant, signature, format=format, timestamped=timestamped, details=details)


def _record_sealing(s: Session, grant: UseGrant, signature: bytes, *, format: str, timestamped: bool,  # noqa: A002
                    details: dict[str, Any]) -> None:
    _check_use_at_commit(s, grant)
    digest = sm3_after_seal(b"", signature, grant.seal_der, seal_offset(signature, 2))
    audit.append(s, actor=grant.actor, action="seal.sign", subject=f"seal:{grant.es_id}", details={
        "agency": grant.agency, "signer_serial": grant.signer_serial, "format": format,
        "signature_sm3": digest.hex(), "timestamped": timestamped, **details,
    })
    translog.append(s, kind="sealed-document", subject=f"signature:{digest.hex()}", artefact_sm3=digest)


@lru_cache(maxsize=256)
def _signer_z(cert_der: bytes) -> bytes:
    """Z_A of a signer certificate's SM2 key with the default signer ID (GM/T 0009)."""
    return structures.public_key_of(cert_der).z()


