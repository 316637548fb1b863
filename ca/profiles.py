"""Certificate profiles after GM/T 0015, as data, applied by one engine (STYLE.md #9).

A :class:`Profile` is a row of options — subject DN rules, key usage, extended key
usage, basic constraints, validity limits, which URLs and identity extensions apply.
:func:`check_subject`, :func:`check_validity`, :func:`check_identity` and
:func:`extensions` are the engine: no ``if profile is personal`` anywhere.

Decision: **one issuing CA with several profiles**, not one issuing CA per kind.
A region runs a root CA (pathLen 1) and one issuing CA (pathLen 0) that issues every
end-entity profile below; what a certificate is for is said by its profile's policy OID,
key usage and EKU, not by which CA signed it. Reasons: one CRL and one OCSP responder
per region to publish and keep fresh (relying parties in other regions configure one
URL set per region); one CA key in the keystore to activate and guard; GM/T 0015 does
not require separate CAs; and a region that wants separation (e.g. a dedicated TSA CA)
can still create a second issuing CA with the same table — nothing here assumes one.

Policy OIDs: ``<policy_arc>.<region code>.<profile number>`` with the private arc of
:data:`ca.oids.ESEAL_ARC` (a UUID OID, unique without registration) unless the region
configures its own registered arc. Root certificates carry no policy, issuing CAs carry
anyPolicy, end entities their profile's policy with a CPS pointer.

URLs (built from the configurable base URL of the region, see :class:`CAConfig`):
``<base>/crl/<issuer id>.crl`` (CRL DP), ``<base>/crl/<issuer id>-delta.crl`` (freshest
CRL), ``<base>/ocsp`` (AIA OCSP), ``<base>/ca/<issuer id>.cer`` (AIA caIssuers, DER),
``<base>/cps`` (CPS qualifier); ``<issuer id>`` is the hex SKI of the issuing CA, so
the serving side needs no naming scheme of its own.
"""
from __future__ import annotations

import dataclasses
import datetime as _dt
import ipaddress
import re
from collections.abc import Mapping, Sequence
from dataclasses import field
from typing import Literal

from asn1crypto import core, x509

from ca import identifiers, oids
from ca.errors import InvalidIdentifier, ProfileViolation
from ca.gmt0015 import IdentifyCode
from gm.records import frozen_record
from store.models.ca import IssuedCertificate
from store.text import control_character, too_long

__all__ = [
    "CAConfig", "Profile", "PROFILES", "get", "DN_ATTRIBUTES",
    "build_name", "parse_dn", "name_to_dict", "check_subject", "subject_text", "check_validity",
    "check_identity", "check_san", "extensions", "Identity",
]

YEAR = _dt.timedelta(days=365)
DAY = _dt.timedelta(days=1)

# DN attributes a profile may name: key -> (asn1crypto type name, string type, upper bound)
DN_ATTRIBUTES: dict[str, tuple[str, str, int]] = {
    "C": ("country_name", "printable_string", 2),
    "ST": ("state_or_province_name", "utf8_string", 128),
    "L": ("locality_name", "utf8_string", 128),
    "O": ("organization_name", "utf8_string", 64),
    "OU": ("organizational_unit_name", "utf8_string", 64),
    "CN": ("common_name", "utf8_string", 64),
    "serialNumber": ("serial_number", "printable_string", 64),
}
_DN_ORDER = ("C", "ST", "L", "O", "OU", "CN", "serialNumber")
_DN_BY_TYPE = {v[0]: k for k, v in DN_ATTRIBUTES.items()}
_PRINTABLE = re.compile(r"^[A-Za-z0-9 '()+,\-./:=?]*$")


def _no_control(what: str, value: str) -> None:
    found = control_character(value)
    if found is not None:
        raise ProfileViolation(f"{what} contains {found}: control characters are not allowed in a name")


# Identity extension keys a profile may require or allow, and their OIDs.
# "identify_code" is one of citizen_id / passport_number / military_officer_card_number.
IDENTITY_OIDS: dict[str, str] = {
    "identify_code": oids.GMT0015_IDENTIFY_CODE,
    "insurance_number": oids.GMT0015_INSURANCE_NUMBER,
    "ic_registration_number": oids.GMT0015_IC_REGISTRATION_NUMBER,
    "organization_code": oids.GMT0015_ORGANIZATION_CODE,
    "taxation_number": oids.GMT0015_TAXATION_NUMBER,
}


