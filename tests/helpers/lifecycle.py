"""The plain-Python model of a region's lifecycles for tests/test_lifecycle_model.py, and the
readers that turn what the region answers (CRL, OCSP, audit, log, reports) into plain values
to compare with it.

The model holds what each certificate's, seal's and license's status should be after the
operations made so far; the readers use independent code paths where there are some
(``verify.revocation.parse_crl`` checks a CRL's signature; OCSP answers are parsed with
asn1crypto and their signature checked with the responder's key).
"""
from __future__ import annotations

import dataclasses
import datetime as dt
import io
import zipfile
from collections import Counter
from typing import Any

from asn1crypto import cms as acms
from asn1crypto import core, x509
from asn1crypto import ocsp as aocsp
from sqlalchemy import func, select

from ca import ocsp
from ca.crl import REASON_CODES
from store import audit, db
from store.models import AuditRecord
from store.models.translog import TransLogEntry

UTC = dt.timezone.utc
_NAME_OF_CODE = {code: name for name, code in REASON_CODES.items()}
# asn1crypto spells CRL reasons in snake case; the service and the model in RFC 5280 camel case
_SNAKE = {"unspecified": 0, "key_compromise": 1, "ca_compromise": 2, "affiliation_changed": 3,
          "superseded": 4, "cessation_of_operation": 5, "certificate_hold": 6, "remove_from_crl": 8,
          "privilege_withdrawn": 9, "aa_compromise": 10}
# the audit actions whose counts the model predicts exactly (key-store records are the key store's)
DOMAIN_ACTIONS = ("cert.issue", "cert.revoke", "cert.suspend", "cert.resume", "seal.make", "seal.suspend",
                  "seal.resume", "seal.revoke", "seal.sign", "seal.use_refused", "license.issue",
                  "license.revoke", "crl.generate", "tsa.timestamp", "key.pin_failed", "key.pin_changed",
                  "key.pin_reset")
# RFC 3161 section 4: a TSA certificate revoked for these reasons leaves its earlier tokens valid;
# revoked for a key compromise, no token of that key can be trusted any more
TSA_KEEPS_EARLIER_TOKENS = ("unspecified", "affiliationChanged", "superseded", "cessationOfOperation")


def camel(reason: str | None) -> str | None:
    """asn1crypto's snake-case CRL reason -> the RFC 5280 name (None stays None)."""
    return None if reason is None else _NAME_OF_CODE[_SNAKE[reason]]


def now() -> dt.datetime:
    """Wall-clock time to the second, as the services stamp it."""
    return dt.datetime.now(UTC).replace(microsecond=0)


@dataclasses.dataclass
class Window:
    """The seconds an operation ran in: what it stamped lies inside."""
    start: dt.datetime
    end: dt.datetime

    def holds(self, moment: dt.datetime | None) -> bool:
        return moment is not None and self.start <= moment.astimezone(UTC) <= self.end


@dataclasses.dataclass
class Cert:
    serial: str
    profile: str
    key_ref: str | None             # None: the key is the subscriber's (issued from a CSR)
    status: str = "good"            # good | hold | revoked
    reason: str | None = None       # RFC 5280 name once revoked (certificateHold on hold)
    changed: Window | None = None   # the last status change
    ever_changed: bool = False


@dataclasses.dataclass
class Seal:
    es_id: str
    signer: str                     # serial of the one certificate the seal binds
    maker: str | None = None        # serial of the seal maker certificate that signed the seal
    personal: bool = False          # a person's seal: each use needs the holder's PIN
    status: str = "valid"           # valid | suspended | revoked
    changed: Window | None = None


@dataclasses.dataclass
class Pin:
    """A personal-seal key's PIN as the key store must hold it."""
    pin: str
    failures: int = 0
    locked: bool = False


PIN_MAX_FAILURES = 5                # wrong tries that lock a PIN (keystore/soft.py says the same)


@dataclasses.dataclass
class License:
    license_id: str
    status: str = "valid"           # valid | revoked
    document: Doc | None = None     # the sealed OFD, when sealed


@dataclasses.dataclass
class Doc:
    kind: str                       # ofd | cms | license
    sealed: bytes
    data: bytes | None              # the detached data of a CMS sealing
    signer: str
    es_id: str
    timestamped: bool
    made: Window
    license_id: str | None = None
    tsa: str | None = None          # serial of the TSA certificate that stamped it
    maker: str | None = None        # serial of the seal maker certificate of its seal


@dataclasses.dataclass
class Model:
    certs: dict[str, Cert] = dataclasses.field(default_factory=dict)
    seals: dict[str, Seal] = dataclasses.field(default_factory=dict)
    licenses: dict[str, License] = dataclasses.field(default_factory=dict)
    docs: list[Doc] = dataclasses.field(default_factory=list)
    pins: dict[str, Pin] = dataclasses.field(default_factory=dict)         # key_ref -> PIN
    services: dict[str, list[str]] = dataclasses.field(default_factory=dict)  # profile -> serials, oldest first
    audit: Counter[str] = dataclasses.field(default_factory=Counter)
    log_size: int = 0
    full_crl_made: bool = False

    def service(self, profile: str) -> str | None:
        """The serial of the service certificate in use: the newest good one (None: no service)."""
        good = [serial for serial in self.services.get(profile, []) if self.certs[serial].status == "good"]
        return good[-1] if good else None

    def listed(self) -> dict[str, str | None]:
        """serial -> reason a full CRL lists (None: unspecified, which the CRL entry omits)."""
        return {c.serial: (None if c.reason == "unspecified" else c.reason)
                for c in self.certs.values() if c.status != "good"}

    def delta_listed(self) -> dict[str, str | None]:
        """What a delta CRL made within DELTA_OVERLAP of its base lists: every certificate whose
        status ever changed, a resumed one as removeFromCRL."""
        return {c.serial: ("removeFromCRL" if c.status == "good" else
                           None if c.reason == "unspecified" else c.reason)
                for c in self.certs.values() if c.ever_changed}


