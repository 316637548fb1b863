"""RFC 3161 timestamp authority, GM/T 0033 profile: tokens signed with SM2/SM3.

Why it looks like this:

* ``timestamp`` answers every request with a TimeStampResp. A bad request (undecodable,
  wrong version, an algorithm we do not accept, an imprint of the wrong length, a policy
  that is not ours, extensions) gets a rejection with the RFC 3161 failInfo bit and a
  text; it never raises to the caller. Exceptions are kept for the operator's own
  misconfiguration (no TSA certificate, locked key store).
* The token is a PKCS#7-flavour SignedData (seal/cms.py) over a TSTInfo eContent
  (id-ct-TSTInfo), with the ESS signingCertificateV2 attribute binding the TSA
  certificate (SM3 hash) — the PKCS#7 OIDs because RFC 3161 clients (OpenSSL, pyHanko,
  Adobe) expect id-signedData. The TSA key signs through the key store by reference.
* Serials are 127 random bits and unique by the ``tsa_tokens.serial`` constraint: a clash
  is re-signed with a new serial, as ca/service.py does for certificate serials. Each token
  is logged in ``tsa_tokens`` with one audit record, in one transaction with the TSA key's
  use record: the token is signed first (``keystore.sign(..., later=)``) and the three
  records written after, so signing never holds the database's writer lock; a timestamped
  sealing leaves them to its own sealing transaction (``TsaClient.leaving_records``). A key
  store that cannot leave its records to the caller, or refuses, signs and records in its
  own transaction first.
* genTime is UTC to the whole second, with an accuracy of ``TsaConfig.accuracy_seconds``
  (1 s by default, covering the truncation).
* Policy: until a region registers its own timestamp policy OID, the default lives under
  ``POLICY_ARC``, a UUID-derived arc (2.25.<UUID as integer>, ITU-T X.667 / ISO/IEC
  9834-8: anyone may mint such OIDs without registration, and they cannot collide with a
  real arc). ``<arc>.1`` is the default policy; ``<arc>.1.<region code>`` is suggested per
  region. Configure with ``TsaConfig(policy=...)`` or ``ESEAL_TSA_POLICY``.

``request_for`` makes requests, ``verify_token`` checks a token against the data at the
cryptographic level (signature, imprint, ESS certificate binding, TSA certificate purpose),
and ``tsa_callable`` gives seal/ a ``f(signature_value) -> token DER`` for SES_Signature
timeStamp and CMS signatureTimeStampToken attributes.
"""
from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import os
import secrets
import threading
import weakref
from collections.abc import Sequence
from dataclasses import field
from typing import Any

from asn1crypto import algos, cms, core, tsp, x509
from sqlalchemy.exc import IntegrityError

from gm.asn1 import cms_gm, der
from gm.asn1.cache import ByBytes
from gm.asn1.parse import _PARSE_ERRORS, load_strict
from gm.errors import ASN1FormatError, GMError
from gm.records import frozen_record
from gm.sm3 import sm3
from keystore.errors import KeyStoreError
from seal import cms as scms
from seal.errors import SealError
from store import audit, db
from store.models.ca import IssuedCertificate
from store.models.tsa import TsaToken
from store.text import too_long

__all__ = [
    "TsaError", "TsaNotConfigured", "TsaRejected", "MalformedToken", "TsaConfig", "TsaIdentity",
    "TokenCheck", "TokenFailure", "POLICY_ARC", "DEFAULT_POLICY", "timestamp", "request_for",
    "verify_token", "tsa_callable", "parse_response", "Response",
]

POLICY_ARC = "2.25.4116744166554053321856640421479136325"  # UUID 0318db28-7a06-4903-acc3-46778c053c45
DEFAULT_POLICY = POLICY_ARC + ".1"
TSA_ROLE = "tsa"
SERIAL_ATTEMPTS = 5
NONCE_MAX_BITS = 320  # tsa_tokens.nonce holds 80 hex digits (a negative nonce: 79 and its "-")
# hash algorithm -> imprint length. SM3 is the GM/T 0033 algorithm; SHA-256 for clients
# (e.g. PDF signers) that cannot hash with SM3.
IMPRINT_LENGTHS = {"sm3": 32, "sha256": 32}
_VERIFY_LENGTHS = {**IMPRINT_LENGTHS, "sha1": 20, "sha384": 48, "sha512": 64}


class TsaError(SealError):
    """Base of the timestamp authority's errors."""


class TsaNotConfigured(TsaError):
    """The region has no usable TSA certificate / key."""


class TsaRejected(TsaError):
    """The TSA answered with a rejection (tsa_callable); the message carries its text."""


class MalformedToken(TsaError, ValueError):
    """Bytes that are neither a timestamp token nor a TimeStampResp."""