@frozen_record
class Profile:
    """One row of the profile table. Field names say what lands in the certificate."""

    name: str
    title: str                       # Chinese name, for people and the console
    number: int                      # last arc of the policy OID
    subject_required: frozenset[str]
    subject_allowed: frozenset[str]  # besides the required ones
    key_usage: frozenset[str]        # asn1crypto KeyUsage bit names; always critical
    extended_key_usage: tuple[str, ...] = ()
    eku_critical: bool = False
    is_ca: bool = False
    path_length: int | None = None
    default_validity: _dt.timedelta = 2 * YEAR
    max_validity: _dt.timedelta = 5 * YEAR
    policy: Literal["none", "any", "own"] = "own"
    crl_distribution_point: bool = True
    aia_ocsp: bool = True
    aia_ca_issuers: bool = True
    ocsp_nocheck: bool = False
    identity_required: frozenset[str] = frozenset()
    identity_allowed: frozenset[str] = frozenset()
    san_allowed: frozenset[str] = frozenset()   # "dns", "ip", "email"
    san_required: bool = False
    self_signed: bool = False

    def policy_oid(self, config: CAConfig) -> str | None:
        if self.policy == "own":
            return config.policy_oid(self)
        if self.policy == "any":
            return oids.ANY_POLICY
        return None


@frozen_record
class CAConfig:
    """Per-region settings the profiles need (base URL, region code, policy arc)."""

    region_code: str
    base_url: str
    policy_arc: str = oids.ESEAL_ARC + ".1"
    delta_crls: bool = True          # write a freshest-CRL pointer into end entities

    def __post_init__(self) -> None:
        if not re.fullmatch(r"[1-9]\d{5}", self.region_code):
            raise ProfileViolation(
                f"region code must be a 6-digit GB/T 2260 code, got {self.region_code!r}")
        if not re.fullmatch(r"https?://[^\s/]+(/[^\s]*)?", self.base_url):
            raise ProfileViolation(f"base URL must be an http(s) URL, got {self.base_url!r}")
        if not re.fullmatch(r"[0-2](\.\d+)+", self.policy_arc):
            raise ProfileViolation(f"policy arc must be a dotted OID, got {self.policy_arc!r}")
        object.__setattr__(self, "base_url", self.base_url.rstrip("/"))

    def policy_oid(self, profile: Profile) -> str:
        return f"{self.policy_arc}.{int(self.region_code)}.{profile.number}"

    def crl_url(self, issuer_id: str, *, delta: bool = False) -> str:
        return f"{self.base_url}/crl/{issuer_id}{'-delta' if delta else ''}.crl"

    def ocsp_url(self) -> str:
        return f"{self.base_url}/ocsp"

    def ca_issuers_url(self, issuer_id: str) -> str:
        return f"{self.base_url}/ca/{issuer_id}.cer"

    def cps_url(self) -> str:
        return f"{self.base_url}/cps"


_CA_NAME = dict(subject_required=frozenset({"C", "O", "CN"}),
                subject_allowed=frozenset({"ST", "L", "OU"}))
_SERVICE_NAME = _CA_NAME
_SIGNING = frozenset({"digital_signature", "non_repudiation"})
_ENCRYPTION = frozenset({"key_encipherment", "data_encipherment", "key_agreement"})

