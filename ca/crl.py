"""Full and delta CRLs (RFC 5280 §5) signed SM2-with-SM3 through a :class:`ca.signer.Signer`.

The revoked list is what makes a CRL big: a region with a million revoked
certificates must publish (build + sign) its CRL in well under five seconds. So the
``revokedCertificates`` SEQUENCE is encoded by :func:`encode_revoked`, a tight DER
encoder over plain tuples (precomputed headers and extension templates, one bytes join,
no asn1crypto object per entry), while everything else — TBSCertList header and CRL
extensions — is declared with asn1crypto and spliced around it. The test suite checks
that both encodings are byte-identical for small lists. A full CRL read from the database
goes one step further: each element's DER is made once, when the certificate is revoked
(:func:`encode_entry`, kept in ca_crl_entries by ca/crl_entries.py), and
``CRLBuilder.revoked_der`` splices the concatenation in as it is.

Entries are ``(serial, revoked_at, reason, invalidity_date)`` 4-tuples (or
:class:`RevokedEntry`, a NamedTuple of the same shape): ``reason`` is ``None`` (no
reasonCode: RFC 5280 §5.3.1 says omit rather than write unspecified), an RFC 5280
CRLReason code (int) or its name (``"keyCompromise"`` or ``"key_compromise"``);
``certificateHold`` marks a suspension, ``removeFromCRL`` is only allowed in a delta CRL.
Times must be timezone-aware; revocation dates are UTCTime through 2049 and
GeneralizedTime after, invalidity dates GeneralizedTime (RFC 5280 §5.3.2).

CRL extensions: authorityKeyIdentifier (issuer SKI), cRLNumber, deltaCRLIndicator
(critical, delta CRLs), issuingDistributionPoint (critical; the full CRL URL of the
region, in both the full and the delta CRL so they have the same scope) and, on full
CRLs, freshestCRL pointing at the delta CRL URL.
"""
from __future__ import annotations

import datetime as _dt
from collections.abc import Iterable, Iterator, Sequence
from typing import Any, NamedTuple

from asn1crypto import crl, pem, x509

from ca import oids
from ca.certificate import load_certificate, subject_key_identifier, x509_time
from ca.errors import BuilderError, IncompleteBuilder, ProfileViolation
from ca.profiles import CAConfig
from ca.signer import Signer, point_bytes, sign_checked
from gm.asn1.der import length as der_length

__all__ = ["RevokedEntry", "CRLBuilder", "encode_revoked", "encode_entry", "iter_encoded", "revoked_sequence",
           "REASON_CODES", "reason_code",
           "tbs_of", "to_pem"]

UTC = _dt.timezone.utc

REASON_CODES: dict[str, int] = {
    "unspecified": 0, "keyCompromise": 1, "cACompromise": 2, "affiliationChanged": 3,
    "superseded": 4, "cessationOfOperation": 5, "certificateHold": 6, "removeFromCRL": 8,
    "privilegeWithdrawn": 9, "aACompromise": 10,
}
_SNAKE = {"unspecified": 0, "key_compromise": 1, "ca_compromise": 2, "affiliation_changed": 3,
          "superseded": 4, "cessation_of_operation": 5, "certificate_hold": 6,
          "remove_from_crl": 8, "privilege_withdrawn": 9, "aa_compromise": 10}


class RevokedEntry(NamedTuple):
    serial: int
    revoked_at: _dt.datetime
    reason: int | str | None = None
    invalidity_date: _dt.datetime | None = None


def reason_code(reason: int | str | None) -> int | None:
    """Normalise a reason (name or code) to its RFC 5280 code; ValueError if unknown."""
    if reason is None:
        return None
    if isinstance(reason, int) and not isinstance(reason, bool):
        if reason in REASON_CODES.values():
            return reason
    elif isinstance(reason, str):
        code = REASON_CODES.get(reason, _SNAKE.get(reason))
        if code is not None:
            return code
    raise BuilderError(f"unknown CRL reason {reason!r}; known: {', '.join(REASON_CODES)}")


# --- the fast revoked-list encoder --------------------------------------------------


_SEQ = [b"\x30" + der_length(n) for n in range(256)]
_INT = [b"\x02" + der_length(n) for n in range(64)]
# reasonCode extension: SEQUENCE { OID 2.5.29.21, OCTET STRING { ENUMERATED code } }
_REASON_EXT = {code: bytes.fromhex("300a0603551d1504030a01") + bytes((code,))
               for code in REASON_CODES.values() if code != 0}
