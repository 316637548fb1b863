"""Certificate applications and the review / approval workflow (ca/workflow.py) over HTTP.

    POST /api/v1/applications                    submit (the token is recorded as the operator)
    GET  /api/v1/applications?status=&page=      list, oldest first, paginated
    GET  /api/v1/applications/<id>               one application
    POST /api/v1/applications/<id>/review        submitted -> reviewed
    POST /api/v1/applications/<id>/approve       reviewed -> issued (answers the certificate)
    POST /api/v1/applications/<id>/reject        submitted | reviewed -> rejected, with a reason

The workflow's actor is the token (``api:<role>:<token id>``), so separation of duties for
organization certificates means: approved with another token than the one that submitted;
the same token gets 403 ``separation-of-duties``.
"""
from __future__ import annotations

from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from api import openapi
from api.auth import actor, requires
from api.blueprints.certificates import CERTIFICATE, _int_arg, _iso, _one
from api.context import services
from api.idempotency import IDEMPOTENCY_HEADER, run_once
from api.problems import Problem
from api.request import field, json_object
from ca import workflow
from ca.errors import UnknownApplication
from gm.digits import ascii_whole_number
from store.models.ca_workflow import APPLICATION_STATUSES, CertificateApplication
from store.text import column_length

bp = Blueprint("applications", __name__, url_prefix="/api/v1/applications")

MAX_PER_PAGE = 200
MAX_ID = workflow.MAX_APPLICATION_ID
_SAN_KINDS = ("dns", "ip", "email")

APPLICATION = openapi.schema("CertificateApplication", {
    "type": "object",
    "required": ["id", "profile", "subject", "status", "operator", "created_at", "updated_at"],
    "properties": {
        "id": {"type": "integer"},
        "profile": {"type": "string"},
        "subject": {"type": "string"},
        "status": {"type": "string", "enum": list(APPLICATION_STATUSES)},
        "operator": {"type": "string", "description": "who submitted it (api:<role>:<token id>, or a CLI actor)"},
        "reviewer": {"type": ["string", "null"]},
        "decided_by": {"type": ["string", "null"]},
        "rejection_reason": {"type": ["string", "null"]},
        "serial": {"type": ["string", "null"]},
        "created_at": {"type": "string", "format": "date-time"},
        "updated_at": {"type": "string", "format": "date-time"},
        "links": {"type": "object"},
    },
})
APPLY_REQUEST = openapi.schema("ApplicationRequest", {
    "type": "object", "required": ["profile", "csr"],
    "properties": {
        "profile": {"type": "string", "examples": ["personal", "organization", "device"]},
        "csr": {"type": "string", "description": "PKCS#10 request, PEM, SM2 with SM3"},
        "subject": {"type": "string", "maxLength": column_length(CertificateApplication.subject),
                    "description": "C=CN,O=...,CN=... (default: the CSR's subject)"},
        "id_number": {"type": "string"},
        "credit_code": {"type": "string"},
        "san": {"type": "array", "items": {"type": "string", "description": "dns:NAME, ip:ADDR or email:ADDR"}},
        "uid": {"type": "string", "description": "SM2 signer ID of the CSR (default 1234567812345678)"},
        "days": {"type": "integer", "minimum": 1, "maximum": 36500},
    },
})
APP_PAGE = openapi.schema("ApplicationPage", {
    "type": "object", "required": ["items", "page", "per_page", "total"],
    "properties": {"items": {"type": "array", "items": openapi.ref("CertificateApplication")},
                   "page": {"type": "integer"}, "per_page": {"type": "integer"}, "total": {"type": "integer"},
                   "next": {"type": ["string", "null"]}},
})
_ID = [{"name": "application_id", "in": "path", "required": True,
        "schema": {"type": "integer", "minimum": 1, "maximum": MAX_ID}}]
_BODY_PROBLEMS = ["bad-json", "invalid-request", "unsupported-media-type"]


