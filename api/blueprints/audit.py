"""The audit log over HTTP (admin and auditor, read-only).

    GET /api/v1/audit?page=&per_page=&action=&subject=   records, newest first, paginated
    GET /api/v1/audit/verify                             the hash chain, checkpoints and the
                                                         transparency log checked now in full
    POST /api/v1/audit/verify                            the same, recorded as an audit.verify
                                                         record (the console's "Verify now")

Verification is ``store.audit.verify`` and ``store.translog.verify_log`` — what
``eseal audit verify`` runs — with the region's pinned audit key (``H/audit-signer.pub.pem``)
when the home has one. A GET has no side effect; a POST appends the outcome to the chain
(store.audit_check), and the console's audit page shows the latest recorded one.
"""
from __future__ import annotations

import json
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for
from sqlalchemy import func, select

from api import openapi
from api.auth import actor, requires
from api.blueprints.certificates import _int_arg, _iso
from api.context import services
from api.problems import Problem
from store import audit_check, db
from store.models.audit import AuditRecord

bp = Blueprint("audit", __name__, url_prefix="/api/v1/audit")

MAX_PER_PAGE = 200

RECORD = openapi.schema("AuditRecord", {
    "type": "object", "required": ["seq", "recorded_at", "actor", "action", "subject", "details", "hash"],
    "properties": {"seq": {"type": "integer"}, "recorded_at": {"type": "string", "format": "date-time"},
                   "actor": {"type": "string"}, "action": {"type": "string"}, "subject": {"type": "string"},
                   "details": {"type": "object"},
                   "hash": {"type": "string", "description": "SM3 chain hash, hex"},
                   "prev_hash": {"type": "string"}}})
RECORD_PAGE = openapi.schema("AuditPage", {
    "type": "object", "required": ["items", "page", "per_page", "total"],
    "properties": {"items": {"type": "array", "items": openapi.ref("AuditRecord")}, "page": {"type": "integer"},
                   "per_page": {"type": "integer"}, "total": {"type": "integer"},
                   "next": {"type": ["string", "null"]}}})
VERIFICATION = openapi.schema("AuditVerification", {
    "type": "object", "required": ["ok", "records", "last_seq", "checkpoints", "key_pinned", "findings",
                                   "transparency_log"],
    "properties": {
        "ok": {"type": "boolean", "description": "no finding in the chain, its checkpoints or the transparency log"},
        "records": {"type": "integer"}, "last_seq": {"type": "integer"}, "checkpoints": {"type": "integer"},
        "head_hash": {"type": "string", "description": "hash of record last_seq, hex: the head this check covered"},
        "log_entries": {"type": "integer", "description": "transparency-log entries covered"},
        "recorded_seq": {"type": "integer", "description": "POST only: the seq of the audit.verify record"},
        "last_valid_checkpoint": {"type": "integer"},
        "key_pinned": {"type": "boolean", "description": "checkpoint signatures checked against the region's pinned key"},
        "findings": {"type": "array", "items": {"type": "object", "required": ["kind", "seq", "message"],
                                                "properties": {"kind": {"type": "string"}, "seq": {"type": "integer"},
                                                               "message": {"type": "string"}}}},
        "warnings": {"type": "array", "items": {"type": "string"}},
        "transparency_log": {"type": "object", "required": ["ok", "problems"], "properties": {
            "ok": {"type": "boolean"}, "problems": {"type": "array", "items": {"type": "string"}}}},
    }})


def _pinned_pem() -> bytes | None:
    pinned = services().home.audit_public_key_path
    return pinned.read_bytes() if pinned.is_file() else None


def verification() -> dict[str, Any]:
    """The audit chain and the transparency log, checked now in full (the `eseal audit verify`
    checks; its cost grows with the region's history)."""
    return audit_check.full(services().sessions, _pinned_pem())


def recorded_verification(who: str) -> dict[str, Any]:
    """A full verification, recorded as an ``audit.verify`` record by ``who``; with its seq."""
    check = verification()
    return {**check, "recorded_seq": audit_check.record(services().sessions, check, who)}


def _render(row: AuditRecord) -> dict[str, Any]:
    return {"seq": row.seq, "recorded_at": _iso(row.recorded_at), "actor": row.actor, "action": row.action,
            "subject": row.subject, "details": json.loads(row.details), "hash": bytes(row.hash).hex(),
            "prev_hash": bytes(row.prev_hash).hex()}


def _text_arg(name: str) -> str | None:
    value = request.args.get(name)
    if value is not None and not 1 <= len(value) <= 200:
        raise Problem(400, "invalid-request", f"query parameter {name} must be 1-200 characters")
    return value


@bp.get("")
@requires("admin", "auditor")
@openapi.operation(
    summary="Audit records, newest first, paginated", tags=["audit"],
    parameters=[{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_PER_PAGE}},
                {"name": "action", "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                 "description": "exact action, e.g. cert.revoke"},
                {"name": "subject", "in": "query", "schema": {"type": "string", "minLength": 1, "maxLength": 200},
                 "description": "exact subject, e.g. cert:1f2e..."}],
    responses={200: openapi.json_body(RECORD_PAGE)}, problems=["invalid-request"])
def list_records() -> Response:
    page = _int_arg("page", 1, 1, 10**9)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    action, subject = _text_arg("action"), _text_arg("subject")
    query = select(AuditRecord)
    if action:
        query = query.where(AuditRecord.action == action)
    if subject:
        query = query.where(AuditRecord.subject == subject)
    with db.transaction(services().sessions, readonly=True) as s:
        total = s.scalar(select(func.count()).select_from(query.subquery())) or 0
        rows = s.scalars(query.order_by(AuditRecord.seq.desc()).offset((page - 1) * per_page).limit(per_page)).all()
        items = [_render(r) for r in rows]
    nxt = None
    if page * per_page < total:
        nxt = url_for("audit.list_records", **{**request.args, "page": page + 1})
    return jsonify({"items": items, "page": page, "per_page": per_page, "total": total, "next": nxt})


@bp.get("/verify")
@requires("admin", "auditor")
@openapi.operation(summary="Verify the audit hash chain, its signed checkpoints and the transparency log",
                   tags=["audit"], responses={200: openapi.json_body(VERIFICATION)})
def verify() -> Response:
    return jsonify(verification())


@bp.post("/verify")
@requires("admin", "auditor")
@openapi.operation(summary="Verify the audit chain, its checkpoints and the transparency log in full, and "
                           "record the verification as an audit.verify record", tags=["audit"],
                   responses={200: openapi.json_body(VERIFICATION)})
def verify_and_record() -> Response:
    return jsonify(recorded_verification(actor()))