_TABLE: tuple[Profile, ...] = (
    Profile("root_ca", "根CA", 1, **_CA_NAME,
            key_usage=frozenset({"key_cert_sign", "crl_sign"}), is_ca=True, path_length=1,
            default_validity=20 * YEAR, max_validity=30 * YEAR, policy="none",
            crl_distribution_point=False, aia_ocsp=False, aia_ca_issuers=False,
            self_signed=True),
    Profile("issuing_ca", "签发CA", 2, **_CA_NAME,
            key_usage=frozenset({"key_cert_sign", "crl_sign"}), is_ca=True, path_length=0,
            default_validity=10 * YEAR, max_validity=20 * YEAR, policy="any",
            aia_ocsp=False),
    Profile("personal", "个人证书", 10,
            subject_required=frozenset({"C", "CN"}),
            subject_allowed=frozenset({"ST", "L", "O", "OU", "serialNumber"}),
            key_usage=_SIGNING,
            extended_key_usage=(oids.KP_CLIENT_AUTH, oids.KP_EMAIL_PROTECTION),
            identity_required=frozenset({"identify_code"}),
            identity_allowed=frozenset({"insurance_number"}),
            san_allowed=frozenset({"email"})),
    Profile("organization", "机构证书", 11,
            subject_required=frozenset({"C", "O", "CN"}),
            subject_allowed=frozenset({"ST", "L", "OU", "serialNumber"}),
            key_usage=_SIGNING, extended_key_usage=(oids.KP_CLIENT_AUTH,),
            identity_required=frozenset({"organization_code"}),
            identity_allowed=frozenset({"ic_registration_number", "taxation_number"})),
    Profile("device", "设备证书", 12,
            subject_required=frozenset({"C", "O", "CN"}),
            subject_allowed=frozenset({"ST", "L", "OU", "serialNumber"}),
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=(oids.KP_CLIENT_AUTH,),
            san_allowed=frozenset({"dns", "ip"})),
    Profile("seal_maker", "制章人证书", 20, **_SERVICE_NAME,
            key_usage=_SIGNING, default_validity=5 * YEAR, max_validity=10 * YEAR,
            identity_allowed=frozenset({"organization_code"})),
    Profile("tsa", "时间戳服务证书", 21, **_SERVICE_NAME,
            key_usage=_SIGNING, extended_key_usage=(oids.KP_TIME_STAMPING,),
            eku_critical=True, default_validity=5 * YEAR, max_validity=10 * YEAR),
    Profile("ocsp", "OCSP响应者证书", 22, **_SERVICE_NAME,
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=(oids.KP_OCSP_SIGNING,), ocsp_nocheck=True,
            default_validity=180 * DAY, max_validity=YEAR,
            crl_distribution_point=False, aia_ocsp=False),
    Profile("tls_server", "服务器证书", 23,
            subject_required=frozenset({"C", "CN"}),
            subject_allowed=frozenset({"ST", "L", "O", "OU"}),
            key_usage=frozenset({"digital_signature"}),
            extended_key_usage=(oids.KP_SERVER_AUTH,),
            default_validity=YEAR, max_validity=398 * DAY,
            san_allowed=frozenset({"dns", "ip"}), san_required=True),
    Profile("audit_signer", "审计签名证书", 24, **_SERVICE_NAME,
            key_usage=_SIGNING, default_validity=3 * YEAR, max_validity=5 * YEAR),
)
# Dual certificates (GM/T 0015): the encryption twin of each subscriber profile.
_TABLE += tuple(
    dataclasses.replace(p, name=p.name + "_encryption", title=p.title + "(加密)",
                        number=p.number + 100, key_usage=_ENCRYPTION,
                        extended_key_usage=())
    for p in _TABLE if p.name in ("personal", "organization", "device")
)

PROFILES: Mapping[str, Profile] = {p.name: p for p in _TABLE}


def get(name: str) -> Profile:
    try:
        return PROFILES[name]
    except KeyError:
        raise ProfileViolation(
            f"unknown profile {name!r}; known: {', '.join(PROFILES)}") from None


# --- subject ------------------------------------------------------------------------

def parse_dn(text: str) -> dict[str, str | list[str]]:
    """Parse ``"C=CN,O=广东省人民政府,CN=..."`` (``\\,`` escapes a comma) into a dict.

    Only the attributes of :data:`DN_ATTRIBUTES` are understood; OU may repeat."""
    out: dict[str, str | list[str]] = {}
    for part in re.split(r"(?<!\\),", text.strip().lstrip("/")):
        if not part.strip():
            continue
        key, sep, value = part.partition("=")
        key, value = key.strip(), value.strip().replace("\\,", ",")
        canonical = {k.lower(): k for k in DN_ATTRIBUTES}.get(key.lower())
        if not sep or canonical is None:
            raise ProfileViolation(
                f"subject: cannot read {part.strip()!r} (expected KEY=value with KEY in "
                f"{', '.join(_DN_ORDER)})")
        if canonical in out:
            if canonical != "OU":
                raise ProfileViolation(f"subject: {canonical} given twice")
            prev = out[canonical]
            out[canonical] = [*([prev] if isinstance(prev, str) else prev), value]
        else:
            out[canonical] = value
    return out


