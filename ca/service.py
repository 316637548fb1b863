"""CA service functions over the database and the key store: region set-up, issuance,
lifecycle (suspend / resume / revoke), CRLs and the CA chain.

Every state change writes its audit record (``store.audit.append``) in the same
transaction as the change, and every certificate the region issues (the root and CA
certificates included) is appended to the transparency log (``store.translog.append``,
kind "certificate", subject ``cert:<serial hex>``) in the transaction that stores it. Private keys stay in the key store: ca/ signs through
:class:`ca.keystore_signer.KeyStoreSigner`, whose ``keystore.sign`` checks the key's policy
and writes its own audit record of the key use.

Ordering: the key store signs in its own transaction, and on SQLite a write transaction
holds the database's single write lock (BEGIN IMMEDIATE), so each operation signs first
and then stores in one transaction — never the other way round, which would wait on itself.

* ``init_region`` — root CA (root_ca profile, self-signed), one issuing CA (issuing_ca,
  signed by the root; one issuing CA serves every end-entity profile, see ca/profiles.py)
  and the service certificates, each stored with the key_ref of its key-store key: the
  delegated OCSP responder (ocsp), the TSA (tsa, key usage "tsa"), the seal maker
  (seal_maker, key usage "seal") and the audit signer (audit_signer, over the key store's
  audit key, ``keystore.region.ensure_audit_key``). Writes ``H/root.pem`` and the initial
  administrator's API token to ``H/admin.token`` (mode 0600). Makes the KMC escrow key
  (label "kmc") used for dual certificates (ca/keygen.py). Refuses a database that
  already has a region, and a home whose root.pem or admin.token exists.
* ``service_certificate`` — the current certificate, key_ref and chain of a service
  (ocsp | tsa | seal_maker | audit_signer), for the TSA, seal and audit code.
* ``issue_for_key`` — a certificate for a public key held in the key store (agency seal
  signer keys), stored with its key_ref.
* ``authority_by_issuer_id`` — the CA named by the ``<issuer id>`` of the URLs written in
  certificates (``/crl/<issuer id>.crl``, ``/ca/<issuer id>.cer``): the issuer id is the
  CA's subject key identifier as 40 lowercase hex digits (SHA-1 of its 65-byte SM2 point,
  ca/certificate.py ``key_identifier``), i.e. ``ca_authorities.ski``.
* ``issue_certificate`` — from a PKCS#10 CSR (proof of possession verified with the signer
  ID ``uid``); serials are 128 random bits, unique by the ``ca_certificates.serial``
  constraint: a clash (a probability of 2^-64 per pair) is retried with a new serial.
* ``revoke`` / ``suspend`` / ``resume`` — good -> hold (certificateHold) -> good, good or
  hold -> revoked; revocation is final. Unknown serials raise ``UnknownSerial``, changes to
  a revoked certificate ``AlreadyRevoked``, other misfits ``InvalidTransition``.
* ``generate_crl`` — full or delta CRL of the issuing CA (default), or with
  ``authority="root"`` the root's full CRL of revoked CA certificates (published at the CRL
  DP written into the issuing CA certificate); each with the next CRL number, taken
  under a row lock of ``ca_crl_counters`` (strictly increasing across workers). A full CRL
  splices in the DER entries of ``ca_crl_entries`` (ca/crl_entries.py), kept in step by
  revoke / suspend / resume in their own transactions. A delta CRL
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

import dataclasses
import datetime as _dt
import hashlib
import uuid
from typing import Any, Unpack

from asn1crypto import x509
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session, sessionmaker

from ca import crl_entries
from ca.certificate import CertificateBuilder, load_certificate, random_serial, subject_key_identifier, to_pem
from ca.crl import REASON_CODES, CRLBuilder, reason_code
from ca.csr import DEFAULT_UID, parse_csr
from ca.errors import (
    AlreadyRevoked,
    CAError,
    InvalidTransition,
    RegionExists,
    RegionNotInitialised,
    ServiceCertificateMissing,
    UnknownAuthority,
    UnknownSerial,
)
from ca.keystore_signer import KeyStoreSigner
from ca.profiles import CAConfig, Identity, parse_dn, subject_text  # noqa: F401  (parse_dn: for this module's callers)
from ca.request import CertificateRequest, RequestFields
from gm.records import frozen_record
from store import audit, db, translog
from store.models.ca import CertificateAuthority, CRLCounter, IssuedCertificate
from store.text import too_long

__all__ = [
    "RegionInfo", "ServiceCertificate", "service_certificate", "issue_for_key", "authority_by_issuer_id",
    "SERVICE_PROFILES", "ADMIN_TOKEN", "AUTHORITIES", "issue_for_public_key", "init_region", "issue_certificate", "revoke", "suspend", "resume",
    "generate_crl", "ca_chain", "normalise_serial", "certificate_status", "ROOT_PEM",
    "FULL_CRL_VALIDITY", "DELTA_CRL_VALIDITY", "ocsp_respond", "OCSP_VALIDITY",
]

ROOT_PEM = "root.pem"
ADMIN_TOKEN = "admin.token"
# service profile -> (key-store usage of its key, subject CN suffix after the region name)
SERVICE_PROFILES: dict[str, tuple[str, str]] = {
    "ocsp": ("ocsp", "OCSP响应者"),
    "tsa": ("tsa", "时间戳服务"),
    "seal_maker": ("seal", "制章人"),
    "audit_signer": ("audit", "审计签名"),
}
AUTHORITIES = ("issuing", "root")
KMC_KEY_LABEL = "kmc"
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


@frozen_record
class RegionInfo:
    region_code: str
    region_name: str
    base_url: str
    root_pem_path: Any
    root_serial: str
    issuing_serial: str
    ocsp_serial: str
    admin_token_path: Any = None
    service_serials: dict[str, str] | None = None  # profile -> serial hex


@frozen_record
class ServiceCertificate:
    """A service's current certificate and the key-store key that signs for it."""

    profile: str
    key_ref: str
    certificate: x509.Certificate
    serial: str
    chain: list[x509.Certificate]  # issuing CA, then root


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
    """Create the region's root CA, issuing CA and service certificates (OCSP, TSA, seal
    maker, audit signer); write H/root.pem and the initial administrator token H/admin.token.

    The key store must be unlocked. Never overwrites: raises RegionExists when the database
    already holds a region or H/root.pem or H/admin.token exists.
    """
    from keystore.region import ensure_audit_key

    sessions = _sessions(home, sessions)
    config = CAConfig(region_code=region_code, base_url=base_url)
    long_url = too_long(config.base_url, CertificateAuthority.base_url, "the base URL")
    if long_url is not None:  # it goes into every CA row (PostgreSQL: a driver error)
        raise CAError(long_url)
    region_name = (region_name or "").strip()
    if not region_name or len(region_name) > 40:
        raise CAError("region name must be 1-40 characters (it goes into the CA names, CN <= 64)")
    root_path = home.path / ROOT_PEM
    token_path = home.path / ADMIN_TOKEN
    with db.transaction(sessions, readonly=True) as s:
        existing = _region_row(s)
    if existing is not None:
        raise RegionExists(
            f"this database already holds region {existing.region_code} ({existing.region_name}); "
            "a region is initialised once")
    for path in (root_path, token_path):
        if path.exists():
            raise RegionExists(f"{path} already exists; eseal never overwrites a region's root certificate "
                               "or administrator credential")

    tag = uuid.uuid4().hex[:8]
    root_ref = keystore.generate(f"ca-{region_code}-root-{tag}", "ca", actor=actor)
    issuing_ref = keystore.generate(f"ca-{region_code}-issuing-{tag}", "ca", actor=actor)
    service_refs = {}
    ensure_kmc_key(keystore, actor=actor)
    for profile, (usage, _) in SERVICE_PROFILES.items():
        if usage == "audit":  # one audit key per key store, also used for audit checkpoints
            service_refs[profile] = ensure_audit_key(keystore, home, actor=actor)
        else:
            service_refs[profile] = keystore.generate(f"{profile}-{region_code}-{tag}", usage, actor=actor)
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
    services = {
        profile: (CertificateBuilder(profile, config)
                  .subject({"C": "CN", "O": org, "CN": f"{region_name}{cn}"})
                  .public_key(keystore.public_key(service_refs[profile]))
                  .issuer(issuing)
                  .serial_number(random_serial())
                  .validity(now)
                  .sign(issuing_signer))
        for profile, (_, cn) in SERVICE_PROFILES.items()
    }

    try:
        _store_region(sessions, root_path, root=root, issuing=issuing, services=services, root_ref=root_ref,
                      issuing_ref=issuing_ref, service_refs=service_refs, region_code=region_code,
                      region_name=region_name, config=config, now=now, actor=actor)
    except BaseException:
        # the file is written inside the transaction; a failed commit takes it back
        if root_path.exists() and root_path.read_bytes() == to_pem(root):
            root_path.unlink()
        raise
    _write_admin_token(sessions, token_path, actor=actor)
    return RegionInfo(region_code, region_name, config.base_url, root_path, _hex(root), _hex(issuing),
                      _hex(services["ocsp"]), token_path, {p: _hex(c) for p, c in services.items()})


