"""Seals and seal signatures as facts: build them, read them leniently, check their signatures.

Over the declarations of `gm.asn1.ses`. Three steps, like every signer in this project:
prepare the bytes to be signed (`build_seal_info`, `build_tbs_sign`), have the key store
sign them (SM2 with Z_A, DER signature), assemble (`assemble_seal`, `assemble_signature`).

Reading (`parse_seal`, `parse_signature`) accepts both GB/T 38540-2020 (v4) and
GM/T 0031-2014 (v1), and turns the encoding quirks seen in real files into `Quirk`s
instead of errors: raw 64-byte r||s signatures, BIT STRINGs with a non-zero unused-bits
count (and the producer that dropped a trailing zero octet), GeneralizedTime without "Z"
or holding UTCTime text, X.509 v1 signer certificates. Broken input raises
`SealFormatError`; a bad signature does not raise — `verify_seal_signature` and
`verify_signature_value` return a `CheckResult` with ``ok`` False and the reason.

What is signed:
- v4 seal: the maker signs DER(SES_SealInfo); v1 seal: DER SEQUENCE { sealInfo, cert,
  signatureAlgorithm } (GM/T 0031 8.2).
- v4 signature: the signer signs DER(TBS_Sign); v1: DER(TBS_Sign) too, whose fields there
  already include the signer certificate and algorithm.
All with SM2-with-SM3 (1.2.156.10197.1.501) and the default signer ID.
"""
from __future__ import annotations

import datetime as dt
import hashlib
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import field
from functools import lru_cache

from asn1crypto import core, x509

import gm  # noqa: F401  (registers the ShangMi OIDs with asn1crypto)
from gm import oids, sm2
from gm.asn1 import der as der_walk
from gm.asn1 import ses
from gm.asn1.der import encode as _tlv
from gm.errors import GMError
from gm.records import frozen_record
from gm.sm3 import sm3
from seal.errors import SealBuildError, SealFormatError

UTC = dt.timezone.utc
BEIJING = dt.timezone(dt.timedelta(hours=8))
SM2_WITH_SM3 = oids.SM2_WITH_SM3
PICTURE_TYPES = ("PNG", "JPG", "SVG", "OFD", "GIF", "BMP")
VENDOR_ID = "eseal"

# What asn1crypto raises, lazily, for damaged input deep inside a structure.
_ASN1_ERRORS = (ValueError, TypeError, KeyError, IndexError, OverflowError)

# Digest names a CertDigestObj may carry, and how to compute them.
_DIGESTS = {
    "sm3": sm3,
    "sha1": lambda data: hashlib.sha1(data).digest(),
    "sha256": lambda data: hashlib.sha256(data).digest(),
}


# ----------------------------------------------------------------------------- facts


@frozen_record
class Quirk:
    """A deviation from the standard that real producers make and we accept (reported, not raised)."""

    code: str
    message: str


@frozen_record
class Picture:
    type: str  # "PNG", "JPG", "SVG", "OFD", ... as written in the seal
    data: bytes
    width_mm: int
    height_mm: int


@frozen_record
class CertDigest:
    type: str  # hash name as written ("sm3", "SM3", "sha1", ...)
    value: bytes


@frozen_record
class Seal:
    """What a seal says, whichever version it is."""

    version: int  # 4 (GB/T 38540) or 1 (GM/T 0031)
    vid: str
    es_id: str
    seal_type: int  # 1 organization, 2 personal (other values exist in the wild)
    name: str
    cert_list_type: int  # 1 certificates, 2 digests (v1: always 1)
    certificates: tuple[bytes, ...]  # bound signer certificates (DER)
    cert_digests: tuple[CertDigest, ...]  # bound signer certificates by digest
    create_date: dt.datetime | None
    valid_start: dt.datetime | None
    valid_end: dt.datetime | None
    picture: Picture
    extensions: tuple[tuple[str, bool, bytes], ...]  # (extnID, critical, extnValue)
    maker_cert: bytes  # DER of the seal maker's certificate
    sign_alg: str  # dotted OID
    signed_value: bytes  # the maker's signature octets as written
    signed_value_unused_bits: int
    tbs: bytes  # exactly the bytes the maker signed
    der: bytes
    quirks: tuple[Quirk, ...] = ()

    def binds(self, cert_der: bytes) -> bool:
        """True when the seal binds this signer certificate (by the certificate or by its digest)."""
        cert_der = bytes(cert_der)
        if cert_der in self.certificates:
            return True
        for digest in self.cert_digests:
            fn = _DIGESTS.get(digest.type.strip().lower().replace("-", ""))
            if fn is not None and fn(cert_der) == digest.value:
                return True
        return False


@frozen_record
class SealSignature:
    """What a seal signature (SignedValue.dat) says."""

    version: int
    seal: Seal
    time_info: dt.datetime | None  # None when v1 carries something else (e.g. a token)
    time_info_raw: bytes
    data_hash: bytes
    property_info: str
    signer_cert: bytes
    sign_alg: str
    signature: bytes  # octets as written
    signature_unused_bits: int
    timestamp: bytes | None  # RFC 3161 token (v4 timeStamp)
    extensions: tuple[tuple[str, bool, bytes], ...]
    tbs: bytes  # exactly the bytes the signer signed: DER(TBS_Sign)
    der: bytes
    quirks: tuple[Quirk, ...] = ()


