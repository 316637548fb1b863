"""A home's own CA database as the revocation source for the certificates it issued.

A verifier running in a region's own service (``verifier_for_home``) must not ask its own
OCSP responder over HTTP: the answer is in the database it already holds, and a request to
itself can wait behind the very requests it serves. ``home_registry(home)`` returns the
``registry`` callable of :class:`verify.revocation.RevocationChecker`: for a certificate
whose issuer is one of this home's CAs (same certificate, byte for byte) the status row of
``ca_certificates``, current for every verification (read again whenever any status
changed since: store/status_epoch.py); for any other certificate None, so the
certificate's own OCSP responder or CRL is asked.
"""
from __future__ import annotations

import datetime as _dt
import functools
from typing import Any, Callable

from asn1crypto import x509
from sqlalchemy import select

from gm.records import frozen_record
from verify.certfacts import facts_of

__all__ = ["RegistryStatus", "home_registry"]


@frozen_record
class RegistryStatus:
    status: str                         # good | revoked | unknown (as OCSP would say)
    revoked_at: _dt.datetime | None
    reason: str | None
    where: str                          # the CA's name, shown with the evidence


@functools.cache
def _status_statement() -> Any:
    """One plain statement on the driver's cursor: it runs for every certificate of every
    document verified, where an ORM session's bookkeeping costs ten times the query; within
    a verification its rows are reused until a status changes (store/status_epoch.py)."""
    from store.db import HotStatement
    from store.models.ca import IssuedCertificate
    from store.status_epoch import StatusRows

    return StatusRows(HotStatement(
        "SELECT status, revoked_at, reason FROM ca_certificates WHERE issuer_id = :issuer_id AND serial = :serial",
        results=(None, IssuedCertificate.__table__.c.revoked_at, None)))


def home_registry(home: Any) -> Callable[[x509.Certificate, x509.Certificate], RegistryStatus | None]:
    from store import db
    from store.db import make_sessionmaker
    from store.models.ca import CertificateAuthority

    engine = home.engine
    with db.transaction(make_sessionmaker(engine), readonly=True) as s:
        ours = {bytes(der): (ca_id, name) for ca_id, name, der in s.execute(
            select(CertificateAuthority.id, CertificateAuthority.name, CertificateAuthority.certificate)).all()}
    statement = _status_statement()

    def status(cert: x509.Certificate, issuer: x509.Certificate) -> RegistryStatus | None:
        found = ours.get(facts_of(issuer).der)
        if found is None:
            return None
        ca_id, where = found
        # a read connection (PostgreSQL: autocommit) only when the rows are not held already
        rows = statement.read(engine, {"issuer_id": ca_id, "serial": format(facts_of(cert).serial, "x")})
        if not rows:
            return RegistryStatus("unknown", None, None, where)
        state, revoked_at, reason = rows[0]
        if state == "good":
            return RegistryStatus("good", None, None, where)
        return RegistryStatus("revoked", revoked_at, "certificateHold" if state == "hold" else reason, where)

    return status
