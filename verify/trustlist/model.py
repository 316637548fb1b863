"""The trust-list format (docs/trust-list.md): JSON modelled on ETSI TS 119 612, canonical
bytes, and the detached GM/T 0010 CMS signature over them.

A signed list is a JSON object ``{"format": "eseal-trust-list/1", "list": {...},
"signature": "<base64 DER CMS>"}``. The signature is a detached SignedData (seal/cms.py,
GM/T 0010 identifiers, SM2 with SM3, the signer certificate included) over the canonical
encoding of ``list``: UTF-8 JSON with keys sorted, no insignificant white space, no
floats (RFC 8785 is then byte-identical). Whoever checks a list names the signer it
expects (a pinned national certificate for the LOTL, the certificate the LOTL gives for a
TL); a list signed by anyone else is refused, however valid its signature.

Both kinds share one shape: ``type`` ("TL" or "LOTL"), ``scheme_operator``,
``scheme_territory``, ``sequence_number`` (strictly increasing), ``issue_date``,
``next_update``; a TL lists ``services`` (and may name its ``license_status_uri``), a LOTL
lists ``pointers`` to regional TLs. Both
entries carry a current ``status`` (granted | withdrawn) with its ``status_starting_time``
and the full ``history`` of status periods, so that "was it granted at T?" has an answer
for any T.
"""
from __future__ import annotations

import base64
import datetime as _dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Any

from asn1crypto import x509

from gm.records import frozen_record
from store.text import unstorable
from verify.errors import PinMismatch, TrustListError, TrustListSignatureError
from verify.path import load_certificate

__all__ = [
    "FORMAT", "SERVICE_TYPES", "STATUSES", "StatusPeriod", "Service", "Pointer", "TrustList",
    "canonical_json", "sign_list", "open_list", "parse_time", "format_time", "status_at",
]

FORMAT = "eseal-trust-list/1"
SERVICE_TYPES = ("root_ca", "issuing_ca", "seal_platform", "tsa", "ocsp")
STATUSES = ("granted", "withdrawn")
UTC = _dt.timezone.utc


def canonical_json(value: Any) -> bytes:
    """RFC 8785-style canonical bytes: sorted keys, no spaces, UTF-8; floats refused."""
    def check(v: Any) -> None:
        if isinstance(v, float):
            raise TrustListError("trust lists carry no floating-point numbers (canonical form)")
        if isinstance(v, Mapping):
            for k, x in v.items():
                if not isinstance(k, str):
                    raise TrustListError("trust list keys must be strings")
                check(x)
        elif isinstance(v, (list, tuple)):
            for x in v:
                check(x)
    check(value)
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode("utf-8")


def format_time(t: _dt.datetime) -> str:
    return t.astimezone(UTC).replace(microsecond=0).strftime("%Y-%m-%dT%H:%M:%SZ")