@frozen_record
class TsaConfig:
    policy: str = DEFAULT_POLICY
    accuracy_seconds: int = 1
    hash_algorithms: frozenset[str] = frozenset(IMPRINT_LENGTHS)
    include_chain: bool = True  # with certReq: the TSA certificate and its CA chain

    def __post_init__(self) -> None:
        try:
            core.ObjectIdentifier(self.policy).dump()
        except (ValueError, TypeError) as exc:
            raise TsaError(f"TSA policy {self.policy!r} is not an object identifier: {exc}") from None
        if self.accuracy_seconds < 1:
            raise TsaError("accuracy_seconds must be at least 1 (genTime has whole seconds)")
        unknown = set(self.hash_algorithms) - set(IMPRINT_LENGTHS)
        if unknown:
            raise TsaError(f"hash algorithm(s) {sorted(unknown)} not supported; choose from {sorted(IMPRINT_LENGTHS)}")

    @classmethod
    def from_env(cls) -> TsaConfig:
        """ESEAL_TSA_POLICY, ESEAL_TSA_ACCURACY_SECONDS; defaults otherwise."""
        accuracy = os.environ.get("ESEAL_TSA_ACCURACY_SECONDS", "1")
        if not accuracy.strip().isdigit():
            raise TsaError(f"ESEAL_TSA_ACCURACY_SECONDS must be a whole number of seconds, not {accuracy!r}")
        return cls(policy=os.environ.get("ESEAL_TSA_POLICY", DEFAULT_POLICY), accuracy_seconds=int(accuracy))


@frozen_record
class TsaIdentity:
    """The TSA's key reference in the key store, its certificate and CA chain."""

    key_ref: str
    certificate: x509.Certificate
    chain: Sequence[x509.Certificate] = ()


def _identity(home: Any, tsa: Any | None, conn: Any | None = None) -> Any:
    """The TSA's key, certificate and chain: given, or the region's TSA service certificate.

    The region's current TSA certificate is asked for on every token (one plain statement,
    ``ca.service.current_service_row``'s criteria), so a revoked, expired or replaced TSA
    certificate stops being used at once; what never changes for one certificate -- the
    parsed certificate and its CA chain -- is read once per process (``_IDENTITIES``)."""
    if tsa is not None:
        return tsa
    from ca.errors import RegionNotInitialised, ServiceCertificateMissing
    from ca.service import service_certificate

    known = _IDENTITIES.setdefault(home.engine, {})
    if conn is None:
        with db.read_connection(home.engine) as own:
            rows = _CURRENT_TSA.run(own, {"now": _now()})
    else:
        rows = _CURRENT_TSA.run(conn, {"now": _now()})
    if rows and rows[0][0] in known:
        return known[rows[0][0]]
    try:
        ident = service_certificate(home, "tsa")
    except (ServiceCertificateMissing, RegionNotInitialised) as exc:
        raise TsaNotConfigured(f"no TSA certificate in this region: {exc}") from exc
    if len(known) >= 16:
        known.clear()
    known[ident.serial] = ident
    return ident


# The serial of the region's current TSA certificate: current_service_row(s, "tsa", now).
_CURRENT_TSA = db.HotStatement(
    "SELECT serial FROM ca_certificates WHERE profile = 'tsa' AND status = 'good' AND key_ref IS NOT NULL "
    "AND not_after > :now ORDER BY id DESC LIMIT 1",
    binds={"now": IssuedCertificate.__table__.c.not_after})
# Per engine: TSA certificate serial -> its ca.service.ServiceCertificate (key, certificate, chain).
_IDENTITIES: weakref.WeakKeyDictionary[Any, dict[str, Any]] = weakref.WeakKeyDictionary()


def _now() -> _dt.datetime:
    return _dt.datetime.now(_dt.timezone.utc).replace(microsecond=0)


def _serial() -> int:
    return secrets.randbits(127) | (1 << 126)  # positive, 16 octets in DER


def _nonce() -> int:
    return secrets.randbits(64) | (1 << 63)


def _signed_hex(value: int) -> str:
    return ("-" if value < 0 else "") + format(abs(value), "x")


# --------------------------------------------------------------------------- responses


def _rejection(fail: str, text: str) -> bytes:
    return cms_gm.TimeStampResp({"status": {
        "status": "rejection", "status_string": [text], "fail_info": tsp.PKIFailureInfo({fail}),
    }}).dump()


@frozen_record
class _Checked:
    message_imprint: bytes  # the request's MessageImprint DER, copied into TSTInfo as sent
    hash_algorithm: str
    imprint: bytes
    nonce: int | None
    cert_req: bool


