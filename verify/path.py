"""Certification path building and validation: the RFC 5280 §6 essentials, as checks.

:func:`validate_path` builds a path from a leaf certificate to a trust anchor and checks
it at a validation time (the time proven by a timestamp when there is one):

* building: issuer candidates by name (RFC 5280 name comparison via asn1crypto's
  normalised ``hashable``) and, when both are present, AKI = SKI; candidates come from the
  trust anchors, the certificates carried by the document, the trust store's
  intermediates, and — when a :class:`verify.fetch.Fetcher` is given — the AIA caIssuers
  URL. Each link's signature is checked while building, so a name twin with another key
  is skipped rather than chosen;
* per link: the signature (SM2 with SM3 and the default signer ID over the TBS bytes; RSA
  and ECDSA through ``cryptography`` for foreign chains), validity at the validation time,
  basic constraints cA and pathLenConstraint, keyCertSign, name constraints
  (verify/name_constraints.py), no unknown critical extension;
* the leaf: key usage / extended key usage for the purpose (document signing, seal
  maker, TSA, OCSP responder, CA);
* the anchor: whether its trust service was granted at the validation time (trust lists),
  and whether the lists saying so are past their next update now (a warning by default).

Every outcome is a :class:`verify.report.Check` with a stable code; the first error maps
to a sub-indication: SIG_CRYPTO_FAILURE, EXPIRED, NOT_YET_VALID, CHAIN_CONSTRAINTS_FAILURE,
NO_CERTIFICATE_CHAIN_FOUND, TRUST_SERVICE_WITHDRAWN.

Quirks seen in the wild (raw 64-byte r||s certificate signatures; certificates signed with
an empty signer ID or without Z_A; X.509 v1 CA certificates) pass as ``quirk`` checks:
errors under the strict policy, warnings under the lenient one.

Signature results are cached (tbs, signature, issuer key) -> bool, and SM2 public keys are
kept per point, so a warm chain costs dictionary look-ups, not SM2 verifications.
"""
from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from asn1crypto import cms, pem, x509

from gm.records import frozen_record
from gm.sm2 import PublicKey
from verify.certfacts import facts_of
from verify.errors import FetchError, InputError
from verify.report import STRICT, Check, Policy, SubIndication

__all__ = [
    "load_certificate", "load_certificates", "Purpose", "PURPOSES", "TrustSource", "StaticTrust",
    "PathResult", "validate_path", "verify_signed", "SignatureOutcome", "cert_label",
    "clear_caches",
]

UTC = _dt.timezone.utc
SM2_WITH_SM3 = "1.2.156.10197.1.501"
SM2_CURVE = "1.2.156.10197.1.301"


# --------------------------------------------------------------------------- loading


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    """A certificate from DER or PEM bytes; InputError when it is neither."""
    if isinstance(data, x509.Certificate):
        return data
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InputError("certificate input is empty")
    data = bytes(data)
    try:
        if pem.detect(data):
            _, _, data = pem.unarmor(data)
        cert = x509.Certificate.load(data, strict=True)
    except (ValueError, TypeError, KeyError) as exc:
        raise InputError(f"not an X.509 certificate (DER or PEM): {exc}") from None
    try:
        facts_of(cert)       # reads every field validation needs: fails here, not later
    except InputError as exc:
        raise InputError(f"not an X.509 certificate (DER or PEM): {exc}") from None
    return cert


def load_certificates(data: bytes) -> list[x509.Certificate]:
    """Every certificate of a PEM bundle, a DER certificate, or a PKCS#7 certs-only blob."""
    if pem.detect(data):
        return [load_certificate(der) for kind, _, der in pem.unarmor(data, multiple=True)
                if kind == "CERTIFICATE"]
    try:
        return [load_certificate(data)]
    except InputError:
        pass
    try:
        info = cms.ContentInfo.load(data)
        certs = info["content"]["certificates"]
        return [c.chosen for c in certs if c.name == "certificate"]
    except (ValueError, TypeError, KeyError):
        raise InputError("neither a certificate nor a PKCS#7 certificate bundle") from None


