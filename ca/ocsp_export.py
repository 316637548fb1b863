"""Pre-signed OCSP answers written as files, for a static web server or CDN (RFC 5019).

``eseal ocsp export --home H --out DIR`` (:func:`export`) signs, for every certificate that
a CA of the region issued and for each CertID hash (SHA-1, SM3 or both), the nonce-less
answer an RFC 5019 client gets from ``GET /ocsp/...`` — good, or revoked with revocationTime
and reason (a suspension is revoked with certificateHold, as the live responder says) —
with thisUpdate now and nextUpdate ``service.OCSP_VALIDITY`` later, and writes it where a
static server finds it from the request URL alone.

Naming rule. An RFC 5019 client asks ``GET <responder URL>/<url-encoded base64 of the DER
OCSPRequest>``, the request holding one CertID and no extensions. The file of that answer is

    DIR/<standard base64 (RFC 4648 section 4, '=' padded) of that request DER>

so the URL path after the responder prefix, percent-decoded, *is* the file path: every '/'
of the base64 text is a directory level, '+' and '=' stay in the names. A server that
decodes the path before mapping it to a file (nginx, Caddy, Python's http.server; Apache
with ``AllowEncodedSlashes On``) serves the files with no rewrite, whether the client
percent-encoded '/', '+' and '=' (as RFC 6960 appendix A.1 asks) or sent them as they are.
One exception: base64 text ending in '/' (a request of 3k bytes whose last 6 bits are all
ones) names a directory, so that answer is ``<...>/index.html``, which such servers return
for a path ending in '/'. :func:`relative_path` is the rule; the README's "Scale out"
section has the nginx configuration.

The request DER is the minimal one RFC 5019 fixes, as OpenSSL, Go, Java and Windows build
it: version v1 (default, absent), no requestorName, one Request whose CertID hashAlgorithm
has NULL parameters, no extensions, no signature. A client encoding its request otherwise
(SM3 with absent parameters, a nonce, several CertIDs) asks for a file that does not exist;
the server's 404 should go to ``eseal serve`` (``POST /ocsp`` or ``GET /ocsp/...``), which
answers any request.

Signing is the responder's, exactly as the live answers of ca/service.py and
ca/ocsp_cache.py: ``ocsp.Responder`` over a ``KeyStoreSigner`` of the CA's current OCSP
responder key with role "ocsp", so each answer is one key use checked against the key's
policy and recorded by the key store (``key.sign``); the CertID is the request's, parsed
back with ``ocsp.parse_request``, so a file is what the live responder would answer to the
same request, times aside. One ``ocsp.export`` audit record sums up the run.

A CA without a current delegated responder certificate of its own (the root: it issues only
CA certificates, whose status its CRL publishes) is skipped and listed in the result.

``DIR/index.json`` lists every certificate: serial -> issuer, status, reason and time,
next_update, the file and the request base64 per hash. Files are replaced atomically
(temporary file, then rename), index.json last; files of an earlier export that this one
did not write (a certificate's answer under a hash no longer exported) are removed, so no
stale answer outlives a re-export. Other files in DIR are left alone. Two exports into one
DIR wait for each other (``flock`` on DIR).

The files are as fresh as the last export: re-run it before nextUpdate (e.g. every
``OCSP_VALIDITY / 2``) and after every revocation or suspension.
"""
from __future__ import annotations

import base64
import datetime as _dt
import fcntl
import json
import os
import re
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from asn1crypto import algos, core
from asn1crypto import ocsp as aocsp
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from ca import ocsp, oids, service
from ca.certificate import load_certificate
from ca.errors import CAError, RegionNotInitialised, ServiceCertificateMissing
from ca.keystore_signer import KeyStoreSigner
from gm.records import frozen_record
from store import audit, db
from store.files import write_atomic
from store.models.ca import CertificateAuthority, IssuedCertificate

__all__ = ["export", "request_der", "relative_path", "ExportResult", "HASHES", "INDEX", "TRAILING_SLASH_FILE"]

HASHES = ("sha1", "sm3")
INDEX = "index.json"
TRAILING_SLASH_FILE = "index.html"
_HASH_OIDS = {"sha1": oids.SHA1, "sm3": oids.SM3}
# the files this module writes: a DER SEQUENCE's base64 ('M...'), a trailing-slash index file, temporary files
_OURS = re.compile(r"M[A-Za-z0-9+/]{39,}(={0,2}|/" + re.escape(TRAILING_SLASH_FILE) + ")")
_TEMP = re.compile(r"\..+\.tmp-[^/]*")


def request_der(issuer: Any, serial: int, hash_algorithm: str = "sha1") -> bytes:
    """The DER of the one-CertID, extension-less request an RFC 5019 client sends for
    ``serial`` under ``issuer`` (hashAlgorithm with NULL parameters, as OpenSSL builds it)."""
    return _request(_issuer_hashes(load_certificate(issuer), (hash_algorithm,)), hash_algorithm, serial)


