"""CA service functions over the database and the key store: region set-up, issuance,
lifecycle (suspend / resume / revoke), CRLs and the CA chain.

Every state change writes its audit record (``store.audit.append``) in the same
transaction as the change. Private keys stay in the key store: ca/ signs through
:class:`ca.keystore_signer.KeyStoreSigner`, whose ``keystore.sign`` checks the key's policy
and writes its own audit record of the key use.

Ordering: the key store signs in its own transaction, and on SQLite a write transaction
holds the database's single write lock (BEGIN IMMEDIATE), so each operation signs first
and then stores in one transaction — never the other way round, which would wait on itself.

* ``init_region`` — root CA (root_ca profile, self-signed), one issuing CA (issuing_ca,
  signed by the root; one issuing CA serves every end-entity profile, see ca/profiles.py)
  and the delegated OCSP responder certificate (ocsp profile, signed by the issuing CA).
  Writes ``H/root.pem``. Refuses a database that already has a region, and a home whose
  root.pem exists.
* ``issue_certificate`` — from a PKCS#10 CSR (proof of possession verified with the signer
  ID ``uid``); serials are 128 random bits, unique by the ``ca_certificates.serial``
  constraint: a clash (a probability of 2^-64 per pair) is retried with a new serial.
* ``revoke`` / ``suspend`` / ``resume`` — good -> hold (certificateHold) -> good, good or
  hold -> revoked; revocation is final. Unknown serials raise ``UnknownSerial``, changes to
  a revoked certificate ``AlreadyRevoked``, other misfits ``InvalidTransition``.
* ``generate_crl`` — full or delta CRL of the issuing CA with the next CRL number, taken
  under a row lock of ``ca_crl_counters`` (strictly increasing across workers). A delta CRL
  lists the status changes since the last full CRL (removeFromCRL for resumed holds), with
  an overlap of DELTA_OVERLAP so that no change committed around the base CRL is lost.
* ``ca_chain`` — PEM, issuing CA first, root last.
* ``ocsp_respond`` — an RFC 6960 answer to a DER OCSPRequest, signed by the region's
  delegated responder (the OCSP certificate made by ``init_region``): good, revoked (time
  and reason; a suspension is revoked with certificateHold) or unknown (a serial this CA
  never issued, or a CertID naming another issuer); the nonce is echoed.

Serial numbers in the API are lowercase hex without leading zeros (``serial_hex``); input
accepts any case, leading zeros and ``:`` separators.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

from asn1crypto import x509
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ca.certificate import CertificateBuilder, load_certificate, random_serial, subject_key_identifier, to_pem
from ca.crl import REASON_CODES, CRLBuilder, reason_code
from ca.csr import DEFAULT_UID, parse_csr
from ca.errors import (
    AlreadyRevoked,
    CAError,
    InvalidTransition,
    RegionExists,
    RegionNotInitialised,
    UnknownSerial,
)
from ca.keystore_signer import KeyStoreSigner
from ca.profiles import CAConfig, Identity, parse_dn
from store import audit, db
from store.models.ca import CertificateAuthority, CRLCounter, IssuedCertificate

__all__ = [
    "RegionInfo", "init_region", "issue_certificate", "revoke", "suspend", "resume",
    "generate_crl", "ca_chain", "normalise_serial", "certificate_status", "ROOT_PEM",
    "FULL_CRL_VALIDITY", "DELTA_CRL_VALIDITY", "ocsp_respond", "OCSP_VALIDITY",
]

ROOT_PEM = "root.pem"
CA_ROLE = "ca"
FULL_CRL_VALIDITY = _dt.timedelta(days=7)
DELTA_CRL_VALIDITY = _dt.timedelta(days=1)
SERIAL_ATTEMPTS = 5
OCSP_VALIDITY = _dt.timedelta(hours=24)
# A delta CRL lists the status changes since its base CRL was made, minus this overlap: a
# change stamped just before the base CRL but committed after it read the table is never
# missed. Repeating a change that the base CRL already lists is harmless to relying parties.
DELTA_OVERLAP = _dt.timedelta(minutes=10)
_REASON_NAMES = {code: name for name, code in REASON_CODES.items()}


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _sessions(home: Any, sessions: sessionmaker[Session] | None) -> sessionmaker[Session]:
    return sessions if sessions is not None else db.make_sessionmaker(home.engine)


def normalise_serial(serial: str | int) -> str:
    """``"00:1A:2b"`` / ``0x1a2b`` / 6699 -> ``"1a2b"``; ValueError-based CAError if not a serial."""
    if isinstance(serial, int) and not isinstance(serial, bool):
        value = serial
    else:
        text = str(serial).strip().lower().replace(":", "")
        if text.startswith("0x"):
            text = text[2:]
        try:
            value = int(text, 16)
        except ValueError:
            raise UnknownSerial(f"{serial!r} is not a serial number (hexadecimal digits expected)") from None
    if value <= 0 or value.bit_length() > 160:
        raise UnknownSerial(f"{serial!r} is not a serial number (positive, at most 20 octets)")
    return format(value, "x")


@dataclass(frozen=True)
class RegionInfo:
    region_code: str
    region_name: str
    base_url: str
    root_pem_path: Any
    root_serial: str
    issuing_serial: str
    ocsp_serial: str


# --------------------------------------------------------------------------- region set-up


def _region_row(s: Session) -> CertificateAuthority | None:
    return s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root").limit(1))


def init_region(
    home: Any,
    keystore: Any,
    *,
    region_code: str,
    region_name: str,
    base_url: str,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> RegionInfo:
    """Create the region's root CA, issuing CA and OCSP responder certificate; write H/root.pem.

    The key store must be unlocked. Never overwrites: raises RegionExists when the database
    already holds a region or H/root.pem exists.
    """
    sessions = _sessions(home, sessions)
    config = CAConfig(region_code=region_code, base_url=base_url)
    region_name = (region_name or "").strip()
    if not region_name or len(region_name) > 40:
        raise CAError("region name must be 1-40 characters (it goes into the CA names, CN <= 64)")
    root_path = home.path / ROOT_PEM
    with db.transaction(sessions, readonly=True) as s:
        existing = _region_row(s)
    if existing is not None:
        raise RegionExists(
            f"this database already holds region {existing.region_code} ({existing.region_name}); "
            "a region is initialised once")
    if root_path.exists():
        raise RegionExists(f"{root_path} already exists; eseal never overwrites a region's root certificate")

    tag = uuid.uuid4().hex[:8]
    root_ref = keystore.generate(f"ca-{region_code}-root-{tag}", "ca", actor=actor)
    issuing_ref = keystore.generate(f"ca-{region_code}-issuing-{tag}", "ca", actor=actor)
    ocsp_ref = keystore.generate(f"ocsp-{region_code}-{tag}", "ocsp", actor=actor)
    root_signer = KeyStoreSigner(keystore, root_ref, actor=actor, role=CA_ROLE)
    issuing_signer = KeyStoreSigner(keystore, issuing_ref, actor=actor, role=CA_ROLE)

    now = _now()
    org = f"{region_name}电子认证中心"
    root = (CertificateBuilder("root_ca", config)
            .subject({"C": "CN", "O": org, "CN": f"{region_name}根CA"})
            .public_key(root_signer.public_key)
            .serial_number(random_serial())
            .validity(now)
            .sign(root_signer))
    issuing = (CertificateBuilder("issuing_ca", config)
               .subject({"C": "CN", "O": org, "CN": f"{region_name}签发CA"})
               .public_key(issuing_signer.public_key)
               .issuer(root)
               .serial_number(random_serial())
               .validity(now)
               .sign(root_signer))
    ocsp = (CertificateBuilder("ocsp", config)
            .subject({"C": "CN", "O": org, "CN": f"{region_name}OCSP响应者"})
            .public_key(keystore.public_key(ocsp_ref))
            .issuer(issuing)
            .serial_number(random_serial())
            .validity(now)
            .sign(issuing_signer))

    try:
        _store_region(sessions, root_path, root=root, issuing=issuing, ocsp=ocsp, root_ref=root_ref,
                      issuing_ref=issuing_ref, ocsp_ref=ocsp_ref, region_code=region_code,
                      region_name=region_name, config=config, now=now, actor=actor)
    except BaseException:
        # the file is written inside the transaction; a failed commit takes it back
        if root_path.exists() and root_path.read_bytes() == to_pem(root):
            root_path.unlink()
        raise
    return RegionInfo(region_code, region_name, config.base_url, root_path, _hex(root), _hex(issuing), _hex(ocsp))


def _store_region(sessions: sessionmaker[Session], root_path: Any, *, root: x509.Certificate,
                  issuing: x509.Certificate, ocsp: x509.Certificate, root_ref: str, issuing_ref: str,
                  ocsp_ref: str, region_code: str, region_name: str, config: CAConfig,
                  now: _dt.datetime, actor: str) -> None:
    with db.transaction(sessions) as s:
        if _region_row(s) is not None:  # a concurrent init won the race
            raise RegionExists("another process initialised the region meanwhile; a region is initialised once")
        common = dict(region_code=region_code, region_name=region_name, base_url=config.base_url, created_at=now)
        root_row = CertificateAuthority(
            name=f"{region_code}-root", kind="root", key_ref=root_ref, certificate=root.dump(),
            ski=subject_key_identifier(root).hex(), parent_id=None, **common)
        s.add(root_row)
        s.flush()
        issuing_row = CertificateAuthority(
            name=f"{region_code}-issuing-1", kind="issuing", key_ref=issuing_ref, certificate=issuing.dump(),
            ski=subject_key_identifier(issuing).hex(), parent_id=root_row.id, **common)
        s.add(issuing_row)
        s.flush()
        for row in (root_row, issuing_row):
            s.add(CRLCounter(ca_id=row.id, last_number=0, updated_at=now))
        s.add(_cert_row(issuing, issuer_id=root_row.id, profile="issuing_ca", now=now))
        s.add(_cert_row(ocsp, issuer_id=issuing_row.id, profile="ocsp", now=now, key_ref=ocsp_ref))
        audit.append(s, actor=actor, action="ca.init_region", subject=f"region:{region_code}", details={
            "region_name": region_name, "base_url": config.base_url,
            "root": {"serial": _hex(root), "ski": root_row.ski, "key_ref": root_ref,
                     "sha256": hashlib.sha256(root.dump()).hexdigest()},
            "issuing": {"serial": _hex(issuing), "ski": issuing_row.ski, "key_ref": issuing_ref},
            "ocsp": {"serial": _hex(ocsp), "key_ref": ocsp_ref},
        })
        for cert, profile, issuer in ((issuing, "issuing_ca", root_row), (ocsp, "ocsp", issuing_row)):
            audit.append(s, actor=actor, action="cert.issue", subject=f"cert:{_hex(cert)}",
                         details=_issue_details(cert, profile, issuer))
        # written inside the transaction: a failure to write rolls the region back
        with open(root_path, "xb") as handle:
            handle.write(to_pem(root))


# --------------------------------------------------------------------------- helpers


def _hex(cert: x509.Certificate) -> str:
    return format(cert.serial_number, "x")


def _cert_row(cert: x509.Certificate, *, issuer_id: int, profile: str, now: _dt.datetime,
              key_ref: str | None = None) -> IssuedCertificate:
    validity = cert["tbs_certificate"]["validity"]
    return IssuedCertificate(
        serial=_hex(cert), issuer_id=issuer_id, profile=profile,
        subject=cert.subject.human_friendly[:1000],
        not_before=validity["not_before"].native, not_after=validity["not_after"].native,
        status="good", der=cert.dump(), issued_at=now, key_ref=key_ref)


def _issue_details(cert: x509.Certificate, profile: str, issuer: CertificateAuthority) -> dict[str, Any]:
    validity = cert["tbs_certificate"]["validity"]
    return {
        "profile": profile, "issuer": issuer.name, "subject": cert.subject.human_friendly,
        "not_before": validity["not_before"].native.isoformat(),
        "not_after": validity["not_after"].native.isoformat(),
        "sha256": hashlib.sha256(cert.dump()).hexdigest(),
    }


def _issuing_ca(s: Session) -> CertificateAuthority:
    row = s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "issuing")
                   .order_by(CertificateAuthority.id).limit(1))
    if row is None:
        raise RegionNotInitialised("no region here yet: run `eseal init --home H --region-code ... --region-name ...`")
    return row


def _root_ca(s: Session) -> CertificateAuthority:
    row = _region_row(s)
    if row is None:
        raise RegionNotInitialised("no region here yet: run `eseal init --home H --region-code ... --region-name ...`")
    return row


def _config(row: CertificateAuthority) -> CAConfig:
    return CAConfig(region_code=row.region_code, base_url=row.base_url)


# --------------------------------------------------------------------------- issuance


def issue_certificate(
    home: Any,
    keystore: Any,
    *,
    profile: str,
    csr_pem: bytes,
    subject: str | None = None,
    id_number: str | None = None,
    credit_code: str | None = None,
    uid: bytes = DEFAULT_UID,
    days: int | None = None,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> tuple[str, x509.Certificate]:
    """Issue a certificate of ``profile`` for the key of a PKCS#10 CSR; returns (serial_hex, cert).

    ``subject`` ("C=CN,O=...,CN=...") overrides the CSR's subject; ``id_number`` (citizen ID)
    and ``credit_code`` (unified social credit code or organization code) become the GM/T
    0015 identity extensions and are validated (check characters).
    """
    sessions = _sessions(home, sessions)
    parsed = parse_csr(csr_pem, uid=uid)
    with db.transaction(sessions, readonly=True) as s:
        issuer = _issuing_ca(s)
    issuer_cert = load_certificate(issuer.certificate)
    config = _config(issuer)
    builder = CertificateBuilder(profile, config)
    if builder.profile.is_ca or builder.profile.self_signed:
        raise CAError(f"profile {profile} is for CA certificates; `eseal init` creates the region's CAs")
    builder = (builder.subject(parse_dn(subject) if subject else parsed.subject_attributes)
               .public_key(parsed.public_key).issuer(issuer_cert))
    identity = {}
    if id_number is not None:
        identity["citizen_id"] = id_number
    if credit_code is not None:
        identity["organization_code"] = credit_code
    if identity:
        builder = builder.identity(Identity(**identity))
    if days is not None:
        builder = builder.validity(days=days)
    signer = KeyStoreSigner(keystore, issuer.key_ref, actor=actor, role=CA_ROLE)
    for attempt in range(SERIAL_ATTEMPTS):
        cert = builder.serial_number(random_serial()).sign(signer)
        serial = _hex(cert)
        try:
            with db.transaction(sessions) as s:
                s.add(_cert_row(cert, issuer_id=issuer.id, profile=profile, now=_now()))
                s.flush()
                details = _issue_details(cert, profile, issuer)
                if attempt:
                    details["serial_attempt"] = attempt + 1
                audit.append(s, actor=actor, action="cert.issue", subject=f"cert:{serial}", details=details)
        except IntegrityError as exc:
            if "serial" not in str(exc.orig).lower() or attempt == SERIAL_ATTEMPTS - 1:
                raise
            continue
        return serial, cert
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- lifecycle


def _load_for_update(s: Session, serial_hex: str) -> IssuedCertificate:
    row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial_hex).with_for_update())
    if row is None:
        raise UnknownSerial(f"no certificate with serial {serial_hex} was issued by this region")
    if row.status == "revoked":
        raise AlreadyRevoked(
            f"certificate {serial_hex} was revoked on {row.revoked_at.isoformat() if row.revoked_at else '?'} "
            f"({row.reason}); revocation is final")
    return row


def revoke(
    home: Any,
    serial: str | int,
    reason: str | int = "unspecified",
    invalidity_date: _dt.datetime | None = None,
    *,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> IssuedCertificate:
    """Revoke a good or suspended certificate with an RFC 5280 reason (final)."""
    code = reason_code(reason)
    if code in (REASON_CODES["certificateHold"], REASON_CODES["removeFromCRL"]):
        raise CAError(f"reason {_REASON_NAMES[code]} is not a revocation: use suspend / resume")
    name = _REASON_NAMES[code]
    if invalidity_date is not None and (invalidity_date.tzinfo is None):
        raise CAError("invalidity_date must be a timezone-aware datetime")
    serial_hex = normalise_serial(serial)
    with db.transaction(_sessions(home, sessions)) as s:
        row = _load_for_update(s, serial_hex)
        now = _now()
        previous = row.status
        row.status, row.reason, row.revoked_at, row.status_changed_at = "revoked", name, now, now
        row.invalidity_date = invalidity_date.replace(microsecond=0) if invalidity_date else None
        audit.append(s, actor=actor, action="cert.revoke", subject=f"cert:{serial_hex}", details={
            "reason": name, "previous_status": previous,
            "invalidity_date": row.invalidity_date.isoformat() if row.invalidity_date else None,
        })
        return row


def _transition(home: Any, serial: str | int, *, action: str, allowed_from: str, refusal: str,
                new_status: str, new_reason: str | None, hold_time: bool, actor: str,
                sessions: sessionmaker[Session] | None) -> IssuedCertificate:
    """Move one certificate between good and hold under a row lock, audited in the same transaction."""
    serial_hex = normalise_serial(serial)
    with db.transaction(_sessions(home, sessions)) as s:
        row = _load_for_update(s, serial_hex)
        if row.status != allowed_from:
            raise InvalidTransition(refusal.format(serial=serial_hex, status=row.status))
        now = _now()
        row.status, row.reason, row.status_changed_at = new_status, new_reason, now
        row.revoked_at = now if hold_time else None
        audit.append(s, actor=actor, action=action, subject=f"cert:{serial_hex}", details={})
        return row


def suspend(home: Any, serial: str | int, *, actor: str = "admin",
            sessions: sessionmaker[Session] | None = None) -> IssuedCertificate:
    """good -> hold (CRL reason certificateHold)."""
    return _transition(home, serial, action="cert.suspend", allowed_from="good",
                       refusal="certificate {serial} is already suspended", new_status="hold",
                       new_reason="certificateHold", hold_time=True, actor=actor, sessions=sessions)


def resume(home: Any, serial: str | int, *, actor: str = "admin",
           sessions: sessionmaker[Session] | None = None) -> IssuedCertificate:
    """hold -> good (the next delta CRL says removeFromCRL)."""
    return _transition(home, serial, action="cert.resume", allowed_from="hold",
                       refusal="certificate {serial} is not suspended (status {status})", new_status="good",
                       new_reason=None, hold_time=False, actor=actor, sessions=sessions)


def certificate_status(home: Any, serial: str | int, *,
                       sessions: sessionmaker[Session] | None = None) -> IssuedCertificate:
    serial_hex = normalise_serial(serial)
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial_hex))
        if row is None:
            raise UnknownSerial(f"no certificate with serial {serial_hex} was issued by this region")
        return row


# --------------------------------------------------------------------------- CRL and chain


def generate_crl(
    home: Any,
    keystore: Any,
    *,
    delta: bool = False,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> bytes:
    """The issuing CA's next full (or delta) CRL as DER, with the next CRL number."""
    sessions = _sessions(home, sessions)
    now = _now()
    with db.transaction(sessions) as s:
        issuer = _issuing_ca(s)
        counter = s.scalar(select(CRLCounter).where(CRLCounter.ca_id == issuer.id).with_for_update())
        if counter is None:  # pragma: no cover - init_region creates it
            raise RegionNotInitialised(f"no CRL counter for CA {issuer.name}")
        if delta and counter.last_full_number is None:
            raise CAError("a delta CRL needs a full CRL to refer to: generate a full CRL first")
        number = counter.last_number + 1
        base_number, base_at = counter.last_full_number, counter.last_full_at
        counter.last_number, counter.updated_at = number, now
        if not delta:
            counter.last_full_number, counter.last_full_at = number, now
        query = select(IssuedCertificate.serial, IssuedCertificate.revoked_at, IssuedCertificate.reason,
                       IssuedCertificate.invalidity_date, IssuedCertificate.status,
                       IssuedCertificate.status_changed_at).where(IssuedCertificate.issuer_id == issuer.id)
        if delta:
            query = query.where(IssuedCertificate.status_changed_at >= base_at - DELTA_OVERLAP)
        else:
            query = query.where(IssuedCertificate.status.in_(("hold", "revoked")))
        entries = []
        for serial, revoked_at, reason, invalidity, status, changed in s.execute(query.order_by(IssuedCertificate.id)):
            if status == "good":  # resumed since the base CRL
                entries.append((int(serial, 16), changed, "removeFromCRL", None))
            else:
                entries.append((int(serial, 16), revoked_at, None if reason == "unspecified" else reason, invalidity))
        audit.append(s, actor=actor, action="crl.generate", subject=f"crl:{issuer.name}:{number}", details={
            "number": number, "delta": delta, "base_number": base_number if delta else None,
            "entries": len(entries),
        })
        issuer_cert, config, key_ref = issuer.certificate, _config(issuer), issuer.key_ref
    # Signed after the number is committed (the key store signs in its own transaction); a
    # failed signature leaves a gap in the numbers, never a repeat.
    builder = (CRLBuilder(issuer_cert, config).crl_number(number).this_update(now)
               .next_update(now + (DELTA_CRL_VALIDITY if delta else FULL_CRL_VALIDITY)).revoked(entries))
    if delta:
        builder = builder.delta_of(base_number)
    return builder.sign(KeyStoreSigner(keystore, key_ref, actor=actor, role=CA_ROLE))


