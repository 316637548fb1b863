"""Verification over HTTP, for relying systems (JSON) and for people (the public page).

    POST /api/v1/verify          a document, certificate or signature -> the JSON report
    GET  /verify                 the public page: upload a document
    POST /verify                 ... and see the report (seal picture, signer, time, trust path)
    GET  /api/v1/verify/license/<id>   an e-license of this region's directory, verified by its id
    GET  /verify/license/<id>    where an e-license's QR code points: its status in the directory

All public: a bank or a court in another province verifies without an account. The
engine is the process-wide ``verify.service.shared_verifier`` (warm caches across
requests). A report is an answer, whatever its indication: 200 with the report; only input
that cannot be verified at all is a problem (400 ``unverifiable-input``). On the public pages
(/verify...) a problem is an HTML page for people; under /api/v1 it is problem+json.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask, Response, jsonify, render_template, request

from api import openapi
from api.context import services
from api.i18n import both
from api.problems import Problem, ProblemType, register, register_pages
from api.request import multipart
from seal.errors import PROBLEMS as SEAL_PROBLEMS
from seal.license.errors import PROBLEMS as LICENSE_PROBLEMS
from seal.ofd.errors import PROBLEMS as OFD_PROBLEMS
from verify.errors import PROBLEMS as VERIFY_PROBLEMS

bp = Blueprint("verify", __name__, template_folder="../templates")

for _row in (*VERIFY_PROBLEMS, *OFD_PROBLEMS, *SEAL_PROBLEMS, *LICENSE_PROBLEMS):
    register(*_row)


def _error_page(problem: ProblemType, detail: str) -> str:
    """A problem on the public pages (/verify...) as a page for people, in both languages."""
    return render_template("public/error.html", status=problem.status, title=both(problem.title), detail=detail)


register_pages("/verify", _error_page)  # the public pages; /api/v1/verify stays problem+json
_HTML_ERROR = {"description": "HTML page naming the problem", "content": {"text/html": {}}}
_HTML_PAGE = {"description": "HTML page", "content": {"text/html": {}}}

RAW_TYPES = ("application/octet-stream", "application/pdf", "application/ofd", "application/pkix-cert",
             "application/pkcs7-signature", "application/pkcs7-mime")
REPORT = openapi.schema("VerificationReport", {
    "type": "object", "required": ["indication", "signatures"],
    "properties": {"indication": {"type": "string", "enum": ["PASSED", "FAILED", "INDETERMINATE"]},
                   "sub_indication": {"type": ["string", "null"]},
                   "signatures": {"type": "array", "items": {"type": "object"}}}})
# what the report page may load: its own inline styles and the seal picture as data:
_REPORT_CSP = ("default-src 'none'; style-src 'self' 'unsafe-inline'; img-src data:; form-action 'self'; "
               "frame-ancestors 'none'; base-uri 'none'")


def _input() -> tuple[bytes, bytes | None, str]:
    """(document, detached data or None, name) from multipart or a raw body."""
    if request.mimetype == "multipart/form-data":
        files = multipart(file_parts=("file", "data"))[1]
        upload = files.get("file")
        if upload is None:
            raise Problem(400, "invalid-request", "multipart form needs a 'file' part (and optionally 'data')")
        data_part = files.get("data")
        return upload.read(), data_part.read() if data_part else None, upload.filename or "upload"
    if request.mimetype in RAW_TYPES:
        return request.get_data(), None, "request body"
    raise Problem(415, "unsupported-media-type",
                  f"send multipart/form-data (file, data) or one of {', '.join(RAW_TYPES)}")


def _verify(document: bytes, detached: bytes | None, name: str):  # noqa: ANN202
    from verify.service import shared_verifier

    if not document:
        raise Problem(400, "invalid-request", "the document is empty")
    policy = request.args.get("policy", "strict")
    if policy not in ("strict", "lenient"):
        raise Problem(400, "invalid-request", f"policy must be strict or lenient, not {policy!r}")
    lenient = policy == "lenient"
    return shared_verifier(services().home, lenient=lenient).verify_bytes(document, name=name, detached=detached)


def _answer(report: Any) -> Response:
    resp = jsonify(report.to_dict())
    resp.headers["X-Eseal-Indication"] = report.indication.value
    return resp


_POLICY = [{"name": "policy", "in": "query", "schema": {"type": "string", "enum": ["strict", "lenient"]}}]


@bp.post("/api/v1/verify")
@openapi.operation(
    summary="Verify a sealed OFD or PDF, a CMS signature, an SES_Signature (with its data) or a certificate",
    tags=["verify"],
    parameters=_POLICY,
    request={"content": {"multipart/form-data": {"schema": {
        "type": "object", "required": ["file"],
        "properties": {"file": {"type": "string", "format": "binary"},
                       "data": {"type": "string", "format": "binary"}}}},
        "application/octet-stream": {"schema": {"type": "string", "format": "binary"}}}},
    responses={200: openapi.json_body(REPORT, "the report (any indication)")},
    problems=["invalid-request", "unsupported-media-type", "unverifiable-input", "payload-too-large"])
def verify_api() -> Response:
    return _answer(_verify(*_input()))


@bp.get("/api/v1/verify/license/<license_id>")
@openapi.operation(
    summary="Verify an e-license of this region's directory by its id: its sealed OFD as issued, with its status",
    tags=["verify"],
    parameters=[{"name": "license_id", "in": "path", "required": True, "schema": {"type": "string", "maxLength": 40}},
                *_POLICY],
    responses={200: openapi.json_body(REPORT, "the report (any indication)")},
    problems=["invalid-request", "invalid-license-id", "unknown-license"])
def verify_license_api(license_id: str) -> Response:
    from verify.service import license_document

    name, ofd = license_document(services().home, license_id, sessions=services().sessions)
    return _answer(_verify(ofd, None, name))


def raw_verification(app: Flask, home: Any) -> Callable[[bytes], tuple[bytes, str]]:
    """``verify(body) -> (JSON, indication)``: what verify_api answers for a raw, non-empty body
    without a query string (the default policy), for api/fastpath.py; raises where the view
    would answer with a problem."""
    from verify.service import shared_verifier

    def verify(body: bytes) -> tuple[bytes, str]:
        report = shared_verifier(home).verify_bytes(body, name="request body")
        return app.json.response(report.to_dict()).get_data(), report.indication.value

    return verify


@bp.get("/verify")
@openapi.operation(summary="Public verification page (upload form)", tags=["public"],
                   responses={200: _HTML_PAGE, 400: _HTML_ERROR})
def verify_page() -> str:
    return render_template("public/verify.html")


@bp.post("/verify")
@openapi.operation(summary="Public verification page: the report of an uploaded document", tags=["public"],
                   responses={200: {"description": "HTML report", "content": {"text/html": {}}},
                              400: _HTML_ERROR, 413: _HTML_ERROR})
def verify_upload() -> tuple[Response, int] | Response:
    from verify.errors import VerifyError
    from verify.render import render_html

    upload = request.files.get("file")
    if upload is None or not upload.filename:
        return Response(render_template("public/verify.html", error="请选择要验证的文件 / choose a file"),
                        400, mimetype="text/html")
    data_part = request.files.get("data")
    try:
        report = _verify(upload.read(), data_part.read() if data_part and data_part.filename else None,
                         upload.filename)
    except (VerifyError, Problem) as exc:
        return Response(render_template("public/verify.html", error=str(exc)), 400, mimetype="text/html")
    resp = Response(render_html(report), mimetype="text/html")
    resp.headers["Content-Security-Policy"] = _REPORT_CSP
    resp.headers["X-Eseal-Indication"] = report.indication.value
    return resp


@bp.get("/verify/license/<license_id>")
@openapi.operation(summary="E-license status page (the QR code's target)", tags=["public"],
                   responses={200: _HTML_PAGE, 400: _HTML_ERROR,
                              404: {"description": "HTML page: no such license", "content": {"text/html": {}}}})
def license_page(license_id: str) -> tuple[str, int] | str:
    from seal.license.errors import LicenseError
    from seal.license.service import license_status

    try:
        status = license_status(services().home, license_id, sessions=services().sessions)
    except LicenseError as exc:
        return render_template("public/license.html", license_id=license_id, error=str(exc)), 404
    return render_template("public/license.html", license_id=license_id, status=status,
                           type_name=_type_name(status.type_code))


def _type_name(code: str) -> str:
    """'营业执照 · Business license (YYZZ)' for a known type; the code alone for one no longer defined."""
    from seal.license.errors import LicenseError
    from seal.license.types import get_type

    try:
        t = get_type(code, services().home)
    except LicenseError:
        return code
    return f"{t.name_zh} · {t.name_en} ({t.code})"