def ensure_kmc_key(keystore: Any, *, actor: str) -> str:
    """The key_ref of the region's KMC escrow key (label "kmc", usage "kmc"), generated if
    absent. Made by init_region so that issuing dual certificates never generates CA-side keys."""
    from keystore.errors import KeyNotFound
    from keystore.kmc import KeyManagementCentre

    try:
        info = keystore.find(KMC_KEY_LABEL)
    except KeyNotFound:
        return KeyManagementCentre.create_kmc_key(keystore, label=KMC_KEY_LABEL, actor=actor)
    if info.usage != "kmc":
        raise CAError(f"the key labelled {KMC_KEY_LABEL!r} ({info.key_ref}) has usage {info.usage!r}, not 'kmc'")
    return info.key_ref


def _write_admin_token(sessions: sessionmaker[Session], path: Any, *, actor: str) -> None:
    """The initial administrator's API token, readable by the owner only (0600), never overwritten."""
    import os

    from store.tokens import create_token

    token, _ = create_token(sessions, role="admin", label="initial administrator", actor=actor)
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w", encoding="ascii") as handle:
        handle.write(token + "\n")


def _store_region(sessions: sessionmaker[Session], root_path: Any, *, root: x509.Certificate,
                  issuing: x509.Certificate, services: dict[str, x509.Certificate], root_ref: str,
                  issuing_ref: str, service_refs: dict[str, str], region_code: str, region_name: str,
                  config: CAConfig, now: _dt.datetime, actor: str) -> None:
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
        for profile, cert in services.items():
            s.add(_cert_row(cert, issuer_id=issuing_row.id, profile=profile, now=now, key_ref=service_refs[profile]))
        audit.append(s, actor=actor, action="ca.init_region", subject=f"region:{region_code}", details={
            "region_name": region_name, "base_url": config.base_url,
            "root": {"serial": _hex(root), "ski": root_row.ski, "key_ref": root_ref,
                     "sha256": hashlib.sha256(root.dump()).hexdigest()},
            "issuing": {"serial": _hex(issuing), "ski": issuing_row.ski, "key_ref": issuing_ref},
            **{profile: {"serial": _hex(cert), "key_ref": service_refs[profile]} for profile, cert in services.items()},
        })
        _log_certificate(s, root)
        issued = [(issuing, "issuing_ca", root_row)] + [(c, p, issuing_row) for p, c in services.items()]
        for cert, profile, issuer in issued:
            audit.append(s, actor=actor, action="cert.issue", subject=f"cert:{_hex(cert)}",
                         details=_issue_details(cert, profile, issuer))
            _log_certificate(s, cert)
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
        subject=subject_text(cert.subject),  # profiles.check_subject saw that it fits
        not_before=validity["not_before"].native, not_after=validity["not_after"].native,
        status="good", der=cert.dump(), issued_at=now, key_ref=key_ref)