def name_to_dict(name: x509.Name) -> dict[str, str | list[str]]:
    """The subject attributes of an asn1crypto Name as a dict keyed like :func:`parse_dn`;
    attributes outside :data:`DN_ATTRIBUTES` are kept under their dotted OID."""
    out: dict[str, str | list[str]] = {}
    for rdn in name.chosen:
        for atv in rdn:
            t = atv["type"]
            key = _DN_BY_TYPE.get(t.native, t.dotted)
            value = atv["value"].native
            if key in out:
                prev = out[key]
                out[key] = [*([prev] if isinstance(prev, str) else prev), value]
            else:
                out[key] = value
    return out


def build_name(attrs: Mapping[str, str | Sequence[str]]) -> x509.Name:
    """Encode a DN in the order C, ST, L, O, OU, CN, serialNumber (one attribute per RDN;
    C and serialNumber as PrintableString, the rest UTF8String)."""
    rdns = []
    for key in _DN_ORDER:
        if key not in attrs:
            continue
        values = attrs[key]
        for value in [values] if isinstance(values, str) else values:
            type_name, string_type, _ = DN_ATTRIBUTES[key]
            rdns.append(x509.RelativeDistinguishedName([x509.NameTypeAndValue({
                "type": type_name,
                "value": x509.DirectoryString(name=string_type, value=value),
            })]))
    unknown = set(attrs) - set(_DN_ORDER)
    if unknown:
        raise ProfileViolation(f"subject: attribute(s) {', '.join(sorted(unknown))} not supported")
    return x509.Name(name="", value=x509.RDNSequence(rdns))


def check_subject(profile: Profile, attrs: Mapping[str, str | Sequence[str]]) -> x509.Name:
    """Apply the profile's DN rules; return the encoded Name or raise ProfileViolation."""
    if isinstance(attrs, x509.Name):
        attrs = name_to_dict(attrs)
    present = set(attrs)
    missing = profile.subject_required - present
    if missing:
        raise ProfileViolation(
            f"profile {profile.name}: subject lacks required {', '.join(sorted(missing))}")
    extra = present - profile.subject_required - profile.subject_allowed
    if extra:
        raise ProfileViolation(
            f"profile {profile.name}: subject attribute(s) {', '.join(sorted(extra))} "
            f"not allowed (allowed: {', '.join(sorted(profile.subject_required | profile.subject_allowed))})")
    for key, values in attrs.items():
        vals = [values] if isinstance(values, str) else list(values)
        if key != "OU" and len(vals) != 1:
            raise ProfileViolation(f"subject: {key} may appear only once")
        _, string_type, upper = DN_ATTRIBUTES[key]
        for v in vals:
            if not isinstance(v, str) or not v.strip() or v != v.strip():
                raise ProfileViolation(f"subject: {key} must be a non-empty string without "
                                       "leading or trailing blanks")
            if len(v) > upper:
                raise ProfileViolation(f"subject: {key} longer than {upper} characters")
            _no_control(f"subject: {key}", v)
            if string_type == "printable_string" and not _PRINTABLE.match(v):
                raise ProfileViolation(f"subject: {key} {v!r} must be PrintableString characters")
    if attrs["C"] != "CN":
        raise ProfileViolation(f"subject: C must be 'CN', got {attrs['C']!r}")
    name = build_name(attrs)
    # Each attribute is bounded, but OU may repeat and the text labels every attribute: refused
    # here, before anything is signed, rather than listed under a subject cut short.
    problem = too_long(subject_text(name), IssuedCertificate.subject, "subject: as text (the certificate list's "
                                                                      "search and display)")
    if problem is not None:
        raise ProfileViolation(f"{problem}; give fewer or shorter OU values")
    return name


def subject_text(name: x509.Name) -> str:
    """A subject as the certificate list keeps it (``IssuedCertificate.subject``): what its
    search matches and the API and the console show."""
    return name.human_friendly


# --- validity -----------------------------------------------------------------------

def check_validity(profile: Profile, not_before: _dt.datetime, not_after: _dt.datetime,
                   *, issuer_not_after: _dt.datetime | None = None) -> None:
    for label, t in (("not_before", not_before), ("not_after", not_after)):
        if not isinstance(t, _dt.datetime) or t.tzinfo is None:
            raise ProfileViolation(f"validity: {label} must be a timezone-aware datetime")
    if not_after <= not_before:
        raise ProfileViolation("validity: not_after must be later than not_before")
    if not_after - not_before > profile.max_validity:
        raise ProfileViolation(
            f"profile {profile.name}: validity of {(not_after - not_before).days} days exceeds "
            f"the maximum of {profile.max_validity.days} days")
    if issuer_not_after is not None and not_after > issuer_not_after:
        raise ProfileViolation(
            f"validity: not_after {not_after.isoformat()} is after the issuer's "
            f"not_after {issuer_not_after.isoformat()}")


