"""Fact adapters: the fact functions of seal/ (SES_Signature, CMS, OFD, PDF, RFC 3161) reduced
to :class:`verify.engine.SignatureFacts`, then judged by one engine.

Each adapter only translates: parsing and cryptographic checks belong to seal/
(structures.py, cms.py, ofd/signing.py, pdf_inspect.py, tsa.py); chains, revocation, trust
and the verdict belong to verify/engine.py.
"""
from __future__ import annotations

import datetime as _dt
import json
from typing import Any

from asn1crypto import cms as acms
from asn1crypto import x509

from gm.asn1.cache import ByBytes
from gm.errors import GMError
from gm.sm2 import PublicKey
from gm.sm3 import sm3
from seal.after_seal import seal_offset, sm3_after_seal
from seal.errors import SealFormatError
from seal.ofd.errors import OFDFormatError
from seal.ofd.facts import clear_read_caches as clear_ofd_read_caches
from seal.ofd.facts import verify_package
from seal.ofd.package import OFDPackage
from seal.ofd.references import RefStatus
from seal.structures import (
    SM2_WITH_SM3,
    CheckResult,
    clear_read_caches,
    parse_seal,
    parse_signature,
    verify_seal_signature,
    verify_signature_value,
)
from seal.tsa import MalformedToken, verify_token
from verify.certfacts import facts_of
from verify.engine import IntegrityFact, SealFacts, SignatureFacts, TimestampFacts
from verify.errors import InputError
from verify.path import load_certificate
from verify.report import CertificateInfo, SealInfo, SubIndication

__all__ = ["ses_facts", "seal_facts", "cms_facts", "ofd_facts", "pdf_facts", "timestamp_facts", "detect_kind"]


def detect_kind(data: bytes) -> str:
    """"ofd", "pdf", "certificate", "cms", "ses" (or "unknown") from the first bytes."""
    head = data[:8]
    if head.startswith(b"%PDF-"):
        return "pdf"
    if head.startswith(b"PK\x03\x04"):
        return "ofd"
    if b"-----BEGIN CERTIFICATE-----" in data[:200]:
        return "certificate"
    if b"-----BEGIN" in data[:200]:
        return "cms"
    try:
        from asn1crypto import core

        value = core.Sequence.load(data)
        n = len(value)
        first = value[0]
        if n == 3 and isinstance(first, core.Sequence) or (n == 3 and first.tag == 16):
            return "certificate"
        if n == 2 and first.tag == 6:
            return "cms"
        if n in (2, 4, 5):
            return "ses"
    except (ValueError, TypeError, IndexError, KeyError):   # KeyError: an empty SEQUENCE has no value[0]
        pass
    return "unknown"


_MB = 1024 * 1024
# Certificates by DER: one signer's certificate rides in every document it signs; one parsed
# object per certificate also lets verify/certfacts and verify/path find theirs by identity.
_CERTS = ByBytes(4096, 16 * _MB)


def _cert(der: bytes | None) -> x509.Certificate | None:
    if not der:
        return None
    der = bytes(der)
    if der in _CERTS:
        return _CERTS[der]
    try:
        cert: x509.Certificate | None = load_certificate(der)
    except InputError:
        cert = None
    _CERTS.keep(der, cert)
    return cert


# --------------------------------------------------------------------------- timestamps


def timestamp_facts(token_der: bytes, data: bytes) -> TimestampFacts:
    """An RFC 3161 token over ``data`` (seal/tsa.py verify_token)."""
    try:
        check = verify_token(token_der, data)
    except MalformedToken as exc:
        return TimestampFacts(_dt.datetime.now(_dt.timezone.utc), False, f"unreadable timestamp token: {exc}")
    chain = tuple(check.cms.certificates) if check.cms is not None else ()
    return TimestampFacts(check.gen_time or _dt.datetime.now(_dt.timezone.utc), check.ok,
                          check.detail if not check.ok else "", check.tsa_certificate, chain)


# --------------------------------------------------------------------------- SES_Signature


_SEAL_CHECKS = ByBytes(1024, 32 * _MB)   # seal DER -> the maker-signature CheckResult (one seal, many documents)