def _check_request(request_der: bytes, config: TsaConfig) -> _Checked | tuple[str, str]:
    """The request, or (failInfo, text) saying why it is refused."""
    try:
        req = load_strict(tsp.TimeStampReq, request_der, "TimeStampReq")
    except ASN1FormatError as exc:
        return "bad_data_format", f"request is not a DER TimeStampReq: {exc}"
    if req["version"].native != "v1":
        return "bad_request", f"TimeStampReq version must be 1, not {req['version'].native}"
    alg = req["message_imprint"]["hash_algorithm"]
    name = alg["algorithm"].native
    if name not in config.hash_algorithms:
        return "bad_alg", f"hash algorithm {name} is not accepted; use one of {', '.join(sorted(config.hash_algorithms))}"
    if alg["parameters"].native is not None:
        return "bad_alg", f"hash algorithm {name} must have absent or NULL parameters"
    imprint = req["message_imprint"]["hashed_message"].native
    if len(imprint) != IMPRINT_LENGTHS[name]:
        return "bad_data_format", f"a {name} imprint has {IMPRINT_LENGTHS[name]} bytes, not {len(imprint)}"
    policy = req["req_policy"].dotted if req["req_policy"].native is not None else None
    if policy is not None and policy != config.policy:
        return "unaccepted_policy", f"policy {policy} is not this TSA's policy {config.policy}"
    if req["extensions"].native:
        return "unaccepted_extensions", "request extensions are not supported"
    nonce = req["nonce"].native
    if nonce is not None and (abs(nonce).bit_length() > NONCE_MAX_BITS
                              or too_long(_signed_hex(nonce), TsaToken.nonce, "nonce") is not None):
        # as stored: a negative nonce of 320 bits is 81 characters with its sign (PostgreSQL: a driver error)
        return "bad_request", f"nonce longer than {NONCE_MAX_BITS} bits (or {NONCE_MAX_BITS - 4} when negative)"
    return _Checked(req["message_imprint"].dump(), name, imprint, nonce, bool(req["cert_req"].native))


@functools.lru_cache(maxsize=8)
def _cert_parts(cert_der: bytes) -> tuple[bytes, bytes]:
    """(ESS signingCertificateV2 attribute, TSA GeneralName) DER for one TSA certificate.

    Built once per certificate: asn1crypto re-encodes names on every build, which cost
    more than signing the token. ESS (RFC 5035) carries the SM3 hash of the certificate.
    """
    cert = x509.Certificate.load(cert_der)
    cert_id = tsp.ESSCertIDv2({
        "hash_algorithm": {"algorithm": "sm3"},
        "cert_hash": sm3(cert_der),
        "issuer_serial": {"issuer": [x509.GeneralName(name="directory_name", value=cert.issuer)],
                          "serial_number": cert.serial_number},
    })
    ess = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": [cert_id]}]})
    return ess.dump(), x509.GeneralName(name="directory_name", value=cert.subject).dump()


@functools.lru_cache(maxsize=8)
def _oid_der(dotted: str) -> bytes:
    return core.ObjectIdentifier(dotted).dump()


def _tst_info(checked: _Checked, serial: int, gen_time: _dt.datetime, config: TsaConfig,
              tsa_name_der: bytes) -> bytes:
    """DER TSTInfo (RFC 3161 §2.4.2) in the field order of tsp.TSTInfo, written by hand: it is
    built for every token, and asn1crypto's build cost a quarter of the token's making.
    tests/test_tsa_fast.py checks that asn1crypto re-encodes it byte for byte."""
    return der.encode(0x30, b"".join([
        b"\x02\x01\x01",                                     # version v1
        _oid_der(config.policy),
        checked.message_imprint,                              # the request's MessageImprint as sent
        der.integer(serial),
        der.encode(0x18, gen_time.strftime("%Y%m%d%H%M%SZ").encode("ascii")),  # UTC, whole seconds
        der.encode(0x30, der.integer(config.accuracy_seconds)),  # Accuracy { seconds }
        b"" if checked.nonce is None else der.integer(checked.nonce),
        der.encode(0xA0, tsa_name_der),                       # tsa [0] EXPLICIT GeneralName
    ]))


@functools.lru_cache(maxsize=8)
def _digest_algorithm_der(name: str) -> bytes:
    return algos.DigestAlgorithm({"algorithm": name}).dump()


def _message_imprint(hash_alg: str, imprint: bytes) -> bytes:
    """DER MessageImprint, as tsp.MessageImprint writes it (parameters absent)."""
    return der.encode(0x30, _digest_algorithm_der(hash_alg) + der.encode(0x04, imprint))


