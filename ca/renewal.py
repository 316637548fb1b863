"""Renewal and rekey of an issued certificate.

* ``renew`` — same subject, identity extensions, SAN, profile and PUBLIC KEY; new serial and
  validity (the profile's default, or ``days``). The old certificate stays valid until it
  expires (a renewal does not say the old one is wrong). Only a good certificate is renewed.
* ``rekey`` — the same certificate content for a NEW key from a PKCS#10 request (proof of
  possession verified); the old certificate is revoked with reason ``superseded`` in the same
  transaction that stores the new one, so there is never a moment with both or neither.
  A good or suspended certificate may be rekeyed (a suspended one often is: key suspected lost).

Both store ``supersedes`` (the old serial) on the new row and in its cert.issue audit record.
Unknown serials raise UnknownSerial, revoked ones AlreadyRevoked, other states
InvalidTransition. Certificates whose key the key store holds (service certificates) are
renewed here but rekeyed through ``ca.service.issue_for_key`` with a new key-store key.
"""
from __future__ import annotations

from typing import Any

from asn1crypto import core, x509
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca.certificate import load_certificate
from ca.csr import DEFAULT_UID, parse_csr
from ca.errors import AlreadyRevoked, CAError, InvalidTransition, UnknownSerial
from ca.gmt0015 import load_identify_code
from ca.profiles import IDENTITY_OIDS, Identity
from ca.request import CertificateRequest
from ca.service import _load_for_update, _sessions, issue_for_public_key, normalise_serial, revoke_row
from store import db
from store.models.ca import IssuedCertificate

__all__ = ["renew", "rekey", "identity_of", "san_of"]

_CODE_FIELDS = {"residenter_card_number": "citizen_id", "passport_number": "passport_number",
                "military_officer_card_number": "military_officer_card_number"}
_OID_FIELDS = {oid: key for key, oid in IDENTITY_OIDS.items() if key != "identify_code"}
_SAN_KINDS = {"dns_name": "dns", "ip_address": "ip", "rfc822_name": "email"}


def identity_of(cert: x509.Certificate) -> Identity:
    """The GM/T 0015 identity values a certificate carries."""
    values: dict[str, str] = {}
    for ext in cert["tbs_certificate"]["extensions"]:
        oid = ext["extn_id"].dotted
        raw = ext["extn_value"].contents
        if oid == IDENTITY_OIDS["identify_code"]:
            name, value = load_identify_code(raw)
            values[_CODE_FIELDS[name]] = value
        elif oid in _OID_FIELDS:
            values[_OID_FIELDS[oid]] = core.PrintableString.load(raw).native
    return Identity(**values)


def san_of(cert: x509.Certificate) -> list[tuple[str, str]]:
    names = cert.subject_alt_name_value
    return [] if names is None else [(_SAN_KINDS[n.name], n.native) for n in names if n.name in _SAN_KINDS]


def _current(sessions: sessionmaker[Session], serial: str, allowed: tuple[str, ...], step: str) -> IssuedCertificate:
    with db.transaction(sessions, readonly=True) as s:
        row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial))
        if row is None:
            raise UnknownSerial(f"no certificate with serial {serial} was issued by this region")
        if row.status == "revoked":
            raise AlreadyRevoked(f"certificate {serial} is revoked ({row.reason}); a revoked certificate "
                                 f"cannot be {step} — apply for a new one")
        if row.status not in allowed:
            raise InvalidTransition(f"certificate {serial} is {row.status}: resume it before it is {step}")
        return row


def _reissue(home: Any, keystore: Any, old: IssuedCertificate, public_key: Any, *, days: int | None,
             key_ref: str | None, actor: str, details: dict[str, Any], before_store: Any,
             sessions: sessionmaker[Session]) -> tuple[str, x509.Certificate]:
    cert = load_certificate(bytes(old.der))
    request = CertificateRequest(profile=old.profile, subject=cert.subject, identity=identity_of(cert),
                                 san=san_of(cert) or None, days=days)
    return issue_for_public_key(home, keystore, request, public_key=public_key, key_ref=key_ref,
                                supersedes=old.serial, actor=actor, details=details, before_store=before_store,
                                sessions=sessions)


def renew(home: Any, keystore: Any, serial: str | int, *, days: int | None = None, actor: str = "admin",
          sessions: sessionmaker[Session] | None = None) -> tuple[str, x509.Certificate]:
    """A new certificate for the same key and content; returns (serial_hex, certificate)."""
    sessions = _sessions(home, sessions)
    old = _current(sessions, normalise_serial(serial), ("good",), "renewed")
    public_key = load_certificate(bytes(old.der)).public_key
    return _reissue(home, keystore, old, public_key, days=days, key_ref=old.key_ref, actor=actor,
                    details={"renewal": True}, before_store=None, sessions=sessions)


def rekey(home: Any, keystore: Any, serial: str | int, *, csr_pem: bytes, uid: bytes = DEFAULT_UID,
          days: int | None = None, actor: str = "admin",
          sessions: sessionmaker[Session] | None = None) -> tuple[str, x509.Certificate]:
    """A new certificate for the CSR's key; the old one is revoked (superseded) atomically."""
    sessions = _sessions(home, sessions)
    serial_hex = normalise_serial(serial)
    old = _current(sessions, serial_hex, ("good", "hold"), "rekeyed")
    if old.key_ref is not None:
        raise CAError(f"certificate {serial_hex} certifies key-store key {old.key_ref}: rekey it with a new "
                      "key-store key (ca.service.issue_for_key), not from a CSR")
    parsed = parse_csr(csr_pem, uid=uid)
    if parsed.public_key == load_certificate(bytes(old.der)).public_key["public_key"].contents[1:]:
        raise CAError(f"the request carries the key of certificate {serial_hex}; a rekey needs a new key "
                      "(use renew to keep the key)")

    def supersede(s: Session, new_serial: str) -> None:
        row = _load_for_update(s, serial_hex)  # AlreadyRevoked if revoked meanwhile
        revoke_row(s, row, "superseded", actor=actor, details={"superseded_by": new_serial})

    return _reissue(home, keystore, old, parsed.public_key, days=days, key_ref=None, actor=actor,
                    details={"rekey": True}, before_store=supersede, sessions=sessions)