def parse_time(text: Any, what: str) -> _dt.datetime:
    if not isinstance(text, str):
        raise TrustListError(f"{what} must be a time string like 2026-01-01T00:00:00Z")
    try:
        return _dt.datetime.strptime(text, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    except ValueError:
        raise TrustListError(f"{what} {text!r} is not a UTC time like 2026-01-01T00:00:00Z") from None


@frozen_record
class StatusPeriod:
    status: str
    start: _dt.datetime

    def to_dict(self) -> dict[str, str]:
        return {"status": self.status, "start": format_time(self.start)}


def status_at(history: Sequence[StatusPeriod], at: _dt.datetime) -> StatusPeriod | None:
    """The period in force at ``at`` (None before the first one)."""
    current = None
    for period in history:
        if period.start <= at:
            current = period
    return current


def _history(obj: Mapping[str, Any], where: str) -> tuple[StatusPeriod, ...]:
    raw = obj.get("history")
    if not isinstance(raw, list) or not raw:
        raise TrustListError(f"{where}: history must be a non-empty list of status periods")
    out = []
    for i, p in enumerate(raw):
        if not isinstance(p, Mapping) or set(p) != {"status", "start"}:
            raise TrustListError(f"{where}: history[{i}] must have exactly status and start")
        if p["status"] not in STATUSES:
            raise TrustListError(f"{where}: history[{i}] status {p['status']!r} is not granted or withdrawn")
        out.append(StatusPeriod(p["status"], parse_time(p["start"], f"{where}: history[{i}].start")))
    if any(b.start < a.start for a, b in zip(out, out[1:], strict=False)):
        raise TrustListError(f"{where}: history periods must be in chronological order")
    last = out[-1]
    if obj.get("status") != last.status or obj.get("status_starting_time") != format_time(last.start):
        raise TrustListError(f"{where}: status and status_starting_time must be the last history period")
    return tuple(out)


def _periods_dict(history: Sequence[StatusPeriod]) -> dict[str, Any]:
    return {"status": history[-1].status, "status_starting_time": format_time(history[-1].start),
            "history": [p.to_dict() for p in history]}


@frozen_record
class Service:
    type: str
    name: str
    certificates: tuple[x509.Certificate, ...]
    history: tuple[StatusPeriod, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"type": self.type, "name": self.name,
                "certificates": [base64.b64encode(c.dump()).decode() for c in self.certificates],
                **_periods_dict(self.history)}


@frozen_record
class Pointer:
    territory: str
    scheme_operator: str
    url: str
    signer_certificates: tuple[x509.Certificate, ...]
    history: tuple[StatusPeriod, ...]

    def to_dict(self) -> dict[str, Any]:
        return {"territory": self.territory, "scheme_operator": self.scheme_operator, "url": self.url,
                "signer_certificates": [base64.b64encode(c.dump()).decode() for c in self.signer_certificates],
                **_periods_dict(self.history)}


@frozen_record
class TrustList:
    type: str                        # "TL" or "LOTL"
    scheme_operator: str
    scheme_territory: str
    sequence_number: int
    issue_date: _dt.datetime
    next_update: _dt.datetime
    services: tuple[Service, ...] = ()
    pointers: tuple[Pointer, ...] = ()
    extra: Mapping[str, Any] = field(default_factory=dict)
    # TL only: where relying parties ask for the status of this region's e-licenses
    # (``{license_id}`` is replaced by the identifier); optional
    license_status_uri: str | None = None

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "type": self.type, "version": 1, "scheme_operator": self.scheme_operator,
            "scheme_territory": self.scheme_territory, "sequence_number": self.sequence_number,
            "issue_date": format_time(self.issue_date), "next_update": format_time(self.next_update),
        }
        if self.type == "TL":
            out["services"] = [s.to_dict() for s in self.services]
            if self.license_status_uri is not None:
                out["license_status_uri"] = self.license_status_uri
        else:
            out["pointers"] = [p.to_dict() for p in self.pointers]
        return out

    @classmethod
    def from_dict(cls, d: Any) -> TrustList:
        if not isinstance(d, Mapping):
            raise TrustListError("the list must be a JSON object")
        kind = d.get("type")
        if kind not in ("TL", "LOTL"):
            raise TrustListError(f"list type must be TL or LOTL, not {kind!r}")
        if d.get("version") != 1:
            raise TrustListError(f"unsupported list version {d.get('version')!r} (expected 1)")
        allowed = {"type", "version", "scheme_operator", "scheme_territory", "sequence_number", "issue_date",
                   "next_update", *(("services", "license_status_uri") if kind == "TL" else ("pointers",))}
        unknown = sorted(set(d) - allowed)
        if unknown:
            raise TrustListError(f"unknown field(s) in the {kind}: {', '.join(unknown)}")
        for key in ("scheme_operator", "scheme_territory"):
            _str(d, key, "the list")
        seq = d.get("sequence_number")
        if not isinstance(seq, int) or isinstance(seq, bool) or seq < 1:
            raise TrustListError("sequence_number must be a positive integer")
        if seq > SEQUENCE_MAX:
            raise TrustListError(f"sequence_number {seq} is larger than {SEQUENCE_MAX}, "
                                 "the most a list can be stored with")
        issue, nxt = parse_time(d.get("issue_date"), "issue_date"), parse_time(d.get("next_update"), "next_update")
        if nxt <= issue:
            raise TrustListError("next_update must be later than issue_date")
        services: list[Service] = []
        pointers: list[Pointer] = []
        if kind == "TL":
            for i, s in enumerate(_list(d, "services")):
                where = f"services[{i}]"
                if not isinstance(s, Mapping):
                    raise TrustListError(f"{where} must be an object")
                if s.get("type") not in SERVICE_TYPES:
                    raise TrustListError(f"{where}: type {s.get('type')!r} is not one of {', '.join(SERVICE_TYPES)}")
                services.append(Service(s["type"], _str(s, "name", where), _certs(s, "certificates", where),
                                        _history(s, where)))
        else:
            for i, p in enumerate(_list(d, "pointers")):
                where = f"pointers[{i}]"
                if not isinstance(p, Mapping):
                    raise TrustListError(f"{where} must be an object")
                url = _str(p, "url", where)
                if not url.startswith(("http://", "https://")):
                    raise TrustListError(f"{where}: url must be http(s), not {url!r}")
                pointers.append(Pointer(_str(p, "territory", where), _str(p, "scheme_operator", where), url,
                                        _certs(p, "signer_certificates", where), _history(p, where)))
        _listed_once(services, pointers)
        uri = d.get("license_status_uri")
        if uri is not None and (not isinstance(uri, str) or not uri.startswith(("http://", "https://"))
                                or "{license_id}" not in uri):
            raise TrustListError("license_status_uri must be an http(s) URL holding {license_id}")
        return cls(kind, d["scheme_operator"], d["scheme_territory"], seq, issue, nxt, tuple(services), tuple(pointers),
                   license_status_uri=uri)


