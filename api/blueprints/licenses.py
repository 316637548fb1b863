"""E-licenses over HTTP.

    GET  /api/v1/license-types              the types with their fields (public)
    GET  /api/v1/licenses                   list, newest first, paginated (agency tokens: their own)
    POST /api/v1/licenses                   issue one (agency for itself, admin); sealed OFD in base64
    POST /api/v1/licenses/batch             issue one per CSV row (multipart or JSON); a result per row
    GET  /api/v1/licenses/<id>              the public record (status, holder, dates; no full ID numbers)
    GET  /api/v1/licenses/<id>/ofd          the OFD file as issued (not public: it holds the full data)
    POST /api/v1/licenses/<id>/revoke       revoke (admin, ra_operator; an agency its own licenses)

``external_id`` makes issuance idempotent: the same id and data return the license issued before;
a batch run twice issues nothing twice (rows answer ``already issued``).
"""
from __future__ import annotations

import base64
import csv
import tempfile
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from api import openapi
from api.auth import actor, principal, require_agency, requires
from api.blueprints.certificates import _int_arg
from api.context import services
from api.idempotency import IDEMPOTENCY_HEADER, replay_once
from api.problems import Problem, register
from api.request import field, json_object, multipart
from seal.license.errors import PROBLEMS as LICENSE_PROBLEMS
from store.text import REASON_MAX

bp = Blueprint("licenses", __name__, url_prefix="/api/v1")

for _row in LICENSE_PROBLEMS:
    register(*_row)