def _issuer_hashes(issuer: Any, hashes: Sequence[str]) -> dict[str, tuple[bytes, bytes]]:
    """hash -> (issuerNameHash, issuerKeyHash) of ``issuer``, computed once per export."""
    for alg in hashes:
        if alg not in _HASH_OIDS:
            raise CAError(f"CertID hash must be one of {', '.join(HASHES)}, not {alg!r}")
    return {alg: (c.issuer_name_hash, c.issuer_key_hash) for alg in hashes for c in [ocsp.cert_id_for(issuer, 1, alg)]}


def _request(issuer_hashes: dict[str, tuple[bytes, bytes]], alg: str, serial: int) -> bytes:
    name_hash, key_hash = issuer_hashes[alg]
    cert_id = aocsp.CertId({
        "hash_algorithm": algos.DigestAlgorithm({"algorithm": _HASH_OIDS[alg], "parameters": core.Null()}),
        "issuer_name_hash": name_hash,
        "issuer_key_hash": key_hash,
        "serial_number": serial,
    })
    return aocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cert_id}]}}).dump()


def relative_path(request: bytes) -> str:
    """Where the answer to the DER OCSPRequest ``request`` lies under DIR (POSIX, relative):
    its standard base64, each '/' a directory level (empty levels collapsed, as servers merge
    '//'), and ``index.html`` inside the last one when the text ends in '/'."""
    text = base64.b64encode(bytes(request)).decode("ascii")
    if text.endswith("/"):
        text += TRAILING_SLASH_FILE
    return "/".join(part for part in text.split("/") if part)


@frozen_record
class ExportResult:
    out: Path
    this_update: _dt.datetime
    next_update: _dt.datetime
    hashes: tuple[str, ...]
    certificates: int
    files: int
    statuses: dict[str, int]           # good / revoked / hold -> number of certificates
    issuers: dict[str, dict[str, Any]]  # issuer ski -> name, responder serial, certificates
    skipped: dict[str, str]            # issuer ski -> why no answers were made for it
    removed: int                       # stale files of an earlier export removed


@frozen_record
class _Row:
    serial: str
    status: str
    reason: str | None
    revoked_at: _dt.datetime | None


@frozen_record
class _Authority:
    ski: str
    name: str
    certificate: bytes
    responder_der: bytes | None
    responder_key: str | None
    responder_serial: str | None
    rows: tuple[_Row, ...]


def _read(s: Session, now: _dt.datetime) -> list[_Authority]:
    """Every CA with its current OCSP responder and its certificates' status, in one snapshot."""
    authorities = []
    for ca in s.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)):
        responder = service.current_service_row(s, "ocsp", now, issuer_id=ca.id)
        rows = tuple(_Row(*r) for r in s.execute(
            select(IssuedCertificate.serial, IssuedCertificate.status, IssuedCertificate.reason,
                   IssuedCertificate.revoked_at)
            .where(IssuedCertificate.issuer_id == ca.id).order_by(IssuedCertificate.id)))
        authorities.append(_Authority(
            ca.ski, ca.name, bytes(ca.certificate),
            bytes(responder.der) if responder is not None else None,
            responder.key_ref if responder is not None else None,
            responder.serial if responder is not None else None, rows))
    return authorities


def _answer(cert_id: ocsp.CertId, row: _Row, now: _dt.datetime, next_update: _dt.datetime) -> ocsp.Answer:
    """What ca.service.ocsp_respond says about ``row`` (a hold is revoked with certificateHold)."""
    if row.status == "good":
        return ocsp.Answer(cert_id, "good", now, next_update)
    reason = None if row.reason == "unspecified" else row.reason
    return ocsp.Answer(cert_id, "revoked", now, next_update, revoked_at=row.revoked_at, reason=reason)


def _write_file(path: Path, data: bytes) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    write_atomic(path, data)


@contextmanager
def _locked(folder: Path) -> Iterator[None]:
    fd = os.open(folder, os.O_RDONLY)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield
    finally:
        os.close(fd)  # releases the lock


def _remove_stale(out: Path, written: set[str]) -> int:
    """Remove the files of earlier exports (our names only) that this one did not write."""
    removed = 0
    for root, _dirs, files in os.walk(out, topdown=False):
        for name in files:
            rel = (Path(root) / name).relative_to(out).as_posix()
            if rel in written or rel == INDEX:
                continue
            if _OURS.fullmatch(rel) or _TEMP.fullmatch(name):
                (Path(root) / name).unlink()
                removed += 1
        if Path(root) != out and not os.listdir(root) and re.fullmatch(r"[A-Za-z0-9+=]+", Path(root).name):
            os.rmdir(root)
    return removed