def _listed_once(services: Sequence[Service], pointers: Sequence[Pointer]) -> None:
    """A list names each service (a certificate under a type) and each region (a TL's URL) once.

    ETSI TS 119 612 records a change of status as a new period of the same entry's history
    (ServiceHistory), never as a second entry, so two entries for one identity say two things
    about one service. Reading either one would be a guess: "granted wins" would trust a key
    the operator also lists as withdrawn, "last wins" depends on the order of the entries. The
    list is refused as malformed instead (at import, the TL is a failure and its previously
    imported copy stays), and its operator has to say one thing."""
    seen: dict[Any, int] = {}
    for i, s in enumerate(services):
        for c in s.certificates:
            first = seen.setdefault((s.type, c.dump()), i)
            if first != i:
                raise TrustListError(f"services[{first}] and services[{i}] both list {_who(c)} as {s.type}: a "
                                     "service is listed once, its status changes in its history")
    for i, p in enumerate(pointers):
        first = seen.setdefault(p.url, i)
        if first != i:
            raise TrustListError(f"pointers[{first}] and pointers[{i}] both point at {p.url}: a region is listed "
                                 "once, its status changes in its history")


def _list(d: Mapping[str, Any], key: str) -> list[Any]:
    v = d.get(key)
    if not isinstance(v, list):
        raise TrustListError(f"{key} must be a list")
    return v


# The largest sequence number: imported and published lists keep theirs in an INTEGER column,
# PostgreSQL's int4 (a larger one was a driver error there, and stored as given by SQLite).
SEQUENCE_MAX = 2 ** 31 - 1

# The longest text a list may give; its URLs are stored (store.models.trust: 1,000 characters).
MAX_TEXT = 1000