# ----------------------------------------------------------------------------- readers


def audit_counts(home: Any) -> tuple[Counter[str], int, list[Any]]:
    """(count per domain action, total records, findings of store.audit.verify)."""
    with db.transaction(home.engine, readonly=True) as s:
        rows = s.execute(select(AuditRecord.action, func.count()).group_by(AuditRecord.action)).all()
        total = s.scalar(select(func.count()).select_from(AuditRecord)) or 0
        findings = list(audit.verify(s).findings)
    counts = Counter({action: n for action, n in rows if action in DOMAIN_ACTIONS})
    return counts, total, findings


def log_size(home: Any) -> int:
    with db.transaction(home.engine, readonly=True) as s:
        return int(s.scalar(select(func.count()).select_from(TransLogEntry)) or 0)


def ocsp_answers(response_der: bytes, responder: x509.Certificate) -> dict[int, tuple[str, Any, str | None]]:
    """serial -> (good | revoked | unknown, revocation time, RFC 5280 reason) of a successful
    OCSP response whose signature verifies with the responder certificate's key."""
    from verify.path import verify_signed

    response = aocsp.OCSPResponse.load(response_der)
    assert response["response_status"].native == "successful"
    basic = response.basic_ocsp_response
    tbs = basic["tbs_response_data"]
    outcome = verify_signed(basic["signature_algorithm"], basic["signature"].native, tbs.dump(),
                            responder.public_key)
    assert outcome.ok, outcome.error
    answers = {}
    for single in tbs["responses"]:
        status = single["cert_status"]
        serial = single["cert_id"]["serial_number"].native
        if status.name == "revoked":
            info = status.chosen
            reason = info["revocation_reason"].native if info["revocation_reason"].native else None
            answers[serial] = ("revoked", info["revocation_time"].native, camel(reason))
        else:
            answers[serial] = (status.name, None, None)
    return answers


def ocsp_request(issuer: x509.Certificate, serials: list[int]) -> bytes:
    ids = [ocsp.cert_id_for(issuer, s, "sm3").raw for s in serials]
    tbs = {"request_list": [{"req_cert": c} for c in ids],
           "request_extensions": [{"extn_id": "nonce", "critical": False, "extn_value": core.OctetString(b"n" * 16)}]}
    return aocsp.OCSPRequest({"tbs_request": tbs}).dump()


def signed_value(ofd: bytes) -> bytes:
    """The SES_Signature of a package sealed once (its SignedValue.dat)."""
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        (name,) = [n for n in z.namelist() if n.endswith("SignedValue.dat")]
        return z.read(name)


def cms_signature_value(der: bytes) -> bytes:
    """The SignerInfo's signature value of a CMS SignedData (what a CMS sealing logs)."""
    signed = acms.ContentInfo.load(der)["content"]
    return signed["signer_infos"][0]["signature"].native


def timestamp_holds(tsa: Cert, stamped: Window) -> bool:
    """Whether a token by ``tsa``, made within ``stamped``, still proves its time (RFC 3161
    section 4, docs/verification.md "Time": the TSA certificate is checked at that time)."""
    if tsa.status == "good":
        return True
    return tsa.reason in TSA_KEEPS_EARLIER_TOKENS and stamped.end < tsa.changed.start


def expected_verdict(*, cert_status: str, revoked_at: dt.datetime | None, seal_status: str | None,
                     seal_since: dt.datetime | None, license_revoked: bool, poe: dt.datetime | None,
                     claimed: dt.datetime | None, timestamp_failed: bool = False,
                     maker_revoked_at: dt.datetime | None = None) -> tuple[str, str | None]:
    """(indication, sub-indication) docs/verification.md gives a signature by a certificate and
    seal of this region, checked in the engine's order: the certificate, the seal, the license.

    A certificate revoked (or put on hold) after the proven time (``poe``, the timestamp)
    leaves it PASSED; at or before it, or claimed at or after the revocation without proof,
    REVOKED; revoked with only an earlier claimed time, INDETERMINATE REVOKED_NO_POE. A seal
    suspended or revoked before the proven time fails SEAL_REVOKED (after it: passed). A
    revoked e-license fails LICENSE_REVOKED whenever it was sealed. A timestamp whose TSA
    certificate no longer holds (``timestamp_failed``) is INDETERMINATE
    CERTIFICATE_CHAIN_GENERAL_FAILURE and proves nothing. A seal maker certificate revoked
    after the proven time leaves the seal good; at or before it, or without proof, REVOKED."""
    outcomes: list[tuple[str, str]] = []
    if timestamp_failed:
        outcomes.append(("INDETERMINATE", "CERTIFICATE_CHAIN_GENERAL_FAILURE"))
    if cert_status != "good":
        if poe is not None and poe < revoked_at:
            pass
        elif poe is not None or (claimed is not None and claimed >= revoked_at):
            outcomes.append(("FAILED", "REVOKED"))
        else:
            outcomes.append(("INDETERMINATE", "REVOKED_NO_POE"))
    if seal_status in ("suspended", "revoked") and not (poe is not None and poe < seal_since):
        outcomes.append(("FAILED", "SEAL_REVOKED"))
    if maker_revoked_at is not None and not (poe is not None and poe < maker_revoked_at):
        outcomes.append(("FAILED", "REVOKED"))
    if license_revoked:
        outcomes.append(("FAILED", "LICENSE_REVOKED"))
    for wanted in ("FAILED", "INDETERMINATE"):
        for indication, sub in outcomes:
            if indication == wanted:
                return indication, sub
    return "PASSED", None
