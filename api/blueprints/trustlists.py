"""Trust lists over HTTP (verify/trustlist/service.py).

Public (relying parties and other regions read them):
    GET  /api/v1/trust-lists/tl         this region's newest signed TL, exactly as signed
    GET  /api/v1/trust-lists/lotl       the newest signed national LOTL (on the national operator's home)
    GET  /api/v1/trust-lists/status     what this home published and imported, with each service's status
Admin:
    POST /api/v1/trust-lists/tl         sign and publish the region's next TL
    POST /api/v1/trust-lists/lotl       sign the next LOTL (add / withdraw regions)
    POST /api/v1/trust-lists/import     import a LOTL by URL, verified with a pinned signer
    POST /api/v1/trust-lists/refresh    re-import when a list is due (or forced)

Import fetches only http(s) URLs (never a path on this host). The status summary (stored lists,
signatures re-verified) is :func:`verify.trustlist.service.trust_status`, shared with the console.
"""
from __future__ import annotations

import datetime as _dt
from typing import Any

from flask import Blueprint, Response, jsonify, request
from sqlalchemy import select

from api import openapi
from api.auth import actor, requires
from api.context import services
from api.problems import Problem
from api.request import field, json_object
from store import db
from store.models.trust import PublishedTrustList
from verify.trustlist import service as tl_service

bp = Blueprint("trustlists", __name__, url_prefix="/api/v1/trust-lists")

MEDIA = "application/json"
SIGNED_LIST = openapi.schema("SignedTrustList", {
    "type": "object", "required": ["format", "list", "signature"],
    "description": "eseal-trust-list/1: the list and a detached SM2 CMS signature over its canonical JSON",
    "properties": {"format": {"type": "string"}, "list": {"type": "object"},
                   "signature": {"type": "string", "contentEncoding": "base64"}}})
_ENTRY = {"type": "object", "required": ["name", "status", "since"], "properties": {
    "type": {"type": "string"}, "name": {"type": "string"}, "territory": {"type": "string"},
    "url": {"type": "string"}, "status": {"type": "string", "enum": ["granted", "withdrawn"]},
    "since": {"type": "string", "format": "date-time"}}}
_LIST_SUMMARY = {"type": "object", "required": ["kind", "sequence_number", "issued_at", "next_update", "due"],
                 "properties": {"kind": {"type": "string"}, "source": {"type": "string"},
                                "scheme_operator": {"type": "string"}, "territory": {"type": "string"},
                                "sequence_number": {"type": "integer"},
                                "issued_at": {"type": "string", "format": "date-time"},
                                "next_update": {"type": "string", "format": "date-time"},
                                "imported_at": {"type": "string", "format": "date-time"},
                                "due": {"type": "boolean", "description": "next_update has passed"},
                                "signature_ok": {"type": "boolean"}, "error": {"type": "string"},
                                "entries": {"type": "array", "items": _ENTRY}}}
STATUS = openapi.schema("TrustListStatus", {
    "type": "object", "required": ["published", "imported"],
    "properties": {"published": {"type": "object", "properties": {
        "tl": {"oneOf": [_LIST_SUMMARY, {"type": "null"}]}, "lotl": {"oneOf": [_LIST_SUMMARY, {"type": "null"}]}}},
        "imported": {"type": "array", "items": _LIST_SUMMARY}}})
IMPORT_RESULT = openapi.schema("TrustListImport", {
    "type": "object", "required": ["imported", "failures"],
    "properties": {"lotl_sequence": {"type": ["integer", "null"]}, "nothing_due": {"type": "boolean"},
                   "imported": {"type": "array", "items": {"type": "object", "properties": {
                       "url": {"type": "string"}, "territory": {"type": "string"},
                       "sequence_number": {"type": "integer"}}}},
                   "failures": {"type": "array", "items": {"type": "object", "properties": {
                       "url": {"type": "string"}, "reason": {"type": "string"}}}}}})