def cert_label(cert: x509.Certificate) -> str:
    return facts_of(cert).label


# --------------------------------------------------------------------------- signatures


@frozen_record
class SignatureOutcome:
    ok: bool
    quirk: str | None = None        # what non-standard encoding was needed, if any
    error: str | None = None


_LOCK = threading.Lock()
_SIG_CACHE: dict[tuple[bytes, bytes, bytes], SignatureOutcome] = {}
# (trust, version, leaf DER, extra DERs, purpose, policy, fetching) -> the path and its
# time-independent checks (and the validity checks as they read when all pass); validity and
# the anchor's status are re-checked at each call
_PATH_CACHE: dict[tuple[Any, ...], tuple[Any, ...]] = {}
_CACHE_LIMIT = 8192


def clear_caches() -> None:
    """Forget cached signature results, keys and certificate facts (benchmarks measure both states)."""
    from verify import certfacts

    with _LOCK:
        _SIG_CACHE.clear()
        PublicKey.forget_shared()
        _PATH_CACHE.clear()
        _FRESHNESS_ROWS.clear()
    certfacts.clear()


def _sm2_key(point: bytes) -> Any:
    return PublicKey.shared(point)


def _is_sm2_key(spki: Any) -> bool:
    alg = spki["algorithm"]
    if alg["algorithm"].native != "ec":
        return False
    params = alg["parameters"]
    return params.name == "named" and params.chosen.dotted == SM2_CURVE


def verify_signed(algorithm: Any, signature: bytes, tbs: bytes, signer_spki: Any,
                  spki_der: bytes | None = None) -> SignatureOutcome:
    """Check ``signature`` over ``tbs`` with the key of ``signer_spki`` (keys.PublicKeyInfo)
    under ``algorithm`` (an asn1crypto SignedDigestAlgorithm). Never raises for a bad or
    malformed signature: returns ok=False with the reason."""
    if spki_der is None:
        spki_der = signer_spki.dump()
    cache_key = (tbs, signature, spki_der)
    hit = _SIG_CACHE.get(cache_key)
    if hit is not None:
        return hit
    outcome = _verify_uncached(algorithm, signature, tbs, signer_spki)
    with _LOCK:
        if len(_SIG_CACHE) >= _CACHE_LIMIT:
            _SIG_CACHE.clear()
        _SIG_CACHE[cache_key] = outcome
    return outcome


def _verify_uncached(algorithm: Any, signature: bytes, tbs: bytes, spki: Any) -> SignatureOutcome:
    oid = algorithm["algorithm"].dotted
    if oid == SM2_WITH_SM3 or (_is_sm2_key(spki) and oid in ("1.2.156.10197.1.301.1",)):
        if not _is_sm2_key(spki):
            return SignatureOutcome(False, error="SM2-with-SM3 signature but the signer key is not SM2")
        return _verify_sm2(signature, tbs, spki["public_key"].contents[1:])
    return _verify_foreign(algorithm, signature, tbs, spki)


