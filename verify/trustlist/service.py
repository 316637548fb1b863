"""Trust-list service functions: publish a region's TL, build the national LOTL, import a
LOTL and the TLs it points at, refresh, and load the trust store.

Keys: each home signs its lists with a key-store key of its own (label
``trust-list-signer`` for TLs, ``lotl-signer`` for the LOTL; policy: operation sign, role
``trust-list`` only), certified by the region's issuing CA under the ``audit_signer``
profile (so the CA can revoke it like any other certificate). The key and certificate are
made on first use; the home must hold a region (``eseal init``).

Status history is carried from one list to the next: the newest published list of a kind
is the base of the next one, its sequence number + 1. A region TL lists the root and
issuing CAs (granted from their notBefore) and the good service certificates (OCSP, TSA,
seal maker = seal platform); a service certificate revoked or suspended in the CA becomes
withdrawn from its status change, and a service no longer present is withdrawn at
publication. Every change writes one audit record in the transaction that stores it.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from collections.abc import Sequence
from dataclasses import field
from pathlib import Path
from typing import Any

from asn1crypto import x509
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from gm.records import frozen_record
from store import audit, db
from store.models.trust import ImportedTrustList, PublishedTrustList, TrustListSigner
from verify.errors import FetchError, TrustListConflict, TrustListError
from verify.path import load_certificate
from verify.trustlist.model import (
    MAX_TEXT,
    Pointer,
    Service,
    StatusPeriod,
    TrustList,
    format_time,
    open_list,
    sign_list,
)
from verify.trustlist.store import ListRef, TrustStore

__all__ = ["publish_region_tl", "build_lotl", "import_lotl", "refresh_lotl", "load_trust_store", "imported_marker",
           "license_status_uri",
           "trust_store_from_file", "trust_status", "list_signer", "PointerSpec", "ImportResult", "TRUST_LIST_ROLE",
           "DEFAULT_VALIDITY"]

UTC = _dt.timezone.utc
TRUST_LIST_ROLE = "trust-list"
DEFAULT_VALIDITY = _dt.timedelta(days=30)
_SERVICE_PROFILE_TYPES = {"ocsp": "ocsp", "tsa": "tsa", "seal_maker": "seal_platform"}


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC).replace(microsecond=0)


def _sessions(home: Any, sessions: Any) -> Any:
    return sessions if sessions is not None else db.make_sessionmaker(home.engine)


# --------------------------------------------------------------------------- signer


def list_signer(home: Any, keystore: Any, kind: str, *, actor: str = "admin",
                sessions: Any = None) -> tuple[str, x509.Certificate]:
    """(key_ref, certificate) of this home's signer of ``kind`` lists ("tl" or "lotl")."""
    from ca import service as ca_service
    from keystore.policy import KeyPolicy
    from store.models.ca import CertificateAuthority

    label = {"tl": "trust-list-signer", "lotl": "lotl-signer"}[kind]
    sessions = _sessions(home, sessions)
    with db.transaction(sessions, readonly=True) as s:
        row = s.get(TrustListSigner, label)
        if row is not None:
            return row.key_ref, load_certificate(bytes(row.certificate))
        region = s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root").limit(1))
        if region is None:
            raise TrustListError("this home has no region: run `eseal init` first (the list signer's "
                                 "certificate comes from the region's CA)")
        region_name = region.region_name
    # a random suffix: two first publications at once must not both take the label of this second
    key_ref = keystore.generate(f"{label}-{secrets.token_hex(4)}", "ca",
                                KeyPolicy(operations=frozenset({"sign"}), roles=frozenset({TRUST_LIST_ROLE})),
                                actor=actor)
    cn = f"{region_name}{'信任列表签名' if kind == 'tl' else '国家信任列表签名'}"
    _, cert = ca_service.issue_for_key(home, keystore, profile="audit_signer", key_ref=key_ref,
                                       subject=f"C=CN,O={region_name}电子认证中心,CN={cn}", actor=actor,
                                       sessions=sessions)
    try:
        with db.transaction(sessions) as s:
            s.add(TrustListSigner(label=label, key_ref=key_ref, certificate=cert.dump(), created_at=_now()))
            s.flush()
            audit.append(s, actor=actor, action="trustlist.signer", subject=f"trustlist-signer:{label}",
                         details={"key_ref": key_ref, "serial": format(cert.serial_number, "x"),
                                  "sha256": hashlib.sha256(cert.dump()).hexdigest()})
    except IntegrityError:  # another publication made the first signer meanwhile: one signer, theirs
        with db.transaction(sessions, readonly=True) as s:
            row = s.get(TrustListSigner, label)
            if row is None:
                raise
            return row.key_ref, load_certificate(bytes(row.certificate))
    return key_ref, cert