# --- identity extensions ------------------------------------------------------------

@frozen_record
class Identity:
    """GM/T 0015 identity values for one certificate; validated by :func:`check_identity`."""

    citizen_id: str | None = None                  # -> IdentifyCode.residenterCardNumber
    passport_number: str | None = None             # -> IdentifyCode.passportNumber
    military_officer_card_number: str | None = None
    insurance_number: str | None = None
    organization_code: str | None = None           # USCC (18) or organization code (9)
    ic_registration_number: str | None = None
    taxation_number: str | None = None

    def keys(self) -> set[str]:
        out = {f.name for f in dataclasses.fields(self) if getattr(self, f.name) is not None}
        code = out & {"citizen_id", "passport_number", "military_officer_card_number"}
        return (out - code) | ({"identify_code"} if code else set())


def _printable(label: str, value: str, upper: int = 64) -> str:
    v = value.strip()
    if not v or len(v) > upper or not _PRINTABLE.match(v):
        raise InvalidIdentifier(f"{label}: must be 1-{upper} PrintableString characters")
    return v


def check_identity(profile: Profile, identity: Identity) -> Identity:
    """Validate identifiers (check characters) and the profile's identity rules."""
    codes = [n for n in ("citizen_id", "passport_number", "military_officer_card_number")
             if getattr(identity, n) is not None]
    if len(codes) > 1:
        raise ProfileViolation(
            f"identity: give one of citizen_id, passport_number, military_officer_card_number "
            f"(got {', '.join(codes)})")
    present = identity.keys()
    missing = profile.identity_required - present
    if missing:
        raise ProfileViolation(
            f"profile {profile.name}: identity extension(s) {', '.join(sorted(missing))} required"
            + (" (citizen_id, passport_number or military_officer_card_number)"
               if "identify_code" in missing else ""))
    extra = present - profile.identity_required - profile.identity_allowed
    if extra:
        raise ProfileViolation(
            f"profile {profile.name}: identity extension(s) {', '.join(sorted(extra))} not allowed")
    out = {}
    if identity.citizen_id is not None:
        out["citizen_id"] = identifiers.citizen_id(identity.citizen_id)
    if identity.passport_number is not None:
        out["passport_number"] = _printable("passport number", identity.passport_number)
    if identity.military_officer_card_number is not None:
        v = identity.military_officer_card_number.strip()
        if not v or len(v) > 64:
            raise InvalidIdentifier("military officer card number: must be 1-64 characters")
        out["military_officer_card_number"] = v
    if identity.insurance_number is not None:
        out["insurance_number"] = _printable("social insurance number", identity.insurance_number)
    if identity.organization_code is not None:
        v = identity.organization_code.strip()
        out["organization_code"] = (identifiers.unified_social_credit_code(v) if len(v) == 18
                                    else identifiers.organization_code(v))
    if identity.ic_registration_number is not None:
        v = identity.ic_registration_number.strip()
        out["ic_registration_number"] = (identifiers.unified_social_credit_code(v)
                                         if len(v) == 18 else
                                         _printable("business registration number", v))
    if identity.taxation_number is not None:
        v = identity.taxation_number.strip()
        out["taxation_number"] = (identifiers.unified_social_credit_code(v) if len(v) == 18
                                  else _printable("taxation number", v))
    return Identity(**out)


def _identity_extensions(identity: Identity) -> list[x509.Extension]:
    exts = []
    for alt in ("citizen_id", "passport_number", "military_officer_card_number"):
        v = getattr(identity, alt)
        if v is not None:
            name = "residenter_card_number" if alt == "citizen_id" else alt
            exts.append(_raw_ext(oids.GMT0015_IDENTIFY_CODE,
                                 IdentifyCode(name=name, value=v).dump()))
    for key in ("insurance_number", "ic_registration_number", "organization_code",
                "taxation_number"):
        v = getattr(identity, key)
        if v is not None:
            exts.append(_raw_ext(IDENTITY_OIDS[key], core.PrintableString(v).dump()))
    return exts


def _raw_ext(oid: str, value_der: bytes, critical: bool = False) -> x509.Extension:
    return x509.Extension({"extn_id": oid, "critical": critical,
                           "extn_value": core.ParsableOctetString(value_der)})