def _verify_sm2(signature: bytes, tbs: bytes, point: bytes) -> SignatureOutcome:
    from gm.errors import GMError
    from gm.sm2 import signature_from_rs
    from gm.sm3 import sm3

    try:
        key = _sm2_key(point)
    except (ValueError, GMError) as exc:
        return SignatureOutcome(False, error=f"the signer's SM2 key is not a valid point: {exc}")
    quirk = None
    if len(signature) == 64 and signature[0] != 0x30:
        try:
            signature = signature_from_rs(int.from_bytes(signature[:32], "big"),
                                          int.from_bytes(signature[32:], "big"))
        except (ValueError, GMError) as exc:
            return SignatureOutcome(False, error=f"raw r||s signature out of range: {exc}")
        quirk = "signature encoded as raw 64-byte r||s instead of DER"
    try:
        if key.verify(signature, tbs):
            return SignatureOutcome(True, quirk)
        # producers seen signing with an empty signer ID, or SM3 without Z_A
        if key.verify(signature, tbs, b""):
            return SignatureOutcome(True, "signed with an empty SM2 signer ID instead of the default")
        if key.verify_digest(signature, sm3(tbs)):
            return SignatureOutcome(True, "signed over SM3(TBS) without Z_A")
    except (ValueError, GMError) as exc:
        return SignatureOutcome(False, error=f"malformed SM2 signature: {exc}")
    return SignatureOutcome(False, error="SM2 signature does not verify")


def _verify_foreign(algorithm: Any, signature: bytes, tbs: bytes, spki: Any) -> SignatureOutcome:
    """RSA / ECDSA chains (foreign CAs) through the ``cryptography`` package."""
    from cryptography.exceptions import InvalidSignature, UnsupportedAlgorithm

    try:
        from cryptography.hazmat.primitives import hashes, serialization
        from cryptography.hazmat.primitives.asymmetric import ec, padding, rsa

        sig_algo, hash_name = algorithm.signature_algo, algorithm.hash_algo
        hash_cls = {"sha1": hashes.SHA1, "sha224": hashes.SHA224, "sha256": hashes.SHA256,
                    "sha384": hashes.SHA384, "sha512": hashes.SHA512}.get(hash_name)
        if hash_cls is None:
            return SignatureOutcome(False, error=f"unsupported signature hash {hash_name}")
        key = serialization.load_der_public_key(spki.dump())
        if sig_algo == "rsassa_pkcs1v15" and isinstance(key, rsa.RSAPublicKey):
            key.verify(signature, tbs, padding.PKCS1v15(), hash_cls())
        elif sig_algo == "ecdsa" and isinstance(key, ec.EllipticCurvePublicKey):
            key.verify(signature, tbs, ec.ECDSA(hash_cls()))
        else:
            return SignatureOutcome(False, error=f"unsupported signature algorithm "
                                                 f"{algorithm['algorithm'].dotted} for this key")
        return SignatureOutcome(True)
    except InvalidSignature:
        return SignatureOutcome(False, error="signature does not verify")
    except UnsupportedAlgorithm as exc:  # e.g. an SM2 key (a curve it does not know) under SM2-with-SHA256 or ECDSA
        return SignatureOutcome(False, error=f"signature algorithm {algorithm['algorithm'].dotted} with this key is "
                                             f"not supported: {exc}")
    except (ValueError, TypeError, KeyError, NotImplementedError) as exc:
        return SignatureOutcome(False, error=f"cannot check signature "
                                             f"({algorithm['algorithm'].dotted}): {exc}")


def _cert_signature(cert: x509.Certificate, issuer: x509.Certificate) -> SignatureOutcome:
    c, i = facts_of(cert), facts_of(issuer)
    return verify_signed(c.signature_algorithm, c.signature, c.tbs, i.spki, i.spki_der)


# --------------------------------------------------------------------------- trust


class TrustSource(Protocol):
    """What path validation asks of a trust store (verify.trustlist.TrustStore, or
    :class:`StaticTrust`)."""

    def anchors(self) -> Sequence[x509.Certificate]: ...

    def intermediates(self) -> Sequence[x509.Certificate]: ...

    def anchor_status(self, cert: x509.Certificate, at: _dt.datetime) -> tuple[bool, str]:
        """(granted at ``at``?, explanation)."""
        ...

    def anchor_lists(self, cert: x509.Certificate, at: _dt.datetime) -> Sequence[Any]:
        """The signed lists that answer rests on (verify.trustlist.store.ListRef), none for a
        configured anchor."""
        ...


