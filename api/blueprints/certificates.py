"""Certificates: issue (with Idempotency-Key), read, list, revoke, suspend, resume, renew, rekey.

Thin views over ca.service: read the request, check the role, one service call, render.
Serials are lowercase hex (``ca.service.normalise_serial`` accepts any case, ``:`` and 0x).
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from api import openapi
from api.auth import actor, requires
from api.context import services
from api.idempotency import IDEMPOTENCY_HEADER, InProgress, KeyReused, run_once
from api.problems import Problem, register
from api.request import field, json_object
from ca import service
from ca.certificate import load_certificate, to_pem
from ca.crl import REASON_CODES
from ca.search import search_certificates
from store.models.ca import CERT_STATUSES, IssuedCertificate

bp = Blueprint("certificates", __name__, url_prefix="/api/v1/certificates")

register(KeyReused, 409, "idempotency-key-reused", "Idempotency key reused with a different request")
register(InProgress, 409, "idempotency-in-progress", "A request with this idempotency key is still running")

MAX_PER_PAGE = 200
_REVOKE_REASONS = tuple(r for r in REASON_CODES if r not in ("certificateHold", "removeFromCRL"))

CERTIFICATE = openapi.schema("Certificate", {
    "type": "object",
    "required": ["serial", "profile", "subject", "status", "not_before", "not_after", "issued_at"],
    "properties": {
        "serial": {"type": "string", "pattern": "^[0-9a-f]+$"},
        "profile": {"type": "string"},
        "subject": {"type": "string"},
        "status": {"type": "string", "enum": list(CERT_STATUSES)},
        "reason": {"type": ["string", "null"]},
        "revoked_at": {"type": ["string", "null"], "format": "date-time"},
        "invalidity_date": {"type": ["string", "null"], "format": "date-time"},
        "not_before": {"type": "string", "format": "date-time"},
        "not_after": {"type": "string", "format": "date-time"},
        "issued_at": {"type": "string", "format": "date-time"},
        "pem": {"type": "string"},
        "links": {"type": "object"},
    },
})
ISSUE_REQUEST = openapi.schema("IssueRequest", {
    "type": "object", "required": ["profile", "csr"],
    "properties": {
        "profile": {"type": "string", "examples": ["personal", "organization", "device"]},
        "csr": {"type": "string", "description": "PKCS#10 request, PEM, SM2 with SM3"},
        "subject": {"type": "string", "description": "C=CN,O=...,CN=... (default: the CSR's subject)"},
        "id_number": {"type": "string", "description": "18-digit citizen ID number"},
        "credit_code": {"type": "string", "description": "unified social credit code or organization code"},
    },
})
REVOKE_REQUEST = openapi.schema("RevokeRequest", {
    "type": "object",
    "properties": {"reason": {"type": "string", "enum": list(_REVOKE_REASONS)},
                   "invalidity_date": {"type": "string", "format": "date-time"}},
})
PAGE = openapi.schema("CertificatePage", {
    "type": "object", "required": ["items", "page", "per_page", "total"],
    "properties": {"items": {"type": "array", "items": openapi.ref("Certificate")},
                   "page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"},
                   "next": {"type": ["string", "null"]}},
})
_SERIAL = [{"name": "serial", "in": "path", "required": True, "schema": {"type": "string"},
            "description": "serial number in hex"}]


def _iso(moment: _dt.datetime | None) -> str | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=_dt.timezone.utc)
    return moment.isoformat().replace("+00:00", "Z")


def _render(row: IssuedCertificate, *, pem: bool = True) -> dict[str, Any]:
    out: dict[str, Any] = {
        "serial": row.serial, "profile": row.profile, "subject": row.subject, "status": row.status,
        "reason": row.reason, "revoked_at": _iso(row.revoked_at), "invalidity_date": _iso(row.invalidity_date),
        "not_before": _iso(row.not_before), "not_after": _iso(row.not_after), "issued_at": _iso(row.issued_at),
        "links": {"self": url_for("certificates.get_certificate", serial=row.serial)},
    }
    if pem:
        out["pem"] = to_pem(load_certificate(bytes(row.der))).decode("ascii")
    return out


def _one(serial: str) -> dict[str, Any]:
    s = services()
    return _render(service.certificate_status(s.home, serial, sessions=s.sessions))


@bp.post("")
@requires("admin", "ra_operator")
@openapi.operation(summary="Issue a certificate from a PKCS#10 CSR", tags=["certificates"],
                   parameters=[IDEMPOTENCY_HEADER],
                   request=openapi.json_body(ISSUE_REQUEST),
                   responses={201: openapi.json_body(CERTIFICATE, "issued"),
                              200: openapi.json_body(CERTIFICATE, "the first result of this Idempotency-Key")},
                   problems=["bad-json", "invalid-request", "unsupported-media-type", "invalid-csr",
                             "invalid-identifier", "profile-violation", "ca-error", "idempotency-key-reused",
                             "idempotency-in-progress", "payload-too-large"])
def issue() -> tuple[Response, int]:
    data = json_object()
    profile = field(data, "profile", required=True)
    csr = field(data, "csr", required=True)
    subject, id_number, credit_code = (field(data, n) for n in ("subject", "id_number", "credit_code"))
    unknown = sorted(set(data) - {"profile", "csr", "subject", "id_number", "credit_code"})
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")
    s = services()

    def create() -> dict[str, Any]:
        serial, _ = service.issue_certificate(
            s.home, s.keystore, profile=profile, csr_pem=csr.encode("utf-8"), subject=subject,
            id_number=id_number, credit_code=credit_code, actor=actor(), sessions=s.sessions)
        return {"serial": serial}

    result, repeated = run_once(create)
    serial = result["serial"]
    body = _one(serial)
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 200 if repeated else 201


@bp.get("/<serial>")
@requires("admin", "ra_operator", "auditor")
@openapi.operation(summary="A certificate: status and PEM", tags=["certificates"], parameters=_SERIAL,
                   responses={200: openapi.json_body(CERTIFICATE)}, problems=["unknown-serial"])
def get_certificate(serial: str) -> Response:
    return jsonify(_one(serial))


def _int_arg(name: str, default: int, low: int, high: int) -> int:
    raw = request.args.get(name)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise Problem(400, "invalid-request", f"query parameter {name} must be an integer, not {raw!r}") from None
    if not low <= value <= high:
        raise Problem(400, "invalid-request", f"query parameter {name} must be between {low} and {high}")
    return value


@bp.get("")
@requires("admin", "ra_operator", "auditor")
@openapi.operation(
    summary="List or search certificates (newest first), paginated", tags=["certificates"],
    parameters=[{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_PER_PAGE}},
                {"name": "profile", "in": "query", "schema": {"type": "string"}},
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(CERT_STATUSES)}},
                {"name": "q", "in": "query", "schema": {"type": "string", "maxLength": 200},
                 "description": "a case-insensitive fragment of the subject DN or of the serial (hex)"}],
    responses={200: openapi.json_body(PAGE)}, problems=["invalid-request"])
def list_certificates() -> Response:
    page = _int_arg("page", 1, 1, 10**9)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    status = request.args.get("status")
    if status is not None and status not in CERT_STATUSES:
        raise Problem(400, "invalid-request", f"status must be one of {', '.join(CERT_STATUSES)}")
    text = request.args.get("q")
    if text is not None and len(text) > 200:
        raise Problem(400, "invalid-request", "q is longer than 200 characters")
    found = search_certificates(services().home, profile=request.args.get("profile") or None, status=status,
                                text=text or None, page=page, per_page=per_page, sessions=services().sessions)
    nxt = None
    if found.has_next:
        args = {k: v for k, v in request.args.items() if k not in ("page",)}
        nxt = url_for("certificates.list_certificates", page=page + 1, **args)
    return jsonify({"items": [_render(r, pem=False) for r in found.rows], "page": page, "per_page": per_page,
                    "total": found.total, "next": nxt})


@bp.post("/<serial>/revoke")
@requires("admin", "ra_operator")
@openapi.operation(summary="Revoke a certificate (final)", tags=["certificates"], parameters=_SERIAL,
                   request=openapi.json_body(REVOKE_REQUEST), responses={200: openapi.json_body(CERTIFICATE)},
                   problems=["bad-json", "invalid-request", "unsupported-media-type", "unknown-serial",
                             "already-revoked", "ca-error"])
def revoke(serial: str) -> Response:
    data = json_object()
    reason = field(data, "reason", choices=_REVOKE_REASONS) or "unspecified"
    when = field(data, "invalidity_date")
    invalidity = None
    if when is not None:
        try:
            invalidity = _dt.datetime.fromisoformat(when.replace("Z", "+00:00"))
        except ValueError:
            raise Problem(400, "invalid-request", f"invalidity_date is not an ISO 8601 time: {when!r}") from None
        if invalidity.tzinfo is None:
            raise Problem(400, "invalid-request", "invalidity_date needs a time zone (e.g. 2026-01-01T00:00:00Z)")
    unknown = sorted(set(data) - {"reason", "invalidity_date"})
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")
    s = services()
    row = service.revoke(s.home, serial, reason, invalidity_date=invalidity, actor=actor(), sessions=s.sessions)
    return jsonify(_render(row))


def _lifecycle(fn: Any, serial: str) -> Response:
    s = services()
    return jsonify(_render(fn(s.home, serial, actor=actor(), sessions=s.sessions)))


@bp.post("/<serial>/suspend")
@requires("admin", "ra_operator")
@openapi.operation(summary="Suspend a certificate (certificateHold)", tags=["certificates"], parameters=_SERIAL,
                   responses={200: openapi.json_body(CERTIFICATE)},
                   problems=["unknown-serial", "already-revoked", "invalid-transition"])
def suspend(serial: str) -> Response:
    return _lifecycle(service.suspend, serial)


@bp.post("/<serial>/resume")
@requires("admin", "ra_operator")
@openapi.operation(summary="Resume a suspended certificate", tags=["certificates"], parameters=_SERIAL,
                   responses={200: openapi.json_body(CERTIFICATE)},
                   problems=["unknown-serial", "already-revoked", "invalid-transition"])
def resume(serial: str) -> Response:
    return _lifecycle(service.resume, serial)


def _days(data: dict[str, Any]) -> int | None:
    days = field(data, "days", kind=int)
    if days is not None and not 1 <= days <= 36500:
        raise Problem(400, "invalid-request", "days must be between 1 and 36500")
    return days


def _reissued(serial: str) -> tuple[Response, int]:
    body = _one(serial)
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 201


@bp.post("/<serial>/renew")
@requires("admin", "ra_operator")
@openapi.operation(summary="Renew: a new certificate for the same key and content (new serial and validity)",
                   tags=["certificates"], parameters=_SERIAL,
                   request={"required": False, "content": {"application/json": {"schema": {
                       "type": "object", "properties": {"days": {"type": "integer", "minimum": 1,
                                                                 "maximum": 36500}}}}}},
                   responses={201: openapi.json_body(CERTIFICATE, "the new certificate")},
                   problems=["bad-json", "invalid-request", "unsupported-media-type", "unknown-serial",
                             "already-revoked", "invalid-transition", "ca-error", "invalid-certificate-field"])
def renew(serial: str) -> tuple[Response, int]:
    from ca import renewal

    data = json_object() if request.get_data(cache=True) else {}
    unknown = sorted(set(data) - {"days"})
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")
    s = services()
    new_serial, _ = renewal.renew(s.home, s.keystore, service.normalise_serial(serial), days=_days(data),
                                  actor=actor(), sessions=s.sessions)
    return _reissued(new_serial)


@bp.post("/<serial>/rekey")
@requires("admin", "ra_operator")
@openapi.operation(summary="Rekey: a new certificate for the CSR's new key; the old one is revoked (superseded)",
                   tags=["certificates"], parameters=_SERIAL,
                   request=openapi.json_body({"type": "object", "required": ["csr"], "properties": {
                       "csr": {"type": "string", "description": "PKCS#10 request for the new key, PEM"},
                       "uid": {"type": "string", "description": "SM2 signer ID of the CSR"},
                       "days": {"type": "integer", "minimum": 1, "maximum": 36500}}}),
                   responses={201: openapi.json_body(CERTIFICATE, "the new certificate")},
                   problems=["bad-json", "invalid-request", "unsupported-media-type", "unknown-serial",
                             "already-revoked", "invalid-transition", "invalid-csr", "ca-error",
                             "invalid-certificate-field"])
def rekey(serial: str) -> tuple[Response, int]:
    from ca import renewal
    from ca.csr import DEFAULT_UID

    data = json_object()
    unknown = sorted(set(data) - {"csr", "uid", "days"})
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")
    csr = field(data, "csr", required=True)
    uid = field(data, "uid")
    if uid is not None and not 1 <= len(uid.encode("utf-8")) <= 64:
        raise Problem(400, "invalid-request", "uid must be 1-64 bytes")
    s = services()
    new_serial, _ = renewal.rekey(s.home, s.keystore, service.normalise_serial(serial), csr_pem=csr.encode("utf-8"),
                                  uid=uid.encode("utf-8") if uid is not None else DEFAULT_UID, days=_days(data),
                                  actor=actor(), sessions=s.sessions)
    return _reissued(new_serial)


CERT_STATUS = openapi.schema("CertificateStatus", {
    "type": "object", "required": ["serial", "status", "not_before", "not_after"],
    "properties": {"serial": {"type": "string"}, "profile": {"type": "string"},
                   "status": {"type": "string", "enum": list(CERT_STATUSES)},
                   "reason": {"type": ["string", "null"]},
                   "revoked_at": {"type": ["string", "null"], "format": "date-time"},
                   "invalidity_date": {"type": ["string", "null"], "format": "date-time"},
                   "not_before": {"type": "string", "format": "date-time"},
                   "not_after": {"type": "string", "format": "date-time"}}})


@bp.get("/<serial>/status")
@openapi.operation(summary="A certificate's status (public, like OCSP; no subject: it can name a person)",
                   tags=["certificates"], parameters=_SERIAL, responses={200: openapi.json_body(CERT_STATUS)},
                   problems=["unknown-serial"])
def certificate_status(serial: str) -> Response:
    s = services()
    row = service.certificate_status(s.home, serial, sessions=s.sessions)
    return jsonify({"serial": row.serial, "profile": row.profile, "status": row.status, "reason": row.reason,
                    "revoked_at": _iso(row.revoked_at), "invalidity_date": _iso(row.invalidity_date),
                    "not_before": _iso(row.not_before), "not_after": _iso(row.not_after)})
