"""CMS SignedData with SM2/SM3, attached or detached, GM/T 0010 or PKCS#7 identifiers.

Why this shape:

* Three steps, so that a key never enters seal/: ``prepare_signed_data`` builds the signed
  attributes (contentType, messageDigest, signingTime and any extra ones) and returns the
  exact bytes to sign — DER of the attributes as a SET OF, RFC 5652 §5.4 — then any
  ``sign(bytes) -> DER SM2 signature`` callable signs them (``keystore_signer`` binds
  ``keystore.sign`` to a key reference; an HSM or a remote key fits the same slot), then
  ``assemble_signed_data`` writes the ContentInfo. ``sign_data`` chains the three.
* Two identifier flavours (gm/asn1/cms_gm.py): GM/T 0010 (``gmt0010``) for Chinese relying
  parties and "Sign"-type OFD signatures; PKCS#7 (``pkcs7``) for RFC 3161 tokens, PDF and
  OpenSSL.
* ``verify_cms`` checks at the cryptographic level only (content digest against
  messageDigest, contentType attribute, the SM2 signature with the signer's key and the
  signer ID, the signer certificate present) and reports per signer with a specific
  failure code; it raises only ``MalformedCms`` for input that is not SignedData at all.
  Chains, validity and revocation are verify/'s job. ``verify_plain_attached`` gives
  verify_cms's answer for the plain shape of a timestamp token by slicing its DER, and
  declines (None) anything else, which verify_cms then reads.

SignedData without signed attributes (as CFCA SADK writes it) is read too: the SM2
signature then covers the content itself.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import threading
from collections.abc import Callable, Iterable, Sequence
from dataclasses import field
from typing import Any, NamedTuple

from asn1crypto import algos, cms, core, x509

from gm.asn1 import cms_gm
from gm.asn1 import der as asn1_der
from gm.asn1.cache import ByBytes
from gm.asn1.parse import der_or_pem
from gm.errors import ASN1FormatError, GMError
from gm.records import frozen_record
from gm.sm2 import DEFAULT_UID, PublicKey, signature_from_rs
from gm.sm3 import sm3
from seal.errors import SealError

__all__ = [
    "CmsError", "MalformedCms", "SigningError", "CmsToSign", "SignerCheck", "CmsCheck",
    "prepare_signed_data", "assemble_signed_data", "sign_data", "keystore_signer", "verify_cms",
    "signed_attrs_der", "Failure",
]

Signer = Callable[[bytes], bytes]
# What asn1crypto raises from deep inside a lazily parsed field of damaged input.
_PARSE_ERRORS = (ValueError, TypeError, KeyError, IndexError, AttributeError, OverflowError, RecursionError)


class CmsError(SealError, ValueError):
    """Misuse of the CMS functions (bad arguments)."""


class MalformedCms(CmsError):
    """The input is not a parseable CMS SignedData."""


class SigningError(CmsError):
    """The signer callable returned something that is not a valid signature for the certificate."""


class Failure:
    """Failure codes of a SignerCheck (one per check, stable strings for reports)."""

    CONTENT_MISSING = "CONTENT_MISSING"  # detached and no detached_data given
    CONTENT_MISMATCH = "CONTENT_MISMATCH"  # attached content differs from detached_data given
    UNSUPPORTED_DIGEST = "UNSUPPORTED_DIGEST"
    UNSUPPORTED_SIGNATURE = "UNSUPPORTED_SIGNATURE"
    MESSAGE_DIGEST_MISSING = "MESSAGE_DIGEST_MISSING"
    DIGEST_MISMATCH = "DIGEST_MISMATCH"
    CONTENT_TYPE_MISMATCH = "CONTENT_TYPE_MISMATCH"
    SIGNER_CERT_NOT_FOUND = "SIGNER_CERT_NOT_FOUND"
    SIGNER_KEY_NOT_SM2 = "SIGNER_KEY_NOT_SM2"
    SIGNATURE_ENCODING = "SIGNATURE_ENCODING"
    SIGNATURE_INVALID = "SIGNATURE_INVALID"
    NO_SIGNER = "NO_SIGNER"


# --------------------------------------------------------------------------- helpers


_der_length = asn1_der.length
_tlv = asn1_der.encode


def signed_attrs_der(signer_info: cms.SignerInfo) -> bytes:
    """The bytes an SM2 signature over signed attributes covers: the attributes' own
    encoded contents under a SET OF tag (0x31) instead of the [0] IMPLICIT tag."""
    attrs = signer_info["signed_attrs"]
    contents = attrs.contents if attrs.contents is not None else b""
    return b"\x31" + _der_length(len(contents)) + contents


def _digest(name: str, data: bytes) -> bytes:
    if name == "sm3":
        return sm3(data)
    return hashlib.new(name, data).digest()


def _set_of(encodings: Iterable[bytes], tag: int = 0x31) -> bytes:
    """DER SET OF: members in ascending order of their encodings (X.690 §11.6), so that a
    verifier that re-encodes the set (OpenSSL does, for signed attributes) gets our bytes."""
    return _tlv(tag, b"".join(sorted(encodings)))


@functools.lru_cache(maxsize=64)
def _oid(name: str, kind: type = cms.ContentType) -> bytes:
    """DER OID of an asn1crypto name (or dotted text) of ``kind``'s table."""
    return kind(name).dump()


