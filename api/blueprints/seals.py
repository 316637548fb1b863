"""Seals over HTTP: make, list, status, lifecycle, and sealing a document.

    GET  /api/v1/seals                      list, paginated (agency tokens: their own)
    POST /api/v1/seals                      make a seal (admin, ra_operator)
    GET  /api/v1/seals/<es_id>              status — public: verifiers ask it
    POST /api/v1/seals/<es_id>/suspend|resume|revoke
    POST /api/v1/seals/<es_id>/grants       authorise another agency to use the seal (admin, ra_operator)
    DELETE /api/v1/seals/<es_id>/grants/<agency>   withdraw that authorisation
    POST /api/v1/seals/<es_id>/sign         seal a document: multipart (file) -> the sealed bytes,
                                            or JSON {document: base64, ...} -> JSON {document: base64};
                                            with Idempotency-Key a retry gets the first sealed bytes

Thin over seal/service.py and seal/sealing.py; refusals are seal.errors problems
(registered by the verify blueprint together with verify/ and OFD errors).
"""
from __future__ import annotations

import base64
import binascii
from typing import Any

from flask import Blueprint, Response, jsonify, request, url_for

from api import openapi
from api.auth import actor, principal, requires
from api.blueprints.certificates import _int_arg
from api.context import services
from api.idempotency import IDEMPOTENCY_HEADER, REPLAYED_HEADER, replay_once
from api.problems import Problem
from api.request import field, json_object, multipart
from seal.service import SEAL_STATUSES
from store.text import REASON_MAX

bp = Blueprint("seals", __name__, url_prefix="/api/v1/seals")

SEAL = openapi.schema("Seal", {
    "type": "object", "required": ["es_id", "name", "agency", "status"],
    "properties": {"es_id": {"type": "string"}, "type": {"type": "string"}, "name": {"type": "string"},
                   "agency": {"type": "string"}, "status": {"type": "string"},
                   "valid_from": {"type": "string"}, "valid_to": {"type": "string"},
                   "holders": {"type": "array", "items": {"type": "string"}}}})
SEALED = openapi.schema("SealedDocument", {
    "type": "object", "required": ["format", "es_id", "document"],
    "properties": {"format": {"type": "string", "enum": ["ofd", "pdf", "cms"]}, "es_id": {"type": "string"},
                   "document": {"type": "string", "contentEncoding": "base64"}}})
