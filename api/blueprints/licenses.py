"""E-licenses over HTTP.

    GET  /api/v1/license-types              the types with their fields (public)
    POST /api/v1/licenses                   issue one (agency for itself, admin); sealed OFD in base64
    GET  /api/v1/licenses/<id>              the public record (status, holder, dates; no full ID numbers)
    POST /api/v1/licenses/<id>/revoke       revoke (admin, ra_operator)

``external_id`` makes issuance idempotent: the same id and data return the license issued before.
"""
from __future__ import annotations

import base64

from flask import Blueprint, Response, jsonify

from api import openapi
from api.auth import actor, principal, requires
from api.context import services
from api.problems import Problem, register
from api.request import field, json_object
from seal.license.errors import PROBLEMS as LICENSE_PROBLEMS

bp = Blueprint("licenses", __name__, url_prefix="/api/v1")

for _row in LICENSE_PROBLEMS:
    register(*_row)

_ID = [{"name": "license_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}]
RECORD = openapi.schema("LicenseRecord", {"type": "object", "required": ["license_id", "status"],
                                          "properties": {"license_id": {"type": "string"},
                                                         "status": {"type": "string"}}})


@bp.get("/license-types")
@openapi.operation(summary="E-license types with their fields", tags=["licenses"],
                   responses={200: openapi.json_body({"type": "array", "items": {"type": "object"}})})
def license_types() -> Response:
    from seal.license.types import load_types

    return jsonify([t.to_dict() for t in load_types(services().home).values()])


@bp.post("/licenses")
@requires("admin", "agency")
@openapi.operation(
    summary="Issue an e-license: rendered, sealed with the agency's seal and timestamped", tags=["licenses"],
    request=openapi.json_body({"type": "object", "required": ["type", "data"], "properties": {
        "type": {"type": "string"}, "data": {"type": "object"}, "seal_id": {"type": "string"},
        "external_id": {"type": "string"}, "agency": {"type": "string"}}}),
    responses={201: openapi.json_body({"type": "object", "required": ["license_id", "ofd"], "properties": {
        "license_id": {"type": "string"}, "already_issued": {"type": "boolean"},
        "ofd": {"type": "string", "contentEncoding": "base64"}}})},
    problems=["bad-json", "unsupported-media-type", "invalid-request", "invalid-license-data", "unknown-license-type",
              "unknown-seal", "seal-use-refused", "sealing-unavailable", "external-id-conflict"])
def issue() -> tuple[Response, int]:
    from seal.license.service import issue_license

    body = json_object()
    values = field(body, "data", required=True, kind=dict)
    who = principal()
    agency = who.agency if who.role == "agency" else field(body, "agency")
    if who.role == "agency" and field(body, "agency") not in (None, who.agency):
        raise Problem(403, "forbidden", f"this token is scoped to agency {who.agency!r}")
    issued = issue_license(services().home, services().keystore, type=field(body, "type", required=True),
                           data=values, agency=agency, seal_id=field(body, "seal_id"),
                           external_id=field(body, "external_id"), actor=actor(), sessions=services().sessions)
    license_id, ofd = issued
    return jsonify({"license_id": license_id, "already_issued": bool(getattr(issued, "already_issued", False)),
                    "ofd": base64.b64encode(ofd).decode("ascii")}), 201


@bp.get("/licenses/<license_id>")
@openapi.operation(summary="An e-license's public record (the QR code's data)", tags=["licenses"], parameters=_ID,
                   responses={200: openapi.json_body(RECORD)}, problems=["invalid-license-id", "unknown-license"])
def record(license_id: str) -> Response:
    from seal.license.service import public_record

    return jsonify(public_record(services().home, license_id, sessions=services().sessions))


@bp.post("/licenses/<license_id>/revoke")
@requires("admin", "ra_operator")
@openapi.operation(summary="Revoke an e-license", tags=["licenses"], parameters=_ID,
                   request=openapi.json_body({"type": "object", "required": ["reason"],
                                              "properties": {"reason": {"type": "string", "minLength": 1}}}),
                   responses={200: openapi.json_body(RECORD)},
                   problems=["bad-json", "unsupported-media-type", "invalid-request", "invalid-license-id",
                             "unknown-license", "license-already-revoked"])
def revoke(license_id: str) -> Response:
    from seal.license.service import public_record, revoke_license

    reason = field(json_object(), "reason", required=True)
    revoke_license(services().home, license_id, reason, actor=actor(), sessions=services().sessions)
    return jsonify(public_record(services().home, license_id, sessions=services().sessions))