_DAYS = {"type": "integer", "minimum": 1, "maximum": 366, "description": "days until the next update (30)"}
_PIN = {"type": "string", "description": "the national signer's certificate (PEM), obtained out of band"}
_SIGN_PROBLEMS = ["bad-json", "invalid-request", "unsupported-media-type", "invalid-trust-list",
                  "keystore-locked", "key-policy-denied", "ca-error", "trust-list-conflict"]
_IMPORT_PROBLEMS = ["bad-json", "invalid-request", "unsupported-media-type", "invalid-trust-list",
                    "trust-list-signature", "trust-list-not-pinned", "unverifiable-input", "fetch-failed"]


def _latest(kind: str) -> Response:
    with db.transaction(services().sessions, readonly=True) as s:
        document = s.scalar(select(PublishedTrustList.document).where(PublishedTrustList.kind == kind)
                            .order_by(PublishedTrustList.sequence_number.desc()).limit(1))
    if document is None:
        raise Problem(404, "not-found", f"this home has not published a {kind.upper()} yet")
    return Response(document, mimetype=MEDIA, headers={"Cache-Control": "public, max-age=300"})


@bp.get("/tl")
@openapi.operation(summary="This region's newest signed trust list (public)", tags=["trust lists"],
                   responses={200: openapi.json_body(SIGNED_LIST)}, problems=["not-found"])
def region_tl() -> Response:
    return _latest("tl")


@bp.get("/lotl")
@openapi.operation(summary="The newest signed national list of lists published here (public)",
                   tags=["trust lists"], responses={200: openapi.json_body(SIGNED_LIST)}, problems=["not-found"])
def national_lotl() -> Response:
    return _latest("lotl")


@bp.get("/status")
@openapi.operation(summary="Published and imported trust lists with each service's status (public)",
                   tags=["trust lists"], responses={200: openapi.json_body(STATUS)})
def status() -> Response:
    s = services()
    return jsonify(tl_service.trust_status(s.home, sessions=s.sessions))


def _optional_body() -> dict[str, Any]:
    return json_object() if request.get_data(cache=True) else {}


def _days(data: dict[str, Any]) -> _dt.timedelta:
    days = field(data, "days", kind=int)
    if days is None:
        return tl_service.DEFAULT_VALIDITY
    if not 1 <= days <= 366:
        raise Problem(400, "invalid-request", "days must be between 1 and 366")
    return _dt.timedelta(days=days)


def _unknown(data: dict[str, Any], allowed: set[str]) -> None:
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise Problem(400, "invalid-request", f"unknown field(s): {', '.join(unknown)}")


def _certificate(text: Any, name: str) -> Any:
    from verify.path import load_certificate

    if not isinstance(text, str) or not text.strip():
        raise Problem(400, "invalid-request", f"{name} must be a PEM certificate")
    return load_certificate(text.encode("utf-8"))


def _signed(document: bytes) -> tuple[Response, int]:
    return Response(document, mimetype=MEDIA), 201


@bp.post("/tl")
@requires("admin")
@openapi.operation(
    summary="Sign and publish this region's next trust list", tags=["trust lists"],
    request={"required": False, "content": {"application/json": {"schema": {
        "type": "object", "properties": {"days": _DAYS}}}}},
    responses={201: openapi.json_body(SIGNED_LIST, "the signed list, now served at GET /api/v1/trust-lists/tl")},
    problems=_SIGN_PROBLEMS)
def publish_tl() -> tuple[Response, int]:
    data = _optional_body()
    _unknown(data, {"days"})
    s = services()
    return _signed(tl_service.publish_region_tl(s.home, s.keystore, actor=actor(), validity=_days(data),
                                                sessions=s.sessions))