@dataclass
class StaticTrust:
    """A fixed set of anchors (always granted) and untrusted intermediates."""

    anchor_certs: Sequence[x509.Certificate] = ()
    intermediate_certs: Sequence[x509.Certificate] = ()

    def __post_init__(self) -> None:
        self.anchor_certs = [load_certificate(c) for c in self.anchor_certs]
        self.intermediate_certs = [load_certificate(c) for c in self.intermediate_certs]

    def anchors(self) -> Sequence[x509.Certificate]:
        return self.anchor_certs

    def intermediates(self) -> Sequence[x509.Certificate]:
        return self.intermediate_certs

    def anchor_status(self, cert: x509.Certificate, at: _dt.datetime) -> tuple[bool, str]:
        return True, "configured trust anchor"

    def anchor_lists(self, cert: x509.Certificate, at: _dt.datetime) -> Sequence[Any]:
        return ()


# --------------------------------------------------------------------------- purposes


@frozen_record
class Purpose:
    name: str
    key_usage_any: frozenset[str] = frozenset()   # at least one of these when KU is present
    eku_required: str | None = None               # asn1crypto EKU name
    ca: bool = False


PURPOSES: dict[str, Purpose] = {p.name: p for p in (
    Purpose("any"),
    Purpose("document_signing", frozenset({"digital_signature", "non_repudiation"})),
    Purpose("seal_maker", frozenset({"digital_signature", "non_repudiation"})),
    Purpose("trust_list_signing", frozenset({"digital_signature", "non_repudiation"})),
    Purpose("tsa", frozenset({"digital_signature", "non_repudiation"}), "time_stamping"),
    Purpose("ocsp", frozenset({"digital_signature", "non_repudiation"}), "ocsp_signing"),
    Purpose("ca", frozenset({"key_cert_sign"}), ca=True),
)}

# extensions this validator processes (or that carry no constraint it must enforce)
KNOWN_CRITICAL = frozenset({
    "basic_constraints", "key_usage", "extended_key_usage", "subject_alt_name",
    "issuer_alt_name", "certificate_policies", "key_identifier", "authority_key_identifier",
    "ocsp_no_check", "crl_distribution_points", "freshest_crl", "authority_information_access",
    "policy_constraints", "inhibit_any_policy", "policy_mappings", "name_constraints",
})


# --------------------------------------------------------------------------- result


@frozen_record
class PathResult:
    """The path found (leaf first, anchor last; empty if none) and the checks made."""

    path: tuple[x509.Certificate, ...]
    checks: tuple[Check, ...]
    validation_time: _dt.datetime

    @property
    def ok(self) -> bool:
        return not any(c.failed for c in self.checks)

    @property
    def anchor(self) -> x509.Certificate | None:
        return self.path[-1] if self.path else None


# --------------------------------------------------------------------------- building


class _Pool:
    def __init__(self, anchors: Iterable[x509.Certificate], others: Iterable[x509.Certificate]) -> None:
        self.by_subject: dict[Any, list[tuple[x509.Certificate, bool]]] = {}
        self.anchor_ders: set[bytes] = set()
        seen: set[bytes] = set()
        for cert, is_anchor in [*((c, True) for c in anchors), *((c, False) for c in others)]:
            f = facts_of(cert)
            if is_anchor:
                self.anchor_ders.add(f.der)
            if f.der in seen:
                continue
            seen.add(f.der)
            self.by_subject.setdefault(f.subject, []).append((cert, is_anchor))

    def is_anchor(self, cert: x509.Certificate) -> bool:
        return facts_of(cert).der in self.anchor_ders

    def add(self, cert: x509.Certificate) -> None:
        self.by_subject.setdefault(facts_of(cert).subject, []).append((cert, False))

    def issuers_of(self, cert: x509.Certificate) -> list[x509.Certificate]:
        f = facts_of(cert)
        out = []
        for cand, is_anchor in self.by_subject.get(f.issuer, ()):
            ski = facts_of(cand).ski
            if f.aki is not None and ski is not None and f.aki != ski:
                continue
            out.append((0 if is_anchor else 1, cand))
        return [c for _, c in sorted(out, key=lambda t: t[0])]