@functools.lru_cache(maxsize=16)
def _algorithm(name: str, null_params: bool, kind: str) -> bytes:
    cls = algos.DigestAlgorithm if kind == "digest" else algos.SignedDigestAlgorithm
    value: dict[str, Any] = {"algorithm": name}
    if null_params:
        value["parameters"] = core.Null()
    return cls(value).dump()


def _utc(t: _dt.datetime | None) -> _dt.datetime:
    t = t or _dt.datetime.now(_dt.timezone.utc)
    if t.tzinfo is None:
        raise CmsError("signing_time must be timezone-aware")
    return t.astimezone(_dt.timezone.utc).replace(microsecond=0)


def _time(t: _dt.datetime) -> bytes:
    """RFC 5652 §11.3: UTCTime for 1950-2049, GeneralizedTime otherwise (``t`` in UTC, whole
    seconds). The UTCTime of every sealing is written as asn1crypto would, without it."""
    if 1950 <= t.year < 2050:
        return _tlv(0x17, t.strftime("%y%m%d%H%M%SZ").encode("ascii"))
    return core.GeneralizedTime(t).dump()


def _attribute(kind: str, value_der: bytes) -> bytes:
    return _tlv(0x30, _oid(kind, cms.CMSAttributeType) + _tlv(0x31, value_der))


def _point(cert: x509.Certificate) -> PublicKey:
    return PublicKey.shared(_sm2_point(cert))


def _sm2_point(cert: x509.Certificate) -> bytes:
    spki = cert.public_key
    if spki.algorithm != "ec" or spki["algorithm"]["parameters"].chosen.native not in ("sm2p256v1", "1.2.156.10197.1.301"):
        raise CmsError(f"the certificate's key is not an SM2 key ({spki.algorithm})")
    return spki["public_key"].native


# A signer's key and identifier, read once per certificate DER: a signer or a TSA signs one
# sealing or token after another with the same certificate, and reading them from a fresh
# parse each time cost more than the DER written around them. The point is kept, not the key
# object: PublicKey.shared decides how long a key (and its tables) lives.
def _signer_key(cert_der: bytes) -> PublicKey:
    return PublicKey.shared(_signer_point(cert_der))


@functools.lru_cache(maxsize=64)
def _signer_point(cert_der: bytes) -> bytes:
    return _sm2_point(x509.Certificate.load(cert_der))


@functools.lru_cache(maxsize=64)
def _issuer_serial(cert_der: bytes) -> bytes:
    """IssuerAndSerialNumber contents DER."""
    tbs = x509.Certificate.load(cert_der)["tbs_certificate"]
    return tbs["issuer"].dump() + tbs["serial_number"].dump()


def _parsed(cert: x509.Certificate) -> x509.Certificate:
    """The certificate as parsed from its DER: asn1crypto re-encodes a freshly built one
    on every dump (tens of milliseconds), a parsed one dumps its cached bytes."""
    return x509.Certificate.load(cert.dump())


def keystore_signer(keystore: Any, key_ref: str, *, actor: str, role: str, pin: str | None = None) -> Signer:
    """``sign(bytes) -> DER signature`` over ``keystore.sign`` with one key reference (SM2
    with Z_A of the default signer ID); the key store checks the policy and audits the use."""
    def sign(data: bytes) -> bytes:
        return keystore.sign(key_ref, bytes(data), actor=actor, role=role, pin=pin)
    return sign