def _signer_fn(keystore: Any, key_ref: str, actor: str) -> Any:
    from seal.cms import keystore_signer

    return keystore_signer(keystore, key_ref, actor=actor, role=TRUST_LIST_ROLE)


# --------------------------------------------------------------------------- history


def _carry(previous: Sequence[StatusPeriod] | None, status: str, since: _dt.datetime,
           now: _dt.datetime) -> tuple[StatusPeriod, ...]:
    """The history of an entry whose status is now ``status`` (first granted at ``since``)."""
    if not previous:
        periods = [StatusPeriod("granted", since)] if status == "granted" else \
                  [StatusPeriod("granted", since), StatusPeriod("withdrawn", max(since, now))]
        return tuple(periods)
    if previous[-1].status == status:
        return tuple(previous)
    return (*previous, StatusPeriod(status, max(now, previous[-1].start)))


def _last_published(s: Any, kind: str) -> tuple[int, TrustList | None]:
    row = s.scalar(select(PublishedTrustList).where(PublishedTrustList.kind == kind)
                   .order_by(PublishedTrustList.sequence_number.desc()).limit(1))
    if row is None:
        return 0, None
    tl, _ = open_list(row.document.encode("utf-8"), None)
    return row.sequence_number, tl


def _store_published(sessions: Any, kind: str, tl: TrustList, document: bytes, actor: str,
                     details: dict[str, Any]) -> None:
    try:
        with db.transaction(sessions) as s:
            s.add(PublishedTrustList(kind=kind, sequence_number=tl.sequence_number, issued_at=tl.issue_date,
                                     next_update=tl.next_update, document=document.decode("utf-8")))
            s.flush()
            audit.append(s, actor=actor, action=f"trustlist.publish_{kind}",
                         subject=f"trustlist:{kind}:{tl.sequence_number}",
                         details={"sequence_number": tl.sequence_number,
                                  "sha256": hashlib.sha256(document).hexdigest(), **details})
    except IntegrityError:  # uq_trust_published_kind_sequence: two publications read the same last number
        raise TrustListConflict(f"another {kind.upper()} took sequence number {tl.sequence_number} at the same "
                                "moment; this one was not published (publish again for the next number)") from None


# --------------------------------------------------------------------------- region TL