@dataclass
class _Search:
    pool: _Pool
    fetcher: Any
    max_depth: int
    sig_failures: list[tuple[x509.Certificate, x509.Certificate, SignatureOutcome]] = field(default_factory=list)
    quirks: dict[bytes, str] = field(default_factory=dict)
    fetch_errors: list[str] = field(default_factory=list)
    fetched: set[str] = field(default_factory=set)

    def build(self, cert: x509.Certificate, path: list[x509.Certificate]) -> list[x509.Certificate] | None:
        if self.pool.is_anchor(cert):
            return [*path, cert]
        if len(path) >= self.max_depth:
            return None
        f = facts_of(cert)
        if f.self_signed or (f.self_issued and f.aki in (None, f.ski)):
            return None  # a self-signed certificate that is not an anchor ends the search
        candidates = self.pool.issuers_of(cert)
        if not candidates and self.fetcher is not None:
            candidates = self._fetch_issuers(cert)
        ders = {facts_of(c).der for c in path} | {f.der}
        for issuer in candidates:
            if facts_of(issuer).der in ders:
                continue
            outcome = _cert_signature(cert, issuer)
            if not outcome.ok:
                self.sig_failures.append((cert, issuer, outcome))
                continue
            if outcome.quirk:
                self.quirks[f.der] = outcome.quirk
            found = self.build(issuer, [*path, cert])
            if found is not None:
                return found
        return None

    def _fetch_issuers(self, cert: x509.Certificate) -> list[x509.Certificate]:
        f = facts_of(cert)
        out = []
        for url in f.ca_issuers_urls:
            if url in self.fetched:
                continue
            self.fetched.add(url)
            try:
                certs = load_certificates(self.fetcher.get(url).body)
            except (FetchError, InputError) as exc:
                self.fetch_errors.append(f"AIA caIssuers {url}: {exc}")
                continue
            for c in certs:
                if facts_of(c).subject == f.issuer:
                    self.pool.add(c)
                    out.append(c)
        return out


# --------------------------------------------------------------------------- validation


def validate_path(leaf: x509.Certificate | bytes, *, trust: TrustSource, at: _dt.datetime | None = None,
                  purpose: str = "document_signing", extra_certs: Iterable[x509.Certificate | bytes] = (),
                  fetcher: Any = None, policy: Policy = STRICT) -> PathResult:
    """Build and validate the path of ``leaf`` at ``at`` (default now). Never raises for a
    bad certificate: the result's checks say what is wrong."""
    leaf = load_certificate(leaf)
    at = (at or _dt.datetime.now(UTC)).astimezone(UTC)
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    extra = []
    for c in extra_certs:          # a malformed extra certificate is no candidate issuer
        try:
            extra.append(load_certificate(c))
        except InputError:
            continue
    key = (id(trust), getattr(trust, "version", None), facts_of(leaf).der,
           tuple(facts_of(c).der for c in extra), purpose, id(policy), fetcher is not None)
    hit = _PATH_CACHE.get(key)
    if hit is not None and hit[0] is trust and hit[1] is policy:
        _, _, path, facts, head, tail, valid, valid_from, valid_to = hit
    else:
        pool = _Pool(trust.anchors(), [*extra, *trust.intermediates()])
        search = _Search(pool, fetcher, policy.max_path_length)
        found = search.build(leaf, [])
        if found is None:
            return PathResult((), tuple(_no_path(leaf, search, policy, trust)), at)
        path = tuple(found)
        facts = [facts_of(c) for c in path]
        head = [policy.passed("X509_PATH_BUILT", f"path of {len(path)} certificate(s) to a trust anchor "
                              f"({facts[-1].label})", chain=[f.label for f in facts]),
                *_signatures(facts, search, policy)]
        tail = [*_ca_constraints(facts, policy), *_name_constraints(path, policy),
                *_critical_extensions(facts, policy), _purpose(facts[0], PURPOSES[purpose], policy)]
        # the validity checks of a path valid at the validation time read the same whatever the time
        valid = [_valid(f.label, policy) for f in facts]
        # when every certificate of the path is within its validity
        valid_from, valid_to = max(f.not_before for f in facts), min(f.not_after for f in facts)
        if not search.fetch_errors:
            with _LOCK:
                if len(_PATH_CACHE) >= _CACHE_LIMIT:
                    _PATH_CACHE.clear()
                _PATH_CACHE[key] = (trust, policy, path, facts, head, tail, valid, valid_from, valid_to)
    if not valid_from <= at <= valid_to:
        valid = _validity(facts, at, policy)
    checks = [*head, *valid, *tail, _anchor_status(path[-1], trust, at, policy),
              *_list_freshness(path[-1], trust, at, policy)]
    return PathResult(path, tuple(checks), at)