def timestamp(
    home: Any,
    keystore: Any,
    request_der: bytes,
    *,
    actor: str,
    tsa: Any | None = None,
    config: TsaConfig | None = None,
    sessions: Any | None = None,
) -> bytes:
    """A DER TimeStampResp for a DER TimeStampReq: granted with a token, or a rejection.

    ``tsa`` (anything with ``key_ref``, ``certificate``, ``chain``) defaults to the
    region's TSA service certificate (``ca.service.service_certificate(home, "tsa")``).
    Every token is logged in ``tsa_tokens`` with an audit record ``tsa.timestamp``.

    One short transaction per token where the key store can sign in it: the TSA key's use
    record, the token row and the tsa.timestamp record commit together. Otherwise, and to
    record a key-store refusal, the key store signs in its own transaction first.
    """
    config = config or TsaConfig()
    checked = _check_request(bytes(request_der) if isinstance(request_der, (bytes, bytearray)) else b"", config)
    if isinstance(checked, tuple):
        return _rejection(*checked)
    ident = _identity(home, tsa)
    sessions = sessions if sessions is not None else db.make_sessionmaker(home.engine)
    for attempt in range(SERIAL_ATTEMPTS):
        try:
            if getattr(keystore, "records_use_later", False):
                later: list[Any] = []
                try:
                    serial, gen_time, token = _sign(keystore, ident, checked, config, actor=actor, later=later)
                    with db.transaction(sessions) as s:
                        for write in later:
                            write(s)
                        _record(s, checked, config, serial, gen_time, token, actor=actor, attempt=attempt)
                    return _granted(token)
                except (KeyStoreError, GMError):
                    pass  # nothing recorded: the key store's own transaction records the refusal
            serial, gen_time, token = _sign(keystore, ident, checked, config, actor=actor)
            with db.transaction(sessions) as s:
                _record(s, checked, config, serial, gen_time, token, actor=actor, attempt=attempt)
        except IntegrityError as exc:
            if "serial" not in str(exc.orig).lower() or attempt == SERIAL_ATTEMPTS - 1:
                raise
            continue
        return _granted(token)
    raise AssertionError("unreachable")  # pragma: no cover


_GRANTED = b"\x30\x03\x02\x01\x00"  # PKIStatusInfo { status granted(0) }


def _granted(token: bytes) -> bytes:
    """TimeStampResp { granted, token }: our own token's DER as it is (asn1crypto's build
    walked and re-encoded the whole token; tests/test_tsa_fast.py checks the bytes agree)."""
    return der.encode(0x30, _GRANTED + token)


def _sign(keystore: Any, ident: Any, checked: _Checked, config: TsaConfig, *, actor: str,
          later: list[Any] | None = None) -> tuple[str, _dt.datetime, bytes]:
    """(serial hex, genTime, token DER) of a new token; the key store leaves its record to
    ``later`` if given, else records in its own transaction."""
    cert = ident.certificate
    ess_der, tsa_name_der = _cert_parts(cert.dump())
    serial, gen_time = _serial(), _now()
    tst = _tst_info(checked, serial, gen_time, config, tsa_name_der)
    prepared = scms.prepare_signed_data(tst, cert, flavour="pkcs7", detached=False,
                                        content_type="tst_info", signing_time=gen_time,
                                        extra_signed_attrs=[cms.CMSAttribute.load(ess_der)])
    in_caller = {"later": later} if later is not None else {}
    signature = keystore.sign(ident.key_ref, prepared.to_be_signed, actor=actor, role=TSA_ROLE, **in_caller)
    token = scms.assemble_signed_data(
        prepared, signature, include_certificate=checked.cert_req,
        chain=list(ident.chain) if checked.cert_req and config.include_chain else ())
    return format(serial, "x"), gen_time, token


_INSERT_TOKEN = db.HotStatement(
    "INSERT INTO tsa_tokens (serial, policy, hash_algorithm, message_imprint, nonce, gen_time, actor, token) "
    "VALUES (:serial, :policy, :hash_algorithm, :message_imprint, :nonce, :gen_time, :actor, :token)",
    binds={"gen_time": TsaToken.__table__.c.gen_time})


def _record(s: Any, checked: _Checked, config: TsaConfig, serial: str, gen_time: _dt.datetime, token: bytes, *,
            actor: str, attempt: int) -> None:
    """The token's row and its tsa.timestamp audit record, in ``s`` (plain SQL: it runs per sealing)."""
    _INSERT_TOKEN.run(db.connection_of(s), {
        "serial": serial, "policy": config.policy, "hash_algorithm": checked.hash_algorithm,
        "message_imprint": checked.imprint.hex(), "nonce": None if checked.nonce is None else _signed_hex(checked.nonce),
        "gen_time": gen_time, "actor": actor, "token": token})
    details: dict[str, Any] = {"hash_algorithm": checked.hash_algorithm, "message_imprint": checked.imprint.hex(),
                               "policy": config.policy, "gen_time": gen_time.isoformat(),
                               "nonce": checked.nonce is not None}
    if attempt:
        details["serial_attempt"] = attempt + 1
    audit.append(s, actor=actor, action="tsa.timestamp", subject=f"tst:{serial}", details=details)


# --------------------------------------------------------------------------- clients


def _digest(name: str, data: bytes) -> bytes:
    return sm3(data) if name == "sm3" else hashlib.new(name, data).digest()


def request_for(data: bytes, *, hash_alg: str = "sm3", nonce: bool = True, cert_req: bool = True,
                policy: str | None = None) -> tuple[bytes, int | None]:
    """(DER TimeStampReq for ``data``, the nonce sent or None)."""
    if hash_alg not in _VERIFY_LENGTHS:
        raise TsaError(f"hash algorithm {hash_alg!r} not supported; choose from {sorted(_VERIFY_LENGTHS)}")
    value: dict[str, Any] = {
        "version": "v1",
        "message_imprint": {"hash_algorithm": {"algorithm": hash_alg}, "hashed_message": _digest(hash_alg, bytes(data))},
        "cert_req": cert_req,
    }
    n = _nonce() if nonce else None
    if n is not None:
        value["nonce"] = n
    if policy is not None:
        value["req_policy"] = policy
    return tsp.TimeStampReq(value).dump(), n