def _issue_details(cert: x509.Certificate, profile: str, issuer: CertificateAuthority) -> dict[str, Any]:
    validity = cert["tbs_certificate"]["validity"]
    return {
        "profile": profile, "issuer": issuer.name, "subject": subject_text(cert.subject),
        "not_before": validity["not_before"].native.isoformat(),
        "not_after": validity["not_after"].native.isoformat(),
        "sha256": hashlib.sha256(cert.dump()).hexdigest(),
    }


def _log_certificate(s: Session, cert: x509.Certificate) -> None:
    """Append an issued certificate to the region's transparency log (store/translog.py), in
    the transaction that stores it: whoever holds the certificate can ask for its inclusion proof."""
    translog.append(s, kind="certificate", subject=f"cert:{_hex(cert)}", artefact=cert.dump())


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
    csr_pem: bytes,
    uid: bytes = DEFAULT_UID,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
    **request: Unpack[RequestFields],
) -> tuple[str, x509.Certificate]:
    """Issue a certificate of ``profile`` for the key of a PKCS#10 CSR; returns (serial_hex, cert).

    ``subject`` ("C=CN,O=...,CN=...") overrides the CSR's subject; ``id_number`` (citizen ID)
    and ``credit_code`` (unified social credit code or organization code) become the GM/T
    0015 identity extensions and are validated (check characters); ``san`` is a list of
    ``("dns" | "ip" | "email", value)`` (tls_server needs one); see ca/request.py.
    """
    parsed = parse_csr(csr_pem, uid=uid)
    return issue_for_public_key(home, keystore, CertificateRequest.of(request).or_subject(parsed.subject_attributes),
                                public_key=parsed.public_key, actor=actor, sessions=sessions)