def publish_region_tl(home: Any, keystore: Any, *, actor: str = "admin", validity: _dt.timedelta = DEFAULT_VALIDITY,
                      now: _dt.datetime | None = None, sessions: Any = None) -> bytes:
    """Sign and store the region's next TL; returns the signed JSON bytes."""
    from store.models.ca import CertificateAuthority, IssuedCertificate

    sessions = _sessions(home, sessions)
    now = (now or _now()).replace(microsecond=0)
    key_ref, signer_cert = list_signer(home, keystore, "tl", actor=actor, sessions=sessions)
    with db.transaction(sessions, readonly=True) as s:
        cas = s.scalars(select(CertificateAuthority).order_by(CertificateAuthority.id)).all()
        root = next(c for c in cas if c.kind == "root")
        region_code, region_name, base_url = root.region_code, root.region_name, root.base_url
        current: list[tuple[str, str, x509.Certificate, str, _dt.datetime]] = []
        for ca in cas:
            cert = load_certificate(bytes(ca.certificate))
            kind = "root_ca" if ca.kind == "root" else "issuing_ca"
            current.append((kind, cert.subject.native.get("common_name", ca.name), cert, "granted", cert.not_valid_before))
        rows = s.scalars(select(IssuedCertificate).where(IssuedCertificate.profile.in_(tuple(_SERVICE_PROFILE_TYPES)),
                                                         IssuedCertificate.key_ref.is_not(None))
                         .order_by(IssuedCertificate.id)).all()
        for row in rows:
            cert = load_certificate(bytes(row.der))
            status = "granted" if row.status == "good" and row.not_after > now else "withdrawn"
            current.append((_SERVICE_PROFILE_TYPES[row.profile], cert.subject.native.get("common_name", row.subject),
                            cert, status, cert.not_valid_before))
        seq, previous = _last_published(s, "tl")
    prev_services = {(sv.type, sv.certificates[0].dump()): sv for sv in (previous.services if previous else ())}
    services: list[Service] = []
    seen = set()
    for kind, name, cert, status, since in current:
        key = (kind, cert.dump())
        seen.add(key)
        prev = prev_services.get(key)
        services.append(Service(kind, name, (cert,), _carry(prev.history if prev else None, status, since, now)))
    for key, prev in prev_services.items():
        if key not in seen:
            services.append(Service(prev.type, prev.name, prev.certificates, _carry(prev.history, "withdrawn", now, now)))
    tl = TrustList("TL", f"{region_name}电子认证中心", f"CN-{region_code}", seq + 1, now, now + validity,
                   tuple(services), license_status_uri=license_status_uri(base_url))
    document = sign_list(tl, signer_cert, _signer_fn(keystore, key_ref, actor))
    _store_published(sessions, "tl", tl, document, actor, {"services": len(services), "region": region_code})
    return document


def license_status_uri(base_url: str | None) -> str | None:
    """The region's public e-license record (api/blueprints/licenses.py, JSON; the QR code's
    page /verify/license/<id> shows the same record to people)."""
    if not base_url or not base_url.startswith(("http://", "https://")):
        return None
    return base_url.rstrip("/") + "/api/v1/licenses/{license_id}"


def imported_marker(home: Any, *, sessions: Any = None) -> tuple[Any, ...]:
    """Changes whenever lists are imported (one cheap query): a long-lived verifier reloads
    its trust store when this differs from the value it was built with."""
    sessions = _sessions(home, sessions)
    with db.transaction(sessions, readonly=True) as s:
        return tuple(s.execute(select(func.count(ImportedTrustList.source), func.max(ImportedTrustList.imported_at),
                                      func.sum(ImportedTrustList.sequence_number))).one())


# --------------------------------------------------------------------------- national LOTL


@frozen_record
class PointerSpec:
    """One region for the LOTL: its TL URL and signer certificate. Territory and operator
    are read from the TL itself (fetched and verified with the signer) unless given."""

    url: str
    signer_certificate: x509.Certificate
    territory: str | None = None
    scheme_operator: str | None = None


def build_lotl(home: Any, keystore: Any, pointers: Sequence[PointerSpec] = (), *, withdraw: Sequence[str] = (),
               actor: str = "admin", validity: _dt.timedelta = DEFAULT_VALIDITY, fetcher: Any = None,
               now: _dt.datetime | None = None, sessions: Any = None) -> bytes:
    """Sign and store the next national LOTL: previous pointers carried over, ``pointers``
    added (or re-granted, or their signer replaced), URLs in ``withdraw`` withdrawn now."""
    from store.models.ca import CertificateAuthority

    sessions = _sessions(home, sessions)
    now = (now or _now()).replace(microsecond=0)
    key_ref, signer_cert = list_signer(home, keystore, "lotl", actor=actor, sessions=sessions)
    with db.transaction(sessions, readonly=True) as s:
        root = s.scalar(select(CertificateAuthority).where(CertificateAuthority.kind == "root").limit(1))
        seq, previous = _last_published(s, "lotl")
    prev = {p.url: p for p in (previous.pointers if previous else ())}
    out: dict[str, Pointer] = dict(prev)
    for spec in pointers:
        territory, operator = spec.territory, spec.scheme_operator
        if territory is None or operator is None:
            tl = _fetch_list(spec.url, [spec.signer_certificate], fetcher, "TL")[0]
            territory, operator = territory or tl.scheme_territory, operator or tl.scheme_operator
        old = prev.get(spec.url)
        out[spec.url] = Pointer(territory, operator, spec.url, (spec.signer_certificate,),
                                _carry(old.history if old else None, "granted", now, now))
    for url in withdraw:
        if url not in out:
            raise TrustListError(f"cannot withdraw {url}: it is not in the national list")
        p = out[url]
        out[url] = Pointer(p.territory, p.scheme_operator, p.url, p.signer_certificates,
                           _carry(p.history, "withdrawn", now, now))
    lotl = TrustList("LOTL", f"{root.region_name}信任列表运营机构", "CN", seq + 1, now, now + validity,
                     pointers=tuple(out.values()))
    document = sign_list(lotl, signer_cert, _signer_fn(keystore, key_ref, actor))
    _store_published(sessions, "lotl", lotl, document, actor,
                     {"pointers": {p.url: p.history[-1].status for p in lotl.pointers}})
    return document


