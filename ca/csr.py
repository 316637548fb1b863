"""PKCS#10 certification requests (RFC 2986) with SM2 keys: parse + proof of possession,
and build (for our own CA keys and tests) through a :class:`ca.signer.Signer`.

Signer ID: the proof of possession is an SM2 signature whose Z_A depends on a signer ID
that the CSR does not carry (OpenSSL's ``-sigopt distid:...`` leaves no trace in the
request, and no standard attribute exists). :func:`parse_csr` therefore takes it as an
API parameter ``uid`` (default ``1234567812345678``, GM/T 0009); the RA passes the ID
the applicant declared out of band (the REST field ``uid`` / CLI ``--uid``) when it is
not the default.

Every refusal is an :class:`ca.errors.InvalidCSR` whose message names the problem:
not PEM/DER, malformed DER or trailing bytes, wrong version, a signature algorithm other
than SM2-with-SM3, a key that is not id-ecPublicKey on the SM2 curve or not on the curve,
a failed proof of possession, malformed or duplicated requested extensions.
"""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import field

from asn1crypto import core, csr, keys, pem, x509

from ca import oids, profiles
from ca.errors import CAError, InvalidCSR
from ca.signer import Signer, sign_checked, sm2_spki
from gm.asn1.parse import _PARSE_ERRORS
from gm.records import frozen_record

__all__ = ["ParsedCSR", "parse_csr", "build_csr", "sm2_point_from_spki", "DEFAULT_UID"]

DEFAULT_UID = b"1234567812345678"
_PEM_LABELS = ("CERTIFICATE REQUEST", "NEW CERTIFICATE REQUEST")


@frozen_record
class ParsedCSR:
    """What a verified CSR asks for. ``public_key`` is the 65-byte SM2 point."""

    subject: x509.Name
    public_key: bytes
    requested_extensions: Mapping[str, x509.Extension] = field(default_factory=dict)
    uid: bytes = DEFAULT_UID
    der: bytes = b""

    @property
    def subject_attributes(self) -> dict[str, str | list[str]]:
        """The subject as ``{"C": "CN", "CN": ...}`` (what ``CertificateBuilder.subject`` takes)."""
        return profiles.name_to_dict(self.subject)


def sm2_point_from_spki(spki: keys.PublicKeyInfo, error: type[CAError] = InvalidCSR) -> bytes:
    """The 65-byte point of an id-ecPublicKey / SM2-curve SubjectPublicKeyInfo, checked
    to lie on the curve; anything else raises ``error`` with the reason."""
    try:
        alg = spki["algorithm"]
        alg_oid = alg["algorithm"].dotted
        if alg_oid != oids.ID_EC_PUBLIC_KEY:
            raise error(f"public key algorithm is {alg['algorithm'].native} ({alg_oid}); "
                        "expected id-ecPublicKey with the SM2 curve")
        params = alg["parameters"]
        if params.name != "named":
            raise error("public key: EC parameters must name the SM2 curve "
                        "(explicit or implicit parameters are not accepted)")
        curve = params.chosen.dotted
        if curve != oids.SM2_CURVE:
            raise error(f"public key is on curve {params.chosen.native} ({curve}); "
                        f"expected SM2 ({oids.SM2_CURVE})")
        bits = spki["public_key"]
        point = bytes(bits.contents[1:]) if bits.contents else b""
        if not bits.contents or bits.contents[0] != 0:
            raise error("public key BIT STRING has unused bits")
    except CAError:
        raise
    except _PARSE_ERRORS as exc:
        raise error(f"public key info is malformed: {exc}") from None
    from gm.sm2 import PublicKey

    try:
        key = PublicKey.from_bytes(point)
    except ValueError as exc:
        raise error(f"public key is not a valid SM2 point: {exc}") from None
    return key.to_bytes()


def _load(data: bytes) -> tuple[csr.CertificationRequest, bytes]:
    if not isinstance(data, (bytes, bytearray)) or not data:
        raise InvalidCSR("CSR is empty or not bytes")
    data = bytes(data)
    if pem.detect(data):
        try:
            label, _, der = pem.unarmor(data)
        except ValueError as exc:
            raise InvalidCSR(f"CSR PEM cannot be read: {exc}") from None
        if label not in _PEM_LABELS:
            raise InvalidCSR(f"PEM block is {label!r}, expected 'CERTIFICATE REQUEST'")
    else:
        der = data
    if der[:1] != b"\x30":
        raise InvalidCSR("CSR is neither PEM nor DER (does not start with a SEQUENCE)")
    try:
        req = csr.CertificationRequest.load(der, strict=True)
        _ = req.native  # force a full parse: asn1crypto parses lazily
    except _PARSE_ERRORS as exc:  # AttributeError too: a field of universal tag 8 has no .native
        raise InvalidCSR(f"CSR DER is malformed: {exc}") from None
    return req, der