@frozen_record
class CheckResult:
    """Outcome of a cryptographic check: ok, why not, and the quirks met on the way."""

    ok: bool
    reason: str = ""
    quirks: tuple[Quirk, ...] = ()
    signed_bytes: bytes = b""
    signature_der: bytes = b""  # the signature as strict DER (after repairing quirks)
    public_key: sm2.PublicKey | None = field(default=None, compare=False)


# ----------------------------------------------------------------------------- reading


def parse_seal(der: bytes) -> Seal:
    """Read a v4 or v1 SESeal (.esl file); SealFormatError when it is neither."""
    der = _require_bytes(der, "seal")
    outer = _load(core.Sequence, der, "seal")
    try:
        count = len(outer)
    except _ASN1_ERRORS as exc:
        raise SealFormatError(f"seal: not a DER SEQUENCE ({exc})") from None
    if _starts_with_integer(outer):
        raise SealFormatError("seal: this is a seal signature (SES_Signature), not a seal (SESeal)")
    with _format_errors("seal"):
        if count == 4:
            return _cached_seal(_load(ses.SESeal, der, "SESeal (GB/T 38540 v4)"), 4)
        if count == 2:
            return _cached_seal(_load(ses.SESealV1, der, "SESeal (GM/T 0031 v1)"), 1)
    raise SealFormatError(
        f"seal: a SEQUENCE of {count} fields is neither a GB/T 38540 SESeal (4 fields) nor a GM/T 0031 one (2)")


def parse_signature(der: bytes) -> SealSignature:
    """Read a v4 or v1 SES_Signature (OFD SignedValue.dat); SealFormatError when it is neither."""
    der = _require_bytes(der, "seal signature")
    return _plain_v4_signature(der) or _parse_signature_fully(der)


# The plain v4 signature -- what this project and ofdrw write, one per sealed document --
# read by slicing the DER (gm.asn1.der) around a seal already read from the same bytes.
# It gives exactly what the full reading gives (tests/test_seal_structures_fast.py) and
# answers None for anything else: another version, extDatas, a quirk, a seal not yet seen.
_SM2_WITH_SM3_OID = core.ObjectIdentifier(SM2_WITH_SM3).contents


def _plain_v4_signature(der: bytes) -> SealSignature | None:
    outer = der_walk.tlv(der, 0, len(der))
    if outer is None or outer[0] != 0x30 or outer[3] != len(der):
        return None
    fields = der_walk.children(der, outer[2], outer[3])
    if fields is None or len(fields) not in (4, 5):
        return None
    to_sign, cert, alg, signature = fields[:4]
    if (to_sign[0], cert[0], alg[0], signature[0]) != (0x30, 0x04, 0x06, 0x03):
        return None
    if der[alg[2]:alg[3]] != _SM2_WITH_SM3_OID:
        return None
    timestamp = None
    if len(fields) == 5:
        wrapper = fields[4]
        inner = der_walk.children(der, wrapper[2], wrapper[3]) if wrapper[0] == 0xA0 else None
        if not inner or len(inner) != 1 or inner[0][0] != 0x03 or der[inner[0][2]:inner[0][2] + 1] != b"\x00":
            return None
        timestamp = der[inner[0][2] + 1:inner[0][3]]
    tbs = der_walk.children(der, to_sign[2], to_sign[3])
    if tbs is None or len(tbs) != 5:
        return None
    version, eseal, time_info, data_hash, prop = tbs
    if (version[0], eseal[0], time_info[0], data_hash[0], prop[0]) != (0x02, 0x30, 0x18, 0x03, 0x16):
        return None
    if der[version[2]:version[3]] != b"\x04" or der[data_hash[2]:data_hash[2] + 1] != b"\x00":
        return None
    if der[signature[2]:signature[2] + 1] != b"\x00" or signature[3] - signature[2] < 2:
        return None
    seal = _known_v4_seal(der, eseal[1], eseal[3])
    signer = der[cert[2]:cert[3]]
    if seal is None or _certificate_version(signer) == "v1":
        return None
    raw_time = der[time_info[2]:time_info[3]]
    try:
        text = raw_time.decode("ascii")
        property_info = der[prop[2]:prop[3]].decode("ascii")
    except UnicodeDecodeError:
        return None
    if len(text) != 15 or not text.endswith("Z") or not text[:14].isdigit():
        return None
    try:
        when = dt.datetime(int(text[:4]), int(text[4:6]), int(text[6:8]), int(text[8:10]), int(text[10:12]),
                           int(text[12:14]), tzinfo=UTC)
    except ValueError:
        return None
    return SealSignature(
        version=4, seal=seal, time_info=when, time_info_raw=raw_time, data_hash=der[data_hash[2] + 1:data_hash[3]],
        property_info=property_info, signer_cert=signer, sign_alg=SM2_WITH_SM3,
        signature=der[signature[2] + 1:signature[3]], signature_unused_bits=0, timestamp=timestamp,
        extensions=(), tbs=der[to_sign[1]:to_sign[3]], der=der, quirks=())