@frozen_record
class Response:
    status: str  # granted | granted_with_mods | rejection | ...
    fail_info: frozenset[str]
    text: str
    token: bytes | None  # DER ContentInfo


def parse_response(response_der: bytes) -> Response:
    """Status, failInfo names, status text and token of a DER TimeStampResp."""
    try:
        resp = load_strict(cms_gm.TimeStampResp, response_der, "TimeStampResp")
    except ASN1FormatError as exc:
        raise MalformedToken(str(exc)) from None
    status = resp["status"]
    fail = status["fail_info"].native
    token = resp["time_stamp_token"]
    return Response(status=status["status"].native, fail_info=frozenset(fail or ()),
                    text=" ".join(status["status_string"].native or ()),
                    token=None if isinstance(token, core.Void) else token.dump())


def _own_response(response_der: bytes) -> Response:
    """parse_response for a TimeStampResp this process has just built: the status is read,
    the token handed on as it is (not walked field by field: it is our own encoding, and
    whoever verifies the sealed document parses it strictly then)."""
    resp = cms_gm.TimeStampResp.load(response_der)
    status, token = resp["status"], resp["time_stamp_token"]
    return Response(status=status["status"].native, fail_info=frozenset(status["fail_info"].native or ()),
                    text=" ".join(status["status_string"].native or ()),
                    token=None if isinstance(token, core.Void) else token.dump())


class TokenFailure:
    NOT_GRANTED = "NOT_GRANTED"
    NOT_A_TIMESTAMP = "NOT_A_TIMESTAMP"
    IMPRINT_MISMATCH = "IMPRINT_MISMATCH"
    UNSUPPORTED_HASH = "UNSUPPORTED_HASH"
    SIGNING_CERT_MISSING = "SIGNING_CERT_MISSING"  # no ESS signingCertificate(V2) attribute
    SIGNING_CERT_MISMATCH = "SIGNING_CERT_MISMATCH"
    TSA_CERT_NOT_TIMESTAMPING = "TSA_CERT_NOT_TIMESTAMPING"
    GEN_TIME_OUTSIDE_CERT_VALIDITY = "GEN_TIME_OUTSIDE_CERT_VALIDITY"
    NONCE_MISMATCH = "NONCE_MISMATCH"


@frozen_record
class TokenCheck:
    ok: bool
    failure: str | None
    detail: str
    gen_time: _dt.datetime | None = None
    serial: int | None = None
    policy: str | None = None
    nonce: int | None = None
    accuracy: _dt.timedelta | None = None
    hash_algorithm: str | None = None
    message_imprint: bytes | None = None
    tsa_certificate: x509.Certificate | None = None
    tsa_name: x509.GeneralName | None = None
    cms: scms.CmsCheck | None = field(default=None, repr=False)


def _token_bytes(token_der: bytes) -> bytes | TokenCheck:
    # Only the outer type is looked at here (a token, or a whole TimeStampResp?): verify_cms
    # parses the token and turns whatever is malformed in it into MalformedToken. Walking
    # the whole token with its certificates here cost more than the SM2 verification.
    try:
        info = cms.ContentInfo.load(bytes(token_der), strict=True)
        if info["content_type"].native in ("signed_data", "sm2_signed_data"):
            return bytes(token_der)
    except _PARSE_ERRORS:
        pass
    response = parse_response(token_der)
    if response.token is None:
        return TokenCheck(ok=False, failure=TokenFailure.NOT_GRANTED,
                          detail=f"TimeStampResp status {response.status}: {response.text}")
    return response.token


def _accuracy(value: tsp.Accuracy) -> _dt.timedelta | None:
    if isinstance(value, core.Void):
        return None
    n = value.native
    return _dt.timedelta(seconds=n.get("seconds") or 0, milliseconds=n.get("millis") or 0,
                         microseconds=n.get("micros") or 0)


def _ess_hashes(attrs: cms.CMSAttributes) -> list[tuple[str, bytes]] | None:
    for a in attrs:
        kind = a["type"].native
        if kind == "signing_certificate_v2":
            return [(c["hash_algorithm"]["algorithm"].native, c["cert_hash"].native) for c in a["values"][0]["certs"]]
        if kind == "signing_certificate":
            return [("sha1", c["cert_hash"].native) for c in a["values"][0]["certs"]]
    return None