_ID = [{"name": "license_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}]
RECORD = openapi.schema("LicenseRecord", {"type": "object", "required": ["license_id", "status"],
                                          "properties": {"license_id": {"type": "string"},
                                                         "status": {"type": "string"}}})


LICENSE_TYPE = openapi.schema("LicenseType", {
    "type": "object", "required": ["code", "name_zh", "name_en", "fields", "validity", "source"],
    "properties": {
        "code": {"type": "string"}, "name_zh": {"type": "string"}, "name_en": {"type": "string"},
        "holder_name_field": {"type": "string"}, "holder_id_field": {"type": ["string", "null"]},
        "validity": {"type": "string"}, "source": {"type": "string", "enum": ["built-in", "custom"]},
        "fields": {"type": "array", "items": {
            "type": "object", "required": ["name", "label_zh", "label_en", "type", "required"],
            "properties": {"name": {"type": "string"}, "label_zh": {"type": "string"}, "label_en": {"type": "string"},
                           "type": {"type": "string", "enum": ["text", "date", "code", "number", "enum"]},
                           "required": {"type": "boolean"}, "max_length": {"type": "integer"},
                           "pattern": {"type": "string"}, "validator": {"type": "string"},
                           "min": {"type": "number"}, "max": {"type": "number"},
                           "choices": {"type": "array", "items": {"type": "string"}}}}}}})


@bp.get("/license-types")
@openapi.operation(summary="E-license types with their fields", tags=["licenses"],
                   responses={200: openapi.json_body({"type": "array", "items": LICENSE_TYPE})})
def license_types() -> Response:
    from seal.license.types import load_types

    # public: a custom type's file path on this server is not published, only that it is custom
    return jsonify([{**t.to_dict(), "source": "built-in" if t.source == "built-in" else "custom"}
                    for t in load_types(services().home).values()])


_UNSEALED = ("issue without a seal; by default the license is sealed with the seal named in seal_id or, "
             "without one, the one seal the issuing agency may use (409 no-agency-seal when none or several)")


def _seal_to_use(type_code: str, agency: str | None, seal_id: str | None, unsealed: bool | None) -> str | None:
    from seal.license.service import seal_to_use

    return seal_to_use(services().home, type_code, agency, seal_id, bool(unsealed), sessions=services().sessions,
                       how_to_choose="name one with seal_id, or issue with unsealed: true")


def _flag(options: dict[str, Any], name: str) -> bool:
    """A boolean from JSON (true/false) or from a multipart form field ("true"/"false")."""
    value = options.get(name)
    if value is None or isinstance(value, bool):
        return bool(value)
    if value in ("true", "false"):
        return value == "true"
    raise Problem(400, "invalid-request", f"field {name!r} must be true or false")


@bp.post("/licenses")
@requires("admin", "agency")
@openapi.operation(
    summary="Issue an e-license: rendered, sealed with the agency's seal and timestamped", tags=["licenses"],
    parameters=[IDEMPOTENCY_HEADER],
    request=openapi.json_body({"type": "object", "required": ["type", "data"], "properties": {
        "type": {"type": "string"}, "data": {"type": "object"}, "seal_id": {"type": "string"},
        "unsealed": {"type": "boolean", "description": _UNSEALED},
        "external_id": {"type": "string"}, "agency": {"type": "string"}}}),
    responses={201: openapi.json_body({"type": "object", "required": ["license_id", "ofd"], "properties": {
        "license_id": {"type": "string"}, "already_issued": {"type": "boolean"},
        "ofd": {"type": "string", "contentEncoding": "base64"}}})},
    problems=["bad-json", "unsupported-media-type", "invalid-request", "invalid-license-data", "unknown-license-type",
              "unknown-seal", "seal-use-refused", "sealing-unavailable", "no-agency-seal", "external-id-conflict",
              "idempotency-key-reused", "idempotency-in-progress", "key-disabled", "key-destroyed"])
def issue() -> Response:
    return replay_once(_issue)


def _issue() -> Response:
    from seal.license.service import issue_license

    body = json_object()
    values = field(body, "data", required=True, kind=dict)
    who = principal()
    agency = who.agency if who.role == "agency" else field(body, "agency")
    if who.role == "agency" and field(body, "agency") not in (None, who.agency):
        raise Problem(403, "forbidden", f"this token is scoped to agency {who.agency!r}")
    type_code = field(body, "type", required=True)
    seal_id = _seal_to_use(type_code, agency, field(body, "seal_id"), field(body, "unsealed", kind=bool))
    issued = issue_license(services().home, services().keystore, type=type_code, data=values, agency=agency,
                           seal_id=seal_id, external_id=field(body, "external_id"), actor=actor(),
                           sessions=services().sessions)
    license_id, ofd = issued
    answer = jsonify({"license_id": license_id, "already_issued": bool(getattr(issued, "already_issued", False)),
                      "ofd": base64.b64encode(ofd).decode("ascii")})
    answer.status_code = 201
    return answer


@bp.get("/licenses/<license_id>")
@openapi.operation(summary="An e-license's public record (the QR code's data)", tags=["licenses"], parameters=_ID,
                   responses={200: openapi.json_body(RECORD)}, problems=["invalid-license-id", "unknown-license"])
def record(license_id: str) -> Response:
    from seal.license.service import public_record

    return jsonify(public_record(services().home, license_id, sessions=services().sessions))


@bp.post("/licenses/<license_id>/revoke")
@requires("admin", "ra_operator", "agency")
@openapi.operation(summary="Revoke an e-license", tags=["licenses"], parameters=_ID,
                   request=openapi.json_body({"type": "object", "required": ["reason"],
                                              "properties": {"reason": {"type": "string", "minLength": 1,
                                                                            "maxLength": REASON_MAX}}}),
                   responses={200: openapi.json_body(RECORD)},
                   problems=["bad-json", "unsupported-media-type", "invalid-request", "invalid-license-id",
                             "unknown-license", "license-already-revoked", "license-error"])
def revoke(license_id: str) -> Response:
    from seal.license.service import public_record, revoke_license

    reason = field(json_object(), "reason", required=True)
    _own(license_id)
    revoke_license(services().home, license_id, reason, actor=actor(), sessions=services().sessions)
    return jsonify(public_record(services().home, license_id, sessions=services().sessions))


MAX_PER_PAGE = 100
MAX_BATCH_ROWS = 500
LICENSE_STATUSES = ("valid", "revoked", "expired")
STATUS = openapi.schema("LicenseStatus", {
    "type": "object", "required": ["license_id", "status", "type", "holder_name", "issued_at"],
    "properties": {"license_id": {"type": "string"}, "status": {"type": "string", "enum": list(LICENSE_STATUSES)},
                   "type": {"type": "string"}, "holder_name": {"type": "string"},
                   "holder_id": {"type": ["string", "null"]}, "issued_at": {"type": "string"},
                   "valid_to": {"type": ["string", "null"]}, "revoked_at": {"type": ["string", "null"]},
                   "revoke_reason": {"type": ["string", "null"]}, "agency": {"type": "string"}}})
BATCH_RESULT = openapi.schema("LicenseBatchResult", {
    "type": "object", "required": ["counts", "rows"],
    "properties": {"counts": {"type": "object", "properties": {
        "issued": {"type": "integer"}, "already_issued": {"type": "integer"}, "error": {"type": "integer"}}},
        "rows": {"type": "array", "items": {"type": "object", "required": ["row", "external_id", "status"],
                                            "properties": {
                                                "row": {"type": "integer", "description": "data row, from 1"},
                                                "external_id": {"type": "string"},
                                                "status": {"type": "string",
                                                           "enum": ["issued", "already issued", "error"]},
                                                "license_id": {"type": "string"}, "error": {"type": "string"}}}}}})


def _own(license_id: str) -> None:
    """An agency token touches only the licenses its agency issued: another's is 403 forbidden
    (its existence and issuer are public already, through the license's public record)."""
    if principal().role != "agency":
        return
    from seal.license.service import get_license

    info = get_license(services().home, license_id, sessions=services().sessions)
    require_agency(info.agency)


@bp.get("/licenses")
@requires("admin", "ra_operator", "agency", "auditor")
@openapi.operation(
    summary="List e-licenses, newest first, paginated (an agency sees its own)", tags=["licenses"],
    parameters=[{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_PER_PAGE}},
                {"name": "type", "in": "query", "schema": {"type": "string", "maxLength": 40}},
                {"name": "holder_id", "in": "query", "schema": {"type": "string", "maxLength": 64}},
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(LICENSE_STATUSES)}}],
    responses={200: openapi.json_body({"type": "object", "required": ["items", "page", "per_page", "total"],
                                       "properties": {"items": {"type": "array", "items": STATUS},
                                                      "page": {"type": "integer"}, "per_page": {"type": "integer"},
                                                      "total": {"type": "integer"},
                                                      "next": {"type": ["string", "null"]}}})},
    problems=["invalid-request"])