def _parse_signature_fully(der: bytes) -> SealSignature:
    """Every SES_Signature through asn1crypto, with the quirks of real producers."""
    outer = _load(core.Sequence, der, "seal signature")
    try:
        count = len(outer)
    except _ASN1_ERRORS as exc:
        raise SealFormatError(f"seal signature: not a DER SEQUENCE ({exc})") from None
    if not _starts_with_integer(outer):
        raise SealFormatError("seal signature: this is not a SES_Signature (its first field does not start "
                              "with the version INTEGER; a seal file, SESeal, perhaps)")
    with _format_errors("seal signature"):
        if count in (4, 5):
            return _facts_v4_signature(_load(ses.SES_Signature, der, "SES_Signature (GB/T 38540 v4)"), der)
        if count == 2:
            return _facts_v1_signature(_load(ses.SES_SignatureV1, der, "SES_Signature (GM/T 0031 v1)"), der)
    raise SealFormatError(
        f"seal signature: a SEQUENCE of {count} fields is neither a GB/T 38540 SES_Signature (4 or 5) "
        "nor a GM/T 0031 one (2)")


def _starts_with_integer(outer: core.Sequence) -> bool:
    """TBS_Sign (first field of SES_Signature) opens with version INTEGER; SES_SealInfo with a SEQUENCE."""
    try:
        first = outer[0]
    except _ASN1_ERRORS as exc:
        raise SealFormatError(f"not a seal structure ({exc})") from None
    contents = first.contents or b""
    return first.tag == 16 and contents[:1] == b"\x02"


@contextmanager
def _format_errors(what: str) -> Iterator[None]:
    """asn1crypto reports a wrong field lazily, as ValueError/TypeError: make it a SealFormatError."""
    try:
        yield
    except SealFormatError:
        raise
    except _ASN1_ERRORS as exc:
        raise SealFormatError(f"{what}: malformed structure ({exc})") from None


def _require_bytes(data: object, what: str) -> bytes:
    if not isinstance(data, (bytes, bytearray, memoryview)):
        raise SealFormatError(f"{what}: expected DER bytes, got {type(data).__name__}")
    data = bytes(data)
    if not data:
        raise SealFormatError(f"{what}: empty input")
    return data


def _load(cls: type[core.Asn1Value], der: bytes, what: str) -> core.Asn1Value:
    try:
        return cls.load(der, strict=True)
    except _ASN1_ERRORS as exc:
        raise SealFormatError(f"{what}: not DER ({exc})") from None


class _Reader:
    """Collects quirks while facts are pulled out; turns asn1crypto errors into SealFormatError."""

    def __init__(self, what: str) -> None:
        self.what = what
        self.quirks: list[Quirk] = []

    def quirk(self, code: str, message: str) -> None:
        self.quirks.append(Quirk(code, f"{self.what}: {message}"))

    def get(self, value: core.Asn1Value, path: str) -> object:
        try:
            return value.native
        except _ASN1_ERRORS as exc:
            raise SealFormatError(f"{self.what}: field {path} is malformed ({exc})") from None

    def bits(self, value: core.OctetBitString, path: str) -> tuple[bytes, int]:
        contents = value.contents or b""
        if not contents:
            raise SealFormatError(f"{self.what}: BIT STRING {path} is empty (no unused-bits octet)")
        unused = contents[0]
        if unused > 7:
            raise SealFormatError(f"{self.what}: BIT STRING {path} claims {unused} unused bits (at most 7)")
        if unused:
            self.quirk("bit-string-unused-bits", f"BIT STRING {path} has {unused} unused bits (expected 0)")
        return contents[1:], unused

    def time(self, value: core.Asn1Value, path: str) -> dt.datetime | None:
        try:
            return self._time(value, path)
        except ValueError as exc:  # a date that does not exist (month 13, ...)
            if isinstance(exc, SealFormatError):
                raise
            text = (value.contents or b"").decode("ascii", "replace")
            raise SealFormatError(f"{self.what}: {path} {text!r} is not a time ({exc})") from None

    def _time(self, value: core.Asn1Value, path: str) -> dt.datetime | None:
        text = (value.contents or b"").decode("ascii", "replace")
        if isinstance(value, core.GeneralizedTime):
            if len(text) == 13 and text.endswith("Z") and text[:12].isdigit():
                self.quirk("generalized-time-utctime-text", f"{path} is a GeneralizedTime holding UTCTime text {text!r}")
                return _utctime_text(text)
            if text.isdigit() and len(text) in (12, 14):
                self.quirk("generalized-time-without-z",
                           f"{path} {text!r} has no 'Z'; read as Beijing time (UTC+8)")
                return dt.datetime.strptime(text.ljust(14, "0"), "%Y%m%d%H%M%S").replace(tzinfo=BEIJING)
        try:
            native = value.native
        except _ASN1_ERRORS as exc:
            raise SealFormatError(f"{self.what}: {path} {text!r} is not a time ({exc})") from None
        if isinstance(native, dt.datetime) and native.tzinfo is None:
            self.quirk("time-without-zone", f"{path} {text!r} has no time zone; read as Beijing time (UTC+8)")
            native = native.replace(tzinfo=BEIJING)
        return native

    def certificate(self, der: bytes, path: str) -> None:
        """Note a v1 certificate; a certificate that does not parse is left to the checks."""
        if _certificate_version(bytes(der)) == "v1":
            self.quirk("x509-v1-certificate", f"{path} is an X.509 version 1 certificate")

    def extensions(self, value: core.Asn1Value, path: str) -> tuple[tuple[str, bool, bytes], ...]:
        if not value.contents and isinstance(value, core.Void):
            return ()
        if isinstance(value, core.Void):
            return ()
        out = []
        for i, ext in enumerate(value):
            out.append((ext["extnID"].dotted, bool(self.get(ext["critical"], f"{path}[{i}].critical")),
                        self.get(ext["extnValue"], f"{path}[{i}].extnValue")))
        return tuple(out)