# --------------------------------------------------------------------------- signing


@frozen_record
class CmsToSign:
    """Step 1's result: everything of the SignerInfo except the signature value."""

    flavour: cms_gm.Flavour
    content_type: str  # eContentType (asn1crypto name or dotted OID)
    content: bytes | None  # the eContent when attached, None when detached
    certificate: x509.Certificate
    to_be_signed: bytes  # DER(SET OF signed attributes): hand this to the signer

    @property
    def signed_attrs(self) -> cms.CMSAttributes:
        return cms.CMSAttributes.load(self.to_be_signed)


def prepare_signed_data(
    data: bytes,
    certificate: x509.Certificate,
    *,
    flavour: str = "gmt0010",
    detached: bool = True,
    content_type: str | None = None,
    signing_time: _dt.datetime | None = None,
    extra_signed_attrs: Sequence[cms.CMSAttribute] = (),
) -> CmsToSign:
    """Step 1: signed attributes for ``data`` signed by ``certificate``'s key.

    ``content_type`` defaults to the flavour's data type; a timestamp token passes
    ``"tst_info"``. ``signing_time`` defaults to now (UTC, whole seconds).
    """
    if not isinstance(data, (bytes, bytearray)):
        raise CmsError("data must be bytes")
    if not isinstance(certificate, x509.Certificate):
        raise CmsError("certificate must be an asn1crypto x509.Certificate")
    fl = cms_gm.flavour(flavour)
    certificate = _parsed(certificate)
    _signer_key(certificate.dump())  # an SM2 key, or CmsError now
    ctype = content_type or fl.data
    attrs = [
        _attribute("content_type", _oid(ctype)),
        _attribute("message_digest", _tlv(0x04, _digest(fl.digest_algorithm, bytes(data)))),
        _attribute("signing_time", _time(_utc(signing_time))),
        *(a.dump() for a in extra_signed_attrs),
    ]
    return CmsToSign(flavour=fl, content_type=ctype, content=None if detached else bytes(data),
                     certificate=certificate, to_be_signed=_set_of(attrs))


def assemble_signed_data(
    prepared: CmsToSign,
    signature: bytes,
    *,
    chain: Sequence[x509.Certificate] = (),
    include_certificate: bool = True,
    unsigned_attrs: Sequence[cms.CMSAttribute] = (),
    timestamper: Callable[[bytes], bytes] | None = None,
    check: bool = True,
) -> bytes:
    """Step 3: the DER ContentInfo. ``signature`` is checked against the certificate's key
    first (``check``), so a wrong key reference fails here and not at the relying party.
    ``timestamper(signature) -> token DER`` adds an RFC 3161 signatureTimeStampToken
    unsigned attribute (seal.tsa.tsa_callable).

    Written with a few lines of DER (tag, length, value) around parts asn1crypto encoded
    (algorithm identifiers, names, certificates): building the whole tree in asn1crypto
    costs ten times the SM2 signature. tests/test_cms_sign.py checks that asn1crypto's own
    re-encoding of the result is byte-identical.
    """
    fl = prepared.flavour
    signature = bytes(signature)
    cert_der = prepared.certificate.dump()
    if check:
        try:
            good = _signer_key(cert_der).verify(signature, prepared.to_be_signed, DEFAULT_UID)
        except GMError as exc:
            raise SigningError(f"the signer returned a malformed SM2 signature: {exc}") from None
        if not good:
            raise SigningError("the signature does not verify with the certificate's public key "
                               "(wrong key reference for this certificate?)")
    unsigned = [a.dump() for a in unsigned_attrs]
    if timestamper is not None:
        token = timestamper(signature)
        unsigned.append(_attribute("signature_time_stamp_token", cms.ContentInfo.load(token).dump()))
    digest_alg = _algorithm(fl.digest_algorithm, fl.digest_null_params, "digest")
    signer_info = _tlv(0x30, b"".join([
        b"\x02\x01\x01",  # version 1: issuerAndSerialNumber
        _tlv(0x30, _issuer_serial(cert_der)),
        digest_alg,
        b"\xa0" + prepared.to_be_signed[1:],  # [0] IMPLICIT SET OF, same contents
        _algorithm(fl.signature_algorithm, fl.signature_null_params, "signature"),
        _tlv(0x04, signature),
        _set_of(unsigned, 0xA1) if unsigned else b"",
    ]))
    # a parsed certificate dumps its own bytes; a freshly built one is encoded once here
    certs = ([prepared.certificate] if include_certificate else []) + list(chain)
    encap = _oid(prepared.content_type)
    if prepared.content is not None:
        encap += _tlv(0xA0, _tlv(0x04, prepared.content))
    version = b"\x02\x01\x01" if prepared.content_type in cms_gm.DATA_TYPES else b"\x02\x01\x03"
    signed_data = _tlv(0x30, b"".join([
        version,
        _tlv(0x31, digest_alg),
        _tlv(0x30, encap),
        _set_of((c.dump() for c in certs), 0xA0) if certs else b"",
        _tlv(0x31, signer_info),
    ]))
    return _tlv(0x30, _oid(fl.signed_data) + _tlv(0xA0, signed_data))