def clear_caches() -> None:
    """Forget every per-seal and per-signer result kept here, in seal/structures (the seals'
    facts and maker signatures, certificates, keys) and by the OFD reader (parts met in
    earlier packages): a cold start, for benchmarks."""
    _SEAL_CHECKS.clear()
    _SEAL_INFOS.clear()
    _SEAL_FACTS_BY_BINDING.clear()
    _CERTS.clear()
    PublicKey.forget_shared()
    clear_read_caches()
    clear_ofd_read_caches()


def _seal_check(seal: Any) -> Any:
    result = _SEAL_CHECKS.get(seal.der)
    if result is None:
        result = verify_seal_signature(seal)
        _SEAL_CHECKS.keep(seal.der, result)
    return result


_SEAL_INFOS = ByBytes(1024, 32 * _MB)     # seal DER -> what the report shows of it


def _seal_info(seal: Any, maker: x509.Certificate | None) -> SealInfo:
    info = _SEAL_INFOS.get(seal.der)
    if info is None:
        info = SealInfo(name=seal.name, esid=seal.es_id, seal_type=str(seal.seal_type), version=seal.version,
                        valid_from=seal.valid_start, valid_to=seal.valid_end,
                        maker=CertificateInfo.of(maker) if maker is not None else None,
                        picture=seal.picture.data, picture_type=seal.picture.type.lower())
        _SEAL_INFOS.keep(seal.der, info)
    return info


# seal DER -> {whether it binds the signer: SealFacts}: what a seal's facts say depends on the
# seal's bytes and, of the document, only on that answer (worked out for each document)
_SEAL_FACTS_BY_BINDING = ByBytes(1024, 32 * _MB)


def _seal_facts(seal: Any, signer_der: bytes | None) -> SealFacts:
    binds = None
    if seal.certificates or seal.cert_digests:
        binds = bool(signer_der) and seal.binds(signer_der)
    made = _SEAL_FACTS_BY_BINDING.get(seal.der)
    if made is None:
        made = {}
        _SEAL_FACTS_BY_BINDING.keep(seal.der, made)
    facts = made.get(binds)
    if facts is None:
        facts = made[binds] = _make_seal_facts(seal, binds)
    return facts


def _make_seal_facts(seal: Any, binds: bool | None) -> SealFacts:
    maker = _cert(seal.maker_cert)
    result = _seal_check(seal)
    info = _seal_info(seal, maker)
    return SealFacts(info, result.ok, result.reason or "the seal maker's signature verifies", maker, binds,
                     tuple(f"seal: {q.message}" for q in result.quirks))


def seal_facts(seal_der: bytes) -> SignatureFacts:
    """A seal on its own (an .esl file): the maker's signature, the seal's validity and
    registry status, and the maker's certificate path (the maker is the "signer" here)."""
    try:
        seal = parse_seal(seal_der)
    except SealFormatError as exc:
        raise InputError(f"not a seal: {exc}") from None
    facts = _seal_facts(seal, None)
    maker = facts.maker_certificate
    errors = () if maker is not None else ("the seal maker's certificate in the seal is malformed",)
    return SignatureFacts(seal.es_id, "seal", maker, facts.signature_ok, facts.signature_message,
                          seal=SealFacts(facts.info, facts.signature_ok, facts.signature_message, None, None,
                                         facts.quirks), format_errors=errors)


def _signer_key(cert: x509.Certificate) -> Any:
    try:
        return PublicKey.shared(facts_of(cert).point)
    except (ValueError, GMError):
        return None


