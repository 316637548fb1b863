"""A hot OCSP responder: pre-signed answers for good certificates, live answers otherwise.

Most OCSP traffic asks, without a nonce, about one certificate that is good (RFC 5019).
Signing each answer costs a key store round trip (policy check, audit record, SM2 sign);
serving stored bytes costs a dictionary look-up. :class:`OCSPCache` keeps, per process,
the signed DER answer for each (CertID as sent) it has answered "good", and serves it
again while it is fresh.

Correct across worker processes without any shared memory: every request still reads the
certificate's row (one indexed look-up of ``ca_certificates.serial``), and a cached answer
is served only when

* the row's status is ``good`` — a revocation or suspension by any worker, on any host, is
  seen by the very next request; and
* the row's ``status_changed_at`` equals the value it had when the answer was signed — so a
  suspend-and-resume (good again, but a new status history) re-signs too; and
* more than ``refresh_fraction`` of the answer's validity remains (default: re-sign once
  half of it has passed, long before ``nextUpdate``); and
* the responder certificate that signed it is still the region's current one (the newest
  good, unexpired responder certificate of the issuer): the same statement finds that one
  (through ix_ca_certificates_service, a few rows), so a responder certificate revoked,
  suspended or replaced by any worker signs nothing more (the current responder does, or,
  when there is none, the answer is the live path's RegionNotInitialised).

Everything else is answered live by :func:`ca.service.ocsp_respond` (same responder, same
database): requests with a nonce (the nonce must be echoed, so the bytes differ), several
CertIDs, revoked / held / unknown certificates, CertIDs naming another issuer. A malformed
request gets the OCSP ``malformedRequest`` response, never an exception.

Hot path cost: a request whose exact bytes were seen before is not parsed again (the
parsed CertID is remembered per request DER); the status read uses the thread's own
autocommit DBAPI connection and one fixed SQL statement, no ORM.

The cached answers' CertID is the requester's own (its DER is the cache key), so clients
that send SHA-1 or SM3 CertIDs, with or without NULL hash parameters, each get an answer
that matches their request byte for byte.
"""
from __future__ import annotations

import datetime as _dt
import threading
from dataclasses import dataclass
from typing import Any

from sqlalchemy import select

from ca import ocsp
from ca.certificate import load_certificate
from ca.errors import MalformedOCSPRequest, RegionNotInitialised
from ca.keystore_signer import KeyStoreSigner
from ca.service import current_service_row
from store import db
from store.models.ca import CertificateAuthority, IssuedCertificate

__all__ = ["OCSPCache", "CacheStats"]

UTC = _dt.timezone.utc


@dataclass
class _Entry:
    der: bytes
    marker: Any                      # status_changed_at as the database returned it, when signed
    refresh_at: _dt.datetime
    responder: int                   # the row id of the responder certificate that signed it


@dataclass(frozen=True)
class _Signing:
    """What the pre-signed answers are signed with, as loaded together (one reference, so a
    thread never pairs one responder's key with another's row)."""
    issuer: _Issuer
    responder: ocsp.Responder
    responder_id: int
    not_after: _dt.datetime


@dataclass
class CacheStats:
    hits: int = 0
    signed: int = 0                  # pre-signed answers made (misses and refreshes)
    live: int = 0                    # answered by ocsp_respond
    malformed: int = 0


class _Issuer:
    """The issuing CA as OCSP requests name it: hashes per algorithm, computed once."""

    def __init__(self, row: CertificateAuthority) -> None:
        self.id = row.id
        cert = load_certificate(row.certificate)
        self.certificate = cert
        self.hashes = {alg: (c.issuer_name_hash, c.issuer_key_hash)
                       for alg in ("sha1", "sm3") for c in [ocsp.cert_id_for(cert, 1, alg)]}

    def names(self, cert_id: ocsp.CertId) -> bool:
        return self.hashes.get(cert_id.hash_algorithm) == (cert_id.issuer_name_hash, cert_id.issuer_key_hash)