def sign_data(
    data: bytes,
    certificate: x509.Certificate,
    sign: Signer,
    *,
    flavour: str = "gmt0010",
    detached: bool = True,
    chain: Sequence[x509.Certificate] = (),
    signing_time: _dt.datetime | None = None,
    content_type: str | None = None,
    extra_signed_attrs: Sequence[cms.CMSAttribute] = (),
    timestamper: Callable[[bytes], bytes] | None = None,
) -> bytes:
    """prepare -> ``sign(to_be_signed)`` -> assemble, in one call."""
    prepared = prepare_signed_data(data, certificate, flavour=flavour, detached=detached,
                                   content_type=content_type, signing_time=signing_time,
                                   extra_signed_attrs=extra_signed_attrs)
    return assemble_signed_data(prepared, sign(prepared.to_be_signed), chain=chain, timestamper=timestamper)


# --------------------------------------------------------------------------- verification


@frozen_record
class SignerCheck:
    """The facts and the outcome for one SignerInfo."""

    ok: bool
    failure: str | None
    detail: str
    certificate: x509.Certificate | None = None
    digest_algorithm: str | None = None
    signature_algorithm: str | None = None
    signed_attributes: bool = False
    signing_time: _dt.datetime | None = None
    message_digest: bytes | None = None
    signature: bytes = b""
    warnings: tuple[str, ...] = ()


@frozen_record
class CmsCheck:
    """Outcome of ``verify_cms``: ok when there is at least one signer and all verify."""

    ok: bool
    flavour: str | None  # "gmt0010" / "pkcs7" by the outer contentType
    content_type: str  # eContentType
    detached: bool
    content: bytes | None  # the signed bytes (attached content, or the detached data given)
    signers: tuple[SignerCheck, ...]
    certificates: tuple[x509.Certificate, ...] = field(default=())
    signed_data: cms.SignedData | None = None

    @property
    def failure(self) -> str | None:
        if not self.signers:
            return Failure.NO_SIGNER
        return next((s.failure for s in self.signers if not s.ok), None)

    @property
    def signer(self) -> SignerCheck:
        return self.signers[0]


def _load(der: bytes) -> tuple[cms.ContentInfo, cms.SignedData]:
    """Parse strictly but lazily: asn1crypto parses a field when it is first read, so
    verify_cms turns parse errors raised later into MalformedCms too (walking everything
    up front with ``.native`` costs several times the SM2 verification)."""
    try:
        info = cms.ContentInfo.load(der_or_pem(der, "CMS ContentInfo"), strict=True)
        ctype = info["content_type"].native
        if ctype not in cms_gm.SIGNED_DATA_TYPES:
            raise MalformedCms(f"CMS contentType is {ctype}, not SignedData (PKCS#7 or GM/T 0010)")
        sd = info["content"]
        sd["version"].native, sd["digest_algorithms"].native  # noqa: B018
    except ASN1FormatError as exc:
        raise MalformedCms(str(exc)) from None
    except _PARSE_ERRORS as exc:
        if isinstance(exc, MalformedCms):
            raise
        raise MalformedCms(f"CMS ContentInfo is malformed: {exc}") from None
    return info, sd


def _find_certificate(sid: cms.SignerIdentifier, certs: Sequence[x509.Certificate]) -> x509.Certificate | None:
    if sid.name == "issuer_and_serial_number":
        issuer, serial = sid.chosen["issuer"], sid.chosen["serial_number"].native
        for c in certs:  # serial first; equal DER names first (Name == runs string prep)
            if c.serial_number == serial and (c.issuer.dump() == issuer.dump() or c.issuer == issuer):
                return c
    elif sid.name == "subject_key_identifier":
        ski = sid.chosen.native
        for c in certs:
            if c.key_identifier == ski:
                return c
    return None