def _signature_value(sig: Any, signer: x509.Certificate | None) -> Any:
    """The signer's SM2 signature over TBS_Sign. The plain case (SM2-with-SM3, DER signature,
    no unused bits, no quirks) is checked with the signer's cached key object; anything else,
    and a plain signature that does not verify, is judged by seal/structures, which names
    why or finds the quirk that verifies -- without verifying the plain reading a second
    time, so a flood of bad signatures costs one verification each. The SM2 verification
    runs for every document: only the key is reused, never a result."""
    plain = (sig.sign_alg == SM2_WITH_SM3 and not sig.signature_unused_bits and not sig.quirks
             and sig.signature[:1] == b"\x30" and signer is not None)
    key = _signer_key(signer) if plain else None
    if key is None:
        return verify_signature_value(sig)
    try:
        # e = SM3(Z_A || TBS_Sign), resumed after the seal this signer's documents repeat
        e = sm3_after_seal(key.z(), sig.tbs, sig.seal.der, seal_offset(sig.tbs, 1))
        ok = key.verify_digest(sig.signature, e)
    except (ValueError, GMError):
        return verify_signature_value(sig)
    if not ok:
        return verify_signature_value(sig, tried=sig.signature)
    return CheckResult(True, "", (), sig.tbs, sig.signature)


# The DATA_HASH facts read the same for every document (frozen: one object each)
_DATA_HASH_MATCHES = IntegrityFact("DATA_HASH", True, "dataHash is the SM3 of the signed data")
_DATA_HASH_DIFFERS = IntegrityFact("DATA_HASH", False, "dataHash differs from the SM3 of the signed data: "
                                   "the data changed after signing")


def ses_facts(signature_der: bytes, data: bytes, *, id: str = "SES_Signature", kind: str = "ses",
              integrity: tuple[IntegrityFact, ...] = (), extra_quirks: tuple[str, ...] = (),
              license_id: str | None = None) -> SignatureFacts:
    """Facts of a GB/T 38540 (v4) or GM/T 0031 (v1) SES_Signature over ``data`` (for an OFD
    Seal-type signature, ``data`` is Signature.xml: dataHash = SM3(Signature.xml))."""
    try:
        sig = parse_signature(signature_der)
    except SealFormatError as exc:
        return SignatureFacts(id, kind, None, False, "the seal signature cannot be read",
                              integrity=integrity, format_errors=(str(exc),), license_id=license_id)
    signer = _cert(sig.signer_cert)
    value = _signature_value(sig, signer)
    data_hash = _DATA_HASH_MATCHES if sig.data_hash == sm3(bytes(data)) else _DATA_HASH_DIFFERS
    timestamp = None
    if sig.timestamp:
        timestamp = timestamp_facts(sig.timestamp, sig.signature)
    quirks = tuple(extra_quirks)
    if value.quirks:
        quirks += tuple(q.message for q in value.quirks)
    errors = () if signer is not None else ("the signer certificate in the seal signature is malformed",)
    return SignatureFacts(
        id, kind, signer, value.ok, value.reason or "the signer's SM2 signature over TBS_Sign verifies",
        integrity=(*integrity, data_hash), claimed_signing_time=sig.time_info, timestamp=timestamp,
        seal=_seal_facts(sig.seal, sig.signer_cert), quirks=quirks, format_errors=errors, license_id=license_id)


# --------------------------------------------------------------------------- CMS


_CMS_SUB = {
    "CONTENT_MISSING": SubIndication.SIGNED_DATA_NOT_FOUND,
    "CONTENT_MISMATCH": SubIndication.HASH_FAILURE,
    "DIGEST_MISMATCH": SubIndication.HASH_FAILURE,
    "MESSAGE_DIGEST_MISSING": SubIndication.FORMAT_FAILURE,
    "CONTENT_TYPE_MISMATCH": SubIndication.FORMAT_FAILURE,
    "UNSUPPORTED_DIGEST": SubIndication.FORMAT_FAILURE,
    "UNSUPPORTED_SIGNATURE": SubIndication.FORMAT_FAILURE,
}