def _iso(t: _dt.datetime | None) -> str | None:
    return None if t is None else t.astimezone(_dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")


def export(
    home: Any,
    keystore: Any,
    out: Path | str,
    *,
    hashes: Sequence[str] = HASHES,
    actor: str = "ocsp-responder",
    validity: _dt.timedelta | None = None,
    sessions: sessionmaker[Session] | None = None,
) -> ExportResult:
    """Sign and write the pre-signed answer of every certificate of the region's CAs into
    ``out`` (module doc: naming rule, index.json, stale files); returns what was written."""
    hashes = tuple(dict.fromkeys(hashes))
    if not hashes or any(h not in _HASH_OIDS for h in hashes):
        raise CAError(f"CertID hashes must be among {', '.join(HASHES)}, not {list(hashes)!r}")
    validity = validity or service.OCSP_VALIDITY
    sessions = sessions if sessions is not None else db.make_sessionmaker(home.engine)
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise CAError(f"cannot create {out}: {exc}") from None
    now = _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)
    next_update = now + validity
    with db.transaction(sessions, readonly=True) as s:
        authorities = _read(s, now)
    if not authorities:
        raise RegionNotInitialised("no region here yet: run `eseal init` first")
    index: dict[str, Any] = {}
    issuers: dict[str, dict[str, Any]] = {}
    skipped: dict[str, str] = {}
    statuses = {"good": 0, "revoked": 0, "hold": 0}
    written: set[str] = set()
    with _locked(out):
        for ca in authorities:
            if ca.responder_der is None:
                if ca.rows:
                    skipped[ca.ski] = (f"{ca.name}: no current OCSP responder certificate issued by this CA; "
                                       f"the status of its {len(ca.rows)} certificate(s) is in its CRL")
                continue
            issuer_hashes = _issuer_hashes(load_certificate(ca.certificate), hashes)
            signer = KeyStoreSigner(keystore, ca.responder_key, actor=actor, role="ocsp")
            responder = ocsp.Responder(signer, ca.responder_der)
            for row in ca.rows:
                serial = int(row.serial, 16)
                files, requests = {}, {}
                for alg in hashes:
                    der = _request(issuer_hashes, alg, serial)
                    cert_id = ocsp.parse_request(der).cert_ids[0]  # echoed as the live responder does
                    answer = responder.respond([_answer(cert_id, row, now, next_update)], produced_at=now)
                    rel = relative_path(der)
                    _write_file(out / rel, answer)
                    written.add(rel)
                    files[alg], requests[alg] = rel, base64.b64encode(der).decode("ascii")
                statuses[row.status] = statuses.get(row.status, 0) + 1
                index[row.serial] = {
                    "issuer": ca.ski, "status": row.status,
                    "reason": row.reason if row.status != "good" else None,
                    "revoked_at": _iso(row.revoked_at) if row.status != "good" else None,
                    "this_update": _iso(now), "next_update": _iso(next_update),
                    "files": files, "requests": requests,
                }
            issuers[ca.ski] = {"name": ca.name, "responder_serial": ca.responder_serial, "certificates": len(ca.rows)}
        if not issuers:
            raise ServiceCertificateMissing(
                "no CA of this region has a current OCSP responder certificate (revoked, suspended or expired); "
                "issue a new one with `eseal cert issue --profile ocsp`")
        removed = _remove_stale(out, written)
        document = {
            "version": 1, "this_update": _iso(now), "next_update": _iso(next_update),
            "validity_seconds": int(validity.total_seconds()), "hashes": list(hashes),
            "naming": "file = standard base64 (RFC 4648 section 4, '=' padded) of the DER OCSPRequest "
                      "(one CertID, hashAlgorithm with NULL parameters, no extensions); each '/' a directory "
                      f"level; text ending in '/' -> '{TRAILING_SLASH_FILE}' in that directory",
            "issuers": issuers, "skipped": skipped, "certificates": index,
        }
        _write_file(out / INDEX, json.dumps(document, ensure_ascii=False, indent=1).encode("utf-8") + b"\n")
    result = ExportResult(out, now, next_update, hashes, len(index), len(written), statuses, issuers, skipped,
                          removed)
    with db.transaction(sessions) as s:
        audit.append(s, actor=actor, action="ocsp.export", subject="ocsp:export", details={
            "out": str(out.resolve()), "this_update": _iso(now), "next_update": _iso(next_update),
            "hashes": list(hashes),
            "certificates": len(index), "files": len(written), "statuses": statuses,
            "issuers": {ski: {"responder_serial": i["responder_serial"], "certificates": i["certificates"]}
                        for ski, i in issuers.items()},
            "skipped": sorted(skipped), "removed": removed,
        })
    return result