def _no_path(leaf: x509.Certificate, search: _Search, policy: Policy, trust: TrustSource) -> list[Check]:
    lf = facts_of(leaf)
    out = [policy.info("TRUST_LIST_UNUSABLE", f"the stored trust list from {source} was left out: {reason}",
                       subject=source)
           for source, reason in getattr(trust, "unusable", ())]   # its anchors may be the missing ones
    leaf_failures = [(c, i, o) for c, i, o in search.sig_failures if facts_of(c).der == lf.der]
    failures = leaf_failures or search.sig_failures
    if failures:
        cert, issuer, outcome = failures[0]
        out.append(policy.failed("X509_SIGNATURE", f"the signature of {cert_label(cert)} does not verify "
                                 f"with the key of {cert_label(issuer)}: {outcome.error}",
                                 SubIndication.SIG_CRYPTO_FAILURE, subject=cert_label(cert)))
    for err in search.fetch_errors:
        out.append(policy.info("X509_AIA_FETCH", err))
    out.append(policy.failed("X509_PATH_BUILT", f"no path from {lf.label} (issuer "
                             f"{lf.issuer_text}) to a trust anchor",
                             SubIndication.NO_CERTIFICATE_CHAIN_FOUND, subject=lf.label))
    return out


def _signatures(path: Sequence[Any], search: _Search, policy: Policy) -> list[Check]:
    out = []
    for cert, issuer in zip(path, path[1:], strict=False):
        quirk = search.quirks.get(cert.der)
        if quirk:
            out.append(policy.failed("X509_SIGNATURE_ENCODING", f"{cert.label}: {quirk}",
                                     SubIndication.SIG_CRYPTO_FAILURE, subject=cert.label, quirk=True))
        out.append(policy.passed("X509_SIGNATURE", f"{cert.label} is signed by {issuer.label}", subject=cert.label))
    return out


def _validity(path: Sequence[Any], at: _dt.datetime, policy: Policy) -> list[Check]:
    out = []
    for i, f in enumerate(path):
        label = f.label
        is_anchor = i == len(path) - 1 and i > 0
        if at < f.not_before:
            msg = f"{label} is not valid before {f.not_before.isoformat()} (validation time {at.isoformat()})"
            out.append(policy.info("X509_VALIDITY", "trust anchor " + msg) if is_anchor else
                       policy.failed("X509_VALIDITY", msg, SubIndication.NOT_YET_VALID, subject=label))
        elif at > f.not_after:
            msg = f"{label} expired on {f.not_after.isoformat()} (validation time {at.isoformat()})"
            out.append(policy.info("X509_VALIDITY", "trust anchor " + msg) if is_anchor else
                       policy.failed("X509_VALIDITY", msg, SubIndication.EXPIRED, subject=label))
        else:
            out.append(_valid(label, policy))
    return out