def verify_token(token_der: bytes, data: bytes, *, nonce: int | None = None,
                 extra_certificates: Sequence[x509.Certificate] = ()) -> TokenCheck:
    """Check a timestamp token (a SignedData ContentInfo, or a whole TimeStampResp) for
    ``data`` at the cryptographic level: SM2 signature, TSTInfo imprint, ESS binding of
    the TSA certificate, its timeStamping purpose, and the nonce if one is given.
    Raises ``MalformedToken`` only for bytes that are no token at all."""
    plain = _plain_token_check(token_der, data, nonce, extra_certificates)
    if plain is not None:
        return plain
    got = _token_bytes(token_der)
    if isinstance(got, TokenCheck):
        return got
    try:
        check = scms.verify_cms(got, extra_certificates=extra_certificates)
    except scms.MalformedCms as exc:
        raise MalformedToken(f"timestamp token: {exc}") from None
    if check.content_type != "tst_info" or check.detached:
        return TokenCheck(ok=False, failure=TokenFailure.NOT_A_TIMESTAMP, cms=check,
                          detail=f"SignedData content is {check.content_type}, not an attached TSTInfo")
    try:
        tst = load_strict(tsp.TSTInfo, check.content or b"", "TSTInfo")
    except ASN1FormatError as exc:
        raise MalformedToken(str(exc)) from None
    imprint = tst["message_imprint"]
    alg = imprint["hash_algorithm"]["algorithm"].native
    facts: dict[str, Any] = dict(
        gen_time=tst["gen_time"].native, serial=tst["serial_number"].native, policy=tst["policy"].dotted,
        nonce=tst["nonce"].native, accuracy=_accuracy(tst["accuracy"]), hash_algorithm=alg,
        message_imprint=imprint["hashed_message"].native,
        tsa_certificate=check.signers[0].certificate if check.signers else None,
        tsa_name=None if isinstance(tst["tsa"], core.Void) else tst["tsa"], cms=check)

    def fail(code: str | None, detail: str) -> TokenCheck:
        return TokenCheck(ok=False, failure=code, detail=detail, **facts)

    if not check.ok:
        return fail(check.failure, check.signers[0].detail if check.signers else "no signer")
    if alg not in _VERIFY_LENGTHS:
        return fail(TokenFailure.UNSUPPORTED_HASH, f"imprint hash algorithm {alg} is not supported")
    if _digest(alg, bytes(data)) != facts["message_imprint"]:
        return fail(TokenFailure.IMPRINT_MISMATCH, f"the {alg} digest of the data differs from the token's imprint")
    cert = facts["tsa_certificate"]
    hashes = _ess_hashes(check.signed_data["signer_infos"][0]["signed_attrs"])
    if hashes is None:
        return fail(TokenFailure.SIGNING_CERT_MISSING, "no ESS signingCertificate(V2) signed attribute")
    h_alg, h_value = hashes[0]
    if h_alg not in _VERIFY_LENGTHS or _digest(h_alg, cert.dump()) != h_value:
        return fail(TokenFailure.SIGNING_CERT_MISMATCH, "ESS certificate hash does not match the signer certificate")
    eku = cert.extended_key_usage_value
    if eku is None or "time_stamping" not in eku.native:
        return fail(TokenFailure.TSA_CERT_NOT_TIMESTAMPING, "the signer certificate lacks the timeStamping purpose")
    validity = cert["tbs_certificate"]["validity"]
    if not validity["not_before"].native <= facts["gen_time"] <= validity["not_after"].native:
        return fail(TokenFailure.GEN_TIME_OUTSIDE_CERT_VALIDITY,
                    f"genTime {facts['gen_time'].isoformat()} is outside the TSA certificate's validity")
    if nonce is not None and facts["nonce"] != nonce:
        return fail(TokenFailure.NONCE_MISMATCH, "the token's nonce is not the one sent")
    return TokenCheck(ok=True, failure=None, detail="timestamp token verifies", **facts)


# --------------------------------------------------------------------------- plain tokens, read by slicing
#
# Every timestamped document carries a token, and asn1crypto's reading of one (lazily built
# objects, then .native of the whole TSTInfo) cost more than its SM2 verification. A token of
# the plain shape our TSA writes is read by slicing its DER (seal.cms.verify_plain_attached,
# gm.asn1.der), with the parts that repeat from token to token (algorithms, the policy, the
# TSA name) judged once by asn1crypto and remembered by their bytes. Only a token that passes
# every check is answered this way; anything else goes the full way above, which reads,
# judges and names it exactly as before (tests/test_tsa_fast.py holds the two to each other).

_ESS_V2 = frozenset({"signing_certificate_v2"})
_ACCURACY_UNITS = {0x02: "seconds", 0x80: "millis", 0x81: "micros"}  # Accuracy's fields, in order