def _render(info: workflow.ApplicationInfo) -> dict[str, Any]:
    links = {"self": url_for("applications.get_application", application_id=info.id)}
    if info.serial:
        links["certificate"] = url_for("certificates.get_certificate", serial=info.serial)
    return {"id": info.id, "profile": info.profile, "subject": info.subject, "status": info.status,
            "operator": info.operator, "reviewer": info.reviewer, "decided_by": info.decided_by,
            "rejection_reason": info.rejection_reason, "serial": info.serial,
            "created_at": _iso(info.created_at), "updated_at": _iso(info.updated_at), "links": links}


def _checked_id(application_id: str) -> int:
    """The path's id as an int; anything else (not digits, beyond the column's range) cannot exist.
    Parsed here rather than by Flask's int converter so the token is checked first (401/403)."""
    value = ascii_whole_number(application_id, len(str(MAX_ID)))
    if value is None or not 1 <= value <= MAX_ID:
        raise UnknownApplication(f"no certificate application {application_id!r}")
    return value


def _get(application_id: str | int) -> workflow.ApplicationInfo:
    s = services()
    return workflow.get_application(s.home, _checked_id(str(application_id)), sessions=s.sessions)


def _san(data: dict[str, Any]) -> list[tuple[str, str]]:
    values = field(data, "san", kind=list) or []
    out = []
    for value in values:
        kind, sep, name = value.partition(":") if isinstance(value, str) else ("", "", "")
        if not sep or kind not in _SAN_KINDS or not name:
            raise Problem(400, "invalid-request", f"san entry {value!r}: expected dns:NAME, ip:ADDRESS or email:ADDRESS")
        out.append((kind, name))
    return out


@bp.post("")
@requires("admin", "ra_operator")
@openapi.operation(
    summary="Submit a certificate application (validated now; issued only when approved)", tags=["applications"],
    parameters=[IDEMPOTENCY_HEADER], request=openapi.json_body(APPLY_REQUEST),
    responses={201: openapi.json_body(APPLICATION, "submitted"),
               200: openapi.json_body(APPLICATION, "the first result of this Idempotency-Key")},
    problems=[*_BODY_PROBLEMS, "invalid-csr", "invalid-identifier", "profile-violation", "ca-error",
              "invalid-certificate-field", "idempotency-key-reused", "idempotency-in-progress",
              "payload-too-large"])
def submit() -> tuple[Response, int]:
    data = json_object()
    unknown = sorted(set(data) - {"profile", "csr", "subject", "id_number", "credit_code", "san", "uid", "days"})
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")
    profile, csr = field(data, "profile", required=True), field(data, "csr", required=True)
    days = field(data, "days", kind=int)
    if days is not None and not 1 <= days <= 36500:
        raise Problem(400, "invalid-request", "days must be between 1 and 36500")
    uid = field(data, "uid")
    if uid is not None and not 1 <= len(uid.encode("utf-8")) <= 64:
        raise Problem(400, "invalid-request", "uid must be 1-64 bytes")
    san = _san(data)
    s = services()

    def create() -> dict[str, Any]:
        extra = {"uid": uid.encode("utf-8")} if uid is not None else {}
        app_id = workflow.submit_application(
            s.home, profile=profile, csr_pem=csr.encode("utf-8"), subject=field(data, "subject"),
            id_number=field(data, "id_number"), credit_code=field(data, "credit_code"), san=san, days=days,
            operator=actor(), sessions=s.sessions, **extra)
        return {"id": app_id}

    result, repeated = run_once(create)
    body = _render(_get(result["id"]))
    response = jsonify(body)
    response.headers["Location"] = body["links"]["self"]
    return response, 200 if repeated else 201