def _attr(attrs: cms.CMSAttributes, name: str) -> list[Any] | None:
    for a in attrs:
        if a["type"].native == name:
            return list(a["values"])
    return None


def _check_signer(si: cms.SignerInfo, content: bytes, econtent_type: str,
                  certs: Sequence[x509.Certificate], uid: bytes) -> SignerCheck:
    digest_alg = si["digest_algorithm"]["algorithm"].native
    sig_alg = si["signature_algorithm"]["algorithm"].native
    sig = si["signature"].native
    has_attrs = bool(si["signed_attrs"].contents) if si["signed_attrs"].contents is not None else False
    facts: dict[str, Any] = dict(digest_algorithm=digest_alg, signature_algorithm=sig_alg,
                                 signed_attributes=has_attrs, signature=sig)

    def fail(code: str, detail: str, **more: Any) -> SignerCheck:
        return SignerCheck(ok=False, failure=code, detail=detail, **{**facts, **more})

    cert = _find_certificate(si["sid"], certs)
    if cert is None:
        return fail(Failure.SIGNER_CERT_NOT_FOUND,
                    f"no certificate in the SignedData (or given) matches the signer identifier {si['sid'].name}")
    facts["certificate"] = cert
    if sig_alg not in cms_gm.SM2_SIGNATURE_ALGORITHMS:
        return fail(Failure.UNSUPPORTED_SIGNATURE, f"signature algorithm {sig_alg} is not SM2")
    try:
        key = _point(cert)
    except (CmsError, GMError) as exc:
        return fail(Failure.SIGNER_KEY_NOT_SM2, str(exc))
    warnings: list[str] = []
    if len(sig) == 64 and sig[:1] != b"\x30":
        sig = signature_from_rs(int.from_bytes(sig[:32], "big"), int.from_bytes(sig[32:], "big"))
        warnings.append("signature is raw r||s (64 bytes), not DER")
    if has_attrs:
        if digest_alg not in cms_gm.DIGEST_ALGORITHMS:
            return fail(Failure.UNSUPPORTED_DIGEST, f"digest algorithm {digest_alg} is not supported")
        attrs = si["signed_attrs"]
        md = _attr(attrs, "message_digest")
        if not md:
            return fail(Failure.MESSAGE_DIGEST_MISSING, "signed attributes carry no messageDigest")
        facts["message_digest"] = md[0].native
        times = _attr(attrs, "signing_time")
        if times:
            facts["signing_time"] = times[0].native
        ct = _attr(attrs, "content_type")
        if ct is not None and ct[0].native != econtent_type:
            return fail(Failure.CONTENT_TYPE_MISMATCH,
                        f"contentType attribute {ct[0].native} differs from eContentType {econtent_type}")
        if _digest(digest_alg, content) != facts["message_digest"]:
            return fail(Failure.DIGEST_MISMATCH, f"the {digest_alg} digest of the content differs from messageDigest")
        signed = signed_attrs_der(si)
    else:
        signed = content
    try:
        good = key.verify(sig, signed, uid)
    except GMError as exc:
        return fail(Failure.SIGNATURE_ENCODING, f"signature value is not an SM2 signature: {exc}")
    if not good:
        return fail(Failure.SIGNATURE_INVALID, "SM2 signature does not verify with the signer's key"
                    + (" over the signed attributes" if has_attrs else " over the content"))
    return SignerCheck(ok=True, failure=None, detail="signature verifies", warnings=tuple(warnings), **facts)


def verify_cms(
    der: bytes,
    detached_data: bytes | None = None,
    *,
    extra_certificates: Sequence[x509.Certificate] = (),
    uid: bytes = DEFAULT_UID,
) -> CmsCheck:
    """Check a SignedData (attached, or detached with ``detached_data``) at the crypto level.

    Never raises for a bad signature or a missing certificate: see ``CmsCheck.failure``.
    Raises ``MalformedCms`` when ``der`` is not a parseable SignedData.
    """
    info, sd = _load(der)
    try:
        return _verify(info, sd, detached_data, extra_certificates, uid)
    except MalformedCms:
        raise
    except _PARSE_ERRORS as exc:  # a field asn1crypto parsed only now
        raise MalformedCms(f"CMS SignedData is malformed: {exc}") from None