def _certificate_version(der: bytes) -> str | None:
    """The X.509 version of a certificate (None when it does not parse); one signer's
    certificate is in every document it signs, so a certificate of ordinary size is read
    once (an outsized one, each time: it is not worth keeping)."""
    return _x509_version(der) if len(der) <= 16 * 1024 else _read_x509_version(der)


@lru_cache(maxsize=1024)
def _x509_version(der: bytes) -> str | None:
    return _read_x509_version(der)


def _read_x509_version(der: bytes) -> str | None:
    try:
        return x509.Certificate.load(der)["tbs_certificate"]["version"].native
    except _ASN1_ERRORS:
        return None


def _utctime_text(text: str) -> dt.datetime:
    year = int(text[:2])
    year += 2000 if year < 50 else 1900
    return dt.datetime.strptime(f"{year}{text[2:12]}", "%Y%m%d%H%M%S").replace(tzinfo=UTC)


def _picture(r: _Reader, value: core.Asn1Value) -> Picture:
    return Picture(type=str(r.get(value["type"], "picture.type")), data=r.get(value["data"], "picture.data"),
                   width_mm=int(r.get(value["width"], "picture.width")),
                   height_mm=int(r.get(value["height"], "picture.height")))


def _header(r: _Reader, header: core.Asn1Value, expected: int) -> str:
    ident = r.get(header["ID"], "header.ID")
    if ident != "ES":
        r.quirk("header-id", f"header.ID is {ident!r}, not 'ES'")
    version = r.get(header["version"], "header.version")
    if version != expected:
        r.quirk("header-version", f"header.version is {version} in a version {expected} structure")
    return str(r.get(header["Vid"], "header.Vid"))


def _facts_v4_seal(value: ses.SESeal, der: bytes) -> Seal:
    r = _Reader("seal")
    info = value["eSealInfo"]
    prop = info["property"]
    vid = _header(r, info["header"], 4)
    list_type = int(r.get(prop["certListType"], "property.certListType"))
    certificates: tuple[bytes, ...] = ()
    digests: tuple[CertDigest, ...] = ()
    if list_type == ses.CERT_LIST_DIGESTS:
        digests = tuple(CertDigest(str(r.get(d["type"], "certList.type")), r.get(d["value"], "certList.value"))
                        for d in prop["certList"])
    elif list_type == ses.CERT_LIST_CERTIFICATES:
        certificates = tuple(r.get(c, "property.certList") for c in prop["certList"])
    else:
        raise SealFormatError(f"seal: property.certListType is {list_type}; 1 (certificates) or 2 (digests) expected")
    maker = r.get(value["cert"], "cert")
    r.certificate(maker, "the seal maker certificate")
    signed, unused = r.bits(value["signedValue"], "signedValue")
    return Seal(
        version=4, vid=vid, es_id=str(r.get(info["esID"], "esID")),
        seal_type=int(r.get(prop["type"], "property.type")), name=str(r.get(prop["name"], "property.name")),
        cert_list_type=list_type, certificates=certificates, cert_digests=digests,
        create_date=r.time(prop["createDate"], "property.createDate"),
        valid_start=r.time(prop["validStart"], "property.validStart"),
        valid_end=r.time(prop["validEnd"], "property.validEnd"),
        picture=_picture(r, info["picture"]), extensions=r.extensions(info["extDatas"], "extDatas"),
        maker_cert=maker, sign_alg=value["signAlgID"].dotted, signed_value=signed, signed_value_unused_bits=unused,
        tbs=info.dump(), der=der, quirks=tuple(r.quirks))


