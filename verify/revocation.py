"""Revocation status of a certificate: OCSP (RFC 6960) first, then CRLs (RFC 5280 §6.3).

:class:`RevocationChecker.check` answers for one certificate and its issuer with a
:class:`verify.report.RevocationEvidence` (what was used) and one ``REVOCATION_STATUS``
check. The rules:

* OCSP, from the certificate's AIA: a request with a nonce is POSTed; the answer must be
  signed by the issuer itself or by a delegated responder whose certificate is issued by
  the issuer (signature checked) and carries id-kp-OCSPSigning; the CertID (hash of the
  issuer name and key, serial) must match; thisUpdate must not be in the future and
  nextUpdate not in the past (no nextUpdate: thisUpdate at most ``max_ocsp_age`` old); an
  echoed nonce must be ours.
* CRL, from the CRL distribution points (or the offline CRLs given to the checker): the
  issuer name and AKI must name the issuer, the signature verify with its key, nextUpdate
  not passed; its Issuing Distribution Point must cover the certificate (RFC 5280 §6.3.3
  (b)(2), verify/crl_scope.py: another partition's CRL is not used); a fresh delta CRL
  (freshest-CRL pointer) of the same scope based on the full CRL completes it (RFC 5280
  §5.2.4; removeFromCRL takes a held certificate off).
* Own registry first (``registry``, given by verify/service.py for a home): a certificate
  issued by one of the home's own CAs is answered from the CA's database, as its OCSP
  responder would answer, without a request to itself; never cached (always current):
  read once per certificate within one verification (:func:`one_reading`), afresh for the next.
* Answers are cached by nextUpdate: in memory, keyed by URL (and CertID for OCSP), and
  optionally in the ``verify_revocation_cache`` table (its row keyed by the SHA-256 of the
  whole key, however long the URL) so that workers share them; never
  longer than ``max_reuse`` (ESEAL_VERIFY_STATUS_MAX_AGE, verify/freshness.py) when set.
* Decision, given the time the signature is proven to have existed (``poe``, a timestamp)
  and the claimed signing time: good -> PASSED; revoked at R with poe < R -> PASSED (the
  evidence shows R); poe >= R or claimed >= R -> REVOKED; revoked with neither proof nor
  claim before R -> REVOKED_NO_POE for a signature, REVOKED for a bare certificate check;
  OCSP "unknown" -> CERTIFICATE_CHAIN_GENERAL_FAILURE; no usable answer -> TRY_LATER with
  every reason collected.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
import threading
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from functools import wraps
from typing import Any

from asn1crypto import core, pem, x509
from asn1crypto import crl as acrl
from asn1crypto import ocsp as aocsp

from gm.records import frozen_record
from verify.certfacts import facts_of
from verify.crl_scope import WHOLE, CRLScope, delta_fits, refusal, scope_of
from verify.errors import FetchError, InputError
from verify.freshness import status_max_age
from verify.path import cert_label, verify_signed
from verify.report import STRICT, Check, Policy, RevocationEvidence, SubIndication

__all__ = ["RevocationChecker", "RevocationCache", "RevocationOutcome", "CRLInfo", "parse_crl",
           "UnusableAnswer"]

UTC = _dt.timezone.utc
CLOCK_SKEW = _dt.timedelta(minutes=5)
_CRL_KNOWN_CRITICAL = {"issuing_distribution_point", "delta_crl_indicator"}


class UnusableAnswer(Exception):
    """An OCSP answer or CRL that cannot be used (internal; becomes a TRY_LATER reason)."""


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


# --------------------------------------------------------------------------- cache


# How often one process clears the table's expired rows (after a write that stores an answer)
PRUNE_EVERY = _dt.timedelta(minutes=10)
PRUNE_BATCH = 5000                              # rows deleted by one write, at most
_last_prune: dict[str, _dt.datetime] = {}      # database (its URL) -> this process's last prune
_prune_lock = threading.Lock()


class RevocationCache:
    """Revocation answers by key until their nextUpdate. With ``sessions`` (a SQLAlchemy
    sessionmaker over a migrated eseal database) answers are also kept in the
    ``verify_revocation_cache`` table; the in-memory copy is checked first. A row past its
    nextUpdate is never read again: the write that stores an answer is followed by the
    deletion of those, at
    most once every ``prune_every`` per process and database, so the table holds about
    what is current (through ix_verify_revocation_cache_next_update, migration 0020)."""

    def __init__(self, sessions: Any = None, *, max_entries: int = 10000,
                 prune_every: _dt.timedelta = PRUNE_EVERY) -> None:
        self._mem: dict[str, tuple[Any, _dt.datetime]] = {}
        self._lock = threading.Lock()
        self.generation = 0          # bumped by every put: a decision built on older entries is stale
        self._sessions = sessions
        self.max_entries = max_entries
        self.prune_every = prune_every
        self.hits = 0
        self.misses = 0

    def get(self, key: str, now: _dt.datetime, used: list[_dt.datetime] | None = None) -> Any:
        """The fresh answer under ``key`` or None; its expiry is appended to ``used``."""
        with self._lock:
            entry = self._mem.get(key)
        if entry is not None and entry[1] > now:
            self.hits += 1
            if used is not None:
                used.append(entry[1])
            return entry[0]
        self.misses += 1
        return None

    def put(self, key: str, value: Any, next_update: _dt.datetime | None) -> None:
        if next_update is None:
            return
        with self._lock:
            if len(self._mem) >= self.max_entries:
                self._mem.clear()
            self._mem[key] = (value, next_update)
            self.generation += 1

    def get_der(self, key: str, now: _dt.datetime) -> bytes | None:
        """Raw DER of a stored answer (persistent table), when still fresh."""
        if self._sessions is None:
            return None
        from sqlalchemy import select

        from store import db
        from store.models.trust import RevocationCacheEntry

        with db.transaction(self._sessions, readonly=True) as s:
            row = s.scalar(select(RevocationCacheEntry).where(RevocationCacheEntry.key == _row_key(key)))
            if row is None or row.next_update <= now:
                return None
            return bytes(row.der)

    def put_der(self, key: str, der: bytes, next_update: _dt.datetime | None, url: str) -> None:
        if self._sessions is None or next_update is None:
            return
        from sqlalchemy import delete, select
        from sqlalchemy.exc import DBAPIError

        from store import db
        from store.models.trust import RevocationCacheEntry

        now = _now()
        with db.transaction(self._sessions) as s:
            row = s.scalar(select(RevocationCacheEntry).where(RevocationCacheEntry.key == _row_key(key)))
            if row is None:
                s.add(RevocationCacheEntry(key=_row_key(key), url=_url_label(url), der=der,
                                           next_update=next_update, fetched_at=now))
            else:
                row.der, row.next_update, row.fetched_at = der, next_update, now
            database = s.get_bind().url.render_as_string(hide_password=True)
        if not self._prune_due(database, now):
            return
        # Its own transaction, after the answer is stored: a worker holding the lock of the
        # row it just wrote while it waits for another's pruning could deadlock with it, and
        # a failed prune must not lose the answer (the next one catches up).
        try:
            with db.transaction(self._sessions) as s:
                # a bounded batch keeps this write short after a long time without pruning (a
                # table from before migration 0020); a full batch lets the next write go on
                expired = (select(RevocationCacheEntry.id).where(RevocationCacheEntry.next_update <= now)
                           .limit(PRUNE_BATCH).scalar_subquery())
                done = s.execute(delete(RevocationCacheEntry).where(RevocationCacheEntry.id.in_(expired)))
                more = done.rowcount >= PRUNE_BATCH
        except DBAPIError:
            more = True
        if more:
            with _prune_lock:
                _last_prune.pop(database, None)

    def _prune_due(self, database: str, now: _dt.datetime) -> bool:
        """Whether the expired rows are due to be cleared (and, if so, note that they are)."""
        with _prune_lock:
            last = _last_prune.get(database)
            if last is not None and now - last < self.prune_every:
                return False
            _last_prune[database] = now
            return True


def _row_key(key: str) -> str:
    """The table's key for a cache key: its SHA-256 in hex. The key holds the whole URL (a
    certificate's, any length); its first 500 characters once served, and two long URLs
    sharing them -- two CRL partitions of one CA, or every certificate under one long OCSP
    address -- shared a row: a CRL of one partition answered for the other."""
    return hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


def _url_label(url: str) -> str:
    """The ``url`` column, for people reading the table (never looked up): a URL past its
    1,000 characters is cut with a visible mark."""
    return url if len(url) <= 1000 else url[:999] + "\u2026"


# The home's own registry answers within one verification: a document's chains meet at the
# same CAs (the signer's, the TSA's and the seal maker's paths share the issuing CA), which is
# read once for that verification -- one instant -- and afresh for the next.
_READINGS: ContextVar[dict[tuple[bytes, int], Any] | None] = ContextVar("eseal_registry_readings", default=None)


@contextmanager
def one_reading() -> Iterator[None]:
    """Within this block each certificate's registry status is read once, and the home's
    database is read through one connection (store.db.reading_together)."""
    from store.db import reading_together

    token = _READINGS.set({})
    try:
        with reading_together():
            yield
    finally:
        _READINGS.reset(token)


def read_once(method: Callable[..., Any]) -> Callable[..., Any]:
    """Decorate a verification entry point with :func:`one_reading` (outermost call wins)."""
    @wraps(method)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if _READINGS.get() is not None:
            return method(*args, **kwargs)
        # one_reading() written out: this runs once per document, and a generator-based
        # context manager costs a few microseconds more than these lines
        from store.db import reading_together

        token = _READINGS.set({})
        try:
            with reading_together():
                return method(*args, **kwargs)
        finally:
            _READINGS.reset(token)
    return wrapper


# --------------------------------------------------------------------------- CRLs


@frozen_record
class CRLInfo:
    """A parsed, signature-checked CRL reduced to what a status answer needs."""

    issuer_hashable: Any
    this_update: _dt.datetime
    next_update: _dt.datetime | None
    revoked: dict[int, tuple[_dt.datetime, str | None]]
    is_delta: bool
    number: int | None
    url: str = ""
    base_number: int | None = None      # a delta CRL's deltaCRLIndicator
    scope: CRLScope = WHOLE             # its issuingDistributionPoint (verify/crl_scope.py)


# What asn1crypto raises on damaged input, early or late: it parses lazily, so a field deep
# in a name or an extension breaks only when it is first read (found by fuzzing,
# tests/test_fuzz_crl_ocsp_trustlist.py: a CRL issuer name with a bad string type, an OCSP
# responder name with unassigned code points; a responder certificate whose name cannot be
# read, which verify.certfacts reports as InputError). Such an answer is unusable (TRY_LATER),
# not a fault of the document being verified.
_MALFORMED = (ValueError, TypeError, KeyError, AttributeError, IndexError, OverflowError, InputError)


def parse_crl(der: bytes, issuer: x509.Certificate, *, url: str = "") -> CRLInfo:
    """Check a CRL against its issuer (name, AKI, signature) and index its entries.
    Raises UnusableAnswer naming the problem."""
    try:
        return _parse_crl(der, issuer, url)
    except _MALFORMED as exc:
        raise UnusableAnswer(f"CRL {url or ''} is malformed: {exc}") from None


def _parse_crl(der: bytes, issuer: x509.Certificate, url: str) -> CRLInfo:
    if pem.detect(der):
        _, _, der = pem.unarmor(der)
    cl = acrl.CertificateList.load(der)
    tbs = cl["tbs_cert_list"]
    issuer_name = tbs["issuer"]
    this_update = tbs["this_update"].native
    next_update = tbs["next_update"].native
    crit = cl.critical_extensions
    if issuer_name.hashable != issuer.subject.hashable:
        raise UnusableAnswer(f"CRL {url} is issued by {issuer_name.human_friendly}, "
                             f"not by {issuer.subject.human_friendly}")
    aki = cl.authority_key_identifier
    if aki is not None and issuer.key_identifier is not None and aki != issuer.key_identifier:
        raise UnusableAnswer(f"CRL {url}: authority key identifier does not name the issuer's key")
    unknown = sorted(str(e) for e in crit if e not in _CRL_KNOWN_CRITICAL)
    if unknown:
        raise UnusableAnswer(f"CRL {url}: unsupported critical extension(s) {', '.join(unknown)}")
    outcome = verify_signed(cl["signature_algorithm"], cl["signature"].native, tbs.dump(), issuer.public_key)
    if not outcome.ok:
        raise UnusableAnswer(f"CRL {url}: signature does not verify with the issuer's key: {outcome.error}")
    revoked: dict[int, tuple[_dt.datetime, str | None]] = {}
    try:
        for entry in tbs["revoked_certificates"]:
            reason = None
            for ext in entry["crl_entry_extensions"]:
                if ext["extn_id"].native == "crl_reason":
                    reason = ext["extn_value"].native
            revoked[entry["user_certificate"].native] = (entry["revocation_date"].native, reason)
    except (ValueError, TypeError, KeyError) as exc:
        raise UnusableAnswer(f"CRL {url}: malformed entry: {exc}") from None
    base = cl.delta_crl_indicator_value
    return CRLInfo(issuer.subject.hashable, this_update, next_update, revoked, base is not None,
                   cl.crl_number_value.native if cl.crl_number_value is not None else None, url,
                   base.native if base is not None else None,
                   scope_of(cl.issuing_distribution_point_value, issuer_name))


# --------------------------------------------------------------------------- outcome


# a key compromise: what the key signed before the revocation time cannot be trusted either
# (the registry spells reasons as RFC 5280 does, asn1crypto's CRL and OCSP parsers in snake case)
COMPROMISE_REASONS = frozenset({"keyCompromise", "cACompromise", "key_compromise", "ca_compromise"})


@frozen_record
class RevocationOutcome:
    evidence: RevocationEvidence
    check: Check


@dataclass
class _Answer:
    status: str                     # good | revoked | unknown
    source: str
    url: str
    this_update: _dt.datetime | None = None
    next_update: _dt.datetime | None = None
    produced_at: _dt.datetime | None = None
    revoked_at: _dt.datetime | None = None
    reason: str | None = None
    responder: str = ""
    from_cache: bool = False


@dataclass
class RevocationChecker:
    """``RevocationChecker(fetcher).check(cert, issuer, poe=..., claimed=...)``.

    ``online=False`` is the offline mode: nothing is fetched, only ``offline_crls`` (DER or
    PEM CRLs given by the caller) and cached answers are used."""

    fetcher: Any = None
    cache: RevocationCache = field(default_factory=RevocationCache)
    offline_crls: Iterable[bytes] = ()
    online: bool = True
    prefer_ocsp: bool = True
    max_ocsp_age: _dt.timedelta = _dt.timedelta(days=1)
    policy: Policy = STRICT
    # answers are reused until nextUpdate, or at most this long (verify/freshness.py)
    max_reuse: _dt.timedelta | None = field(default_factory=status_max_age)
    # (cert, issuer) -> [cache generation, valid until, answer, outcome]: the answer found only
    # from answers held in memory is the same until one of them is due or the cache changes
    # (see check); the decision on a revoked one, which depends on the signature's times, is
    # made afresh each time (a good one's outcome is kept with it)
    _answered: dict[tuple[bytes, bytes], list[Any]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    # (cert, issuer) -> RegistryStatus | None: this home's own CA database (verify/registry.py)
    registry: Any = None

    def __post_init__(self) -> None:
        self.offline_crls = [bytes(c) for c in self.offline_crls]
        if self.fetcher is None and self.online:
            from verify.fetch import Fetcher

            self.fetcher = Fetcher()

    # ------------------------------------------------------------------------------

    def check(self, cert: x509.Certificate, issuer: x509.Certificate, *, poe: _dt.datetime | None = None,
              claimed: _dt.datetime | None = None, signature: bool = False,
              now: _dt.datetime | None = None, compromise_voids: bool = False) -> RevocationOutcome:
        """Status of ``cert`` (issued by ``issuer``). ``signature`` says whether a signature
        depends on it (then a revocation without proof of earlier existence is
        REVOKED_NO_POE rather than REVOKED). ``compromise_voids``: a revocation for a key
        compromise fails even after ``poe`` (a TSA's certificate, RFC 3161 section 4)."""
        now = now or _now()
        # Offline CRLs are judged afresh each time; otherwise an answer found from answers all
        # held in memory is reused while every one of them is fresh and none was replaced (per
        # certificate, not per signature: the decision below is made for each signature's times).
        memo_key = None if self.offline_crls else (facts_of(cert).der, facts_of(issuer).der)
        errors: list[str] = []
        memo = self._answered.get(memo_key) if memo_key is not None else None
        if memo is not None and memo[0] == self.cache.generation and now < memo[1]:
            answer = memo[2]
            if answer.status == "good":
                # "good" is judged the same whatever the signature's times: the outcome of a
                # held answer is one object (no errors are gathered without a search)
                if memo[3] is None:
                    memo[3] = self._outcome(cert, answer, [], poe, claimed, signature, compromise_voids)
                return memo[3]
        else:
            answer = self._find(cert, issuer, now, errors, memo_key)
        return self._outcome(cert, answer, errors, poe, claimed, signature, compromise_voids)

    def _outcome(self, cert: x509.Certificate, answer: _Answer | None, errors: list[str],
                 poe: _dt.datetime | None, claimed: _dt.datetime | None, signature: bool,
                 compromise_voids: bool) -> RevocationOutcome:
        label = cert_label(cert)
        serial = format(facts_of(cert).serial, "x")
        if answer is None:
            evidence = RevocationEvidence(serial, "none", "unavailable", errors=tuple(errors))
            why = "; ".join(errors) or "the certificate names no OCSP responder or CRL"
            return RevocationOutcome(evidence, self.policy.failed(
                "REVOCATION_STATUS", f"{label}: revocation status unavailable ({why})",
                SubIndication.TRY_LATER, subject=label))
        evidence = RevocationEvidence(
            serial, answer.source, answer.status, answer.url, answer.this_update, answer.next_update,
            answer.produced_at, answer.revoked_at, answer.reason, answer.responder, answer.from_cache,
            tuple(errors))
        return RevocationOutcome(evidence, self._decide(label, answer, poe, claimed, signature, compromise_voids))

    def _find(self, cert: x509.Certificate, issuer: x509.Certificate, now: _dt.datetime, errors: list[str],
              memo_key: tuple[bytes, bytes] | None) -> _Answer | None:
        generation = self.cache.generation
        used: list[_dt.datetime] = []
        fetched: list[bool] = []
        answer = None
        sources = (self._ocsp, self._crl) if self.prefer_ocsp else (self._crl, self._ocsp)
        if self.registry is not None:
            sources = (self._registry, *sources)
        for source in sources:
            answer = source(cert, issuer, now, errors, used, fetched)
            if answer is not None:
                break
        if (answer is not None and memo_key is not None and used and not errors and not fetched
                and self.cache.generation == generation):
            if len(self._answered) >= 4096:
                self._answered.clear()
            self._answered[memo_key] = [generation, min(used), answer, None]   # the outcome, once judged
        return answer

    def _decide(self, label: str, a: _Answer, poe: _dt.datetime | None, claimed: _dt.datetime | None,
                signature: bool, compromise_voids: bool = False) -> Check:
        p = self.policy
        src = f"{a.source} {a.url}".strip()
        if a.status == "good":
            return p.passed("REVOCATION_STATUS", f"{label}: good ({src}, this update "
                            f"{a.this_update.isoformat() if a.this_update else '?'})", subject=label)
        if a.status == "unknown":
            return p.failed("REVOCATION_STATUS", f"{label}: the responder does not know this certificate ({src})",
                            SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE, subject=label)
        r = a.revoked_at
        what = f"{label}: revoked at {r.isoformat()}" + (f" ({a.reason})" if a.reason else "") + f" [{src}]"
        if poe is not None and poe < r and not (compromise_voids and a.reason in COMPROMISE_REASONS):
            return p.passed("REVOCATION_STATUS", f"{what}, after the signature's proven existence at "
                            f"{poe.isoformat()}", subject=label, revoked_at=r, poe=poe)
        if poe is not None or (claimed is not None and claimed >= r) or not signature:
            return p.failed("REVOCATION_STATUS", what, SubIndication.REVOKED, subject=label, revoked_at=r)
        return p.failed("REVOCATION_STATUS", f"{what}; no proof that the signature existed before",
                        SubIndication.REVOKED_NO_POE, subject=label, revoked_at=r)

    # ------------------------------------------------------------------------------ registry

    def _registry(self, cert: x509.Certificate, issuer: x509.Certificate, now: _dt.datetime,
                  errors: list[str], used: list[_dt.datetime] | None = None,
                  fetched: list[bool] | None = None) -> _Answer | None:
        readings = _READINGS.get()
        key = (facts_of(issuer).der, facts_of(cert).serial)
        if readings is not None and key in readings:
            found = readings[key]
        else:
            found = self.registry(cert, issuer)
            if readings is not None:
                readings[key] = found
        if found is None:       # not one of ours: ask the certificate's OCSP / CRL
            return None
        if fetched is not None:  # a live answer: the decision is not memoised
            fetched.append(True)
        return _Answer(found.status, "registry", found.where, this_update=now, produced_at=now,
                       revoked_at=found.revoked_at, reason=found.reason, responder=found.where)

    # ------------------------------------------------------------------------------ OCSP

    def _ocsp(self, cert: x509.Certificate, issuer: x509.Certificate, now: _dt.datetime,
              errors: list[str], used: list[_dt.datetime] | None = None,
              fetched: list[bool] | None = None) -> _Answer | None:
        for url in facts_of(cert).ocsp_urls:
            key = f"ocsp|{url}|{facts_of(issuer).key_sha1.hex()}|{facts_of(cert).serial:x}"
            cached = self.cache.get(key, now, used)
            if cached is not None:
                return _Answer(**{**cached.__dict__, "from_cache": True})
            if fetched is not None:
                fetched.append(True)
            der = self.cache.get_der(key, now)
            nonce = None
            if der is None:
                if not self.online:
                    errors.append(f"OCSP {url}: offline mode")
                    continue
                nonce = secrets.token_bytes(16)
                try:
                    der = self.fetcher.post(url, _ocsp_request(cert, issuer, nonce),
                                            "application/ocsp-request").body
                except FetchError as exc:
                    errors.append(f"OCSP {url}: {exc} [{exc.reason}]")
                    continue
            try:
                answer = _parse_ocsp(der, cert, issuer, nonce, now, self.max_ocsp_age, url)
            except UnusableAnswer as exc:
                errors.append(str(exc))
                continue
            expiry = answer.next_update or (answer.this_update + self.max_ocsp_age)
            self.cache.put(key, answer, self._reuse_until(expiry, now))
            self.cache.put_der(key, der, self._reuse_until(answer.next_update, now), url)
            return answer
        return None

    # ------------------------------------------------------------------------------ CRL

    def _crl(self, cert: x509.Certificate, issuer: x509.Certificate, now: _dt.datetime,
             errors: list[str], used: list[_dt.datetime] | None = None,
             fetched: list[bool] | None = None) -> _Answer | None:
        infos: list[CRLInfo] = []
        issuer_name = facts_of(issuer).subject
        for i, der in enumerate(self.offline_crls):
            try:
                head = acrl.CertificateList.load(der if not pem.detect(der) else pem.unarmor(der)[2])
                if head["tbs_cert_list"]["issuer"].hashable != issuer_name:
                    continue
                infos.append(parse_crl(der, issuer, url=f"offline CRL #{i + 1}"))
            except UnusableAnswer as exc:
                errors.append(str(exc))
            except (ValueError, TypeError, KeyError) as exc:
                errors.append(f"offline CRL #{i + 1} is malformed: {exc}")
        for url in facts_of(cert).crl_urls:
            info = self._fetch_crl(url, issuer, issuer_name, now, errors, used, fetched)
            if info is not None:
                infos.append(info)
        deltas = [d for d in infos if d.is_delta]
        for url in facts_of(cert).delta_crl_urls:
            info = self._fetch_crl(url, issuer, issuer_name, now, errors, used, fetched)
            if info is not None and info.is_delta:
                deltas.append(info)
        for info in infos:
            if info.is_delta:
                continue
            why = refusal(info.scope, cert, facts_of(cert).is_ca)
            if why is not None:        # RFC 5280 §6.3.3 (b)(2): another partition's CRL
                errors.append(f"CRL {info.url}: {why}")
                continue
            if info.next_update is not None and info.next_update < now:
                errors.append(f"CRL {info.url}: stale (next update {info.next_update.isoformat()} has passed)")
                continue
            if info.this_update > now + CLOCK_SKEW:
                errors.append(f"CRL {info.url}: this update {info.this_update.isoformat()} is in the future")
                continue
            source = "offline-crl" if info.url.startswith("offline") else "crl"
            serial = facts_of(cert).serial
            hit = info.revoked.get(serial)
            # RFC 5280 §5.2.4: a fresh delta CRL based on this full CRL (or an older one)
            # completes it; removeFromCRL takes a held certificate back off.
            for delta in deltas:
                if (delta.base_number is None or info.number is None or delta.base_number > info.number
                        or (delta.next_update is not None and delta.next_update < now)):
                    continue
                if not delta_fits(delta.scope, info.scope):
                    errors.append(f"delta CRL {delta.url}: its distribution point is not the full CRL's "
                                  f"{info.url}; not used")
                    continue
                change = delta.revoked.get(serial)
                if change is not None:
                    hit = None if change[1] == "remove_from_crl" else change
                    source = f"{source}+delta"
                break
            if hit is None:
                return _Answer("good", source, info.url, info.this_update, info.next_update)
            return _Answer("revoked", source, info.url, info.this_update, info.next_update,
                           revoked_at=hit[0], reason=hit[1])
        return None

    def _fetch_crl(self, url: str, issuer: x509.Certificate, issuer_name: Any, now: _dt.datetime,
                   errors: list[str], used: list[_dt.datetime] | None = None,
                   fetched: list[bool] | None = None) -> CRLInfo | None:
        key = f"crl|{url}"
        held: list[_dt.datetime] = []
        info = self.cache.get(key, now, held)
        if info is not None and info.issuer_hashable == issuer_name:
            if used is not None:
                used.extend(held)
            return info
        if fetched is not None:
            fetched.append(True)
        der = self.cache.get_der(key, now)
        if der is None:
            if not self.online:
                errors.append(f"CRL {url}: offline mode")
                return None
            try:
                der = self.fetcher.get(url).body
            except FetchError as exc:
                errors.append(f"CRL {url}: {exc} [{exc.reason}]")
                return None
        try:
            info = parse_crl(der, issuer, url=url)
        except UnusableAnswer as exc:
            errors.append(str(exc))
            return None
        if info.this_update > now + CLOCK_SKEW:
            # not usable yet (_crl says so): kept, it would stand in for the issuer's next,
            # corrected CRL until its own nextUpdate, perhaps a week of TRY_LATER
            return info
        self.cache.put(key, info, self._reuse_until(info.next_update, now))
        self.cache.put_der(key, der, self._reuse_until(info.next_update, now), url)
        return info

    def _reuse_until(self, until: _dt.datetime | None, now: _dt.datetime) -> _dt.datetime | None:
        if until is None or self.max_reuse is None:
            return until
        return min(until, now + self.max_reuse)


# --------------------------------------------------------------------------- OCSP helpers


def _ocsp_request(cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes) -> bytes:
    from ca.ocsp import cert_id_for

    cid = cert_id_for(issuer, cert.serial_number, "sha1")
    return aocsp.OCSPRequest({"tbs_request": {
        "request_list": [{"req_cert": cid.raw}],
        "request_extensions": [{"extn_id": "nonce", "critical": False,
                                "extn_value": core.OctetString(nonce)}],
    }}).dump()


def _hash(name: str, data: bytes) -> bytes | None:
    if name == "sha1":
        return hashlib.sha1(data).digest()
    if name == "sha256":
        return hashlib.sha256(data).digest()
    if name in ("sm3", "1.2.156.10197.1.401"):
        from gm.sm3 import sm3

        return sm3(data)
    return None


def _parse_ocsp(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None,
                now: _dt.datetime, max_age: _dt.timedelta, url: str) -> _Answer:
    """The answer for ``cert`` in an OCSP response, checked; UnusableAnswer naming the problem."""
    try:
        return _read_ocsp(der, cert, issuer, nonce, now, max_age, url)
    except _MALFORMED as exc:
        raise UnusableAnswer(f"OCSP {url}: malformed response: {exc}") from None


def _read_ocsp(der: bytes, cert: x509.Certificate, issuer: x509.Certificate, nonce: bytes | None,
               now: _dt.datetime, max_age: _dt.timedelta, url: str) -> _Answer:
    where = f"OCSP {url}"
    resp = aocsp.OCSPResponse.load(der)
    status = resp["response_status"].native
    if status != "successful":
        raise UnusableAnswer(f"{where}: responder answered {status}")
    basic = resp["response_bytes"]["response"].parsed
    data = basic["tbs_response_data"]
    responder_id = data["responder_id"]
    certs = [c for c in basic["certs"]] if basic["certs"].native is not None else []
    produced_at = data["produced_at"].native
    singles = list(data["responses"])
    ext_nonce = None
    for ext in data["response_extensions"]:
        if ext["extn_id"].native == "nonce":
            value = ext["extn_value"].parsed
            ext_nonce = value.native if isinstance(value, core.OctetString) else ext["extn_value"].contents

    signer = _ocsp_signer(responder_id, certs, issuer, now, where)
    outcome = verify_signed(basic["signature_algorithm"], basic["signature"].native, data.dump(), signer.public_key)
    if not outcome.ok:
        raise UnusableAnswer(f"{where}: response signature does not verify: {outcome.error}")
    if produced_at > now + CLOCK_SKEW:
        raise UnusableAnswer(f"{where}: producedAt {produced_at.isoformat()} is in the future")
    if nonce is not None and ext_nonce is not None and ext_nonce != nonce:
        raise UnusableAnswer(f"{where}: the response's nonce is not the request's (replay?)")
    for single in singles:
        cid = single["cert_id"]
        alg = cid["hash_algorithm"]["algorithm"]
        alg_name = alg.native if alg.native in ("sha1", "sha256") else alg.dotted
        name_hash = _hash(alg_name, issuer.subject.dump())
        key_hash = _hash(alg_name, issuer.public_key["public_key"].contents[1:])
        if (name_hash is None or cid["serial_number"].native != cert.serial_number
                or cid["issuer_name_hash"].native != name_hash or cid["issuer_key_hash"].native != key_hash):
            continue
        this_update = single["this_update"].native
        next_update = single["next_update"].native
        if this_update > now + CLOCK_SKEW:
            raise UnusableAnswer(f"{where}: thisUpdate {this_update.isoformat()} is in the future")
        if next_update is not None and next_update < now:
            raise UnusableAnswer(f"{where}: stale answer (nextUpdate {next_update.isoformat()} has passed)")
        if next_update is None and this_update < now - max_age:
            raise UnusableAnswer(f"{where}: answer without nextUpdate is older than {max_age}")
        st = single["cert_status"]
        common = dict(source="ocsp", url=url, this_update=this_update, next_update=next_update,
                      produced_at=produced_at, responder=cert_label(signer))
        if st.name == "good":
            return _Answer("good", **common)
        if st.name == "revoked":
            info = st.chosen
            reason = info["revocation_reason"].native if info["revocation_reason"].native is not None else None
            return _Answer("revoked", revoked_at=info["revocation_time"].native, reason=reason, **common)
        return _Answer("unknown", **common)
    raise UnusableAnswer(f"{where}: no answer for this certificate's CertID in the response")


def _ocsp_signer(responder_id: Any, certs: list[x509.Certificate], issuer: x509.Certificate,
                 now: _dt.datetime, where: str) -> x509.Certificate:
    """The certificate whose key signed the response: the issuer, or a delegated responder
    certificate included in the response, issued by the issuer, with id-kp-OCSPSigning."""

    def named(c: x509.Certificate) -> bool:
        if responder_id.name == "by_key":
            return hashlib.sha1(c.public_key["public_key"].contents[1:]).digest() == responder_id.native
        return c.subject.hashable == responder_id.chosen.hashable

    if named(issuer):
        return issuer
    for c in certs:
        if not named(c):
            continue
        if c.issuer.hashable != issuer.subject.hashable:
            raise UnusableAnswer(f"{where}: responder certificate {cert_label(c)} is not issued by the CA")
        outcome = verify_signed(c["signature_algorithm"], c["signature_value"].native,
                                c["tbs_certificate"].dump(), issuer.public_key)
        if not outcome.ok:
            raise UnusableAnswer(f"{where}: responder certificate {cert_label(c)} is not signed by the CA")
        eku = c.extended_key_usage_value
        if eku is None or "ocsp_signing" not in eku.native:
            raise UnusableAnswer(f"{where}: responder certificate {cert_label(c)} lacks id-kp-OCSPSigning")
        if not c.not_valid_before <= now <= c.not_valid_after:
            raise UnusableAnswer(f"{where}: responder certificate {cert_label(c)} is not valid now")
        return c
    raise UnusableAnswer(f"{where}: response signed by a responder that is neither the CA nor "
                         "authorised by it")
