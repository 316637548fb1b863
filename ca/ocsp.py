"""OCSP (RFC 6960): parse requests, build BasicOCSPResponses signed SM2-with-SM3 through
a :class:`ca.signer.Signer` (the delegated responder's key), and pre-sign answers.

* :func:`parse_request` reads a DER OCSPRequest: every CertID (hash algorithm SHA-1 or
  SM3), the nonce extension, and refuses anything malformed with
  :class:`ca.errors.MalformedOCSPRequest` (the HTTP layer answers
  :func:`error_response` ``("malformed_request")``). Request signatures are ignored
  (RFC 6960 §4.1.2: optional; we do not require them).
* :func:`build_response` answers a list of :class:`Answer` (good / revoked with time
  and reason / unknown), ResponderID byKey (SHA-1 of the responder key, as RFC 6960
  §4.2.1 fixes), the responder certificate included, the nonce echoed, thisUpdate /
  nextUpdate per answer. CertIDs are echoed exactly as requested.
* :func:`presign` builds the response for one serial without a nonce, so a hot responder
  can serve stored bytes to every nonce-less request for that serial and refresh them
  on a schedule (RFC 5019 style).
"""
from __future__ import annotations

import datetime as _dt
import hashlib
from collections.abc import Sequence

from asn1crypto import core, ocsp, x509

from ca import oids
from ca.certificate import load_certificate
from ca.crl import reason_code
from ca.errors import BuilderError, MalformedOCSPRequest, ProfileViolation
from ca.signer import Signer, point_bytes, sign_checked
from gm.asn1.der import length as der_length
from gm.records import frozen_record

__all__ = ["CertId", "OCSPRequest", "Answer", "Responder", "parse_request", "build_response", "presign",
           "error_response", "cert_id_for", "tbs_of"]

UTC = _dt.timezone.utc
_HASHES = {oids.SHA1: "sha1", oids.SM3: "sm3"}


def _digest(algorithm: str, data: bytes) -> bytes:
    if algorithm == "sha1":
        return hashlib.sha1(data).digest()
    if algorithm == "sm3":
        from gm.sm3 import sm3

        return sm3(data)
    raise BuilderError(f"CertID hash algorithm must be sha1 or sm3, not {algorithm!r}")


@frozen_record
class CertId:
    """One CertID of a request (``raw`` is echoed byte for byte in the answer)."""

    hash_algorithm: str          # "sha1" or "sm3"
    issuer_name_hash: bytes
    issuer_key_hash: bytes
    serial: int
    raw: ocsp.CertId

    def matches_issuer(self, issuer: x509.Certificate | bytes) -> bool:
        """True when this CertID names ``issuer`` (name and key hashes)."""
        cert = load_certificate(issuer)
        return (_digest(self.hash_algorithm, cert.subject.dump()) == self.issuer_name_hash
                and _digest(self.hash_algorithm, cert.public_key["public_key"].contents[1:])
                == self.issuer_key_hash)


@frozen_record
class OCSPRequest:
    cert_ids: tuple[CertId, ...]
    nonce: bytes | None


def cert_id_for(issuer: x509.Certificate | bytes, serial: int, hash_algorithm: str = "sha1") -> CertId:
    """The CertID a client would send for ``serial`` under ``issuer``."""
    cert = load_certificate(issuer)
    name_hash = _digest(hash_algorithm, cert.subject.dump())
    key_hash = _digest(hash_algorithm, cert.public_key["public_key"].contents[1:])
    raw = ocsp.CertId({
        "hash_algorithm": {"algorithm": oids.SHA1 if hash_algorithm == "sha1" else oids.SM3},
        "issuer_name_hash": name_hash,
        "issuer_key_hash": key_hash,
        "serial_number": serial,
    })
    return CertId(hash_algorithm, name_hash, key_hash, serial, raw)


def parse_request(der: bytes) -> OCSPRequest:
    """Parse a DER OCSPRequest; MalformedOCSPRequest names what is wrong."""
    if not isinstance(der, (bytes, bytearray)) or not der:
        raise MalformedOCSPRequest("OCSP request is empty")
    try:
        return _parse_request(bytes(der))
    except MalformedOCSPRequest:
        raise
    except (ValueError, TypeError, KeyError) as exc:
        raise MalformedOCSPRequest(f"OCSP request DER is malformed: {exc}") from None