def _valid(label: str, policy: Policy) -> Check:
    return policy.passed("X509_VALIDITY", f"{label} valid at the validation time", subject=label)


def _ca_constraints(path: Sequence[Any], policy: Policy) -> list[Check]:
    out = []
    # certificates below each CA that are not self-issued (RFC 5280 §6.1.4 (l), (m))
    for i in range(1, len(path)):
        ca = path[i]
        label = ca.label
        if ca.extension_error:
            out.append(policy.failed("X509_EXTENSIONS", f"{label}: {ca.extension_error}",
                                     SubIndication.FORMAT_FAILURE, subject=label))
            continue
        if ca.is_ca is None and ca.version == "v1":
            out.append(policy.failed("X509_BASIC_CONSTRAINTS", f"{label} is an X.509 v1 certificate "
                                     "used as a CA (no basicConstraints)",
                                     SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label, quirk=True))
        elif not ca.is_ca:
            out.append(policy.failed("X509_BASIC_CONSTRAINTS", f"{label} issued a certificate but is not "
                                     "a CA (basicConstraints cA is not true)",
                                     SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label))
        else:
            out.append(policy.passed("X509_BASIC_CONSTRAINTS", f"{label} is a CA", subject=label))
        if ca.key_usage is not None and "key_cert_sign" not in ca.key_usage:
            out.append(policy.failed("X509_CA_KEY_USAGE", f"{label} lacks keyCertSign in its key usage",
                                     SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label))
        below = sum(1 for c in path[1:i] if not c.self_issued)
        limit = ca.path_len
        if limit is not None and below > limit:
            out.append(policy.failed("X509_PATH_LENGTH", f"{label} allows {limit} CA certificate(s) below "
                                     f"it, the path has {below}",
                                     SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label))
        elif limit is not None:
            out.append(policy.passed("X509_PATH_LENGTH", f"{label}: {below} CA(s) below, limit {limit}",
                                     subject=label))
    return out


def _name_constraints(path: Sequence[x509.Certificate], policy: Policy) -> list[Check]:
    """RFC 5280 §4.2.1.10: every name below a CA with name constraints must be permitted
    and not excluded (verify/name_constraints.py). No check row when no CA constrains."""
    from verify.name_constraints import violations

    try:
        problems, constraining = violations(path)
    except (ValueError, TypeError, KeyError) as exc:
        return [policy.failed("X509_NAME_CONSTRAINTS", f"unreadable name constraints on the path: {exc}",
                              SubIndication.CHAIN_CONSTRAINTS_FAILURE)]
    if problems:
        return [policy.failed("X509_NAME_CONSTRAINTS", p, SubIndication.CHAIN_CONSTRAINTS_FAILURE)
                for p in problems]
    if constraining:
        return [policy.passed("X509_NAME_CONSTRAINTS", f"every name on the path is within the name "
                              f"constraints of {constraining} CA(s)")]
    return []


def _critical_extensions(path: Sequence[Any], policy: Policy) -> list[Check]:
    out = []
    for i, f in enumerate(path):
        if i == len(path) - 1 and i > 0:
            continue   # the anchor's extensions are not path constraints (RFC 5280 §6.1.1 (d))
        unknown = sorted(e for e in f.critical if e not in KNOWN_CRITICAL)
        if unknown:
            out.append(policy.failed("X509_CRITICAL_EXTENSIONS", f"{f.label} has critical extension(s) this "
                                     f"validator does not process: {', '.join(unknown)}",
                                     SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=f.label,
                                     extensions=unknown))
    if not out:
        out.append(policy.passed("X509_CRITICAL_EXTENSIONS", "every critical extension is understood"))
    return out