# --------------------------------------------------------------------------- import


def _read_source(source: str, fetcher: Any) -> bytes:
    if source.startswith(("http://", "https://")):
        from verify.fetch import Fetcher

        return (fetcher or Fetcher()).get(source).body
    path = Path(source)
    try:
        if not path.is_file():
            raise TrustListError(f"{source}: no such file, and not an http(s) URL")
        return path.read_bytes()
    except OSError as exc:   # a name too long for a file, a file that cannot be read
        raise TrustListError(f"{source[:200]}: cannot be read as a file ({exc.strerror or exc}), "
                             "and not an http(s) URL") from None


def _fetch_list(source: str, signers: Sequence[x509.Certificate] | None, fetcher: Any,
                kind: str) -> tuple[TrustList, x509.Certificate, bytes]:
    try:
        data = _read_source(source, fetcher)
    except FetchError as exc:
        raise TrustListError(f"cannot fetch {source}: {exc}") from None
    tl, signer = open_list(data, signers)
    if tl.type != kind:
        raise TrustListError(f"{source} is a {tl.type}, expected a {kind}")
    return tl, signer, data


# The import records each list's operator name (trust_imported.scheme_name). The format
# allows longer text (model.MAX_TEXT); a name past the column is refused, not cut: no
# operator's name is that long (a region's own lists name theirs in under 50 characters).
SCHEME_NAME_MAX = ImportedTrustList.__table__.c.scheme_name.type.length


def _check_storable(tl: TrustList, what: str) -> None:
    if len(tl.scheme_operator) > SCHEME_NAME_MAX:
        raise TrustListError(f"{what}'s scheme_operator has {len(tl.scheme_operator)} characters, more than the "
                             f"{SCHEME_NAME_MAX} an imported list's operator name is kept with")


@frozen_record
class ImportResult:
    lotl_sequence: int
    imported: tuple[tuple[str, str, int], ...]              # (url, territory, sequence number)
    failures: tuple[tuple[str, str], ...] = field(default=())  # (url, reason)