def _parse_request(der: bytes) -> OCSPRequest:
    # asn1crypto parses lazily: every field below is read, so anything malformed raises
    # ValueError here and becomes MalformedOCSPRequest in parse_request.
    req = ocsp.OCSPRequest.load(der, strict=True)
    tbs = req["tbs_request"]
    if tbs["version"].native != "v1":
        raise MalformedOCSPRequest(f"OCSP request version {tbs['version'].native} is not v1")
    if len(tbs["request_list"]) == 0:
        raise MalformedOCSPRequest("OCSP request holds no CertID")
    ids = []
    for item in tbs["request_list"]:
        cid = item["req_cert"]
        alg = cid["hash_algorithm"]["algorithm"].dotted
        if alg not in _HASHES:
            raise MalformedOCSPRequest(
                f"CertID hash algorithm {cid['hash_algorithm']['algorithm'].native} ({alg}) "
                "not supported (SHA-1 or SM3)")
        name_hash, key_hash = cid["issuer_name_hash"].native, cid["issuer_key_hash"].native
        if len(name_hash) != (20 if alg == oids.SHA1 else 32) or len(key_hash) != len(name_hash):
            raise MalformedOCSPRequest("CertID hash lengths do not match the hash algorithm")
        serial = cid["serial_number"].native
        ids.append(CertId(_HASHES[alg], name_hash, key_hash, serial, cid))
    nonce = None
    for ext in tbs["request_extensions"] or []:
        if ext["extn_id"].dotted == oids.PKIX_OCSP_NONCE:
            if nonce is not None:
                raise MalformedOCSPRequest("OCSP request carries two nonces")
            try:
                value = ext["extn_value"].parsed
                nonce = value.native if isinstance(value, core.OctetString) else None
            except (ValueError, TypeError):
                nonce = None
            if nonce is None:
                # RFC 6960 §4.4.1 says OCTET STRING inside the extnValue; a few clients
                # put the raw bytes there. Echo what they sent.
                nonce = ext["extn_value"].contents
            if not 1 <= len(nonce) <= 128:
                raise MalformedOCSPRequest("OCSP nonce must be 1..128 bytes (RFC 8954: 1..32)")
        elif ext["critical"].native:
            raise MalformedOCSPRequest(
                f"OCSP request has unsupported critical extension {ext['extn_id'].dotted}")
    return OCSPRequest(tuple(ids), nonce)


@frozen_record
class Answer:
    """Status of one CertID. ``status`` is "good", "revoked" or "unknown"."""

    cert_id: CertId
    status: str
    this_update: _dt.datetime
    next_update: _dt.datetime | None = None
    revoked_at: _dt.datetime | None = None
    reason: int | str | None = None

    def __post_init__(self) -> None:
        if self.status not in ("good", "revoked", "unknown"):
            raise BuilderError(f"OCSP status must be good, revoked or unknown, not {self.status!r}")
        if self.status == "revoked" and self.revoked_at is None:
            raise BuilderError("a revoked answer needs revoked_at")
        if self.status != "revoked" and (self.revoked_at or self.reason is not None):
            raise BuilderError("revoked_at / reason only go with status revoked")
        for t in (self.this_update, self.next_update, self.revoked_at):
            if t is not None and t.tzinfo is None:
                raise BuilderError("OCSP times must be timezone-aware")
        if self.next_update is not None and self.next_update <= self.this_update:
            raise BuilderError("next_update must be later than this_update")
        reason_code(self.reason)


def _gtime(t: _dt.datetime) -> _dt.datetime:
    return t.astimezone(UTC).replace(microsecond=0)


def _single(answer: Answer) -> dict:
    if answer.status == "good":
        status = ocsp.CertStatus(name="good", value=ocsp.StatusGood())
    elif answer.status == "unknown":
        status = ocsp.CertStatus(name="unknown", value=ocsp.StatusUnknown())
    else:
        info = {"revocation_time": _gtime(answer.revoked_at)}
        code = reason_code(answer.reason)
        if code is not None:
            info["revocation_reason"] = code
        status = ocsp.CertStatus(name="revoked", value=ocsp.RevokedInfo(info))
    single = {"cert_id": answer.cert_id.raw, "cert_status": status,
              "this_update": _gtime(answer.this_update)}
    if answer.next_update is not None:
        single["next_update"] = _gtime(answer.next_update)
    return single