def list_licenses() -> Response:
    page = _int_arg("page", 1, 1, 10**9)
    per_page = _int_arg("per_page", 25, 1, MAX_PER_PAGE)
    args = {k: request.args.get(k) for k in ("type", "holder_id", "status")}
    if args["status"] is not None and args["status"] not in LICENSE_STATUSES:
        raise Problem(400, "invalid-request", f"status must be one of {', '.join(LICENSE_STATUSES)}")
    for name, limit in (("type", 40), ("holder_id", 64)):
        if args[name] is not None and len(args[name]) > limit:
            raise Problem(400, "invalid-request", f"{name} is longer than {limit} characters")
    from seal.license.service import list_licenses as find

    who = principal()
    s = services()
    found = find(s.home, agency=who.agency if who.role == "agency" else None, type_code=args["type"] or None,
                 holder_id=args["holder_id"] or None, status=args["status"], offset=(page - 1) * per_page,
                 limit=per_page, sessions=s.sessions)
    nxt = url_for("licenses.list_licenses", **{**request.args, "page": page + 1}) \
        if page * per_page < found.total else None
    return jsonify({"items": [st.to_dict() for st in found], "page": page, "per_page": per_page,
                    "total": found.total, "next": nxt})


@bp.get("/licenses/<license_id>/ofd")
@requires("admin", "ra_operator", "agency", "auditor")
@openapi.operation(summary="An e-license's OFD file as issued (with the full field data)", tags=["licenses"],
                   parameters=_ID, responses={200: openapi.binary("application/ofd", "the OFD as issued")},
                   problems=["invalid-license-id", "unknown-license"])
