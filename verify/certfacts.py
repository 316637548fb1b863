"""What path validation and revocation read from a certificate, read once and cached.

asn1crypto re-checks a structure for mutation on every ``dump()`` and re-normalises a Name
on every ``hashable``: reading the same few fields of the same certificate for every
document costs milliseconds. :func:`facts_of` reads them once per certificate (cached by
object, and by DER for a certificate re-parsed from the next document) into a frozen
:class:`CertFacts`. A malformed extension is kept as ``extension_error`` instead of
raising, so validation can report it.
"""
from __future__ import annotations

import hashlib
import threading
from typing import Any

from asn1crypto import x509

from gm.records import frozen_record

__all__ = ["CertFacts", "facts_of"]

_LOCK = threading.Lock()
# facts ride on the certificate object itself (attribute _ATTR): a cache keyed by object
# kept every certificate object it had seen alive until it filled up (the soak's sawtooth)
_ATTR = "_eseal_facts"
_BY_DER: dict[bytes, CertFacts] = {}
_LIMIT = 4096


@frozen_record
class CertFacts:
    der: bytes
    tbs: bytes
    signature: bytes
    signature_algorithm: Any          # asn1crypto SignedDigestAlgorithm
    spki: Any                         # asn1crypto PublicKeyInfo
    spki_der: bytes
    point: bytes                      # the subjectPublicKey BIT STRING value
    key_sha1: bytes                   # SHA-1 of ``point`` (OCSP byKey, CertID key hash)
    subject_der: bytes
    subject: Any                      # normalised name (Name.hashable)
    issuer: Any
    subject_text: str
    issuer_text: str
    serial: int
    label: str
    not_before: Any
    not_after: Any
    version: str
    ski: bytes | None
    aki: bytes | None
    self_signed: bool
    self_issued: bool
    is_ca: bool | None                # None: no basicConstraints
    path_len: int | None
    key_usage: frozenset[str] | None
    eku: frozenset[str] | None
    critical: frozenset[str]
    ocsp_urls: tuple[str, ...]
    crl_urls: tuple[str, ...]
    ca_issuers_urls: tuple[str, ...]
    ocsp_no_check: bool
    delta_crl_urls: tuple[str, ...] = ()
    sha256: str = ""
    extension_error: str | None = None


def _label(cert: x509.Certificate, serial: int) -> str:
    try:
        cn = cert.subject.native.get("common_name")
    except (ValueError, AttributeError):
        cn = None
    if isinstance(cn, list):
        cn = cn[-1]
    return f"{cn or cert.subject.human_friendly} (serial {serial:x})"


def _read(cert: x509.Certificate, der: bytes) -> CertFacts:
    tbs = cert["tbs_certificate"]
    spki = tbs["subject_public_key_info"]
    point = spki["public_key"].contents[1:]
    serial = cert.serial_number
    error = None
    bc = ku = eku = None
    ocsp: tuple[str, ...] = ()
    crl: tuple[str, ...] = ()
    ca_issuers: tuple[str, ...] = ()
    delta: tuple[str, ...] = ()
    ski = aki = None
    no_check = False
    critical: frozenset[str] = frozenset()
    try:
        critical = frozenset(str(e) for e in cert.critical_extensions)
        bc = cert.basic_constraints_value
        ku = cert.key_usage_value
        eku = cert.extended_key_usage_value
        ski, aki = cert.key_identifier, cert.authority_key_identifier
        ocsp = tuple(cert.ocsp_urls)
        crl = tuple(dp.url for dp in cert.crl_distribution_points if dp.url)
        delta = tuple(dp.url for dp in cert.delta_crl_distribution_points if dp.url)
        aia = cert.authority_information_access_value
        ca_issuers = tuple(d["access_location"].native for d in (aia or [])
                           if d["access_method"].native == "ca_issuers"
                           and d["access_location"].name == "uniform_resource_identifier")
        no_check = cert.ocsp_no_check_value is not None
    except (ValueError, TypeError, KeyError) as exc:
        error = f"unreadable extension: {exc}"
    return CertFacts(
        der=der, tbs=tbs.dump(), signature=cert["signature_value"].native,
        signature_algorithm=cert["signature_algorithm"], spki=spki, spki_der=spki.dump(), point=point,
        key_sha1=hashlib.sha1(point).digest(), subject_der=cert.subject.dump(), subject=cert.subject.hashable,
        issuer=cert.issuer.hashable, subject_text=cert.subject.human_friendly, issuer_text=cert.issuer.human_friendly,
        serial=serial, label=_label(cert, serial), not_before=cert.not_valid_before, not_after=cert.not_valid_after,
        version=tbs["version"].native, ski=ski, aki=aki, self_signed=cert.self_signed == "yes",
        self_issued=bool(cert.self_issued), is_ca=None if bc is None else bool(bc["ca"].native),
        path_len=None if bc is None else bc["path_len_constraint"].native,
        key_usage=None if ku is None else frozenset(ku.native),
        eku=None if eku is None else frozenset(eku.native), critical=critical, ocsp_urls=ocsp, crl_urls=crl,
        ca_issuers_urls=ca_issuers, ocsp_no_check=no_check, delta_crl_urls=delta, sha256=hashlib.sha256(der).hexdigest(),
        extension_error=error)


def facts_of(cert: x509.Certificate) -> CertFacts:
    """The certificate's facts; InputError when a field path validation needs is malformed."""
    facts = cert.__dict__.get(_ATTR)
    if facts is not None:
        return facts
    try:
        der = cert.dump()
        facts = _BY_DER.get(der)
        if facts is None:
            facts = _read(cert, der)
    except (ValueError, TypeError, KeyError, AttributeError, UnicodeDecodeError, OverflowError) as exc:
        from verify.errors import InputError

        raise InputError(f"malformed certificate: {type(exc).__name__}: {str(exc)[:200]}") from None
    with _LOCK:
        if len(_BY_DER) >= _LIMIT:
            _BY_DER.clear()
        _BY_DER[der] = facts
    cert.__dict__[_ATTR] = facts
    return facts


def clear() -> None:
    with _LOCK:
        _BY_DER.clear()