@bp.post("/lotl")
@requires("admin")
@openapi.operation(
    summary="Sign the next national list of lists (regions added or withdrawn; earlier ones carried over)",
    tags=["trust lists"],
    request=openapi.json_body({"type": "object", "properties": {
        "add": {"type": "array", "items": {"type": "object", "required": ["url", "signer_certificate"], "properties": {
            "url": {"type": "string"}, "signer_certificate": {"type": "string", "description": "PEM"},
            "territory": {"type": "string"}, "scheme_operator": {"type": "string"}}},
            "description": "without territory and scheme_operator the region's TL is fetched to read them"},
        "withdraw": {"type": "array", "items": {"type": "string"}}, "days": _DAYS}}),
    responses={201: openapi.json_body(SIGNED_LIST)},
    problems=[*_SIGN_PROBLEMS, "unverifiable-input", "trust-list-signature", "trust-list-not-pinned",
              "fetch-failed"])
def publish_lotl() -> tuple[Response, int]:
    data = json_object()
    _unknown(data, {"add", "withdraw", "days"})
    specs = []
    for i, item in enumerate(field(data, "add", kind=list) or []):
        if not isinstance(item, dict):
            raise Problem(400, "invalid-request", f"add[{i}] must be an object")
        _unknown(item, {"url", "signer_certificate", "territory", "scheme_operator"})
        url = field(item, "url", required=True)
        if not url.startswith(("http://", "https://")):
            raise Problem(400, "invalid-request", f"add[{i}].url must be an http(s) URL")
        specs.append(tl_service.PointerSpec(url, _certificate(item.get("signer_certificate"),
                                                              f"add[{i}].signer_certificate"),
                                            field(item, "territory"), field(item, "scheme_operator")))
    withdraw = field(data, "withdraw", kind=list) or []
    if not all(isinstance(u, str) for u in withdraw):
        raise Problem(400, "invalid-request", "withdraw must be a list of URLs")
    s = services()
    return _signed(tl_service.build_lotl(s.home, s.keystore, specs, withdraw=withdraw, actor=actor(),
                                         validity=_days(data), sessions=s.sessions))


def _import_result(result: Any) -> dict[str, Any]:
    return {"lotl_sequence": result.lotl_sequence, "nothing_due": False,
            "imported": [{"url": u, "territory": t, "sequence_number": n} for u, t, n in result.imported],
            "failures": [{"url": u, "reason": r} for u, r in result.failures]}


@bp.post("/import")
@requires("admin")
@openapi.operation(
    summary="Import the national list of lists from a URL (verified with the pinned signer) and every TL it names",
    tags=["trust lists"],
    request=openapi.json_body({"type": "object", "required": ["lotl_url", "pin"], "properties": {
        "lotl_url": {"type": "string", "description": "http(s) URL of the LOTL"}, "pin": _PIN}}),
    responses={200: openapi.json_body(IMPORT_RESULT, "imported; regional lists that failed are in failures")},
    problems=_IMPORT_PROBLEMS)
def import_lotl() -> Response:
    data = json_object()
    _unknown(data, {"lotl_url", "pin"})
    url = field(data, "lotl_url", required=True)
    pin = _certificate(data.get("pin"), "pin")  # before any fetch
    if not url.startswith(("http://", "https://")):
        raise Problem(400, "invalid-request", "lotl_url must be an http(s) URL")
    s = services()
    return jsonify(_import_result(tl_service.import_lotl(s.home, url, pin, actor=actor(), sessions=s.sessions)))


@bp.post("/refresh")
@requires("admin")
@openapi.operation(
    summary="Re-import the national list when an imported list is due (or force)", tags=["trust lists"],
    request=openapi.json_body({"type": "object", "required": ["pin"], "properties": {
        "pin": _PIN, "force": {"type": "boolean"}}}),
    responses={200: openapi.json_body(IMPORT_RESULT)}, problems=_IMPORT_PROBLEMS)
def refresh() -> Response:
    data = json_object()
    _unknown(data, {"pin", "force"})
    pin = _certificate(data.get("pin"), "pin")
    s = services()
    result = tl_service.refresh_lotl(s.home, pin, actor=actor(), force=bool(field(data, "force", kind=bool)),
                                     sessions=s.sessions)
    if result is None:
        return jsonify({"lotl_sequence": None, "nothing_due": True, "imported": [], "failures": []})
    return jsonify(_import_result(result))