def parse_csr(data: bytes, *, uid: bytes = DEFAULT_UID) -> ParsedCSR:
    """Parse a PEM or DER CSR, require SM2/SM3, verify its proof of possession with signer
    ID ``uid``, and return what it asks for."""
    if not isinstance(uid, (bytes, bytearray)) or not uid or len(uid) > 8191:
        raise InvalidCSR("signer ID (uid) must be 1..8191 bytes")
    req, der = _load(data)
    info = req["certification_request_info"]
    if info["version"].native != "v1":
        raise InvalidCSR(f"CSR version is {info['version'].native}, expected v1 (0)")
    sig_alg = req["signature_algorithm"]
    if sig_alg["algorithm"].dotted != oids.SM2_WITH_SM3:
        raise InvalidCSR(
            f"CSR signature algorithm is {sig_alg['algorithm'].native} "
            f"({sig_alg['algorithm'].dotted}); expected SM2-with-SM3 ({oids.SM2_WITH_SM3})")
    params = sig_alg["parameters"]
    if params.native is not None and not isinstance(params.parsed, core.Null):
        raise InvalidCSR("SM2-with-SM3 signature algorithm must have no parameters")
    point = sm2_point_from_spki(info["subject_pk_info"])
    from gm.sm2 import PublicKey

    signature = req["signature"]
    if not signature.contents or signature.contents[0] != 0:
        raise InvalidCSR("CSR signature BIT STRING has unused bits")
    sig_der = bytes(signature.contents[1:])
    try:
        ok = PublicKey.from_bytes(point).verify(sig_der, info.dump(), uid=bytes(uid))
    except ValueError as exc:
        raise InvalidCSR(f"CSR signature is malformed: {exc}") from None
    if not ok:
        raise InvalidCSR(
            "proof of possession failed: the CSR signature does not verify with its public "
            f"key and signer ID {bytes(uid).decode('latin-1')!r} (tampered request, or a "
            "different signer ID)")
    return ParsedCSR(subject=info["subject"], public_key=point,
                     requested_extensions=_requested_extensions(info),
                     uid=bytes(uid), der=der)


def _requested_extensions(info: csr.CertificationRequestInfo) -> dict[str, x509.Extension]:
    out: dict[str, x509.Extension] = {}
    seen_attr = False
    for attr in info["attributes"]:
        if attr["type"].native != "extension_request":
            continue
        if seen_attr:
            raise InvalidCSR("CSR carries more than one extensionRequest attribute")
        seen_attr = True
        values = attr["values"]
        if len(values) != 1:
            raise InvalidCSR("extensionRequest attribute must hold exactly one value")
        for ext in values[0]:
            oid = ext["extn_id"].dotted
            if oid in out:
                raise InvalidCSR(f"CSR requests extension {ext['extn_id'].native} twice")
            out[oid] = ext
    return out


def build_csr(signer: Signer,
              subject: Mapping[str, str | Sequence[str]] | str | x509.Name,
              *, extensions: Sequence[x509.Extension] = ()) -> csr.CertificationRequest:
    """A PKCS#10 request for the signer's key, signed SM2-with-SM3 (default signer ID).
    The subject is encoded as given (no profile rules: the issuing side applies those)."""
    if isinstance(subject, x509.Name):
        name = subject
    else:
        name = profiles.build_name(profiles.parse_dn(subject) if isinstance(subject, str) else subject)
    attributes = []
    if extensions:
        attributes.append({"type": "extension_request",
                           "values": [x509.Extensions(list(extensions))]})
    info = csr.CertificationRequestInfo({
        "version": "v1",
        "subject": name,
        "subject_pk_info": sm2_spki(signer.public_key),
        "attributes": attributes,
    })
    signature = sign_checked(signer, info.dump())
    return csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": {"algorithm": oids.SM2_WITH_SM3},
        "signature": signature,
    })