_ES_ID = [{"name": "es_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}}]
_MEDIA = {"ofd": "application/ofd", "pdf": "application/pdf", "cms": "application/pkcs7-signature"}
_SEAL_PROBLEMS = ["unknown-seal", "invalid-request"]


def _render(info: Any) -> dict[str, Any]:
    return {"es_id": info.es_id, "type": info.seal_type, "name": info.name, "agency": info.agency,
            "status": info.status, "valid_from": info.valid_from.isoformat(), "valid_to": info.valid_to.isoformat(),
            "holders": list(info.holders)}


MAX_PER_PAGE = 200


@bp.get("")
@requires("admin", "ra_operator", "agency", "auditor")
@openapi.operation(
    summary="List seals, oldest first, paginated (an agency token sees its own)", tags=["seals"],
    parameters=[{"name": "page", "in": "query", "schema": {"type": "integer", "minimum": 1}},
                {"name": "per_page", "in": "query", "schema": {"type": "integer", "minimum": 1,
                                                               "maximum": MAX_PER_PAGE}},
                {"name": "status", "in": "query", "schema": {"type": "string", "enum": list(SEAL_STATUSES)}}],
    responses={200: openapi.json_body({"type": "object", "required": ["items", "page", "per_page", "total"],
                                       "properties": {"items": {"type": "array", "items": SEAL},
                                                      "page": {"type": "integer"}, "per_page": {"type": "integer"},
                                                      "total": {"type": "integer"},
                                                      "next": {"type": ["string", "null"]}}})},
    problems=["invalid-request"])
def list_seals() -> Response:
    from seal.service import find_seals

    page = _int_arg("page", 1, 1, 10**9)
    per_page = _int_arg("per_page", 50, 1, MAX_PER_PAGE)
    status = request.args.get("status")
    if status is not None and status not in SEAL_STATUSES:
        raise Problem(400, "invalid-request", f"status must be one of {', '.join(SEAL_STATUSES)}")
    who = principal()
    found = find_seals(services().home, agency=who.agency if who.role == "agency" else None, status=status,
                       offset=(page - 1) * per_page, limit=per_page, sessions=services().sessions)
    nxt = url_for("seals.list_seals", **{**request.args, "page": page + 1}) \
        if page * per_page < found.total else None
    return jsonify({"items": [_render(i) for i in found.items], "page": page, "per_page": per_page,
                    "total": found.total, "next": nxt})


_MM = {"type": "integer", "minimum": 1, "maximum": 1000}
MAKE_SEAL = openapi.schema("MakeSeal", {
    "type": "object", "required": ["type", "name", "agency", "holder_certs"],
    "properties": {"type": {"type": "string", "enum": ["organization", "personal"]}, "name": {"type": "string"},
                   "agency": {"type": "string"}, "holder_certs": {"type": "array", "items": {"type": "string"}},
                   "valid_days": {"type": "integer", "minimum": 1},
                   "picture": {"type": "string", "contentEncoding": "base64",
                               "description": "the seal's picture; without one the red round seal is drawn"},
                   "picture_type": {"type": "string", "enum": ["png", "jpg", "jpeg", "svg", "ofd"]},
                   "width_mm": _MM, "height_mm": _MM}})


@bp.post("")
@requires("admin", "ra_operator")
@openapi.operation(summary="Make a seal signed by the region's seal maker", tags=["seals"],
                   request=openapi.json_body(MAKE_SEAL), responses={201: openapi.json_body(SEAL)},
                   problems=["bad-json", "unsupported-media-type", "invalid-request", "invalid-seal-request"])
def make_seal() -> tuple[Response, int]:
    from seal import service

    data = json_object()
    certs = field(data, "holder_certs", required=True, kind=list)
    if not certs or not all(isinstance(c, str) for c in certs):
        raise Problem(400, "invalid-request", "holder_certs must be a non-empty list of PEM certificates")
    kwargs: dict[str, Any] = {}
    if (days := field(data, "valid_days", kind=int)) is not None:
        kwargs["valid_days"] = days
    if (picture := field(data, "picture")) is not None:
        try:
            kwargs["picture"] = base64.b64decode(picture, validate=True)
        except (binascii.Error, ValueError):
            raise Problem(400, "invalid-request", "field 'picture' must be base64") from None
        kwargs["picture_type"] = field(data, "picture_type", choices=("png", "jpg", "jpeg", "svg", "ofd")) or "png"
    for name in ("width_mm", "height_mm"):
        if (mm := field(data, name, kind=int)) is not None:
            kwargs[name] = mm
    es_id = service.make_seal(services().home, services().keystore,
                              seal_type=field(data, "type", required=True, choices=("organization", "personal")),
                              name=field(data, "name", required=True), agency=field(data, "agency", required=True),
                              holder_certs=[c.encode() for c in certs], actor=actor(), sessions=services().sessions,
                              **kwargs)
    return jsonify(_render(service.get_seal(services().home, es_id, sessions=services().sessions))), 201


@bp.get("/<es_id>")
@openapi.operation(summary="A seal's status now (public: for verifiers)", tags=["seals"], parameters=_ES_ID,
                   responses={200: openapi.json_body(SEAL)}, problems=["unknown-seal"])
def seal_status(es_id: str) -> Response:
    from seal.service import seal_status as _status

    return jsonify(_render(_status(services().home, es_id, sessions=services().sessions)))


def _lifecycle(name: str) -> None:
    def view(es_id: str) -> Response:
        from seal import service

        data = json_object() if request.get_data() else {}
        reason = field(data, "reason") or ""
        fn = getattr(service, f"{name}_seal")
        fn(services().home, es_id, reason=reason, actor=actor(), sessions=services().sessions)
        return jsonify(_render(service.get_seal(services().home, es_id, sessions=services().sessions)))

    view.__name__ = f"{name}_seal"
    wrapped = requires("admin", "ra_operator")(openapi.operation(
        summary=f"{name.capitalize()} a seal", tags=["seals"], parameters=_ES_ID,
        request={"required": False, "content": {"application/json": {"schema": {
            "type": "object", "properties": {"reason": {"type": "string", "maxLength": REASON_MAX}}}}}},
        responses={200: openapi.json_body(SEAL)},
        problems=["unknown-seal", "invalid-seal-transition", "invalid-seal-request", "bad-json",
                  "unsupported-media-type"])(view))
    bp.post(f"/<es_id>/{name}")(wrapped)


for _name in ("suspend", "resume", "revoke"):
    _lifecycle(_name)


def _document() -> tuple[bytes, dict[str, Any], bool]:
    """(document, options, answer as JSON?) from multipart or JSON base64."""
    if request.mimetype == "multipart/form-data":
        form, files = multipart(file_parts=("file",))
        upload = files.get("file")
        if upload is None:
            raise Problem(400, "invalid-request", "multipart form needs a 'file' part")
        return upload.read(), dict(form), False
    data = json_object()
    try:
        document = base64.b64decode(field(data, "document", required=True), validate=True)
    except (binascii.Error, ValueError):
        raise Problem(400, "invalid-request", "field 'document' must be base64") from None
    return document, data, True


def _number(options: dict[str, Any], name: str, default: float) -> float:
    raw = options.get(name, default)
    try:
        value = float(raw)
    except (TypeError, ValueError):
        raise Problem(400, "invalid-request", f"{name!r} must be a number") from None
    if not 0 <= value <= 10_000:
        raise Problem(400, "invalid-request", f"{name!r} must be between 0 and 10000")
    return value


_SIGN_TYPE = {"type": "string", "enum": ["seal", "sign"], "default": "seal",
              "description": "OFD only: a Seal-type signature (the seal's SES_Signature and picture) or a "
                             "Sign-type one (a GM/T 0010 SignedData by the signer certificate, no seal picture)"}


@bp.post("/<es_id>/sign")
@requires("admin", "agency")
@openapi.operation(
    summary="Seal a document (OFD, PDF) or data (detached CMS) with this seal", tags=["seals"],
    parameters=[*_ES_ID, IDEMPOTENCY_HEADER],
    request={"content": {
        "multipart/form-data": {"schema": {"type": "object", "required": ["file"], "properties": {
            "file": {"type": "string", "format": "binary"}, "page": {"type": "integer"}, "x": {"type": "number"},
            "y": {"type": "number"}, "cms": {"type": "string"}, "sign_type": _SIGN_TYPE}}},
        "application/json": {"schema": {"type": "object", "required": ["document"], "properties": {
            "document": {"type": "string", "contentEncoding": "base64"}, "page": {"type": "integer", "minimum": 1},
            "x": {"type": "number"}, "y": {"type": "number"}, "cms": {"type": "boolean"},
            "pin": {"type": "string"}, "sign_type": _SIGN_TYPE}}}}},
    responses={200: {"description": "the sealed document (multipart request) or JSON with it in base64; "
                                    "a repeat of an Idempotency-Key gets the first answer, byte for byte, "
                                    f"with {REPLAYED_HEADER}: true",
                     "content": {"application/ofd": {}, "application/pdf": {}, "application/pkcs7-signature": {},
                                 "application/json": {"schema": SEALED}}}},
    problems=["unknown-seal", "invalid-request", "bad-json", "unsupported-media-type", "seal-use-refused",
              "seal-not-authorised", "invalid-seal-request", "payload-too-large", "idempotency-key-reused",
              "idempotency-in-progress", "key-disabled", "key-destroyed"])
def sign(es_id: str) -> Response:
    # An agency token may use its own seals and those granted to it (POST .../grants): the
    # registry's use check decides, so a refusal is the specific, audited seal-not-authorised.
    return replay_once(lambda: _sign(es_id))


def _sign(es_id: str) -> Response:
    from seal import sealing

    document, options, as_json = _document()
    page = int(_number(options, "page", 1))
    if page < 1:
        raise Problem(400, "invalid-request", "'page' counts from 1")
    cms = options.get("cms") in (True, "true", "1", "yes")
    sign_type = options.get("sign_type", "seal")
    if sign_type not in ("seal", "sign"):
        raise Problem(400, "invalid-request", "'sign_type' must be \"seal\" or \"sign\"")
    refusal = sealing.sign_type_refusal(document, cms=cms, ofd_sign_type=sign_type.capitalize())
    if refusal is not None:
        raise Problem(400, "invalid-request", f"'sign_type' \"sign\"{' with cms' if cms else ''}: {refusal}")
    who = principal()
    grant = sealing.authorise(services().home, services().keystore, es_id,
                              agency=who.agency if who.role == "agency" else None,
                              pin=options.get("pin") if isinstance(options.get("pin"), str) else None, actor=actor())
    sealed = sealing.seal_document(services().home, services().keystore, grant, document, page=page - 1,
                                   x_mm=_number(options, "x", 20), y_mm=_number(options, "y", 20), cms=cms,
                                   ofd_sign_type=sign_type.capitalize())
    if as_json:
        return jsonify({"format": sealed.format, "es_id": es_id,
                        "document": base64.b64encode(sealed.data).decode("ascii")})
    return Response(sealed.data, mimetype=_MEDIA[sealed.format])


GRANT = openapi.schema("SealGrant", {"type": "object", "required": ["es_id", "agency", "authorised"],
                                     "properties": {"es_id": {"type": "string"}, "agency": {"type": "string"},
                                                    "authorised": {"type": "boolean"}}})


@bp.post("/<es_id>/grants")
@requires("admin", "ra_operator")
@openapi.operation(summary="Authorise another agency to use a seal", tags=["seals"], parameters=_ES_ID,
                   request=openapi.json_body({"type": "object", "required": ["agency"], "properties": {
                       "agency": {"type": "string", "minLength": 1, "maxLength": 200}}}),
                   responses={200: openapi.json_body(GRANT)},
                   problems=["bad-json", "unsupported-media-type", "invalid-request", "unknown-seal", "invalid-seal-request"])
def grant(es_id: str) -> Response:
    from seal import service

    agency = field(json_object(), "agency", required=True)
    service.grant_use(services().home, es_id, agency=agency, actor=actor(), sessions=services().sessions)
    return jsonify({"es_id": es_id, "agency": agency, "authorised": True})


@bp.delete("/<es_id>/grants/<agency>")
@requires("admin", "ra_operator")
@openapi.operation(summary="Withdraw an agency's authorisation to use a seal", tags=["seals"],
                   parameters=[*_ES_ID, {"name": "agency", "in": "path", "required": True,
                                         "schema": {"type": "string", "maxLength": 200}}],
                   responses={200: openapi.json_body(GRANT)}, problems=["not-found"])
def withdraw(es_id: str, agency: str) -> Response:
    from seal import service

    if not service.withdraw_use(services().home, es_id, agency=agency, actor=actor(), sessions=services().sessions):
        raise Problem(404, "not-found", f"agency {agency!r} holds no authorisation for seal {es_id}")
    return jsonify({"es_id": es_id, "agency": agency, "authorised": False})
