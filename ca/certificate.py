"""Immutable X.509 v3 certificate builder that applies a profile (STYLE.md #3).

Each setter validates its value, may be called once, and returns a new builder;
:meth:`CertificateBuilder.sign` checks completeness, lets the profile engine compute
the extensions, and signs the DER TBSCertificate through an injected
:class:`ca.signer.Signer` with SM2-with-SM3 (1.2.156.10197.1.501, no parameters).

Key identifiers: SKI is RFC 5280 §4.2.1.2 method (1), the SHA-1 of the
subjectPublicKey BIT STRING value (the 65-byte point). It is an identifier, not a
security function; SHA-1 gives the same value OpenSSL (``subjectKeyIdentifier=hash``)
and most CA products compute for the same key, and the same hash that RFC 6960 fixes
for the OCSP ResponderID ``byKey``, so one key has one identifier everywhere. AKI
copies the issuer certificate's SKI (computed the same way when the issuer has none).

Serial numbers: 128 bits from :mod:`secrets`, at least 2^64 (so never fewer than 64
random bits and always positive, at most 17 DER octets); a caller may pass one
(positive, at most 20 octets), e.g. after a uniqueness clash in the database.
"""
from __future__ import annotations

import datetime as _dt
import hashlib
import secrets
from collections.abc import Mapping, Sequence
from typing import Any

from asn1crypto import keys, pem, x509

from ca import oids, profiles
from ca.errors import BuilderError, IncompleteBuilder, ProfileViolation
from ca.profiles import CAConfig, ExtensionContext, Identity, Profile
from ca.signer import PublicKeyLike, Signer, point_bytes, sign_checked, sm2_spki
from gm.asn1.der import length as der_length

__all__ = [
    "CertificateBuilder", "random_serial", "key_identifier", "x509_time", "load_certificate",
    "to_pem", "subject_key_identifier",
]


def random_serial() -> int:
    """A positive serial with at least 64 random bits (128 bits, >= 2^64)."""
    while True:
        n = secrets.randbits(128)
        if n >= 1 << 64:
            return n


def key_identifier(public_key: PublicKeyLike | bytes) -> bytes:
    """SHA-1 of the 65-byte SM2 point (RFC 5280 §4.2.1.2 method 1)."""
    return hashlib.sha1(point_bytes(public_key)).digest()


def subject_key_identifier(cert: x509.Certificate) -> bytes:
    """The certificate's SKI, or the method-1 identifier of its key when it has none."""
    ski = cert.key_identifier
    if ski is not None:
        return ski
    return hashlib.sha1(cert.public_key["public_key"].contents[1:]).digest()


def x509_time(t: _dt.datetime) -> x509.Time:
    """UTCTime through 2049, GeneralizedTime from 2050 (RFC 5280 §4.1.2.5)."""
    t = t.astimezone(_dt.timezone.utc).replace(microsecond=0)
    return x509.Time(name="utc_time" if t.year < 2050 else "general_time", value=t)


def load_certificate(data: bytes | x509.Certificate) -> x509.Certificate:
    if isinstance(data, x509.Certificate):
        return data
    if pem.detect(data):
        _, _, data = pem.unarmor(data)
    return x509.Certificate.load(data)


def to_pem(cert: x509.Certificate) -> bytes:
    return pem.armor("CERTIFICATE", cert.dump())


# AlgorithmIdentifier { SM2-with-SM3 } without parameters
_SIG_ALG = x509.SignedDigestAlgorithm({"algorithm": oids.SM2_WITH_SM3}).dump()



def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