_REASON_EXT[0] = b""   # unspecified: omitted (RFC 5280 §5.3.1)
_REASON_LOOKUP: dict[Any, bytes] = {}
for _name, _code in REASON_CODES.items():
    _REASON_LOOKUP[_name] = _REASON_LOOKUP[_code] = _REASON_EXT[_code]
for _name, _code in _SNAKE.items():
    _REASON_LOOKUP[_name] = _REASON_EXT[_code]
_REASON_LOOKUP[None] = b""
# invalidityDate: SEQUENCE { OID 2.5.29.24, OCTET STRING { GeneralizedTime } }
_INVALIDITY_PREFIX = bytes.fromhex("30180603551d180411180f")


_EPOCH = _dt.datetime(1970, 1, 1, tzinfo=UTC)
_UTC_DAYS = range(-7305, 29220)          # 1950-01-01 .. 2049-12-31 as days since 1970
_D2 = [b"%02d" % i for i in range(100)]
_HMS: list[bytes] = []                  # seconds of the day -> b"HHMMSSZ", built on first use


def _hms_table() -> list[bytes]:
    if not _HMS:
        _HMS.extend(_D2[s // 3600] + _D2[s // 60 % 60] + _D2[s % 60] + b"Z" for s in range(86400))
    return _HMS


def _day_prefix(day: int) -> bytes:
    """TLV header and YYMMDD / YYYYMMDD of a revocation date's day (UTCTime through 2049)."""
    d = _EPOCH + _dt.timedelta(days=day)
    if day in _UTC_DAYS:
        return b"\x17\x0d" + d.strftime("%y%m%d").encode()
    return b"\x18\x0f" + b"%04d" % d.year + d.strftime("%m%d").encode()


def _invalidity_prefix(day: int) -> bytes:
    d = _EPOCH + _dt.timedelta(days=day)
    return _INVALIDITY_PREFIX + b"%04d" % d.year + d.strftime("%m%d").encode()


def iter_encoded(entries: Iterable[Sequence[Any]], *, allow_remove_from_crl: bool = False) -> Iterator[bytes]:
    """The DER of each ``revokedCertificates`` element, one bytes per entry, in order.

    Times are aware datetimes or whole seconds since 1970 UTC (ints, as the database hands
    them over). Times are formatted from two small caches (day -> date prefix, second of
    day -> HHMMSSZ) instead of one ``strftime`` per entry."""
    seq, ints = _SEQ, _INT
    reasons = _REASON_LOOKUP
    hms = _hms_table()
    days: dict[int, bytes] = {}
    gdays: dict[int, bytes] = {}
    remove = _REASON_EXT[8]
    index = -1
    try:
        for index, (serial, when, reason, invalid) in enumerate(entries):
            if serial <= 0:
                raise BuilderError(f"CRL entry {index}: serial must be positive")
            if type(when) is int:  # seconds since 1970 (UTC), as the database hands them over
                stamp = when
            elif when.tzinfo is None:
                raise BuilderError(f"CRL entry {index}: revocation date must be timezone-aware")
            else:
                stamp = int(when.timestamp())
            s = serial.to_bytes((serial.bit_length() + 8) >> 3, "big")
            day, sec = divmod(stamp, 86400)
            t = days.get(day)
            if t is None:
                t = days[day] = _day_prefix(day)
            if reason is None and invalid is None:
                body = ints[len(s)] + s + t + hms[sec]
            else:
                ext = reasons[reason]
                if ext is remove and not allow_remove_from_crl:
                    raise BuilderError(f"CRL entry {index}: removeFromCRL only in a delta CRL")
                if invalid is not None:
                    if type(invalid) is not int and invalid.tzinfo is None:
                        raise BuilderError(f"CRL entry {index}: invalidity date must be timezone-aware")
                    iday, isec = divmod(invalid if type(invalid) is int else int(invalid.timestamp()), 86400)
                    g = gdays.get(iday)
                    if g is None:
                        g = gdays[iday] = _invalidity_prefix(iday)
                    ext = ext + g + hms[isec]
                body = ints[len(s)] + s + t + hms[sec] + (seq[len(ext)] + ext if ext else b"")
            n = len(body)
            yield (seq[n] if n < 256 else b"\x30" + der_length(n)) + body
    except BuilderError:
        raise
    except KeyError as exc:
        raise BuilderError(f"CRL entry {index}: unknown reason {exc.args[0]!r}") from None
    except (TypeError, ValueError, AttributeError, IndexError, OverflowError) as exc:
        raise BuilderError(
            f"CRL entry {index}: expected (serial int, revoked_at datetime, reason, "
            f"invalidity_date) — {exc}") from None


def encode_revoked(entries: Iterable[Sequence[Any]], *, allow_remove_from_crl: bool = False) -> bytes:
    """DER of ``revokedCertificates`` (the whole SEQUENCE OF, header included), or
    ``b""`` for no entries (the field is then absent, RFC 5280 §5.1.2.6)."""
    return revoked_sequence(b"".join(iter_encoded(entries, allow_remove_from_crl=allow_remove_from_crl)))


def encode_entry(serial: int, revoked_at: _dt.datetime | int, reason: int | str | None = None,
                 invalidity_date: _dt.datetime | int | None = None) -> bytes:
    """DER of one ``revokedCertificates`` element of a full CRL (what ca_crl_entries stores)."""
    return next(iter_encoded([(serial, revoked_at, reason, invalidity_date)]))


def revoked_sequence(content: bytes) -> bytes:
    """``revokedCertificates`` around already-encoded elements; ``b""`` when there are none."""
    return b"\x30" + der_length(len(content)) + content if content else b""


# --- the builder --------------------------------------------------------------------

def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC).replace(microsecond=0)


class CRLBuilder:
    """``CRLBuilder(issuer_cert, config).crl_number(n).next_update(t).revoked(rows).sign(s)``

    Immutable: each setter validates, may be called once, returns a new builder.
    ``sign()`` returns the DER CRL (bytes; a million-entry CRL is never parsed back)."""

    __slots__ = ("_issuer", "_config", "_f")

    def __init__(self, issuer: x509.Certificate | bytes, config: CAConfig | None = None,
                 _f: dict[str, Any] | None = None) -> None:
        self._issuer = load_certificate(issuer)
        if _f is None:
            ku = self._issuer.key_usage_value
            if ku is not None and "crl_sign" not in ku.native:
                raise ProfileViolation("issuer certificate lacks cRLSign in its key usage")
        self._config = config
        self._f: dict[str, Any] = dict(_f or {})

    def _with(self, name: str, value: Any) -> CRLBuilder:
        if name in self._f:
            raise BuilderError(f"{name} is already set")
        return CRLBuilder(self._issuer, self._config, {**self._f, name: value})

    def crl_number(self, number: int) -> CRLBuilder:
        if not isinstance(number, int) or isinstance(number, bool) or number < 0 \
                or number.bit_length() > 159:
            raise BuilderError("CRL number must be a non-negative integer of at most 20 octets")
        return self._with("number", number)

    def delta_of(self, base_crl_number: int) -> CRLBuilder:
        """Make this a delta CRL against the full CRL numbered ``base_crl_number``."""
        if not isinstance(base_crl_number, int) or base_crl_number < 0:
            raise BuilderError("base CRL number must be a non-negative integer")
        return self._with("base", base_crl_number)

    def this_update(self, when: _dt.datetime) -> CRLBuilder:
        if not isinstance(when, _dt.datetime) or when.tzinfo is None:
            raise BuilderError("this_update must be a timezone-aware datetime")
        return self._with("this_update", when.replace(microsecond=0))

    def next_update(self, when: _dt.datetime) -> CRLBuilder:
        if not isinstance(when, _dt.datetime) or when.tzinfo is None:
            raise BuilderError("next_update must be a timezone-aware datetime")
        return self._with("next_update", when.replace(microsecond=0))

    def revoked(self, entries: Iterable[Sequence[Any]]) -> CRLBuilder:
        """Entries as ``(serial, revoked_at, reason, invalidity_date)`` tuples; encoded
        (and checked) at ``sign()``; the iterable is consumed once."""
        if "revoked_der" in self._f:
            raise BuilderError("the revoked list is already given as DER")
        return self._with("revoked", entries)

    def revoked_der(self, elements: bytes) -> CRLBuilder:
        """The revoked list as the concatenated DER of its elements (``encode_entry`` of
        each, as ca_crl_entries keeps them): spliced in as it is, for a full CRL read
        from the database without one Python object per entry."""
        if "revoked" in self._f:
            raise BuilderError("the revoked list is already given as entries")
        elements = bytes(elements)
        if elements and elements[0] != 0x30:
            raise BuilderError("revoked_der takes DER SEQUENCE elements (revokedCertificates entries)")
        return self._with("revoked_der", elements)

    # --- build ----------------------------------------------------------------------

    def _issuer_id(self) -> bytes:
        return subject_key_identifier(self._issuer)

    def build_tbs(self, signer_public_key: Any) -> bytes:
        f = self._f
        if "number" not in f or "next_update" not in f:
            missing = [n for n in ("number", "next_update") if n not in f]
            raise IncompleteBuilder(f"cannot sign CRL: {', '.join(missing)} not set")
        if point_bytes(signer_public_key) != self._issuer.public_key["public_key"].contents[1:]:
            raise ProfileViolation("the signer's key is not the CRL issuer certificate's key")
        this_update = f.get("this_update") or _now()
        next_update = f["next_update"]
        if next_update <= this_update:
            raise BuilderError("next_update must be later than this_update")
        delta = "base" in f
        if delta and f["base"] >= f["number"]:
            raise BuilderError("a delta CRL's number must be greater than its base CRL number")
        if "revoked_der" in f:
            revoked = revoked_sequence(f["revoked_der"])
        else:
            revoked = encode_revoked(f.get("revoked", ()), allow_remove_from_crl=delta)
        tbs = crl.TbsCertList({
            "version": "v2",
            "signature": {"algorithm": oids.SM2_WITH_SM3},
            "issuer": self._issuer.subject,
            "this_update": x509_time(this_update),
            "next_update": x509_time(next_update),
            "crl_extensions": self._extensions(delta),
        })
        head = b"".join(tbs[name].dump() for name in
                        ("version", "signature", "issuer", "this_update", "next_update"))
        exts = tbs["crl_extensions"].dump()
        content_len = len(head) + len(revoked) + len(exts)
        return b"".join((b"\x30", der_length(content_len), head, revoked, exts))

    def _extensions(self, delta: bool) -> list[dict[str, Any]]:
        key_id = self._issuer_id()
        exts: list[dict[str, Any]] = [
            {"extn_id": "authority_key_identifier", "critical": False,
             "extn_value": {"key_identifier": key_id}},
            {"extn_id": "crl_number", "critical": False, "extn_value": self._f["number"]},
        ]
        if delta:
            exts.append({"extn_id": "delta_crl_indicator", "critical": True,
                         "extn_value": self._f["base"]})
        if self._config is not None:
            url = self._config.crl_url(key_id.hex())
            exts.append({"extn_id": "issuing_distribution_point", "critical": True,
                         "extn_value": {"distribution_point": x509.DistributionPointName(
                             name="full_name",
                             value=[x509.GeneralName(name="uniform_resource_identifier",
                                                     value=url)])}})
            if not delta and self._config.delta_crls:
                exts.append({"extn_id": "freshest_crl", "critical": False, "extn_value": [{
                    "distribution_point": x509.DistributionPointName(
                        name="full_name",
                        value=[x509.GeneralName(name="uniform_resource_identifier",
                                                value=self._config.crl_url(key_id.hex(), delta=True))])}]})
        return exts

    def sign(self, signer: Signer) -> bytes:
        tbs = self.build_tbs(signer.public_key)
        signature = sign_checked(signer, tbs)
        tail = _SIG_ALG + b"\x03" + der_length(len(signature) + 1) + b"\x00" + signature
        return b"".join((b"\x30", der_length(len(tbs) + len(tail)), tbs, tail))


# AlgorithmIdentifier { SM2-with-SM3 } without parameters
_SIG_ALG = x509.SignedDigestAlgorithm({"algorithm": oids.SM2_WITH_SM3}).dump()


def tbs_of(crl_der: bytes) -> bytes:
    """The TBSCertList bytes of a DER CRL (for signature checks), without a full parse."""
    return crl.CertificateList.load(crl_der)["tbs_cert_list"].dump()


def to_pem(crl_der: bytes) -> bytes:
    return pem.armor("X509 CRL", crl_der)