def issue_for_key(
    home: Any,
    keystore: Any,
    *,
    key_ref: str,
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
    **request: Unpack[RequestFields],
) -> tuple[str, x509.Certificate]:
    """Issue a certificate for the public key of a key-store key (e.g. an agency's seal signer
    key, usage "seal"); the row keeps ``key_ref`` so the signer finds its certificate."""
    public_key = keystore.public_key(key_ref)  # KeyNotFound for an unknown key_ref
    return issue_for_public_key(home, keystore, CertificateRequest.of(request), public_key=public_key,
                                key_ref=key_ref, actor=actor, sessions=sessions)


def _builder(issuer: CertificateAuthority, request: CertificateRequest, public_key: Any) -> CertificateBuilder:
    """The end-entity builder of the issuing CA ``issuer`` (everything but the serial)."""
    return request.builder(load_certificate(issuer.certificate), _config(issuer), public_key)


def issue_for_public_key(
    home: Any,
    keystore: Any,
    request: CertificateRequest | None = None,
    *,
    public_key: Any,
    identity: Identity | None = None,
    key_ref: str | None = None,
    supersedes: str | None = None,
    actor: str = "admin",
    details: dict[str, Any] | None = None,
    before_store: Any = None,
    sessions: sessionmaker[Session] | None = None,
    **fields: Unpack[RequestFields],
) -> tuple[str, x509.Certificate]:
    """Issue and store a certificate for ``public_key`` (the engine under every issuance path),
    of ``request`` or of the request keywords (``fields`` and ``identity``).

    ``details`` are added to the cert.issue audit record; ``before_store(session, serial)``
    runs in the storing transaction once the new row is in, before anything else (e.g. to revoke
    a superseded certificate or move an application on), so the whole step commits or fails
    as one. Before the audit record and the log entry, because it locks a row
    (the application, the old certificate): every change locks its row before the audit head,
    and a rejection or revocation of that row under way at the same moment, which holds the
    row and waits for the head, would otherwise deadlock with it on PostgreSQL.
    """
    if request is None:
        request = CertificateRequest.of(fields, identity=identity)
    elif fields or identity is not None:
        raise TypeError("give a CertificateRequest or request keywords, not both")
    sessions = _sessions(home, sessions)
    with db.transaction(sessions, readonly=True) as s:
        issuer = _issuing_ca(s)
    builder = _builder(issuer, request, public_key)
    signer = KeyStoreSigner(keystore, issuer.key_ref, actor=actor, role=CA_ROLE)
    for attempt in range(SERIAL_ATTEMPTS):
        cert = builder.serial_number(random_serial()).sign(signer)
        serial = _hex(cert)
        try:
            with db.transaction(sessions) as s:
                row = _cert_row(cert, issuer_id=issuer.id, profile=request.profile, now=_now(), key_ref=key_ref)
                row.supersedes = supersedes
                s.add(row)
                s.flush()
                if before_store is not None:
                    before_store(s, serial)
                record = _issue_details(cert, request.profile, issuer)
                if key_ref is not None:
                    record["key_ref"] = key_ref
                if supersedes is not None:
                    record["supersedes"] = supersedes
                record.update(details or {})
                if attempt:
                    record["serial_attempt"] = attempt + 1
                audit.append(s, actor=actor, action="cert.issue", subject=f"cert:{serial}", details=record)
                _log_certificate(s, cert)
        except IntegrityError as exc:
            if "serial" not in str(exc.orig).lower() or attempt == SERIAL_ATTEMPTS - 1:
                raise
            continue
        return serial, cert
    raise AssertionError("unreachable")  # pragma: no cover


# --------------------------------------------------------------------------- service certificates