def license_ofd(license_id: str) -> Response:
    from seal.license.service import get_license

    info = get_license(services().home, license_id, sessions=services().sessions)
    if principal().role == "agency":
        require_agency(info.agency)
    return Response(info.ofd, mimetype="application/ofd", headers={
        "Content-Disposition": f'attachment; filename="{info.status.license_id}.ofd"', "X-Content-SM3": info.ofd_sm3})


def _batch_input() -> tuple[str, dict[str, Any]]:
    """(CSV text, options) from multipart (file + form fields) or JSON {csv, type, ...}."""
    if request.mimetype == "multipart/form-data":
        form, files = multipart(file_parts=("file",))
        upload = files.get("file")
        if upload is None:
            raise Problem(400, "invalid-request", "multipart form needs a 'file' part holding the CSV")
        raw, options = upload.read(), dict(form)
    else:
        options = json_object()
        raw = field(options, "csv", required=True).encode("utf-8")
    try:
        return raw.decode("utf-8"), options
    except UnicodeDecodeError:
        raise Problem(400, "invalid-request", "the CSV must be UTF-8 text") from None


@bp.post("/licenses/batch")
@requires("admin", "agency")
@openapi.operation(
    summary="Issue e-licenses from a CSV (header row with external_id and the type's fields); a result per row",
    tags=["licenses"],
    description="Idempotent by external_id: a row already issued answers `already issued` with its license id "
                "and issues nothing. A failing row reports its error; the other rows go on. Fetch each "
                f"license's OFD from /api/v1/licenses/{{id}}/ofd. At most {MAX_BATCH_ROWS} rows per request.",
    request={"content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file", "type"], "properties": {
            "file": {"type": "string", "contentMediaType": "text/csv"}, "type": {"type": "string"},
            "seal_id": {"type": "string"}, "unsealed": {"type": "string", "enum": ["true", "false"]},
            "agency": {"type": "string"}}}},
        "application/json": {"schema": {"type": "object", "required": ["csv", "type"], "properties": {
            "csv": {"type": "string"}, "type": {"type": "string"}, "seal_id": {"type": "string"},
            "unsealed": {"type": "boolean", "description": _UNSEALED}, "agency": {"type": "string"}}}}}},
    responses={200: openapi.json_body(BATCH_RESULT)},
    problems=["bad-json", "unsupported-media-type", "invalid-request", "license-error", "unknown-license-type",
              "unknown-seal", "seal-use-refused", "sealing-unavailable", "no-agency-seal", "payload-too-large",
              "key-disabled", "key-destroyed"])
def batch() -> Response:
    from seal.license import batch as license_batch

    text, options = _batch_input()
    type_code = field(options, "type", required=True)
    seal_id = field(options, "seal_id") or None
    who = principal()
    if who.role == "agency" and field(options, "agency") not in (None, "", who.agency):
        raise Problem(403, "forbidden", f"this token is scoped to agency {who.agency!r}")
    agency = who.agency if who.role == "agency" else (field(options, "agency") or None)
    try:
        rows = license_batch.read_rows(text)
    except csv.Error as exc:  # e.g. a cell over the csv module's field limit; read_rows lets it through
        raise Problem(400, "invalid-request", f"the CSV cannot be read: {exc}") from None
    if len(rows) > MAX_BATCH_ROWS:
        raise Problem(400, "invalid-request", f"{len(rows)} rows: at most {MAX_BATCH_ROWS} per request")
    seal_id = _seal_to_use(type_code, agency, seal_id, _flag(options, "unsealed"))
    s = services()
    with tempfile.TemporaryDirectory(prefix="eseal-batch-") as out_dir:  # the OFDs stay in the directory
        results = license_batch.issue_batch(s.home, s.keystore, type=type_code, rows=rows, agency=agency,
                                            out_dir=out_dir, actor=actor(), seal_id=seal_id)
    counts = {"issued": 0, "already_issued": 0, "error": 0}
    for r in results:
        counts[r.status.replace(" ", "_")] += 1
    return jsonify({"counts": counts, "rows": [
        {"row": r.row, "external_id": r.external_id, "status": r.status, "license_id": r.license_id,
         "error": r.error} for r in results]})