def _plain_token_check(token_der: Any, data: bytes, nonce: int | None,
                       extra_certificates: Sequence[x509.Certificate]) -> TokenCheck | None:
    """verify_token's answer for a plain token that checks out; None for any other."""
    got = scms.verify_plain_attached(token_der, extra_certificates=extra_certificates, other_attrs=_ESS_V2)
    if got is None or got.check.content_type != "tst_info":
        return None
    tst = _plain_tst_info(got.check.content or b"")
    ess = _plain_ess_hash(got.attrs["signing_certificate_v2"])
    if tst is None or ess is None:
        return None
    alg, (h_alg, h_value) = tst["hash_algorithm"], ess
    if (alg not in _VERIFY_LENGTHS or _digest(alg, bytes(data)) != tst["message_imprint"]
            or h_alg not in _VERIFY_LENGTHS or _cert_digest(h_alg, got.signer_der) != h_value
            or nonce is not None and tst["nonce"] != nonce or not _stamps_at(got.signer_der, tst["gen_time"])):
        return None
    return TokenCheck(ok=True, failure=None, detail="timestamp token verifies",
                      tsa_certificate=got.check.signers[0].certificate, cms=got.check, **tst)


# TSA certificate DER -> what verify_token reads of it: its digests for ESS, and (timeStamping
# purpose, notBefore, notAfter). One TSA's certificate rides in every token it signs.
_CERT_DIGESTS = ByBytes(256, 4 * 1024 * 1024)
_TSA_FACTS = ByBytes(256, 4 * 1024 * 1024)


def _cert_digest(alg: str, cert_der: bytes) -> bytes:
    digests = _CERT_DIGESTS.get(cert_der)
    if digests is None:
        digests = {}
        _CERT_DIGESTS.keep(cert_der, digests)
    if alg not in digests:
        digests[alg] = _digest(alg, cert_der)
    return digests[alg]


def _stamps_at(cert_der: bytes, gen_time: _dt.datetime) -> bool:
    """The certificate has the timeStamping purpose and is valid at ``gen_time`` (False also
    when a field cannot be read: verify_token then says which)."""
    facts = _TSA_FACTS.get(cert_der)
    if facts is None:
        try:
            cert = x509.Certificate.load(cert_der)
            eku = cert.extended_key_usage_value
            validity = cert["tbs_certificate"]["validity"]
            facts = (eku is not None and "time_stamping" in eku.native,
                     validity["not_before"].native, validity["not_after"].native)
        except _PARSE_ERRORS:
            return False
        _TSA_FACTS.keep(cert_der, facts)
    return facts[0] and facts[1] <= gen_time <= facts[2]


def _plain_tst_info(content: bytes) -> dict[str, Any] | None:
    """TokenCheck's facts of a TSTInfo v1 without ordering or extensions, as load_strict reads
    them; None for anything else."""
    top = der.tlv(content, 0, len(content))
    parts = der.children_of(content, top) if top and top[0] == 0x30 and top[3] == len(content) else None
    if parts is None or len(parts) < 5 or der.whole(content, parts[0]) != b"\x02\x01\x01":
        return None
    policy_at, imprint_at, serial_at, time_at, rest = parts[1], parts[2], parts[3], parts[4], parts[5:]
    accuracy_at = rest.pop(0) if rest and rest[0][0] == 0x30 else None
    nonce_at = rest.pop(0) if rest and rest[0][0] == 0x02 else None
    tsa_at = rest.pop(0) if rest and rest[0][0] == 0xA0 else None
    imprint = der.children_of(content, imprint_at, (0x30, 0x04)) if imprint_at[0] == 0x30 else None
    policy = scms.small_native(core.ObjectIdentifier, der.whole(content, policy_at)) if policy_at[0] == 0x06 else None
    serial = der.integer_value(content, serial_at)
    gen_time = der.time_value(content, time_at) if time_at[0] == 0x18 else None
    accuracy = _plain_accuracy(content, accuracy_at)
    nonce = der.integer_value(content, nonce_at) if nonce_at else None
    tsa_name = _plain_tsa_name(content, tsa_at) if tsa_at else None
    if (rest or imprint is None or policy is None or serial is None or gen_time is None or accuracy is False
            or nonce_at and nonce is None or tsa_at and tsa_name is None):
        return None
    alg = scms.name_of(algos.DigestAlgorithm, der.whole(content, imprint[0]))
    if alg is None:
        return None
    return dict(gen_time=gen_time, serial=serial, policy=policy, nonce=nonce, accuracy=accuracy,
                hash_algorithm=alg, message_imprint=der.contents(content, imprint[1]), tsa_name=tsa_name)


def _plain_accuracy(content: bytes, at: der.TLV | None) -> _dt.timedelta | None | bool:
    """The Accuracy as a timedelta, None when absent, False when not plain."""
    if at is None:
        return None
    items = der.children_of(content, at)
    if items is None:
        return False
    tags = [item[0] for item in items]
    if any(tag not in _ACCURACY_UNITS for tag in tags) or tags != sorted(set(tags)):  # 0x02 < 0x80 < 0x81
        return False
    units: dict[str, int] = {}
    for item in items:
        value = der.integer_value(content, (0x02, *item[1:]))  # [0] and [1] are IMPLICIT INTEGERs
        if value is None:
            return False
        units[_ACCURACY_UNITS[item[0]]] = value
    try:
        return _dt.timedelta(seconds=units.get("seconds", 0), milliseconds=units.get("millis", 0),
                             microseconds=units.get("micros", 0))
    except OverflowError:
        return False