# One parsed object per certificate DER: a TSA's or a signer's certificate rides in every token
# or SignedData it signs, and what is read of it (extensions, its key) is then read once. Per
# thread: asn1crypto parses lazily and unlocked, so an object half-read by one request's
# thread must not be read by another's at the same time (gthread workers run several).
_THREAD = threading.local()


def _held_here() -> ByBytes:
    held_here = getattr(_THREAD, "certificates", None)
    if held_here is None:
        held_here = _THREAD.certificates = ByBytes(256, 2 * 1024 * 1024)
    return held_here


def _known(cert: x509.Certificate) -> x509.Certificate:
    return _known_der(cert.dump(), cert)


def _known_der(der: bytes, parsed: x509.Certificate | None = None) -> x509.Certificate:
    """The one object held for this certificate DER: ``parsed`` (or the DER parsed lazily, as
    SignedData parses its certificates) the first time, the held one after."""
    held_here = _held_here()
    held = held_here.get(der)
    if held is None:
        held = parsed if parsed is not None else x509.Certificate.load(der)
        held_here.keep(der, held)
    return held


def _verify(info: cms.ContentInfo, sd: cms.SignedData, detached_data: bytes | None,
            extra_certificates: Sequence[x509.Certificate], uid: bytes) -> CmsCheck:
    fl = cms_gm.flavour_of(info["content_type"].native)
    encap = sd["encap_content_info"]
    econtent_type = encap["content_type"].native
    econtent = encap["content"]
    # eContent is an OCTET STRING (asn1crypto keeps it a ParsableOctetString even for typed
    # content such as TSTInfo); bytes() merges BER chunks. Absent: core.Void.
    attached = bytes(econtent) if isinstance(econtent, (core.OctetString, core.ParsableOctetString)) else None
    certs = [_known(c.chosen) for c in sd["certificates"] if c.name == "certificate"] if sd["certificates"] else []
    certs_all = tuple(certs) + tuple(extra_certificates)
    detached = attached is None
    common = dict(flavour=fl.name if fl else None, content_type=econtent_type, detached=detached,
                  certificates=tuple(certs), signed_data=sd)
    if detached and detached_data is None:
        checks = tuple(SignerCheck(ok=False, failure=Failure.CONTENT_MISSING,
                                   detail="detached SignedData: the signed data must be given")
                       for _ in sd["signer_infos"])
        return CmsCheck(ok=False, content=None, signers=checks, **common)
    if not detached and detached_data is not None and bytes(detached_data) != attached:
        checks = tuple(SignerCheck(ok=False, failure=Failure.CONTENT_MISMATCH,
                                   detail="the attached content differs from the data given")
                       for _ in sd["signer_infos"])
        return CmsCheck(ok=False, content=attached, signers=checks, **common)
    content = attached if attached is not None else bytes(detached_data or b"")
    checks = tuple(_check_signer(si, content, econtent_type, certs_all, uid) for si in sd["signer_infos"])
    return CmsCheck(ok=bool(checks) and all(c.ok for c in checks), content=content, signers=checks, **common)


# --------------------------------------------------------------------------- plain SignedData, read by slicing
#
# A timestamp token rides in every timestamped document, and reading one with asn1crypto
# (a few hundred lazily built objects) cost more than its SM2 verification. The plain shape
# -- the one our TSA writes, and most others -- is read by slicing its DER (gm.asn1.der);
# the small parts that repeat from one token to the next (algorithm identifiers, OIDs) are
# judged once by asn1crypto and remembered by their exact bytes. Anything else, and any
# check that fails, is left to verify_cms, which reads and judges it as before.

_SMALL = 256  # longest algorithm identifier or OID remembered by its bytes


def small_native(spec: type, der: bytes) -> Any:
    """``spec.load(der).native`` of a small part (up to 256 bytes), remembered by its bytes;
    None when asn1crypto cannot read it, or it is larger."""
    return _read_small(spec, der) if len(der) <= _SMALL else None


@functools.lru_cache(maxsize=256)
def _read_small(spec: type, der: bytes) -> Any:
    try:
        return spec.load(der, strict=True).native
    except _PARSE_ERRORS:
        return None