def import_lotl(home: Any, source: str, pinned_signer: x509.Certificate | bytes, *, fetcher: Any = None,
                actor: str = "admin", now: _dt.datetime | None = None, sessions: Any = None) -> ImportResult:
    """Verify the LOTL at ``source`` (URL or file) with the pinned national signer, then
    fetch and verify every TL it points at with the signer the LOTL names, and store them.

    Raises PinMismatch / TrustListSignatureError / TrustListError for the LOTL itself; a
    TL that fails is reported in ``failures`` and leaves its previously imported copy alone."""
    if len(source) > MAX_TEXT:  # it is stored as the list's source
        raise TrustListError(f"the national list's location is longer than {MAX_TEXT} characters")
    sessions = _sessions(home, sessions)
    now = now or _now()
    pinned = load_certificate(pinned_signer)
    lotl, signer, data = _fetch_list(source, [pinned], fetcher, "LOTL")
    _check_storable(lotl, "the national list")
    if lotl.next_update < now:
        raise TrustListError(f"the national list is stale: its next update was due {lotl.next_update.isoformat()}")
    with db.transaction(sessions, readonly=True) as s:
        stored = {r.source: r.sequence_number for r in s.scalars(select(ImportedTrustList)).all()}
    if stored.get(source, 0) > lotl.sequence_number:
        raise TrustListError(f"the national list at {source} has sequence number {lotl.sequence_number}, older "
                             f"than the {stored[source]} already imported (rollback refused)")
    rows = [(source, "lotl", lotl, signer, data)]
    imported, failures = [], []
    for p in lotl.pointers:
        try:
            tl, tl_signer, tl_data = _fetch_list(p.url, p.signer_certificates, fetcher, "TL")
            _check_storable(tl, "the TL")
            if tl.scheme_territory != p.territory:
                raise TrustListError(f"the TL is for {tl.scheme_territory}, the national list says {p.territory}")
            if tl.next_update < now:
                raise TrustListError(f"stale TL (next update was due {tl.next_update.isoformat()})")
            if stored.get(p.url, 0) > tl.sequence_number:
                raise TrustListError(f"sequence number {tl.sequence_number} is older than the imported "
                                     f"{stored[p.url]} (rollback refused)")
        except TrustListError as exc:
            failures.append((p.url, str(exc)))
            continue
        rows.append((p.url, "tl", tl, tl_signer, tl_data))
        imported.append((p.url, tl.scheme_territory, tl.sequence_number))
    with db.transaction(sessions) as s:
        for src, kind, tl, sig_cert, raw in rows:
            row = s.scalar(select(ImportedTrustList).where(ImportedTrustList.source == src))
            values = dict(kind=kind, scheme_name=tl.scheme_operator, sequence_number=tl.sequence_number,
                          issued_at=tl.issue_date, next_update=tl.next_update,
                          signer_sha256=hashlib.sha256(sig_cert.dump()).hexdigest(),
                          document=raw.decode("utf-8"), imported_at=_now())
            if row is None:
                s.add(ImportedTrustList(source=src, **values))
            else:
                for k, v in values.items():
                    setattr(row, k, v)
        audit.append(s, actor=actor, action="trustlist.import", subject=f"lotl:{source}"[:200], details={
            "lotl_sequence": lotl.sequence_number, "pinned_sha256": hashlib.sha256(pinned.dump()).hexdigest(),
            "imported": [list(i) for i in imported], "failures": [list(f) for f in failures]})
    return ImportResult(lotl.sequence_number, tuple(imported), tuple(failures))


def refresh_lotl(home: Any, pinned_signer: x509.Certificate | bytes, *, fetcher: Any = None, actor: str = "admin",
                 force: bool = False, now: _dt.datetime | None = None, sessions: Any = None) -> ImportResult | None:
    """Re-import the stored national list when any imported list is due (or ``force``);
    None when nothing was due."""
    sessions = _sessions(home, sessions)
    now = now or _now()
    with db.transaction(sessions, readonly=True) as s:
        lotl = s.scalar(select(ImportedTrustList).where(ImportedTrustList.kind == "lotl")
                        .order_by(ImportedTrustList.imported_at.desc()).limit(1))
        if lotl is None:
            raise TrustListError("no national list imported yet: run `eseal tl import --lotl ... --pin ...`")
        due = s.scalar(select(func.min(ImportedTrustList.next_update)))
        source = lotl.source
    if not force and due is not None and due - _dt.timedelta(days=1) > now:
        return None
    return import_lotl(home, source, pinned_signer, fetcher=fetcher, actor=actor, now=now, sessions=sessions)


# --------------------------------------------------------------------------- loading


def load_trust_store(home: Any, *, own_region: bool = True, sessions: Any = None) -> TrustStore:
    """The trust store of a home: the imported TLs (re-verified, with their LOTL pointer's
    history) and, with ``own_region``, the home's own root as an anchor and its other CA
    certificates as intermediates.

    A stored list that no longer opens (altered in the database, or refused by a stricter
    reading than the one it was imported under) is left out and named in ``unusable``:
    its regions' signatures find no anchor and their reports say why, while every other
    region's, and this home's own, still verify."""
    from store.models.ca import CertificateAuthority

    sessions = _sessions(home, sessions)
    with db.transaction(sessions, readonly=True) as s:
        rows = [(r.source, r.kind, r.document, r.signer_sha256) for r in s.scalars(select(ImportedTrustList)).all()]
        own = [(r.kind, bytes(r.certificate)) for r in s.scalars(select(CertificateAuthority)).all()] \
            if own_region else []
    lists, unusable = {}, []
    for source, kind, document, signer_sha in rows:
        try:
            tl, signer = open_list(document.encode("utf-8"), None)
        except TrustListError as exc:
            unusable.append((source, str(exc)))
            continue
        if not _same_signer(signer, signer_sha):
            unusable.append((source, "signed by another certificate than the one it was imported with"))
            continue
        lists[source] = tl
    pointers = {p.url: (p, ListRef.of(tl, source)) for source, tl in lists.items() if tl.type == "LOTL"
                for p in tl.pointers}
    store = TrustStore()
    store.unusable = unusable
    for source, tl in lists.items():
        if tl.type == "TL":
            pointer, national = pointers.get(source, (None, None))
            store.add_list(tl, pointer, source=source, national=national)
    for kind, der in own:   # the root is trusted; the home's other CAs complete chains without a fetch
        (store.add_anchor if kind == "root" else store.add_intermediate)(der)
    return store