def _str(d: Mapping[str, Any], key: str, where: str) -> str:
    v = d.get(key)
    if not isinstance(v, str) or not v:
        raise TrustListError(f"{where}: {key} must be a non-empty string")
    if len(v) > MAX_TEXT:
        raise TrustListError(f"{where}: {key} is longer than {MAX_TEXT} characters")
    problem = unstorable(v)  # JSON may carry it; PostgreSQL would refuse the import's rows
    if problem is not None:
        raise TrustListError(f"{where}: {key} contains {problem}")
    return v


def _certs(d: Mapping[str, Any], key: str, where: str) -> tuple[x509.Certificate, ...]:
    out = []
    for i, b64 in enumerate(_list(d, key)):
        try:
            out.append(load_certificate(base64.b64decode(b64, validate=True)))
        except Exception as exc:  # noqa: BLE001 - binascii.Error, InputError: both say "bad certificate"
            raise TrustListError(f"{where}: {key}[{i}] is not a base64 DER certificate ({exc})") from None
    if not out:
        raise TrustListError(f"{where}: {key} must name at least one certificate")
    return tuple(out)


# --------------------------------------------------------------------------- signing


def sign_list(tl: TrustList, certificate: x509.Certificate, sign: Any) -> bytes:
    """The signed list as UTF-8 JSON bytes; ``sign(bytes) -> DER SM2 signature`` is the
    key store's signer for ``certificate``'s key (seal.cms.keystore_signer)."""
    from seal.cms import sign_data

    body = tl.to_dict()
    TrustList.from_dict(body)          # never sign what we could not read back
    cms_der = sign_data(canonical_json(body), certificate, sign, flavour="gmt0010", detached=True)
    envelope = {"format": FORMAT, "list": body, "signature": base64.b64encode(cms_der).decode()}
    return json.dumps(envelope, ensure_ascii=False, indent=1, sort_keys=True).encode("utf-8") + b"\n"


def _who(cert: x509.Certificate) -> str:
    """Subject and serial for a message; a certificate that is not the pinned one may not even
    have a readable name (fuzzing: a damaged name made the refusal itself crash)."""
    try:
        return f"{cert.subject.human_friendly} (serial {cert.serial_number:x})"
    except (ValueError, TypeError, KeyError):
        return "a certificate with an unreadable name"


def open_list(data: bytes, expected_signers: Sequence[x509.Certificate] | None) -> tuple[TrustList, x509.Certificate]:
    """Parse and verify a signed list. ``expected_signers``: the certificates allowed to
    sign it (a pin, or the LOTL's signer certificates); None checks the signature only
    (a list the operator handed over in person, ``eseal verify --trust-list``).

    Raises TrustListError (malformed), TrustListSignatureError (bad signature), PinMismatch
    (signed by someone else)."""
    from seal.cms import CmsError, verify_cms

    try:
        envelope = json.loads(bytes(data).decode("utf-8"))
    except ValueError as exc:  # not UTF-8, not JSON, or an integer past Python's 4,300 digits
        raise TrustListError(f"not a JSON trust list: {exc}") from None
    except RecursionError:
        raise TrustListError("not a JSON trust list: nested too deeply to be read") from None
    if not isinstance(envelope, dict) or envelope.get("format") != FORMAT:
        raise TrustListError(f"not an {FORMAT} document (format field)")
    if set(envelope) != {"format", "list", "signature"}:
        raise TrustListError("a signed list has exactly the fields format, list and signature")
    body = envelope["list"]
    try:
        cms_der = base64.b64decode(envelope["signature"], validate=True)
        check = verify_cms(cms_der, canonical_json(body))
    except (CmsError, ValueError, TypeError) as exc:
        raise TrustListSignatureError(f"the list's signature cannot be read: {exc}") from None
    if not check.ok:
        raise TrustListSignatureError(f"the list's signature does not verify ({check.failure}: "
                                      f"{check.signer.detail if check.signers else 'no signer'})")
    signer = check.signer.certificate
    if expected_signers is not None and signer.dump() not in {c.dump() for c in expected_signers}:
        raise PinMismatch(f"the list is signed by {_who(signer)}, not by the expected signer certificate")
    return TrustList.from_dict(body), signer