def cms_facts(der: bytes, data: bytes | None = None, *, kind: str = "cms", id_prefix: str = "signer") -> list[SignatureFacts]:
    """One SignatureFacts per SignerInfo of a CMS SignedData (seal/cms.py verify_cms)."""
    from seal.cms import MalformedCms, verify_cms

    try:
        check = verify_cms(der, data)
    except MalformedCms as exc:
        raise InputError(f"not a CMS SignedData: {exc}") from None
    out = []
    infos = list(check.signed_data["signer_infos"]) if check.signed_data is not None else []
    for i, signer in enumerate(check.signers):
        integrity: list[IntegrityFact] = []
        sub = _CMS_SUB.get(signer.failure or "")
        if sub is not None:
            integrity.append(IntegrityFact("CMS_CONTENT", False, signer.detail, sub))
        else:
            integrity.append(IntegrityFact("CMS_CONTENT", True, "the content digest matches messageDigest"))
        timestamp = None
        if i < len(infos):
            timestamp = _cms_timestamp(infos[i])
        sig_ok = signer.ok or sub is not None and signer.failure not in ("SIGNATURE_INVALID", "SIGNATURE_ENCODING")
        out.append(SignatureFacts(
            f"{id_prefix}-{i + 1}", kind, signer.certificate,
            signature_ok=signer.ok if sub is None else sig_ok,
            signature_message=signer.detail if not signer.ok and sub is None else "the SM2 signature verifies",
            certificates=tuple(check.certificates), integrity=tuple(integrity),
            claimed_signing_time=signer.signing_time, timestamp=timestamp, quirks=tuple(signer.warnings)))
    return out


def _cms_timestamp(si: acms.SignerInfo) -> TimestampFacts | None:
    attrs = si["unsigned_attrs"]
    if not isinstance(attrs, acms.CMSAttributes):  # absent (Void); not .native, which walked the whole token
        return None
    for attr in attrs:
        if attr["type"].native == "signature_time_stamp_token":
            return timestamp_facts(attr["values"][0].dump(), si["signature"].native)
    return None


# --------------------------------------------------------------------------- OFD


def ofd_facts(package: bytes) -> list[SignatureFacts]:
    """One SignatureFacts per OFD signature (seal/ofd verify_package): references, files
    added or shown after signing, SignedValue.dat, then the Seal (SES_Signature over
    Signature.xml) or Sign (GM/T 0010 SignedData over SM3(Signature.xml)) value."""
    try:
        pkg = OFDPackage(package)          # opened once: the facts and the license id read it
        facts = verify_package(pkg)
    except OFDFormatError as exc:
        raise InputError(f"not a readable OFD package: {exc}") from None
    out = []
    for n, f in enumerate(facts):
        sid = f.signature.path or f"signature-{n + 1}"
        license_id = _license_id(pkg, f)
        integrity: list[IntegrityFact] = []
        errors: list[str] = []
        if f.signature.error:
            errors.append(f"{sid}: {f.signature.error}")
        bad = [r for r in f.references if r.status is not _REF_OK]
        if not f.references:
            integrity.append(IntegrityFact("DOCUMENT_REFERENCES", False, "the signature references no file"))
        elif bad:
            integrity.append(IntegrityFact("DOCUMENT_REFERENCES", False, "; ".join(
                f"{r.file_ref}: {r.status.value}" for r in bad)))
        else:
            integrity.append(_references_unchanged(len(f.references)))
        if f.unreferenced_shown:
            integrity.append(IntegrityFact("UNREFERENCED_SHOWN", False, "files shown on a page that the signature "
                                           "does not cover: " + ", ".join(f.unreferenced_shown)))
        if f.missing_shown:
            integrity.append(IntegrityFact("MISSING_SHOWN", False, "files a page draws are missing: "
                                           + ", ".join(f.missing_shown)))
        if f.signed_value is None:
            errors.append(f"{sid}: the signed value file ({f.signature.signed_value_path}) is missing")
        if errors:
            out.append(SignatureFacts(sid, "ofd", None, False, "no signature value to check",
                                      integrity=tuple(integrity), format_errors=tuple(errors)))
            continue
        if f.signature.type == "Sign":
            cms_list = _ofd_sign(f.signed_value, f.signature_xml, sm3)
            for c in cms_list:
                out.append(SignatureFacts(sid, "ofd", c.signer_certificate, c.signature_ok, c.signature_message,
                                          c.certificates, tuple(integrity) + c.integrity, c.claimed_signing_time,
                                          c.timestamp, None, c.format_errors, tuple(f.quirks) + c.quirks,
                                          license_id))
        else:
            out.append(ses_facts(f.signed_value, f.signature_xml, id=sid, kind="ofd", integrity=tuple(integrity),
                                 extra_quirks=tuple(f.quirks), license_id=license_id))
    return out