def current_service_row(s: Session, profile: str, now: _dt.datetime, *,
                        issuer_id: int | None = None) -> IssuedCertificate | None:
    """The newest good, unexpired certificate of ``profile`` whose key the key store holds
    (the service's current certificate), optionally from one issuer; None when there is none."""
    # Read through ix_ca_certificates_service, the few rows with a key we hold. The issuer is
    # matched here, not in SQL: "issuer_id = ? AND status = 'good'" let SQLite prefer
    # ix_ca_certificates_issuer_status and walk every good certificate of the CA (135 ms a
    # live OCSP answer at 300,000 certificates).
    rows = s.scalars(select(IssuedCertificate)
                     .where(IssuedCertificate.profile == profile, IssuedCertificate.status == "good",
                            IssuedCertificate.key_ref.is_not(None), IssuedCertificate.not_after > now)
                     .order_by(IssuedCertificate.id.desc()))
    return next((row for row in rows if issuer_id is None or row.issuer_id == issuer_id), None)


def service_certificate(home: Any, profile: str, *,
                        sessions: sessionmaker[Session] | None = None) -> ServiceCertificate:
    """The newest good, unexpired certificate of a region service (ocsp | tsa | seal_maker |
    audit_signer) whose key the key store holds, with its chain (issuing CA, root)."""
    if profile not in SERVICE_PROFILES:
        raise CAError(f"{profile!r} is not a service profile; expected one of {', '.join(SERVICE_PROFILES)}")
    now = _now()
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        root = _root_ca(s)
        row = current_service_row(s, profile, now)
        if row is None:
            raise ServiceCertificateMissing(
                f"region {root.region_code} has no valid {profile} certificate (revoked, suspended or expired); "
                "issue a new one with `eseal cert issue --profile ...` for the service's key")
        issuer = s.get(CertificateAuthority, row.issuer_id)
        assert issuer is not None
        chain = [load_certificate(issuer.certificate)]
        if issuer.parent_id is not None:
            parent = s.get(CertificateAuthority, issuer.parent_id)
            assert parent is not None
            chain.append(load_certificate(parent.certificate))
        return ServiceCertificate(profile, row.key_ref, load_certificate(row.der), row.serial, chain)


def authority_by_issuer_id(home: Any, issuer_id: str, *,
                           sessions: sessionmaker[Session] | None = None) -> tuple[str, bytes]:
    """(kind "root" | "issuing", CA certificate DER) of the CA whose issuer id is given.

    The issuer id in the URLs ``<base>/crl/<issuer id>.crl`` and ``<base>/ca/<issuer id>.cer``
    is the CA's subject key identifier in lowercase hex (40 digits, SHA-1 of the SM2 point);
    uppercase is accepted. Unknown or malformed ids raise UnknownAuthority (404)."""
    text = str(issuer_id).strip().lower()
    if len(text) != 40 or any(c not in "0123456789abcdef" for c in text):
        raise UnknownAuthority(f"{issuer_id!r} is not an issuer id (40 hex digits: the CA's key identifier)")
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        row = s.scalar(select(CertificateAuthority).where(CertificateAuthority.ski == text))
        if row is None:
            raise UnknownAuthority(f"no CA of this region has the key identifier {text}")
        return row.kind, bytes(row.certificate)


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
        revoke_row(s, row, name, invalidity_date, actor=actor)
        return row