def name_of(spec: type, der: bytes) -> str | None:
    """The name of a small AlgorithmIdentifier (``spec``) or OID (ObjectIdentifier ``spec``)."""
    native = small_native(spec, der)
    if isinstance(native, dict):
        native = native.get("algorithm")
    return native if isinstance(native, str) else None


@functools.lru_cache(maxsize=4)
def _signed_data_types() -> dict[bytes, cms_gm.Flavour]:
    return {_oid(f.signed_data): f for f in cms_gm.FLAVOURS.values()}


_SIGNER_INFO_TAGS = (0x02, 0x30, 0x30, 0xA0, 0x30, 0x04)  # no unsignedAttrs
_PLAIN_ATTRS = frozenset({"content_type", "message_digest", "signing_time"})


def _signer_attrs(der: bytes, attrs: asn1_der.TLV) -> dict[str, asn1_der.TLV] | None:
    """Signed attribute name -> its one value; None if one has several values or is repeated,
    if there are none, or they are not plain DER."""
    out: dict[str, asn1_der.TLV] = {}
    for attr in asn1_der.children_of(der, attrs) or [None]:
        parts = asn1_der.children_of(der, attr, (0x06, 0x31)) if attr and attr[0] == 0x30 else None
        if parts is None:
            return None
        name = name_of(cms.CMSAttributeType, asn1_der.whole(der, parts[0]))
        values = asn1_der.children_of(der, parts[1])
        if name is None or name in out or values is None or len(values) != 1:
            return None
        out[name] = values[0]
    return out


class PlainSignedData(NamedTuple):
    """What verify_plain_attached read: verify_cms's CmsCheck, the DER of each other signed
    attribute's value by name, and the signer certificate's DER."""

    check: CmsCheck
    attrs: dict[str, bytes]
    signer_der: bytes


@frozen_record
class _Plain:
    """The parts of a plain SignedData, sliced from its DER."""

    flavour: str
    signed_data: bytes           # [0] EXPLICIT SignedData, as ContentInfo["content"] reads it
    content_type: str | None     # None: not a name asn1crypto reads
    content: bytes
    certificates: tuple[bytes, ...]
    issuer: bytes                # the signer identifier's issuer Name DER and serial
    serial: int | None
    digest_algorithm: str | None
    signature_algorithm: str | None
    attrs: dict[str, bytes]      # signed attribute name -> its one value's DER
    signed: bytes                # the signed attributes as the SM2 signature covers them
    signature: bytes


def verify_plain_attached(der: bytes, *, extra_certificates: Sequence[x509.Certificate] = (),
                          other_attrs: frozenset[str] = frozenset()) -> PlainSignedData | None:
    """``verify_cms(der, extra_certificates=...)`` for a SignedData of the plain shape that
    verifies: DER, attached content, one signer named by issuer and serial, signed attributes
    contentType, messageDigest, signingTime and exactly ``other_attrs``, one value each, a DER
    SM2 signature: the CmsCheck verify_cms gives, with the other attributes and the signer's
    DER. None for anything else (malformed, unusual, or failing a check), which verify_cms
    then reads and judges."""
    if not isinstance(der, (bytes, bytearray)):
        return None
    try:
        plain = _plain_parts(bytes(der), _PLAIN_ATTRS | other_attrs)
        return _plain_verified(plain, extra_certificates) if plain is not None else None
    except (CmsError, GMError, *_PARSE_ERRORS):  # a certificate field asn1crypto parsed only now
        return None