class Responder:
    """A delegated OCSP responder: its signer and certificate, checked and encoded once.
    A serving process keeps one and calls :meth:`respond` per request."""

    __slots__ = ("signer", "certificate", "_cert_der", "_key_hash")

    def __init__(self, signer: Signer, certificate: x509.Certificate | bytes) -> None:
        cert_der = load_certificate(certificate).dump()
        cert = x509.Certificate.load(cert_der)  # parsed, so asn1crypto never re-encodes it
        key = cert.public_key["public_key"].contents[1:]
        if point_bytes(signer.public_key) != key:
            raise ProfileViolation("the signer's key is not the responder certificate's key")
        self.signer, self.certificate = signer, cert
        self._cert_der = cert_der
        self._key_hash = hashlib.sha1(key).digest()

    def respond(self, answers: Sequence[Answer], *, nonce: bytes | None = None,
                produced_at: _dt.datetime | None = None,
                include_certificate: bool = True) -> bytes:
        """A successful OCSPResponse (DER) with a BasicOCSPResponse signed by the responder."""
        if not answers:
            raise BuilderError("an OCSP response needs at least one answer")
        data = {
            "version": "v1",
            "responder_id": ocsp.ResponderId(name="by_key", value=self._key_hash),
            "produced_at": _gtime(produced_at or _dt.datetime.now(UTC)),
            "responses": [_single(a) for a in answers],
        }
        if nonce is not None:
            data["response_extensions"] = [{"extn_id": "nonce", "critical": False,
                                            "extn_value": core.OctetString(nonce)}]
        tbs = ocsp.ResponseData(data).dump()
        signature = sign_checked(self.signer, tbs)
        return _envelope(tbs, signature, self._cert_der if include_certificate else None)


def build_response(signer: Signer, responder_certificate: x509.Certificate | bytes,
                   answers: Sequence[Answer], *, nonce: bytes | None = None,
                   produced_at: _dt.datetime | None = None,
                   include_certificate: bool = True) -> bytes:
    """One-off form of :meth:`Responder.respond`."""
    return Responder(signer, responder_certificate).respond(
        answers, nonce=nonce, produced_at=produced_at, include_certificate=include_certificate)


def _tlv(tag: bytes, content: bytes) -> bytes:
    return tag + der_length(len(content)) + content


# The two envelopes around ResponseData are assembled from bytes: putting an already
# parsed certificate into a new asn1crypto structure re-encodes its whole tree and cost
# ~80% of an answer. The test suite checks the result against asn1crypto's encoding.
_SIG_ALG = x509.SignedDigestAlgorithm({"algorithm": oids.SM2_WITH_SM3}).dump()
_BASIC_OID = core.ObjectIdentifier("1.3.6.1.5.5.7.48.1.1").dump()   # id-pkix-ocsp-basic


def _envelope(tbs: bytes, signature: bytes, cert_der: bytes | None) -> bytes:
    body = tbs + _SIG_ALG + _tlv(b"\x03", b"\x00" + signature)
    if cert_der is not None:
        body += _tlv(b"\xa0", _tlv(b"\x30", cert_der))
    basic = _tlv(b"\x30", body)
    response_bytes = _tlv(b"\x30", _BASIC_OID + _tlv(b"\x04", basic))
    return _tlv(b"\x30", b"\x0a\x01\x00" + _tlv(b"\xa0", response_bytes))


def presign(signer: Signer, responder_certificate: x509.Certificate | bytes,
            issuer: x509.Certificate | bytes, serial: int, status: str, *,
            this_update: _dt.datetime, next_update: _dt.datetime,
            revoked_at: _dt.datetime | None = None, reason: int | str | None = None,
            hash_algorithm: str = "sha1") -> bytes:
    """The nonce-less response for one serial, ready to serve as bytes until next_update
    (one per CertID hash algorithm clients use: SHA-1 by default, SM3 on request)."""
    answer = Answer(cert_id_for(issuer, serial, hash_algorithm), status, this_update,
                    next_update, revoked_at, reason)
    return build_response(signer, responder_certificate, [answer], produced_at=this_update)


def error_response(status: str) -> bytes:
    """An unsigned error OCSPResponse: malformed_request, internal_error, try_later,
    sig_required or unauthorized."""
    if status not in ("malformed_request", "internal_error", "try_later", "sig_required",
                      "unauthorized"):
        raise BuilderError(f"not an OCSP error status: {status!r}")
    return ocsp.OCSPResponse({"response_status": status}).dump()


def tbs_of(response_der: bytes) -> tuple[bytes, bytes]:
    """(DER ResponseData, DER signature) of an OCSPResponse, for signature checks."""
    basic = ocsp.OCSPResponse.load(response_der)["response_bytes"]["response"].parsed
    return basic["tbs_response_data"].dump(), basic["signature"].native