_REF_OK = RefStatus.OK
_UNCHANGED: dict[int, IntegrityFact] = {}


def _references_unchanged(count: int) -> IntegrityFact:
    """The passed DOCUMENT_REFERENCES fact for ``count`` files (frozen: one per count)."""
    fact = _UNCHANGED.get(count)
    if fact is None:
        fact = IntegrityFact("DOCUMENT_REFERENCES", True, f"all {count} referenced files are unchanged")
        if len(_UNCHANGED) < 256:
            _UNCHANGED[count] = fact
    return fact


LICENSE_METADATA = "license.json"   # seal/license/render.py METADATA_ATTACHMENT
_IN_A_FOLDER = "/" + LICENSE_METADATA


def _license_id(pkg: Any, f: Any) -> str | None:
    """The e-license id of an OFD e-license (seal/license), read from its license.json
    attachment only when this signature protects that file and it is unchanged."""
    for ref in f.references:
        path = ref.path
        # the file name is license.json: the whole path, or its last part
        if path and (path == LICENSE_METADATA or path.endswith(_IN_A_FOLDER)) and ref.status is _REF_OK:
            try:
                record = json.loads(pkg.read(ref.path))
            except Exception:  # noqa: BLE001 - unreadable metadata: no license id, nothing else
                return None
            value = record.get("license_id") if isinstance(record, dict) else None
            return value if isinstance(value, str) else None
    return None


def _ofd_sign(signed_value: bytes, signature_xml: bytes, sm3: Any) -> list[SignatureFacts]:
    try:
        first = cms_facts(signed_value, sm3(signature_xml), kind="ofd")
        if all(c.integrity[0].ok for c in first):
            return first
        return cms_facts(signed_value, signature_xml, kind="ofd")
    except InputError as exc:
        return [SignatureFacts("Sign", "ofd", None, False, "", format_errors=(str(exc),))]


# --------------------------------------------------------------------------- PDF


def pdf_facts(pdf: bytes) -> list[SignatureFacts]:
    """One SignatureFacts per PDF signature (seal/pdf_inspect.py inspect_pdf_signatures)."""
    from seal.pdf_inspect import inspect_pdf_signatures

    try:
        facts = inspect_pdf_signatures(pdf)
    except Exception as exc:  # noqa: BLE001 - the PDF reader raises many kinds for broken files
        raise InputError(f"not a readable PDF: {type(exc).__name__}: {exc}") from None
    out = []
    for f in facts:
        integrity = [
            IntegrityFact("PDF_BYTE_RANGE", f.byte_range_ok and f.covers_whole_revision,
                          f"byte range {list(f.byte_range)} ({f.coverage})" if f.byte_range_ok else
                          f"byte range {list(f.byte_range)} does not cover its revision", SubIndication.FORMAT_FAILURE),
            IntegrityFact("PDF_DIGEST", f.digest_ok, "the signed bytes match messageDigest" if f.digest_ok else
                          "the signed bytes do not match messageDigest"),
            IntegrityFact("PDF_MODIFIED_AFTER_SIGNING", not f.modified_after_signing,
                          f"later revisions: {f.later_revisions}" + (f"; {f.modification_detail}" if
                                                                     f.modification_detail else "")),
        ]
        timestamp = None
        if f.timestamp_token is not None:
            try:
                value = acms.ContentInfo.load(f.cms)["content"]["signer_infos"][0]["signature"].native
                timestamp = timestamp_facts(f.timestamp_token, value)
            except (ValueError, KeyError, IndexError):
                timestamp = TimestampFacts(f.timestamp_time or _dt.datetime.now(_dt.timezone.utc), False,
                                           "the signature's CMS cannot be read for its timestamp")
        out.append(SignatureFacts(f.field_name, "pdf", f.signer_certificate, f.signature_ok, f.signature_detail,
                                  tuple(f.certificates), tuple(integrity), f.signing_time, timestamp))
    return out