def _facts_v1_seal(value: ses.SESealV1, der: bytes) -> Seal:
    r = _Reader("seal")
    info = value["esealInfo"]
    prop = info["property"]
    sign_info = value["signInfo"]
    vid = _header(r, info["header"], 1)
    maker = r.get(sign_info["cert"], "signInfo.cert")
    r.certificate(maker, "the seal maker certificate")
    signed, unused = r.bits(sign_info["signData"], "signInfo.signData")
    tbs = ses.SES_SealSignedDataV1({
        "sealInfo": info, "cert": sign_info["cert"], "signatureAlgorithm": sign_info["signatureAlgorithm"],
    }).dump()
    return Seal(
        version=1, vid=vid, es_id=str(r.get(info["esID"], "esID")),
        seal_type=int(r.get(prop["type"], "property.type")), name=str(r.get(prop["name"], "property.name")),
        cert_list_type=ses.CERT_LIST_CERTIFICATES,
        certificates=tuple(r.get(c, "property.certList") for c in prop["certList"]), cert_digests=(),
        create_date=r.time(prop["createDate"], "property.createDate"),
        valid_start=r.time(prop["validStart"], "property.validStart"),
        valid_end=r.time(prop["validEnd"], "property.validEnd"),
        picture=_picture(r, info["picture"]), extensions=r.extensions(info["extDatas"], "extDatas"),
        maker_cert=maker, sign_alg=sign_info["signatureAlgorithm"].dotted, signed_value=signed,
        signed_value_unused_bits=unused, tbs=tbs, der=der, quirks=tuple(r.quirks))


# Seal facts by (version read as, the seal's exact DER): every document sealed with one seal
# carries the same seal bytes, and its facts are a function of those bytes alone (frozen,
# safe to share). Failures are not kept: damaged bytes are judged again each time.
_SEAL_FACTS: dict[tuple[int, bytes], Seal] = {}
_SEAL_FACTS_LIMIT = 1024
_SEAL_FACTS_BUDGET = 32 * 1024 * 1024     # bytes of seals held; hostile giant seals are not kept
_seal_facts_bytes = 0


# The v4 seals of _SEAL_FACTS again, by (length, last bytes): the plain reading of a signature
# finds its seal without copying and hashing every byte of it (a picture makes a seal 15 KB or
# more), then compares the candidate in full, in place. Emptied with _SEAL_FACTS.
_V4_SEALS_BY_END: dict[tuple[int, bytes], Seal] = {}
_END_BYTES = 32     # the close of a seal: its maker's signature


def clear_read_caches() -> None:
    """Forget seals and certificate versions already read (benchmarks measure a cold start)."""
    global _seal_facts_bytes
    _SEAL_FACTS.clear()
    _V4_SEALS_BY_END.clear()
    _seal_facts_bytes = 0
    _x509_version.cache_clear()


def _known_v4_seal(der: bytes, start: int, end: int) -> Seal | None:
    """The seal already read as v4 whose DER is exactly ``der[start:end]``, or None."""
    seal = _V4_SEALS_BY_END.get((end - start, der[max(start, end - _END_BYTES):end]))
    if seal is not None and len(seal.der) == end - start and der.startswith(seal.der, start):
        return seal
    return _SEAL_FACTS.get((4, der[start:end]))     # another seal with the same end, say


def _cached_seal(value: core.Asn1Value, version: int) -> Seal:
    der = value.dump()
    global _seal_facts_bytes
    seal = _SEAL_FACTS.get((version, der))
    if seal is None:
        seal = _facts_v4_seal(value, der) if version == 4 else _facts_v1_seal(value, der)
        if len(der) <= _SEAL_FACTS_BUDGET // 64:
            if len(_SEAL_FACTS) >= _SEAL_FACTS_LIMIT or _seal_facts_bytes + len(der) > _SEAL_FACTS_BUDGET:
                _SEAL_FACTS.clear()
                _V4_SEALS_BY_END.clear()
                _seal_facts_bytes = 0
            _SEAL_FACTS[(version, der)] = seal
            _seal_facts_bytes += len(der)
            if version == 4:
                _V4_SEALS_BY_END[(len(der), der[-_END_BYTES:])] = seal
    return seal


def _facts_v4_signature(value: ses.SES_Signature, der: bytes) -> SealSignature:
    r = _Reader("seal signature")
    tbs = value["toSign"]
    seal = _cached_seal(tbs["eseal"], 4)
    version = r.get(tbs["version"], "toSign.version")
    if version != 4:
        r.quirk("tbs-version", f"toSign.version is {version} in a version 4 signature")
    data_hash, _ = r.bits(tbs["dataHash"], "toSign.dataHash")
    signer = r.get(value["cert"], "cert")
    r.certificate(signer, "the signer certificate")
    signature, unused = r.bits(value["signature"], "signature")
    timestamp = None
    if not isinstance(value["timeStamp"], core.Void):
        timestamp, _ = r.bits(value["timeStamp"], "timeStamp")
    return SealSignature(
        version=4, seal=seal, time_info=r.time(tbs["timeInfo"], "toSign.timeInfo"),
        time_info_raw=tbs["timeInfo"].contents or b"", data_hash=data_hash,
        property_info=str(r.get(tbs["propertyInfo"], "toSign.propertyInfo")), signer_cert=signer,
        sign_alg=value["signatureAlgID"].dotted, signature=signature, signature_unused_bits=unused,
        timestamp=timestamp, extensions=r.extensions(tbs["extDatas"], "toSign.extDatas"),
        tbs=tbs.dump(), der=der, quirks=tuple(r.quirks))