class CertificateBuilder:
    """``CertificateBuilder(profile, config).subject(...).public_key(...)...sign(signer)``"""

    __slots__ = ("_profile", "_config", "_fields")

    def __init__(self, profile: Profile | str, config: CAConfig,
                 _fields: Mapping[str, Any] | None = None) -> None:
        self._profile = profiles.get(profile) if isinstance(profile, str) else profile
        if not isinstance(config, CAConfig):
            raise BuilderError("config must be a ca.profiles.CAConfig")
        self._config = config
        self._fields: Mapping[str, Any] = dict(_fields or {})

    @property
    def profile(self) -> Profile:
        return self._profile

    def _with(self, name: str, value: Any) -> CertificateBuilder:
        if name in self._fields:
            raise BuilderError(f"{name} is already set")
        return CertificateBuilder(self._profile, self._config, {**self._fields, name: value})

    # --- setters --------------------------------------------------------------------

    def serial_number(self, serial: int) -> CertificateBuilder:
        if not isinstance(serial, int) or isinstance(serial, bool) or serial <= 0:
            raise BuilderError("serial number must be a positive integer")
        if serial.bit_length() > 159:
            raise BuilderError("serial number must fit in 20 octets (RFC 5280)")
        return self._with("serial", serial)

    def subject(self, subject: Mapping[str, str | Sequence[str]] | str | x509.Name) -> CertificateBuilder:
        attrs = profiles.parse_dn(subject) if isinstance(subject, str) else subject
        return self._with("subject", profiles.check_subject(self._profile, attrs))

    def public_key(self, key: PublicKeyLike | bytes | keys.PublicKeyInfo) -> CertificateBuilder:
        if isinstance(key, keys.PublicKeyInfo):
            from ca.csr import sm2_point_from_spki

            point = sm2_point_from_spki(key, error=ProfileViolation)
        else:
            point = point_bytes(key)
        from gm.sm2 import PublicKey

        try:
            PublicKey.from_bytes(point)
        except ValueError as exc:
            raise ProfileViolation(f"public key is not a valid SM2 point: {exc}") from None
        return self._with("public_key", point)

    def validity(self, not_before: _dt.datetime | None = None,
                 not_after: _dt.datetime | None = None, *,
                 days: int | None = None) -> CertificateBuilder:
        """Set the validity; ``not_after`` may be given as ``days``. Unset values default
        at ``sign()`` (now, and the profile's default validity clipped to the issuer's)."""
        if not_after is not None and days is not None:
            raise BuilderError("give not_after or days, not both")
        nb = (not_before or _now()).replace(microsecond=0)
        na = not_after.replace(microsecond=0) if not_after else None
        if days is not None:
            if days <= 0:
                raise BuilderError("days must be positive")
            try:
                na = nb + _dt.timedelta(days=days)
            except OverflowError:
                raise BuilderError(f"days {days} is out of range: the validity would end after the year 9999") from None
        if na is not None:
            profiles.check_validity(self._profile, nb, na)
        elif nb.tzinfo is None:
            raise ProfileViolation("validity: not_before must be a timezone-aware datetime")
        return self._with("validity", (nb, na))

    def issuer(self, issuer_certificate: x509.Certificate | bytes) -> CertificateBuilder:
        if self._profile.self_signed:
            raise BuilderError(f"profile {self._profile.name} is self-signed; it takes no issuer")
        cert = load_certificate(issuer_certificate)
        if not cert.ca:
            raise ProfileViolation("issuer certificate is not a CA (basicConstraints cA is not true)")
        if cert.key_usage_value is not None and "key_cert_sign" not in cert.key_usage_value.native:
            raise ProfileViolation("issuer certificate lacks keyCertSign in its key usage")
        if self._profile.is_ca and cert.max_path_length is not None and cert.max_path_length < 1:
            raise ProfileViolation("issuer's path length constraint forbids issuing a CA certificate")
        return self._with("issuer", cert)

    def identity(self, identity: Identity | None = None, **values: str) -> CertificateBuilder:
        """GM/T 0015 identity values: ``identity(citizen_id="...")`` or an Identity."""
        if identity is not None and values:
            raise BuilderError("give an Identity or keyword values, not both")
        try:
            ident = identity or Identity(**values)
        except TypeError as exc:
            raise BuilderError(f"identity: {exc}") from None
        return self._with("identity", profiles.check_identity(self._profile, ident))

    def subject_alt_names(self, names: Sequence[tuple[str, str]]) -> CertificateBuilder:
        return self._with("san", tuple(profiles.check_san(self._profile, list(names))))

    # --- build and sign -------------------------------------------------------------

    def build_tbs(self, signer_public_key: PublicKeyLike | bytes) -> x509.TbsCertificate:
        """The TBSCertificate this builder describes (for the three-step signing flow)."""
        p, f = self._profile, self._fields
        missing = [n for n in ("subject", "public_key") if n not in f]
        if not p.self_signed and "issuer" not in f:
            missing.append("issuer")
        if missing:
            raise IncompleteBuilder(f"cannot sign: {', '.join(missing)} not set")
        if p.identity_required and "identity" not in f:
            raise IncompleteBuilder(
                f"cannot sign: profile {p.name} requires identity "
                f"{', '.join(sorted(p.identity_required))}")
        if p.san_required and "san" not in f:
            raise IncompleteBuilder(f"cannot sign: profile {p.name} requires subject_alt_names")
        signer_point = point_bytes(signer_public_key)
        subject_point = f["public_key"]
        ski = hashlib.sha1(subject_point).digest()
        if p.self_signed:
            if signer_point != subject_point:
                raise ProfileViolation("self-signed certificate: the signer's key is not the subject key")
            issuer_name, aki, issuer_not_after = f["subject"], ski, None
        else:
            issuer: x509.Certificate = f["issuer"]
            if issuer.public_key["public_key"].contents[1:] != signer_point:
                raise ProfileViolation("the signer's key is not the issuer certificate's key")
            issuer_name = issuer.subject
            aki = subject_key_identifier(issuer)
            issuer_not_after = issuer["tbs_certificate"]["validity"]["not_after"].native
        nb, na = f.get("validity", (_now(), None))
        if na is None:
            na = nb + p.default_validity
            if issuer_not_after is not None and na > issuer_not_after:
                na = issuer_not_after
        profiles.check_validity(p, nb, na, issuer_not_after=issuer_not_after)
        ctx = ExtensionContext(subject_key_id=ski, authority_key_id=aki,
                               issuer_id=aki.hex(), identity=f.get("identity", Identity()),
                               san=f.get("san", ()))
        return x509.TbsCertificate({
            "version": "v3",
            "serial_number": f.get("serial") or random_serial(),
            "signature": {"algorithm": oids.SM2_WITH_SM3},
            "issuer": issuer_name,
            "validity": {"not_before": x509_time(nb), "not_after": x509_time(na)},
            "subject": f["subject"],
            "subject_public_key_info": sm2_spki(subject_point),
            "extensions": profiles.extensions(p, self._config, ctx),
        })

    def sign(self, signer: Signer) -> x509.Certificate:
        tbs_der = self.build_tbs(signer.public_key).dump()
        signature = sign_checked(signer, tbs_der)
        # Assembled as bytes and loaded back: the result carries its encoding, so storing,
        # hashing and serving it never re-encodes the asn1crypto tree (most of the cost).
        tail = _SIG_ALG + b"\x03" + der_length(len(signature) + 1) + b"\x00" + signature
        body = tbs_der + tail
        return x509.Certificate.load(b"\x30" + der_length(len(body)) + body)