# --- subject alternative names ------------------------------------------------------

_DNS = re.compile(r"^(?=.{1,253}$)(\*\.)?([A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?\.)*"
                  r"[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$")


def check_san(profile: Profile, san: Sequence[tuple[str, str]]) -> list[x509.GeneralName]:
    """Validate ``[("dns", "a.gov.cn"), ("ip", "10.0.0.1"), ("email", "x@y.cn")]``."""
    if profile.san_required and not san:
        raise ProfileViolation(f"profile {profile.name}: a subject alternative name is required")
    out = []
    for kind, value in san:
        if kind not in profile.san_allowed:
            raise ProfileViolation(
                f"profile {profile.name}: subject alternative name of kind {kind!r} not allowed")
        if kind == "dns":
            if not _DNS.match(value):
                raise ProfileViolation(f"subject alternative name: {value!r} is not a DNS name")
            out.append(x509.GeneralName(name="dns_name", value=value.lower()))
        elif kind == "ip":
            try:
                ipaddress.ip_address(value)
            except ValueError:
                raise ProfileViolation(
                    f"subject alternative name: {value!r} is not an IP address") from None
            out.append(x509.GeneralName(name="ip_address", value=value))
        elif kind == "email":
            _no_control("subject alternative name", value)
            if not re.fullmatch(r"[^@\s]+@[^@\s]+\.[^@\s]+", value) or not value.isascii():
                raise ProfileViolation(f"subject alternative name: {value!r} is not an e-mail address")
            out.append(x509.GeneralName(name="rfc822_name", value=value))
    return out


# --- the engine ---------------------------------------------------------------------

@frozen_record
class ExtensionContext:
    """Facts the engine needs besides the profile: keys, issuer, identity, SAN."""

    subject_key_id: bytes
    authority_key_id: bytes
    issuer_id: str                       # hex SKI of the issuing CA, for URLs
    identity: Identity = field(default_factory=Identity)
    san: tuple[x509.GeneralName, ...] = ()


def extensions(profile: Profile, config: CAConfig, ctx: ExtensionContext) -> list[x509.Extension]:
    """Every extension the profile puts into a certificate, in a fixed order."""
    exts: list[x509.Extension] = []

    def add(name: str, value: object, critical: bool = False) -> None:
        exts.append(x509.Extension({"extn_id": name, "critical": critical, "extn_value": value}))

    if profile.is_ca:
        add("basic_constraints", {"ca": True, "path_len_constraint": profile.path_length}, True)
    add("key_usage", set(profile.key_usage), True)
    if profile.extended_key_usage:
        add("extended_key_usage", list(profile.extended_key_usage), profile.eku_critical)
    add("key_identifier", ctx.subject_key_id)
    if not profile.self_signed or ctx.authority_key_id:
        add("authority_key_identifier", {"key_identifier": ctx.authority_key_id})
    policy = profile.policy_oid(config)
    if policy is not None:
        info: dict[str, object] = {"policy_identifier": policy}
        if profile.policy == "own":
            info["policy_qualifiers"] = [{"policy_qualifier_id": "certification_practice_statement",
                                          "qualifier": config.cps_url()}]
        add("certificate_policies", [info])
    if profile.crl_distribution_point:
        add("crl_distribution_points", [_dp(config.crl_url(ctx.issuer_id))])
        if config.delta_crls and not profile.is_ca:
            add("freshest_crl", [_dp(config.crl_url(ctx.issuer_id, delta=True))])
    aia = []
    if profile.aia_ocsp:
        aia.append({"access_method": "ocsp",
                    "access_location": x509.GeneralName(name="uniform_resource_identifier",
                                                        value=config.ocsp_url())})
    if profile.aia_ca_issuers:
        aia.append({"access_method": "ca_issuers",
                    "access_location": x509.GeneralName(name="uniform_resource_identifier",
                                                        value=config.ca_issuers_url(ctx.issuer_id))})
    if aia:
        add("authority_information_access", aia)
    if ctx.san:
        add("subject_alt_name", list(ctx.san))
    if profile.ocsp_nocheck:
        add("ocsp_no_check", None)
    exts.extend(_identity_extensions(ctx.identity))
    return exts


def _dp(url: str) -> dict[str, object]:
    return {"distribution_point": x509.DistributionPointName(
        name="full_name",
        value=[x509.GeneralName(name="uniform_resource_identifier", value=url)])}