def _facts_v1_signature(value: ses.SES_SignatureV1, der: bytes) -> SealSignature:
    r = _Reader("seal signature")
    tbs = value["toSign"]
    seal = _cached_seal(tbs["eseal"], 1)
    version = r.get(tbs["version"], "toSign.version")
    if version != 1:
        r.quirk("tbs-version", f"toSign.version is {version} in a version 1 signature")
    time_raw, _ = r.bits(tbs["timeInfo"], "toSign.timeInfo")
    data_hash, _ = r.bits(tbs["dataHash"], "toSign.dataHash")
    signer = r.get(tbs["cert"], "toSign.cert")
    r.certificate(signer, "the signer certificate")
    signature, unused = r.bits(value["signature"], "signature")
    return SealSignature(
        version=1, seal=seal, time_info=_v1_time(time_raw), time_info_raw=time_raw, data_hash=data_hash,
        property_info=str(r.get(tbs["propertyInfo"], "toSign.propertyInfo")), signer_cert=signer,
        sign_alg=tbs["signatureAlgorithm"].dotted, signature=signature, signature_unused_bits=unused,
        timestamp=None, extensions=(), tbs=tbs.dump(), der=der, quirks=tuple(r.quirks))


def _v1_time(raw: bytes) -> dt.datetime | None:
    """GM/T 0031 timeInfo is a BIT STRING: usually UTCTime text, sometimes GeneralizedTime text or a token."""
    try:
        text = raw.decode("ascii").strip()
    except UnicodeDecodeError:
        return None
    try:
        if len(text) == 13 and text.endswith("Z"):
            return _utctime_text(text)
        if len(text) == 15 and text.endswith("Z"):
            return dt.datetime.strptime(text[:14], "%Y%m%d%H%M%S").replace(tzinfo=UTC)
    except ValueError:
        return None
    return None


# ----------------------------------------------------------------------------- checking


def public_key_of(cert_der: bytes) -> sm2.PublicKey:
    """The SM2 public key of a DER certificate (SealFormatError when it has none)."""
    try:
        cert = x509.Certificate.load(bytes(cert_der))
        spki = cert["tbs_certificate"]["subject_public_key_info"]
        point = spki["public_key"].native
        return sm2.PublicKey.shared(bytes(point))
    except (*_ASN1_ERRORS, GMError) as exc:
        raise SealFormatError(f"certificate does not carry an SM2 public key ({exc})") from None


def verify_seal_signature(seal: Seal) -> CheckResult:
    """The seal maker's SM2 signature over the seal (v4: DER(SES_SealInfo); v1: see module doc)."""
    return _check(seal.tbs, seal.maker_cert, seal.sign_alg, seal.signed_value, seal.signed_value_unused_bits,
                  "the seal maker", seal.quirks)


def verify_signature_value(sig: SealSignature, *, tried: bytes | None = None) -> CheckResult:
    """The signer's SM2 signature over DER(TBS_Sign). ``tried``: a DER signature the caller
    already found not to verify over this TBS_Sign with this certificate's key (a quick check
    of the plain case); it is not verified again, only the other readings of the octets are."""
    return _check(sig.tbs, sig.signer_cert, sig.sign_alg, sig.signature, sig.signature_unused_bits,
                  "the signer", sig.quirks, tried)


def _check(tbs: bytes, cert_der: bytes, alg: str, octets: bytes, unused: int, who: str,
           quirks: Iterable[Quirk], tried: bytes | None = None) -> CheckResult:
    quirks = [q for q in quirks if q.code in ("bit-string-unused-bits", "x509-v1-certificate")]
    if alg != SM2_WITH_SM3:
        return CheckResult(False, f"{who} used signature algorithm {alg}; only SM2-with-SM3 "
                                  f"({SM2_WITH_SM3}) is supported", tuple(quirks), tbs)
    try:
        key = public_key_of(cert_der)
    except SealFormatError as exc:
        return CheckResult(False, f"{who}'s {exc}", tuple(quirks), tbs)
    candidates = _signature_candidates(octets, unused)
    if not candidates:
        return CheckResult(False, f"{who}'s signature ({len(octets)} octets) is neither DER (r, s) nor raw r||s",
                           tuple(quirks), tbs, public_key=key)
    for signature_der, quirk in candidates:
        if signature_der == tried:
            continue
        try:
            good = key.verify(signature_der, tbs)
        except GMError:
            continue
        if good:
            found = quirks + ([quirk] if quirk else [])
            return CheckResult(True, "", tuple(found), tbs, signature_der, key)
    return CheckResult(False, f"{who}'s SM2 signature does not match the signed data", tuple(quirks), tbs,
                       candidates[0][0], key)