def _purpose(leaf: Any, purpose: Purpose, policy: Policy) -> Check:
    label = leaf.label
    if leaf.extension_error:
        return policy.failed("X509_PURPOSE", f"{label}: {leaf.extension_error}",
                             SubIndication.FORMAT_FAILURE, subject=label)
    if purpose.ca and not leaf.is_ca:
        return policy.failed("X509_PURPOSE", f"{label} is not a CA certificate",
                             SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label)
    if purpose.key_usage_any and leaf.key_usage is not None and not (purpose.key_usage_any & leaf.key_usage):
        return policy.failed("X509_PURPOSE", f"{label}: key usage {sorted(leaf.key_usage)} allows none of "
                             f"{sorted(purpose.key_usage_any)} needed for {purpose.name}",
                             SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label)
    if purpose.eku_required:
        names = leaf.eku or frozenset()
        if purpose.eku_required not in names:
            return policy.failed("X509_PURPOSE", f"{label}: extended key usage {purpose.eku_required} "
                                 f"required for {purpose.name}, found {sorted(names) or 'none'}",
                                 SubIndication.CHAIN_CONSTRAINTS_FAILURE, subject=label)
    return policy.passed("X509_PURPOSE", f"{label} may be used for {purpose.name}", subject=label)


def _anchor_status(anchor: x509.Certificate, trust: TrustSource, at: _dt.datetime, policy: Policy) -> Check:
    granted, why = trust.anchor_status(anchor, at)
    label = cert_label(anchor)
    if granted:
        return policy.passed("TRUST_ANCHOR_STATUS", f"{label}: {why}", subject=label)
    return policy.failed("TRUST_ANCHOR_STATUS", f"{label}: {why}", SubIndication.TRUST_SERVICE_WITHDRAWN,
                         subject=label)



def _list_freshness(anchor: x509.Certificate, trust: TrustSource, at: _dt.datetime, policy: Policy) -> list[Check]:
    """One row per list the anchor's status comes from, naming it and its next update.

    A list past its next update is a warning on the verdict, not a change of it (the default
    of EU DSS's validation policy, TLNotExpired: WARN): its statuses were correct when it was
    signed, no newer list contradicts them, and a refresh that failed or was late must not turn
    every signature of another region INDETERMINATE at once. A relying party that wants it to
    decide sets ``Policy(overrides={"TRUST_LIST_FRESHNESS": Severity.ERROR})``: TRY_LATER, as
    for revocation information that cannot be had now. Compared with the current time, not the
    validation time: the question is whether what we know of the list is current."""
    lists = getattr(trust, "anchor_lists", None)
    refs = lists(anchor, at) if lists is not None else ()
    if not refs:
        return []
    now = _dt.datetime.now(UTC)
    severity = policy.severity("TRUST_LIST_FRESHNESS")
    out = []
    for ref in refs:
        stale = ref.stale_at(now)
        # the row reads the same in every report of this anchor until the list goes stale
        key = (facts_of(anchor).der, ref, stale, severity)
        row = _FRESHNESS_ROWS.get(key)
        if row is None:
            row = _freshness_row(cert_label(anchor), ref, stale, policy)
            if len(_FRESHNESS_ROWS) >= _CACHE_LIMIT:
                _FRESHNESS_ROWS.clear()
            _FRESHNESS_ROWS[key] = row
        out.append(row)
    return out


_FRESHNESS_ROWS: dict[tuple[Any, ...], Check] = {}


def _freshness_row(label: str, ref: Any, stale: bool, policy: Policy) -> Check:
    if stale:
        return policy.failed("TRUST_LIST_FRESHNESS", f"{label}: listed in {ref.label}, whose next update was due "
                             f"{ref.due}: the list is stale and the statuses it gives may be out of date",
                             SubIndication.TRY_LATER, subject=label, list=ref.to_dict(), stale=True)
    return policy.passed("TRUST_LIST_FRESHNESS", f"{label}: listed in {ref.label}, next update due {ref.due}",
                         subject=label, list=ref.to_dict(), stale=False)