def _plain_parts(der: bytes, attr_names: frozenset[str]) -> _Plain | None:
    w = asn1_der
    top = w.tlv(der, 0, len(der))
    info = w.children_of(der, top, (0x06, 0xA0)) if top and top[0] == 0x30 and top[3] == len(der) else None
    fl = _signed_data_types().get(w.whole(der, info[0])) if info else None
    wrapped = w.children_of(der, info[1], (0x30,)) if info and fl else None
    sd = w.children_of(der, wrapped[0]) if wrapped else None
    if sd is None or [t[0] for t in sd] not in ([0x02, 0x31, 0x30, 0xA0, 0x31], [0x02, 0x31, 0x30, 0x31]):
        return None
    version, digest_algs, encap, signer_infos = sd[0], sd[1], sd[2], sd[-1]
    encap_parts = w.children_of(der, encap, (0x06, 0xA0))
    econtent = w.children_of(der, encap_parts[1], (0x04,)) if encap_parts else None
    certs_at = w.children_of(der, sd[3]) if len(sd) == 5 else []
    signers = w.children_of(der, signer_infos, (0x30,))
    si = w.children_of(der, signers[0], _SIGNER_INFO_TAGS) if signers else None
    sid = w.children_of(der, si[1], (0x30, 0x02)) if si else None
    if (sid is None or econtent is None or certs_at is None or any(c[0] != 0x30 for c in certs_at)
            or version[3] - version[2] != 1 or si[0][3] - si[0][2] != 1
            or small_native(cms.DigestAlgorithms, w.whole(der, digest_algs)) is None):
        return None
    attrs = _signer_attrs(der, si[3])
    if attrs is None or set(attrs) != attr_names:
        return None
    return _Plain(
        flavour=fl.name, signed_data=w.whole(der, info[1]),
        content_type=name_of(cms.ContentType, w.whole(der, encap_parts[0])), content=w.contents(der, econtent[0]),
        certificates=tuple(w.whole(der, c) for c in certs_at),
        issuer=w.whole(der, sid[0]), serial=w.integer_value(der, sid[1]),
        digest_algorithm=name_of(algos.DigestAlgorithm, w.whole(der, si[2])),
        signature_algorithm=name_of(algos.SignedDigestAlgorithm, w.whole(der, si[4])),
        attrs={name: w.whole(der, value) for name, value in attrs.items()},
        signed=b"\x31" + der[si[3][1] + 1:si[3][3]],  # the [0] IMPLICIT attributes as a SET OF
        signature=w.contents(der, si[5]))


def _plain_verified(p: _Plain, extra_certificates: Sequence[x509.Certificate]) -> PlainSignedData | None:
    """_check_signer's checks, each passed, and the CmsCheck _verify builds."""
    ctype, md, when = p.attrs["content_type"], p.attrs["message_digest"], p.attrs["signing_time"]
    signing_time = asn1_der.time_value(when, asn1_der.tlv(when, 0, len(when)))
    md_value = md[asn1_der.tlv(md, 0, len(md))[2]:]
    if (p.content_type is None or p.serial is None or p.digest_algorithm not in cms_gm.DIGEST_ALGORITHMS
            or p.signature_algorithm not in cms_gm.SM2_SIGNATURE_ALGORITHMS or p.signature[:1] != b"\x30"
            or ctype[:1] != b"\x06" or name_of(cms.ContentType, ctype) != p.content_type
            or md[:1] != b"\x04" or signing_time is None or _digest(p.digest_algorithm, p.content) != md_value):
        return None
    certs = tuple(_known_der(c) for c in p.certificates)
    found = _plain_signer([*zip(p.certificates, certs), *((c.dump(), c) for c in extra_certificates)],
                          p.issuer, p.serial)
    if found is None or not _point(found[1]).verify(p.signature, p.signed, DEFAULT_UID):
        return None
    signer = SignerCheck(ok=True, failure=None, detail="signature verifies", certificate=found[1],
                         digest_algorithm=p.digest_algorithm, signature_algorithm=p.signature_algorithm,
                         signed_attributes=True, signing_time=signing_time, message_digest=md_value,
                         signature=p.signature)
    check = CmsCheck(ok=True, flavour=p.flavour, content_type=p.content_type, detached=False, content=p.content,
                     signers=(signer,), certificates=certs, signed_data=cms.SignedData.load(p.signed_data, explicit=0))
    others = {name: value for name, value in p.attrs.items() if name not in _PLAIN_ATTRS}
    return PlainSignedData(check, others, found[0])


# Certificate DER -> (serial, issuer Name DER), what _find_certificate reads of it.
_SIDS = ByBytes(1024, 8 * 1024 * 1024)


def _plain_signer(certs: Sequence[tuple[bytes, x509.Certificate]], issuer_der: bytes,
                  serial: int) -> tuple[bytes, x509.Certificate] | None:
    """The (DER, certificate) _find_certificate finds, when its issuer is the same DER; None
    otherwise (a name equal only after string preparation is verify_cms's to judge)."""
    for der, cert in certs:
        sid = _SIDS.get(der)
        if sid is None:
            tbs = x509.Certificate.load(der)["tbs_certificate"]
            sid = (tbs["serial_number"].native, tbs["issuer"].dump())
            _SIDS.keep(der, sid)
        if sid[0] == serial:
            return (der, cert) if sid[1] == issuer_der else None
    return None