def _signature_candidates(octets: bytes, unused: int) -> list[tuple[bytes, Quirk | None]]:
    """The DER signatures the octets may stand for, each with the quirk it implies."""
    out: list[tuple[bytes, Quirk | None]] = []
    if _is_der_signature(octets):
        out.append((octets, None))
    if unused and _is_der_signature(octets + b"\x00"):
        out.append((octets + b"\x00", Quirk("bit-string-trailing-zero-dropped",
                                              "the signature BIT STRING lost its trailing zero octet")))
    if len(octets) == 64:
        r, s = int.from_bytes(octets[:32], "big"), int.from_bytes(octets[32:], "big")
        if 0 < r and 0 < s:
            try:
                out.append((sm2.signature_from_rs(r, s),
                            Quirk("raw-rs-signature", "the signature is raw 64-byte r||s, not DER")))
            except GMError:
                pass
    return out


def _is_der_signature(octets: bytes) -> bool:
    try:
        sm2.signature_to_rs(octets)
    except GMError:
        return False
    return True


# ----------------------------------------------------------------------------- building


def certificate_digest(cert_der: bytes, algorithm: str = "sm3") -> CertDigest:
    """A CertDigestObj value for binding a signer certificate by digest."""
    fn = _DIGESTS.get(algorithm)
    if fn is None:
        raise SealBuildError(f"unknown certificate digest {algorithm!r}; expected one of {', '.join(_DIGESTS)}")
    return CertDigest(algorithm, fn(bytes(cert_der)))


def _check_certificate(der: object, what: str) -> bytes:
    if not isinstance(der, (bytes, bytearray)):
        raise SealBuildError(f"{what} must be DER bytes, not {type(der).__name__}")
    try:
        cert = x509.Certificate.load(bytes(der), strict=True)
        cert["tbs_certificate"]["serial_number"].native
    except _ASN1_ERRORS as exc:
        raise SealBuildError(f"{what} is not a DER X.509 certificate ({exc})") from None
    return bytes(der)


def _check_time(value: object, what: str) -> dt.datetime:
    if not isinstance(value, dt.datetime) or value.tzinfo is None:
        raise SealBuildError(f"{what} must be a timezone-aware datetime")
    return value.astimezone(UTC).replace(microsecond=0)


def _check_ia5(value: object, what: str, *, max_len: int = 1000) -> str:
    if not isinstance(value, str) or not value or len(value) > max_len:
        raise SealBuildError(f"{what} must be 1-{max_len} characters")
    if not value.isascii() or not value.isprintable():
        raise SealBuildError(f"{what} {value!r} must be printable ASCII (it is an IA5String)")
    return value


def check_picture_size(width_mm: int, height_mm: int) -> None:
    """The picture's width and height as a seal holds them: whole millimetres, 1-1000."""
    for size, what in ((width_mm, "width"), (height_mm, "height")):
        if not isinstance(size, int) or isinstance(size, bool) or not 1 <= size <= 1000:
            raise SealBuildError(f"picture {what} must be a whole number of millimetres, 1-1000 (got {size!r})")


def build_seal_info(
    *,
    es_id: str,
    seal_type: int,
    name: str,
    valid_start: dt.datetime,
    valid_end: dt.datetime,
    picture: Picture,
    certificates: Sequence[bytes] = (),
    cert_digests: Sequence[CertDigest] = (),
    create_date: dt.datetime | None = None,
    vid: str = VENDOR_ID,
    extensions: Sequence[tuple[str, bool, bytes]] = (),
) -> bytes:
    """DER(SES_SealInfo) v4: what the seal maker signs. Exactly one of certificates / cert_digests."""
    _check_ia5(es_id, "esID", max_len=64)
    _check_ia5(vid, "Vid", max_len=64)
    if seal_type not in (ses.SEAL_TYPE_ORGANIZATION, ses.SEAL_TYPE_PERSONAL):
        raise SealBuildError(f"seal type {seal_type!r}: 1 (organization) or 2 (personal)")
    if not isinstance(name, str) or not name.strip() or len(name) > 200:
        raise SealBuildError("seal name must be 1-200 characters")
    if bool(certificates) == bool(cert_digests):
        raise SealBuildError("a seal binds its signer certificates either by certificate or by digest: "
                             "give exactly one non-empty list")
    start = _check_time(valid_start, "valid_start")
    end = _check_time(valid_end, "valid_end")
    if end <= start:
        raise SealBuildError(f"valid_end {end.isoformat()} must be after valid_start {start.isoformat()}")
    created = _check_time(create_date or dt.datetime.now(UTC), "create_date")
    if not isinstance(picture, Picture) or not picture.data:
        raise SealBuildError("picture must be a Picture with data")
    if picture.type.upper() not in PICTURE_TYPES:
        raise SealBuildError(f"picture type {picture.type!r}; expected one of {', '.join(PICTURE_TYPES)}")
    check_picture_size(picture.width_mm, picture.height_mm)
    if certificates:
        list_type = ses.CERT_LIST_CERTIFICATES
        cert_list: core.Asn1Value = ses.CertInfoList(
            [_check_certificate(c, f"holder certificate {i + 1}") for i, c in enumerate(certificates)])
    else:
        list_type = ses.CERT_LIST_DIGESTS
        for d in cert_digests:
            if not isinstance(d, CertDigest) or not d.value:
                raise SealBuildError("cert_digests must be CertDigest values with a digest")
        cert_list = ses.CertDigestList([{"type": d.type, "value": d.value} for d in cert_digests])
    value = {
        "header": {"ID": "ES", "version": 4, "Vid": vid},
        "esID": es_id,
        "property": {
            "type": seal_type, "name": name, "certListType": list_type, "certList": cert_list,
            "createDate": created, "validStart": start, "validEnd": end,
        },
        "picture": {"type": picture.type.upper(), "data": picture.data, "width": picture.width_mm,
                    "height": picture.height_mm},
    }
    if extensions:
        value["extDatas"] = [{"extnID": oid, "critical": crit, "extnValue": data} for oid, crit, data in extensions]
    return ses.SES_SealInfo(value).dump()