def ca_chain(home: Any, *, sessions: sessionmaker[Session] | None = None) -> bytes:
    """The region's CA certificates as PEM, issuing CA(s) first, root last."""
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        root = _root_ca(s)
        issuing = s.scalars(select(CertificateAuthority).where(CertificateAuthority.kind == "issuing")
                            .order_by(CertificateAuthority.id)).all()
        return b"".join([*(to_pem(load_certificate(r.certificate)) for r in issuing),
                         to_pem(load_certificate(root.certificate))])


def count_certificates(home: Any, *, sessions: sessionmaker[Session] | None = None) -> int:
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(IssuedCertificate)) or 0)


# --------------------------------------------------------------------------- OCSP


def ocsp_respond(
    home: Any,
    keystore: Any,
    request_der: bytes,
    *,
    actor: str = "ocsp-responder",
    sessions: sessionmaker[Session] | None = None,
) -> bytes:
    """The DER OCSPResponse to a DER OCSPRequest (malformedRequest for a malformed one)."""
    from ca import ocsp
    from ca.errors import MalformedOCSPRequest

    try:
        request = ocsp.parse_request(request_der)
    except MalformedOCSPRequest:
        return ocsp.error_response("malformed_request")
    now = _now()
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        issuer = _issuing_ca(s)
        responder = s.scalar(
            select(IssuedCertificate)
            .where(IssuedCertificate.issuer_id == issuer.id, IssuedCertificate.profile == "ocsp",
                   IssuedCertificate.status == "good", IssuedCertificate.key_ref.is_not(None),
                   IssuedCertificate.not_after > now)
            .order_by(IssuedCertificate.id.desc()).limit(1))
        if responder is None:
            raise RegionNotInitialised("this region has no valid OCSP responder certificate")
        issuer_cert = load_certificate(issuer.certificate)
        answers = []
        for cert_id in request.cert_ids:
            row = None
            if cert_id.matches_issuer(issuer_cert):
                row = s.scalar(select(IssuedCertificate).where(
                    IssuedCertificate.serial == format(cert_id.serial, "x"),
                    IssuedCertificate.issuer_id == issuer.id))
            if row is None:
                answers.append(ocsp.Answer(cert_id, "unknown", now, now + OCSP_VALIDITY))
            elif row.status == "good":
                answers.append(ocsp.Answer(cert_id, "good", now, now + OCSP_VALIDITY))
            else:
                reason = None if row.reason == "unspecified" else row.reason
                answers.append(ocsp.Answer(cert_id, "revoked", now, now + OCSP_VALIDITY,
                                           revoked_at=row.revoked_at, reason=reason))
        responder_der, responder_key = responder.der, responder.key_ref
    signer = KeyStoreSigner(keystore, responder_key, actor=actor, role="ocsp")
    return ocsp.Responder(signer, responder_der).respond(answers, nonce=request.nonce, produced_at=now)