# Per thread: tsa [0] DER -> its GeneralName read completely (None: unreadable), one object
# per thread as seal.cms keeps certificates (asn1crypto parses lazily and unlocked).
_THREAD = threading.local()


def _plain_tsa_name(content: bytes, at: der.TLV) -> x509.GeneralName | None:
    """tsa [0] EXPLICIT GeneralName as TSTInfo's field reads it (of up to 2 KiB)."""
    tsa_der = der.whole(content, at)
    names = getattr(_THREAD, "tsa_names", None)
    if names is None:
        names = _THREAD.tsa_names = ByBytes(64, 256 * 1024)
    if tsa_der not in names:
        try:
            name = x509.GeneralName.load(tsa_der, strict=True, explicit=0)
            name.native  # noqa: B018  read it all now, as load_strict does
        except _PARSE_ERRORS:
            name = None
        names.keep(tsa_der, name)
    return names.get(tsa_der)


def _plain_ess_hash(value: bytes) -> tuple[str, bytes] | None:
    """(hash algorithm, certificate hash) of the first ESSCertIDv2 of a SigningCertificateV2
    without policies whose every ESSCertIDv2 names its hash algorithm; None otherwise."""
    top = der.tlv(value, 0, len(value))
    certs_at = der.children_of(value, top, (0x30,)) if top and top[0] == 0x30 and top[3] == len(value) else None
    ids = der.children_of(value, certs_at[0]) if certs_at else None
    found: list[tuple[str, bytes]] = []
    for at in ids or []:
        parts = der.children_of(value, at) if at[0] == 0x30 else None
        tags = [p[0] for p in parts] if parts else []
        alg = scms.name_of(algos.DigestAlgorithm, der.whole(value, parts[0])) if tags[:2] == [0x30, 0x04] else None
        if alg is None or tags not in ([0x30, 0x04], [0x30, 0x04, 0x30]):
            return None
        found.append((alg, der.contents(value, parts[1])))
    return found[0] if found else None


def tsa_callable(home: Any, keystore: Any, *, actor: str = "tsa-client", tsa: Any | None = None,
                 config: TsaConfig | None = None) -> TsaClient:
    """``f(signature_value) -> token DER`` stamping SM3(signature_value) with this region's
    TSA in process; raises ``TsaRejected`` if the TSA refuses."""
    return TsaClient(home, keystore, actor=actor, tsa=tsa, config=config)


class TsaClient:
    """The region's TSA as a ``f(signature_value) -> token DER`` for seal/ (see tsa_callable).

    ``leaving_records(later, signature_value)`` (when ``records_later``) makes
    the token now and leaves its records to the caller's write transaction: a timestamped
    sealing then commits its key use, token and records once. A refusal raises unrecorded
    and the caller calls ``f`` instead, as with ``keystore.sign(..., later=)``."""

    def __init__(self, home: Any, keystore: Any, *, actor: str, tsa: Any | None, config: TsaConfig | None) -> None:
        self.home, self.keystore, self.actor, self.tsa = home, keystore, actor, tsa
        self.config = config or TsaConfig()

    @property
    def records_later(self) -> bool:
        return bool(getattr(self.keystore, "records_use_later", False))

    def __call__(self, signature_value: bytes) -> bytes:
        request, _ = request_for(bytes(signature_value), hash_alg="sm3", nonce=True, cert_req=True)
        response = _own_response(timestamp(self.home, self.keystore, request, actor=self.actor, tsa=self.tsa,
                                           config=self.config))
        if response.token is None:
            raise TsaRejected(f"timestamp refused ({response.status}, {sorted(response.fail_info)}): {response.text}")
        return response.token

    def leaving_records(self, later: list[Any], signature_value: bytes) -> bytes:
        """A token made now; the TSA key's use record, the token row and tsa.timestamp are
        appended to ``later`` for the caller's write transaction (``keystore.sign(later=)``)."""
        checked = self._own_request(signature_value)
        serial, gen_time, token = _sign(self.keystore, _identity(self.home, self.tsa), checked, self.config,
                                        actor=self.actor, later=later)
        later.append(lambda s: _record(s, checked, self.config, serial, gen_time, token, actor=self.actor, attempt=0))
        return token

    def _own_request(self, signature_value: bytes) -> _Checked:
        # What request_for would ask and _check_request accept, without encoding and parsing
        # a TimeStampReq in between (this process is both client and TSA).
        if "sm3" not in self.config.hash_algorithms:
            raise TsaRejected("timestamp refused (bad_alg): this TSA does not accept SM3 imprints")
        imprint = sm3(bytes(signature_value))
        return _Checked(_message_imprint("sm3", imprint), "sm3", imprint, _nonce(), cert_req=True)