class OCSPCache:
    """Answer DER OCSP requests for the region of ``home`` with ``keystore`` (unlocked)."""

    def __init__(self, home: Any, keystore: Any, *, sessions: Any = None, refresh_fraction: float = 0.5,
                 max_entries: int = 100_000, validity: _dt.timedelta | None = None) -> None:
        from ca import service

        if not 0 < refresh_fraction < 1:
            raise ValueError(f"refresh_fraction must be between 0 and 1, not {refresh_fraction!r}")
        self.home = home
        self.keystore = keystore
        self.sessions = sessions if sessions is not None else db.make_sessionmaker(home.engine)
        self.engine = self.sessions.kw["bind"]
        self.refresh_fraction = refresh_fraction
        self.max_entries = max_entries
        self.validity = validity or service.OCSP_VALIDITY
        self.stats = CacheStats()
        self._entries: dict[bytes, _Entry] = {}
        self._lock = threading.Lock()
        self._requests: dict[bytes, tuple[str, int, ocsp.CertId, bytes]] = {}  # request DER -> parsed
        self._local = threading.local()
        self._signing: _Signing | None = None
        table = IssuedCertificate.__table__
        mark = "?" if self.engine.dialect.paramstyle == "qmark" else "%s"
        # the asked certificate's row and the id of the issuer's current responder certificate
        # (ca.service.current_service_row's choice: the newest good, unexpired one we hold a key
        # of). "+r.issuer_id" keeps the issuer out of index choice: with "issuer_id = ? AND
        # status = 'good'" SQLite took ix_ca_certificates_issuer_status and walked every good
        # certificate of the CA (tests/test_flat_cost.py), not the few of ix_ca_certificates_service.
        self._sql = (f"SELECT status, status_changed_at, (SELECT max(r.id) FROM {table.name} r "
                     f"WHERE r.profile = 'ocsp' AND r.key_ref IS NOT NULL AND r.status = 'good' "
                     f"AND +r.issuer_id = {mark} AND r.not_after > {mark}) "
                     f"FROM {table.name} WHERE serial = {mark} AND issuer_id = {mark}")
        dialect = self.engine.dialect
        self._bind_time = table.c.not_after.type.dialect_impl(dialect).bind_processor(dialect) or (lambda t: t)

    # ------------------------------------------------------------------ set-up (lazy)

    def _load(self) -> _Signing:
        if self._signing is not None:
            return self._signing
        now = _dt.datetime.now(UTC)
        with db.transaction(self.sessions, readonly=True) as s:
            row = s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "issuing")
                           .order_by(CertificateAuthority.id).limit(1))
            if row is None:
                raise RegionNotInitialised("no region here yet: run `eseal init` first")
            issuer = _Issuer(row)
            responder = current_service_row(s, "ocsp", now, issuer_id=row.id)
            if responder is None:
                raise RegionNotInitialised("this region has no valid OCSP responder certificate")
            signer = KeyStoreSigner(self.keystore, responder.key_ref, actor="ocsp-responder", role="ocsp")
            self._signing = _Signing(issuer, ocsp.Responder(signer, responder.der), responder.id,
                                     responder.not_after.astimezone(UTC))
        return self._signing

    # ------------------------------------------------------------------ answering


    def _connection(self) -> Any:
        """This thread's own DBAPI connection, in autocommit: every SELECT reads the latest
        committed state and no transaction stays open between requests."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            pooled = self.engine.raw_connection()
            pooled.detach()  # ours for the life of the thread, not returned to the pool
            conn = pooled.dbapi_connection
            if self.engine.dialect.name == "postgresql":
                conn.autocommit = True
            self._local.conn = conn
        return conn

    def _status(self, serial_hex: str, issuer_id: int) -> tuple[str, Any, int | None] | None:
        """(status, status marker, the id of the current responder certificate) of one
        certificate: one statement of indexed look-ups, no ORM."""
        now = self._bind_time(_dt.datetime.now(UTC))
        try:
            cursor = self._connection().cursor()
            try:
                cursor.execute(self._sql, (issuer_id, now, serial_hex, issuer_id))
                row = cursor.fetchone()
            finally:
                cursor.close()
        except Exception:
            # a broken connection (database restarted): drop it, the next call reconnects
            conn = getattr(self._local, "conn", None)
            self._local.conn = None
            if conn is not None:
                try:
                    conn.close()
                except Exception:  # noqa: BLE001 - already broken
                    pass
            raise
        return None if row is None else (row[0], row[1], row[2])

    def respond(self, request_der: bytes) -> bytes:
        """The DER OCSPResponse for a DER OCSPRequest (malformedRequest when it is malformed)."""
        memo = self._requests.get(request_der)
        if memo is not None:  # this exact request was seen: no parsing
            serial_hex, issuer_id, cert_id, key = memo
            found = self._status(serial_hex, issuer_id)
            if found is not None and found[0] == "good":
                return self._good(cert_id, found, key)
            self.stats.live += 1
            return self._live(request_der)
        try:
            request = ocsp.parse_request(request_der)
        except MalformedOCSPRequest:
            self.stats.malformed += 1
            return ocsp.error_response("malformed_request")
        if request.nonce is None and len(request.cert_ids) == 1:
            issuer = self._load().issuer
            cert_id = request.cert_ids[0]
            if issuer.names(cert_id):
                serial_hex = format(cert_id.serial, "x")
                key = cert_id.raw.dump()
                self._remember(self._requests, bytes(request_der), (serial_hex, issuer.id, cert_id, key))
                found = self._status(serial_hex, issuer.id)
                if found is not None and found[0] == "good":
                    return self._good(cert_id, found, key)
        self.stats.live += 1
        return self._live(request_der)

    def _live(self, request_der: bytes) -> bytes:
        from ca import service

        return service.ocsp_respond(self.home, self.keystore, request_der, sessions=self.sessions)

    def _remember(self, table: dict[Any, Any], key: Any, value: Any) -> None:
        with self._lock:
            if len(table) >= self.max_entries and key not in table:
                table.pop(next(iter(table)))  # oldest first (dicts keep insertion order)
            table[key] = value

    def _good(self, cert_id: ocsp.CertId, found: tuple[str, Any, int | None], key: bytes) -> bytes:
        now = _dt.datetime.now(UTC)
        _, marker, current = found
        signing = self._signing
        if signing is None or current != signing.responder_id or now >= signing.not_after:
            # the responder certificate in use was revoked, suspended, expired or replaced since
            # it was loaded: the current one signs (RegionNotInitialised when there is none)
            self._signing = None
            signing = self._load()
        entry = self._entries.get(key)
        if (entry is not None and entry.marker == marker and entry.responder == signing.responder_id
                and now < entry.refresh_at):
            self.stats.hits += 1
            return entry.der
        this_update = now.replace(microsecond=0)
        next_update = this_update + self.validity
        answer = ocsp.Answer(cert_id, "good", this_update, next_update)
        der = signing.responder.respond([answer], produced_at=this_update)
        self._remember(self._entries, key, _Entry(der, marker, next_update - self.validity * self.refresh_fraction,
                                                  signing.responder_id))
        self.stats.signed += 1
        return der

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()
            self._requests.clear()

    def __len__(self) -> int:
        return len(self._entries)
