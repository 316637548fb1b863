"""The validation engine: gather facts -> named checks -> summarise (STYLE.md #6).

Each input kind has one fact-gathering step owned by its package (seal/structures for
SES_Signature, seal/ofd for OFD packages, seal/pdf for PDF, seal/cms for CMS, seal/tsa for
timestamps). Their facts are reduced here to one :class:`SignatureFacts` per signature,
and :meth:`Verifier.evaluate` turns the facts into the same named checks for every kind:

1. format and integrity (``FORMAT``, ``DOCUMENT_REFERENCES`` / ``DATA_HASH``) -> FORMAT_FAILURE,
   HASH_FAILURE;
2. the signature value (``SIGNATURE_VALUE``) -> SIG_CRYPTO_FAILURE;
3. the timestamp (``TIMESTAMP``): when valid, its time is the proof of existence (POE) and
   the validation time;
4. the seal (``SEAL_SIGNATURE``, ``SEAL_VALIDITY``, ``SEAL_BINDING``) -> SEAL_INVALID,
   SEAL_EXPIRED, SIGNER_NOT_BOUND_TO_SEAL, and the seal maker's own certificate path;
5. the signer's certificate path at the validation time (verify/path.py) and the revocation
   status of every certificate on it (verify/revocation.py).

Encoding quirks reported by the fact gatherers become ``quirk`` checks (FAILED under the
strict policy, warnings under the lenient one). Nothing here raises for a bad signature.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from asn1crypto import x509

from gm.records import frozen_record
from verify.certfacts import facts_of
from verify.errors import InputError
from verify.path import PURPOSES, StaticTrust, TrustSource, cert_label, load_certificate, validate_path
from verify.report import (
    STRICT,
    CertificateInfo,
    Check,
    CheckResult,
    Indication,
    Policy,
    Report,
    RevocationEvidence,
    SealInfo,
    SignatureReport,
    SubIndication,
)
from verify.revocation import RevocationChecker, read_once

__all__ = ["Verifier", "SignatureFacts", "IntegrityFact", "SealFacts", "TimestampFacts", "StatusAnswer",
           "verify_certificate", "home_seal_status", "home_license_status"]

UTC = _dt.timezone.utc


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC)


# --------------------------------------------------------------------------- facts


@frozen_record
class IntegrityFact:
    """One integrity fact: a reference digest, a byte range, the data hash."""

    code: str                         # DOCUMENT_REFERENCES, DATA_HASH, BYTE_RANGE, ...
    ok: bool
    message: str
    sub_indication: SubIndication = SubIndication.HASH_FAILURE
    quirk: bool = False


@frozen_record
class TimestampFacts:
    """A timestamp over the signature (RFC 3161), already checked cryptographically."""

    time: _dt.datetime
    ok: bool
    message: str = ""
    tsa_certificate: x509.Certificate | None = None
    tsa_chain: tuple[x509.Certificate, ...] = ()


@frozen_record
class SealFacts:
    info: SealInfo
    signature_ok: bool                # the seal maker's signature over the seal
    signature_message: str = ""
    maker_certificate: x509.Certificate | None = None
    signer_bound: bool | None = None  # does the seal bind the signer's certificate? None: seal binds none
    quirks: tuple[str, ...] = ()


@frozen_record
class SignatureFacts:
    """Everything the fact gatherers learned about one signature."""

    id: str
    kind: str
    signer_certificate: x509.Certificate | None
    signature_ok: bool
    signature_message: str = ""
    certificates: tuple[x509.Certificate, ...] = ()   # carried by the document
    integrity: tuple[IntegrityFact, ...] = ()
    claimed_signing_time: _dt.datetime | None = None
    timestamp: TimestampFacts | None = None
    seal: SealFacts | None = None
    format_errors: tuple[str, ...] = ()
    quirks: tuple[str, ...] = ()
    license_id: str | None = None      # the e-license this signature seals, when known


@frozen_record
class StatusAnswer:
    """A registry's answer about a seal (by esID) or an e-license (by id): ``status`` is
    valid | suspended | revoked | expired | unknown, or unavailable (the registry holding it
    could not be asked: TRY_LATER); ``since`` when it took that status."""

    status: str
    since: _dt.datetime | None = None
    reason: str = ""
    source: str = ""


def home_seal_status(home: Any) -> Any:
    """A seal-status lookup over this home's seal registry (seal/service.py); None for a
    seal the registry does not hold (another region's)."""
    def lookup(es_id: str) -> StatusAnswer | None:
        from seal import service as seal_service

        state = seal_service.seal_state(home, es_id)
        if state is None:       # not ours to answer (another region's seal)
            return None
        return StatusAnswer(state.status, state.since, state.reason or "", "seal registry")
    return lookup


def home_license_status(home: Any) -> Any:
    """An e-license status lookup over this home's license directory (seal/license)."""
    def lookup(license_id: str) -> StatusAnswer | None:
        from seal.license import service as license_service
        from seal.license.errors import LicenseError

        try:
            st = license_service.license_status(home, license_id)
        except LicenseError:    # unknown or malformed ids: not ours to answer (a database outage is raised)
            return None
        return StatusAnswer(st.status, st.revoked_at, st.revoke_reason or "", "license directory")
    return lookup


# --------------------------------------------------------------------------- the engine


@dataclass
class Verifier:
    """One configured engine: a trust source, a revocation checker, a policy. Keep one per
    process: its caches are what make a warm verification cost about one SM2 verify.

    What is reused between documents depends only on identical bytes or on revocation
    answers still fresh: a seal's facts and its maker's signature (by the seal's DER),
    certificates, their paths and SM2 key objects (by DER), parsed template parts of an OFD
    (by entry name and bytes), and OCSP / CRL answers until nextUpdate, at most
    ``max_reuse`` (verify/revocation.py). Every document's own checks run each time: its
    References and dataHash, the SM2 signature over TBS_Sign, the binding of signer to
    seal, the seal's validity and registry status, the path's validity at the signing time
    (tests/test_verify_caches.py)."""

    trust: TrustSource = field(default_factory=StaticTrust)
    revocation: RevocationChecker | None = None
    policy: Policy = STRICT
    fetcher: Any = None              # for AIA caIssuers; None: no fetching of issuers
    seal_status: Any = None          # esID -> StatusAnswer | None (seal registry, local or remote)
    license_status: Any = None       # license id -> StatusAnswer | None (license directory)

    def __post_init__(self) -> None:
        if self.revocation is None:
            self.revocation = RevocationChecker(fetcher=self.fetcher, policy=self.policy)

    # ------------------------------------------------------------------------------ certificate

    def certificate_checks(self, cert: x509.Certificate, *, at: _dt.datetime, purpose: str,
                           extra_certs: Iterable[x509.Certificate] = (), poe: _dt.datetime | None = None,
                           claimed: _dt.datetime | None = None, signature: bool = False,
                           ) -> tuple[list[Check], tuple[x509.Certificate, ...], list[RevocationEvidence]]:
        """Path validation at ``at`` plus revocation of every certificate on the path. A
        malformed certificate is a FORMAT_FAILURE check, not an exception."""
        try:
            return self._certificate_checks(cert, at=at, purpose=purpose, extra_certs=extra_certs, poe=poe,
                                            claimed=claimed, signature=signature)
        except InputError as exc:
            return [self.policy.failed("X509_FORMAT", str(exc), SubIndication.FORMAT_FAILURE)], (), []

    def _certificate_checks(self, cert: x509.Certificate, *, at: _dt.datetime, purpose: str,
                            extra_certs: Iterable[x509.Certificate], poe: _dt.datetime | None,
                            claimed: _dt.datetime | None, signature: bool,
                            ) -> tuple[list[Check], tuple[x509.Certificate, ...], list[RevocationEvidence]]:
        result = validate_path(cert, trust=self.trust, at=at, purpose=purpose, extra_certs=extra_certs,
                               fetcher=self.fetcher, policy=self.policy)
        checks = list(result.checks)
        evidence: list[RevocationEvidence] = []
        path = result.path
        if path:
            last = len(path) - 1
            for i in range(last):
                child, issuer = path[i], path[i + 1]
                if i > 0 and not self.policy.check_ca_revocation:
                    continue
                if facts_of(child).ocsp_no_check and purpose == "ocsp" and i == 0:
                    checks.append(self.policy.info("REVOCATION_STATUS", f"{cert_label(child)}: "
                                                   "id-pkix-ocsp-nocheck, not checked"))
                    continue
                outcome = self.revocation.check(child, issuer, poe=poe, claimed=claimed,
                                                signature=signature and i == 0, compromise_voids=purpose == "tsa")
                checks.append(outcome.check)
                evidence.append(outcome.evidence)
        return checks, path, evidence

    @read_once
    def verify_certificate(self, cert: x509.Certificate | bytes, *, at: _dt.datetime | None = None,
                           purpose: str = "any", extra_certs: Iterable[x509.Certificate | bytes] = (),
                           name: str = "certificate") -> Report:
        """Is this certificate valid at ``at`` (default now): path to a trust anchor,
        constraints, purpose, revocation. One :class:`SignatureReport` of kind certificate."""
        cert = load_certificate(cert)
        at = (at or _now()).astimezone(UTC)
        extra = [load_certificate(c) for c in extra_certs]
        checks, path, evidence = self.certificate_checks(cert, at=at, purpose=purpose, extra_certs=extra)
        sig = SignatureReport.from_checks(
            cert_label(cert), "certificate", checks, at, signer=CertificateInfo.of(cert),
            trust_path=tuple(CertificateInfo.of(c) for c in path), revocation=tuple(evidence),
            policy=self.policy.name)
        return Report(name, "certificate", (sig,), _now(), facts_of(cert).sha256,
                      self.policy.name)

    # ------------------------------------------------------------------------------ signatures

    def evaluate(self, facts: SignatureFacts, *, purpose: str = "document_signing") -> SignatureReport:
        """The named checks for one signature's facts, and their summary."""
        p = self.policy
        checks: list[Check] = []
        for err in facts.format_errors:
            checks.append(p.failed("FORMAT", err, SubIndication.FORMAT_FAILURE))
        for quirk in facts.quirks:
            checks.append(p.failed("ENCODING_QUIRK", quirk, SubIndication.FORMAT_FAILURE, quirk=True))
        for fact in facts.integrity:
            checks.append(p.passed(fact.code, fact.message) if fact.ok else
                          p.failed(fact.code, fact.message, fact.sub_indication, quirk=fact.quirk))
        if facts.signature_ok:
            checks.append(p.passed("SIGNATURE_VALUE", facts.signature_message or "the signature value verifies"))
        else:
            checks.append(p.failed("SIGNATURE_VALUE", facts.signature_message or "the signature value does not verify",
                                   SubIndication.SIG_CRYPTO_FAILURE))
        poe = None
        evidence: list[RevocationEvidence] = []
        ts = facts.timestamp
        if ts is not None:
            if ts.ok:
                # the TSA's certificate is checked at the token's time: revoked later (and not for
                # a key compromise), its earlier tokens still hold (RFC 3161 section 4)
                ts_checks, _, ts_evidence = (self.certificate_checks(
                    ts.tsa_certificate, at=ts.time, purpose="tsa", extra_certs=ts.tsa_chain, poe=ts.time)
                    if ts.tsa_certificate is not None else ([], (), []))
                if any(c.failed for c in ts_checks):
                    # a TSA whose region was withdrawn says so (trust lists); other TSA faults are general
                    withdrawn = any(c.sub_indication is SubIndication.TRUST_SERVICE_WITHDRAWN for c in ts_checks)
                    checks.append(p.failed("TIMESTAMP", "the timestamp's TSA certificate is not valid: "
                                           + "; ".join(c.message for c in ts_checks if c.failed),
                                           SubIndication.TRUST_SERVICE_WITHDRAWN if withdrawn else
                                           SubIndication.CERTIFICATE_CHAIN_GENERAL_FAILURE))
                else:
                    poe = ts.time
                    checks.append(p.passed("TIMESTAMP", f"timestamped at {ts.time.isoformat()}"
                                           + (f" by {cert_label(ts.tsa_certificate)}" if ts.tsa_certificate else "")))
                checks.extend(_stale_lists(ts_checks))
                evidence.extend(ts_evidence)
            else:
                checks.append(p.failed("TIMESTAMP", ts.message or "the timestamp does not verify",
                                       SubIndication.SIG_CRYPTO_FAILURE))
        at = poe or _now()
        seal = facts.seal
        signer = facts.signer_certificate
        path: tuple[x509.Certificate, ...] = ()
        if signer is None:
            checks.append(p.failed("SIGNER_CERTIFICATE", "the signer's certificate is not in the signature",
                                   SubIndication.NO_CERTIFICATE_CHAIN_FOUND))
        else:
            extra = list(facts.certificates)
            cert_checks, path, cert_evidence = self.certificate_checks(
                signer, at=at, purpose=purpose, extra_certs=extra, poe=poe,
                claimed=facts.claimed_signing_time, signature=True)
            if poe is None and facts.claimed_signing_time is not None:
                failed = CheckResult.FAILED
                cert_checks = [self._without_poe(c, signer, facts.claimed_signing_time)
                               if c.result is failed else c for c in cert_checks]
            checks.extend(cert_checks)
            evidence.extend(cert_evidence)
        if seal is not None:
            checks.extend(self._seal_checks(facts, seal, at, poe))
        if facts.license_id and self.license_status is not None:
            # a license revoked is no longer valid, whenever it was sealed: no POE exemption
            checks.append(self._registry_check("LICENSE_STATUS", "e-license", facts.license_id,
                                               self.license_status(facts.license_id), None,
                                               SubIndication.LICENSE_REVOKED))
        return SignatureReport.from_checks(
            facts.id, facts.kind, _once_per_list(checks), at,
            signer=_info(signer),
            seal=seal.info if seal else None, claimed_signing_time=facts.claimed_signing_time,
            timestamp_time=poe, trust_path=tuple(CertificateInfo.of(c) for c in path),
            revocation=tuple(evidence), policy=p.name)

    def _without_poe(self, check: Check, signer: x509.Certificate, claimed: _dt.datetime) -> Check:
        """EN 319 102-1: a signing certificate expired *now*, with a claimed signing time
        inside its validity but no proof of existence, is INDETERMINATE, not FAILED."""
        if (check.code == "X509_VALIDITY" and check.sub_indication is SubIndication.EXPIRED
                and check.subject == cert_label(signer) and check.result.value == "FAILED"
                and signer.not_valid_before <= claimed <= signer.not_valid_after):
            return self.policy.failed(check.code, check.message + "; the claimed signing time is within the "
                                      "validity but nothing proves the signature existed then",
                                      SubIndication.EXPIRED, subject=check.subject,
                                      indication=Indication.INDETERMINATE)
        return check

    def _seal_checks(self, facts: SignatureFacts, seal: SealFacts, at: _dt.datetime,
                     poe: _dt.datetime | None = None) -> list[Check]:
        p = self.policy
        out: list[Check] = []
        for quirk in seal.quirks:
            out.append(p.failed("SEAL_ENCODING_QUIRK", quirk, SubIndication.SEAL_INVALID, quirk=True))
        if seal.signature_ok:
            out.append(p.passed("SEAL_SIGNATURE", seal.signature_message or "the seal maker's signature verifies"))
        else:
            out.append(p.failed("SEAL_SIGNATURE", seal.signature_message or
                                "the seal maker's signature over the seal does not verify",
                                SubIndication.SEAL_INVALID))
        info = seal.info
        if info.valid_from is not None and at < info.valid_from:
            out.append(p.failed("SEAL_VALIDITY", f"the seal is valid from {info.valid_from.isoformat()}, "
                                f"the signature is from {at.isoformat()}", SubIndication.SEAL_INVALID))
        elif info.valid_to is not None and at > info.valid_to:
            claimed = facts.claimed_signing_time
            no_poe = poe is None and claimed is not None and claimed <= info.valid_to
            out.append(p.failed("SEAL_VALIDITY", f"the seal expired on {info.valid_to.isoformat()} "
                                f"(signature time {at.isoformat()}"
                                + (f"; claimed {claimed.isoformat()} without proof)" if no_poe else ")"),
                                SubIndication.SEAL_EXPIRED,
                                indication=Indication.INDETERMINATE if no_poe else None))
        else:
            out.append(p.passed("SEAL_VALIDITY", "the seal was valid at the signing time"))
        if seal.signer_bound is True:
            out.append(p.passed("SEAL_BINDING", "the signer's certificate is one the seal is bound to"))
        elif seal.signer_bound is False:
            out.append(p.failed("SEAL_BINDING", "the signer's certificate is not among the seal's "
                                "bound certificates", SubIndication.SIGNER_NOT_BOUND_TO_SEAL))
        if self.seal_status is not None and info.esid:
            out.append(self._registry_check("SEAL_STATUS", "seal", info.esid, self.seal_status(info.esid), poe,
                                            SubIndication.SEAL_REVOKED))
        if seal.maker_certificate is not None:
            # the seal existed before the signature: a maker certificate revoked after the proven
            # time leaves it good, as the signer's does (docs/verification.md "Time")
            maker_checks, _, _ = self.certificate_checks(seal.maker_certificate, at=at, purpose="seal_maker",
                                                         extra_certs=facts.certificates, poe=poe)
            bad = [c for c in maker_checks if c.failed]
            if bad:
                out.append(p.failed("SEAL_MAKER_CERTIFICATE", "the seal maker's certificate is not valid: "
                                    + "; ".join(c.message for c in bad),
                                    bad[0].sub_indication or SubIndication.SEAL_INVALID,
                                    indication=None))
            else:
                out.append(p.passed("SEAL_MAKER_CERTIFICATE",
                                    f"seal maker {cert_label(seal.maker_certificate)} is trusted"))
            out.extend(_stale_lists(maker_checks))
        return out

    def _registry_check(self, code: str, what: str, ident: str, answer: StatusAnswer | None,
                        poe: _dt.datetime | None, sub: SubIndication) -> Check:
        """A registry's status of a seal or e-license: revoked (or suspended) before the
        proven signing time ``poe``, or with no proof -> ``sub``; revoked after it -> passed
        (seals; an e-license is judged as it stands now and gets no ``poe``)."""
        p = self.policy
        if answer is None:
            return p.info(code, f"{what} {ident}: no registry answer (not registered here)")
        if answer.status == "unavailable":   # the registry that holds it could not be asked
            return p.failed(code, f"{what} {ident}: status unavailable from the {answer.source or 'registry'} "
                            f"({answer.reason})", SubIndication.TRY_LATER)
        if answer.status in ("valid", "expired"):
            return p.passed(code, f"{what} {ident}: {answer.status} in the {answer.source or 'registry'}")
        since = answer.since
        why = f"{what} {ident} is {answer.status}" + (f" since {since.isoformat()}" if since else "") + \
              (f" ({answer.reason})" if answer.reason else "")
        if poe is not None and since is not None and poe < since:
            return p.passed(code, f"{why}, after the signature's proven existence at {poe.isoformat()}",
                            revoked_at=since, poe=poe)
        return p.failed(code, why, sub, revoked_at=since)

    def report(self, name: str, kind: str, data: bytes, signatures: Sequence[SignatureReport]) -> Report:
        return Report(name, kind, tuple(signatures), _now(), hashlib.sha256(data).hexdigest(), self.policy.name)

    # ------------------------------------------------------------------------------ documents

    @read_once
    def verify_ses_signature(self, signature_der: bytes, data: bytes, *, name: str = "SignedValue.dat") -> Report:
        """A GB/T 38540 / GM/T 0031 SES_Signature over ``data`` (seal/structures.py facts)."""
        return self.report(name, "ses", signature_der, [self.evaluate(_documents().ses_facts(signature_der, data))])

    @read_once
    def verify_cms(self, der: bytes, data: bytes | None = None, *, name: str = "signature.p7s") -> Report:
        """An attached, or detached with ``data``, CMS SignedData (seal/cms.py facts)."""
        return self.report(name, "cms", der, [self.evaluate(f) for f in _documents().cms_facts(der, data)])

    @read_once
    def verify_ofd(self, package: bytes, *, name: str = "document.ofd") -> Report:
        """Every signature of an OFD package (seal/ofd/signing.py verify_package facts)."""
        return self.report(name, "ofd", package, [self.evaluate(f) for f in _documents().ofd_facts(package)])

    @read_once
    def verify_pdf(self, pdf: bytes, *, name: str = "document.pdf") -> Report:
        """Every signature of a PDF (seal/pdf_inspect.py facts)."""
        return self.report(name, "pdf", pdf, [self.evaluate(f) for f in _documents().pdf_facts(pdf)])

    @read_once
    def verify_bytes(self, data: bytes, *, name: str = "input", detached: bytes | None = None,
                     at: _dt.datetime | None = None) -> Report:
        """Whatever ``data`` is: a certificate, an OFD, a PDF, a CMS (``detached`` data for a
        detached one), or an SES_Signature (over ``detached``). InputError when none."""
        kind = _documents().detect_kind(data)
        if kind == "certificate":
            return self.verify_certificate(data, at=at, name=name)
        if kind == "ofd":
            return self.verify_ofd(data, name=name)
        if kind == "pdf":
            return self.verify_pdf(data, name=name)
        if kind == "cms":
            return self.verify_cms(data, detached, name=name)
        if kind == "ses":
            try:                                  # an .esl seal on its own?
                facts = _documents().seal_facts(data)
            except InputError:
                facts = None
            if facts is not None:
                return self.report(name, "seal", data, [self.evaluate(facts, purpose="seal_maker")])
            if detached is None:
                raise InputError(f"{name} looks like an SES_Signature: give the signed data too (--data)")
            return self.verify_ses_signature(data, detached, name=name)
        raise InputError(f"{name}: not a certificate, OFD, PDF, CMS SignedData or SES_Signature")


_DOCUMENTS: Any = None


def _documents() -> Any:
    """verify.documents (the fact adapters), imported on first use: it imports this module.
    Held here because an import statement in a method costs about 2 us a call."""
    global _DOCUMENTS
    if _DOCUMENTS is None:
        from verify import documents

        _DOCUMENTS = documents
    return _DOCUMENTS


def _info(cert: x509.Certificate | None) -> CertificateInfo | None:
    if cert is None:
        return None
    try:
        return CertificateInfo.of(cert)
    except InputError:
        return None


def verify_certificate(cert: x509.Certificate | bytes, at: _dt.datetime | None = None, *,
                       trust: TrustSource | None = None, revocation: RevocationChecker | None = None,
                       policy: Policy = STRICT, purpose: str = "any",
                       extra_certs: Iterable[x509.Certificate | bytes] = ()) -> Report:
    """One-off form of :meth:`Verifier.verify_certificate`."""
    if purpose not in PURPOSES:
        raise ValueError(f"unknown purpose {purpose!r}; known: {', '.join(PURPOSES)}")
    verifier = Verifier(trust or StaticTrust(), revocation, policy)
    return verifier.verify_certificate(cert, at=at, purpose=purpose, extra_certs=extra_certs)


def _stale_lists(checks: Iterable[Check]) -> list[Check]:
    """The stale-list warnings of a TSA's or seal maker's path: only the failures of those paths
    are summed up in one check (TIMESTAMP, SEAL_MAKER_CERTIFICATE), and a warning that the list
    their anchor came from is past due belongs in the signature's report as well."""
    return [c for c in checks if c.code == "TRUST_LIST_FRESHNESS" and c.result is CheckResult.WARNING]


def _once_per_list(checks: list[Check]) -> list[Check]:
    """The signer's, the TSA's and the seal maker's paths often end at one anchor of one list:
    its row once."""
    rows = [c for c in checks if c.code == "TRUST_LIST_FRESHNESS"]
    if len(rows) < 2:
        return checks
    seen: set[tuple[str, str]] = set()
    out = []
    for c in checks:
        if c.code == "TRUST_LIST_FRESHNESS":
            key = (c.subject, c.message)
            if key in seen:
                continue
            seen.add(key)
        out.append(c)
    return out