def trust_store_from_file(path: str | Path, *, expected_signer: x509.Certificate | None = None) -> TrustStore:
    """A trust store from one signed TL file (``eseal verify --trust-list F``)."""
    tl, _ = open_list(Path(path).read_bytes(), [expected_signer] if expected_signer is not None else None)
    if tl.type != "TL":
        raise TrustListError(f"{path} is a {tl.type}; give a regional TL (or import the LOTL into a home)")
    store = TrustStore()
    store.add_list(tl, source=str(path))
    return store


# --------------------------------------------------------------------------- status summary


def _same_signer(signer: x509.Certificate, signer_sha256: str | None) -> bool:
    return signer_sha256 is None or hashlib.sha256(signer.dump()).hexdigest() == signer_sha256


def _entries(tl: TrustList) -> list[dict[str, Any]]:
    if tl.type == "TL":
        return [{"type": s.type, "name": s.name, "status": s.history[-1].status,
                 "since": format_time(s.history[-1].start)} for s in tl.services]
    return [{"name": p.scheme_operator, "territory": p.territory, "url": p.url, "status": p.history[-1].status,
             "since": format_time(p.history[-1].start)} for p in tl.pointers]


def _summary(kind: str, document: str, sequence: int, issued: _dt.datetime, next_update: _dt.datetime,
             now: _dt.datetime, signer_sha256: str | None = None, **extra: Any) -> dict[str, Any]:
    out: dict[str, Any] = {"kind": kind, **extra, "sequence_number": sequence, "issued_at": format_time(issued),
                           "next_update": format_time(next_update), "due": next_update <= now}
    try:
        tl, signer = open_list(document.encode("utf-8"), None)
    except TrustListError as exc:  # a stored list that no longer verifies is shown, not hidden
        return {**out, "signature_ok": False, "error": str(exc), "entries": []}
    ok = _same_signer(signer, signer_sha256)
    out.update(scheme_operator=tl.scheme_operator,
               territory=tl.scheme_territory, signature_ok=ok, entries=_entries(tl))
    if not ok:
        out["error"] = "signed by another certificate than the one it was imported with"
    return out


def trust_status(home: Any, *, sessions: Any = None) -> dict[str, Any]:
    """This home's newest published TL and LOTL and every imported list, each re-verified, with
    its entries' current statuses (the REST status endpoint and the console show this dict)."""
    now = _dt.datetime.now(UTC)
    published: dict[str, Any] = {"tl": None, "lotl": None}
    with db.transaction(_sessions(home, sessions), readonly=True) as s:
        for kind in published:
            row = s.scalar(select(PublishedTrustList).where(PublishedTrustList.kind == kind)
                           .order_by(PublishedTrustList.sequence_number.desc()).limit(1))
            if row is not None:
                published[kind] = _summary(kind, row.document, row.sequence_number, row.issued_at,
                                           row.next_update, now)
        imported = [_summary(r.kind, r.document, r.sequence_number, r.issued_at, r.next_update, now,
                             r.signer_sha256, source=r.source, imported_at=format_time(r.imported_at))
                    for r in s.scalars(select(ImportedTrustList).order_by(ImportedTrustList.kind.desc(),
                                                                          ImportedTrustList.source))]
    return {"published": published, "imported": imported}