def assemble_seal(seal_info_der: bytes, maker_cert_der: bytes, signature_der: bytes) -> bytes:
    """DER(SESeal) v4 from the signed SES_SealInfo, the maker's certificate and its DER signature."""
    info = _load(ses.SES_SealInfo, bytes(seal_info_der), "SES_SealInfo")
    _check_certificate(maker_cert_der, "the seal maker certificate")
    if not _is_der_signature(bytes(signature_der)):
        raise SealBuildError("the seal maker signature must be a DER SM2 signature (SEQUENCE { r, s })")
    return ses.SESeal({"eSealInfo": info, "cert": bytes(maker_cert_der), "signAlgID": SM2_WITH_SM3,
                       "signedValue": bytes(signature_der)}).dump()



_SM2_WITH_SM3_DER = core.ObjectIdentifier(SM2_WITH_SM3).dump()
_VERSION_4_DER = core.Integer(4).dump()


def _outer_sequence(der: bytes, what: str) -> bytes:
    """Check that der is exactly one DER SEQUENCE (header only: the content is the caller's)."""
    value = _load(core.Sequence, der, what)
    if value.tag != 16 or value.class_ != 0:
        raise SealBuildError(f"{what} must be a DER SEQUENCE")
    return der


@lru_cache(maxsize=512)
def _checked_certificate(der: bytes) -> bytes:
    return _check_certificate(der, "the signer certificate")


def build_tbs_sign(
    seal_der: bytes,
    *,
    data_hash: bytes,
    property_info: str,
    time_info: dt.datetime | None = None,
    extensions: Sequence[tuple[str, bool, bytes]] = (),
) -> bytes:
    """DER(TBS_Sign) v4: what the signer signs. data_hash is the SM3 digest of the protected data.

    Encoded by concatenation (the seal's DER goes in as it is), which is what
    ``gm.asn1.ses.TBS_Sign(...).dump()`` gives too (tests compare the two) at a fraction of
    the cost: this runs once per sealing.
    """
    seal_der = _outer_sequence(bytes(seal_der), "SESeal (GB/T 38540 v4)")
    if not isinstance(data_hash, (bytes, bytearray)) or len(data_hash) != 32:
        raise SealBuildError("data_hash must be the 32-byte SM3 digest of the protected data")
    _check_ia5(property_info, "propertyInfo")
    when = _check_time(time_info or dt.datetime.now(UTC), "time_info")
    body = (_VERSION_4_DER + seal_der + _tlv(0x18, when.strftime("%Y%m%d%H%M%SZ").encode())
            + _tlv(0x03, b"\x00" + bytes(data_hash)) + _tlv(0x16, property_info.encode("ascii")))
    if extensions:
        body += ses.ExtensionDatas(
            [{"extnID": oid, "critical": crit, "extnValue": data} for oid, crit, data in extensions]).dump()
    return _tlv(0x30, body)


def assemble_signature(tbs_der: bytes, signer_cert_der: bytes, signature_der: bytes,
                       timestamp: bytes | None = None) -> bytes:
    """DER(SES_Signature) v4; timestamp is an RFC 3161 token over the signature value, if any.

    Concatenated like `build_tbs_sign`; equal to ``gm.asn1.ses.SES_Signature(...).dump()``.
    """
    tbs_der = _outer_sequence(bytes(tbs_der), "TBS_Sign")
    if not isinstance(signer_cert_der, (bytes, bytearray)):
        raise SealBuildError("the signer certificate must be DER bytes")
    cert = _checked_certificate(bytes(signer_cert_der))
    if not _is_der_signature(bytes(signature_der)):
        raise SealBuildError("the signer signature must be a DER SM2 signature (SEQUENCE { r, s })")
    body = tbs_der + _tlv(0x04, cert) + _SM2_WITH_SM3_DER + _tlv(0x03, b"\x00" + bytes(signature_der))
    if timestamp is not None:
        if not isinstance(timestamp, (bytes, bytearray)) or not timestamp:
            raise SealBuildError("timestamp must be the DER of an RFC 3161 token")
        body += _tlv(0xA0, _tlv(0x03, b"\x00" + bytes(timestamp)))
    return _tlv(0x30, body)