def revoke_row(s: Session, row: IssuedCertificate, reason: str, invalidity_date: _dt.datetime | None = None, *,
               actor: str, details: dict[str, Any] | None = None) -> None:
    """Revoke a row locked by ``_load_for_update`` in the caller's transaction: status, its
    full-CRL entry (ca/crl_entries.py) and the cert.revoke audit record (plus ``details``)."""
    now = _now()
    previous = row.status
    row.status, row.reason, row.revoked_at, row.status_changed_at = "revoked", reason, now, now
    row.invalidity_date = invalidity_date.replace(microsecond=0) if invalidity_date else None
    crl_entries.record(s, row)
    audit.append(s, actor=actor, action="cert.revoke", subject=f"cert:{row.serial}", details={
        "reason": reason, "previous_status": previous,
        "invalidity_date": row.invalidity_date.isoformat() if row.invalidity_date else None, **(details or {}),
    })


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
        crl_entries.record(s, row)
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
    authority: str = "issuing",
    actor: str = "admin",
    sessions: sessionmaker[Session] | None = None,
) -> bytes:
    """The next full (or delta) CRL of the issuing CA as DER, with the next CRL number; with
    ``authority="root"`` the root's full CRL (revoked issuing CA certificates), published at
    the CRL distribution point of the issuing CA certificate. The root writes no freshest-CRL
    pointer and makes no delta CRLs: its CRL changes only when a CA certificate is revoked."""
    if authority not in AUTHORITIES:
        raise CAError(f"authority must be one of {', '.join(AUTHORITIES)}, got {authority!r}")
    if authority == "root" and delta:
        raise CAError("the root CA publishes full CRLs only (no delta CRLs)")
    sessions = _sessions(home, sessions)
    now = _now()
    with db.transaction(sessions) as s:
        issuer = _issuing_ca(s) if authority == "issuing" else _root_ca(s)
        counter = s.scalar(select(CRLCounter).where(CRLCounter.ca_id == issuer.id).with_for_update())
        if counter is None:  # pragma: no cover - init_region creates it
            raise RegionNotInitialised(f"no CRL counter for CA {issuer.name}")
        if delta and counter.last_full_number is None:
            raise CAError("a delta CRL needs a full CRL to refer to: generate a full CRL first")
        number = counter.last_number + 1
        base_number, base_at = counter.last_full_number, counter.last_full_at
        counter.last_number, counter.updated_at = number, now
        if delta:
            entries = _delta_entries(s, issuer.id, since=base_at - DELTA_OVERLAP)
            count = len(entries)
        else:
            counter.last_full_number, counter.last_full_at = number, now
            # the revoked list as DER made at revocation time: one read, no per-entry work
            elements, count = crl_entries.read_elements(s, issuer.id)
        audit.append(s, actor=actor, action="crl.generate", subject=f"crl:{issuer.name}:{number}", details={
            "number": number, "delta": delta, "base_number": base_number if delta else None,
            "entries": count,
        })
        issuer_cert, config, key_ref = issuer.certificate, _config(issuer), issuer.key_ref
        if authority == "root":
            config = dataclasses.replace(config, delta_crls=False)
    # Signed after the number is committed (the key store signs in its own transaction); a
    # failed signature leaves a gap in the numbers, never a repeat.
    builder = (CRLBuilder(issuer_cert, config).crl_number(number).this_update(now)
               .next_update(now + (DELTA_CRL_VALIDITY if delta else FULL_CRL_VALIDITY)))
    if delta:
        builder = builder.delta_of(base_number).revoked(entries)
    else:
        builder = builder.revoked_der(elements)
    return builder.sign(KeyStoreSigner(keystore, key_ref, actor=actor, role=CA_ROLE))


def _delta_entries(s: Session, issuer_id: int, *, since: _dt.datetime) -> list[tuple[Any, ...]]:
    """The entries of a delta CRL: every status change of the CA's certificates since
    ``since`` (revocations and holds as in the full CRL, removeFromCRL for resumed holds)."""
    dialect = s.get_bind().dialect.name
    epoch = crl_entries.epoch_seconds
    query = (select(IssuedCertificate.serial, epoch(IssuedCertificate.revoked_at, dialect), IssuedCertificate.reason,
                    epoch(IssuedCertificate.invalidity_date, dialect), IssuedCertificate.status,
                    epoch(IssuedCertificate.status_changed_at, dialect))
             .where(IssuedCertificate.issuer_id == issuer_id, IssuedCertificate.status_changed_at >= since)
             .order_by(IssuedCertificate.id))
    entries = []
    for serial, revoked_at, reason, invalidity, status, changed in s.connection().execute(query):
        if status == "good":  # resumed since the base CRL
            entries.append((int(serial, 16), changed, "removeFromCRL", None))
        else:
            entries.append((int(serial, 16), revoked_at, None if reason == "unspecified" else reason, invalidity))
    return entries


def ca_chain(home: Any, *, sessions: sessionmaker[Session] | None = None) -> bytes:
    """The region's CA certificates as PEM, issuing CA(s) first, root last."""
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        root = _root_ca(s)
        issuing = s.scalars(select(CertificateAuthority).where(CertificateAuthority.kind == "issuing")
                            .order_by(CertificateAuthority.id)).all()
        return b"".join([*(to_pem(load_certificate(r.certificate)) for r in issuing),
                         to_pem(load_certificate(root.certificate))])


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
        responder = current_service_row(s, "ocsp", now, issuer_id=issuer.id)
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