@bp.get("")
@requires("admin", "ra_operator", "auditor")
@openapi.operation(
    summary="List certificate applications (oldest first), paginated", tags=["applications"],
    parameters=[{"name": "status", "in": "query", "schema": {"type": "string", "enum": list(APPLICATION_STATUSES)}},
                {"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_PER_PAGE}}],
    responses={200: openapi.json_body(APP_PAGE)}, problems=["invalid-request"])
def list_applications() -> Response:
    page = _int_arg("page", 1, 1, 10**9)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    status = request.args.get("status")
    if status is not None and status not in APPLICATION_STATUSES:
        raise Problem(400, "invalid-request", f"status must be one of {', '.join(APPLICATION_STATUSES)}")
    s = services()
    found = workflow.list_applications(s.home, status=status, offset=(page - 1) * per_page, limit=per_page,
                                       sessions=s.sessions)
    nxt = None
    if page * per_page < found.total:
        nxt = url_for("applications.list_applications", **{**request.args, "page": page + 1})
    return jsonify({"items": [_render(i) for i in found], "page": page, "per_page": per_page,
                    "total": found.total, "next": nxt})


@bp.get("/<application_id>")
@requires("admin", "ra_operator", "auditor")
@openapi.operation(summary="One certificate application", tags=["applications"], parameters=_ID,
                   responses={200: openapi.json_body(APPLICATION)}, problems=["unknown-application"])
def get_application(application_id: str) -> Response:
    return jsonify(_render(_get(application_id)))


def _optional_body() -> dict[str, Any]:
    return json_object() if request.get_data(cache=True) else {}


@bp.post("/<application_id>/review")
@requires("admin", "ra_operator")
@openapi.operation(
    summary="Mark an application reviewed (the applicant's papers were checked)", tags=["applications"],
    parameters=_ID,
    request={"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"note": {"type": "string", "maxLength": 1000}}}}}},
    responses={200: openapi.json_body(APPLICATION)},
    problems=[*_BODY_PROBLEMS, "unknown-application", "invalid-transition", "ca-error"])
def review(application_id: str) -> Response:
    note = field(_optional_body(), "note") or ""
    if len(note) > 1000:
        raise Problem(400, "invalid-request", "note is longer than 1000 characters")
    s = services()
    info = workflow.review_application(s.home, _checked_id(application_id), reviewer=actor(), note=note,
                                       sessions=s.sessions)
    return jsonify(_render(info))


@bp.post("/<application_id>/approve")
@requires("admin", "ra_operator")
@openapi.operation(
    summary="Approve a reviewed application: issues the certificate", tags=["applications"], parameters=_ID,
    description="Organization certificates need an approver (token) other than the one that submitted the "
                "application: the same token is refused with 403 separation-of-duties (and the refusal audited).",
    responses={200: openapi.json_body({"type": "object", "required": ["application", "certificate"], "properties": {
        "application": openapi.ref("CertificateApplication"), "certificate": CERTIFICATE}})},
    problems=["unknown-application", "invalid-transition", "separation-of-duties", "ca-error",
              "profile-violation", "invalid-certificate-field"])
def approve(application_id: str) -> Response:
    s = services()
    serial, _ = workflow.approve_application(s.home, s.keystore, _checked_id(application_id), approver=actor(),
                                             sessions=s.sessions)
    return jsonify({"application": _render(_get(application_id)), "certificate": _one(serial)})


@bp.post("/<application_id>/reject")
@requires("admin", "ra_operator")
@openapi.operation(
    summary="Reject an application (the reason is what the applicant is told)", tags=["applications"],
    parameters=_ID,
    request=openapi.json_body({"type": "object", "required": ["reason"], "properties": {
        "reason": {"type": "string", "minLength": 1, "maxLength": 1000}}}),
    responses={200: openapi.json_body(APPLICATION)},
    problems=[*_BODY_PROBLEMS, "unknown-application", "invalid-transition", "ca-error"])
def reject(application_id: str) -> Response:
    reason = field(json_object(), "reason", required=True)
    if not reason.strip() or len(reason) > 1000:
        raise Problem(400, "invalid-request", "reason must be 1-1000 characters")
    s = services()
    info = workflow.reject_application(s.home, _checked_id(application_id), actor=actor(), reason=reason,
                                       sessions=s.sessions)
    return jsonify(_render(info))

