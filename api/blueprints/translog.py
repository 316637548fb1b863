"""The transparency log over HTTP (reads public: verifiers in other regions ask for proofs).

    GET /api/v1/log/head                         latest signed tree head
    GET /api/v1/log/proof?subject=cert:1f2e...   inclusion proof against the latest head
    GET /api/v1/log/consistency?old=N&new=M      consistency proof between two tree sizes
    POST /api/v1/log/sign                        sign a tree head now (admin)
"""
from __future__ import annotations

from flask import Blueprint, Response, jsonify, request

from api import openapi
from api.auth import requires
from api.context import services
from api.problems import Problem, register
from gm.digits import ascii_whole_number
from store import translog

bp = Blueprint("translog", __name__)

register(translog.TransLogError, 404, "not-in-log", "Not in the transparency log")

HEAD = openapi.schema("SignedTreeHead", {
    "type": "object", "required": ["size", "root", "signed_at", "key_id", "signature"],
    "properties": {"size": {"type": "integer"}, "root": {"type": "string", "description": "base64 SM3 root"},
                   "signed_at": {"type": "string"}, "key_id": {"type": "string"},
                   "signature": {"type": "string", "description": "base64 DER SM2 signature"}}})
PROOF = openapi.schema("InclusionProof", {
    "type": "object", "required": ["index", "kind", "subject", "logged_at", "artefact_sm3", "path", "head"],
    "properties": {"index": {"type": "integer"}, "kind": {"type": "string"}, "subject": {"type": "string"},
                   "logged_at": {"type": "string"}, "artefact_sm3": {"type": "string"},
                   "path": {"type": "array", "items": {"type": "string"}}, "head": HEAD}})
CONSISTENCY = openapi.schema("ConsistencyProof", {
    "type": "object", "required": ["old_size", "new_size", "path"],
    "properties": {"old_size": {"type": "integer"}, "new_size": {"type": "integer"},
                   "path": {"type": "array", "items": {"type": "string"}}}})


def _size(name: str) -> int:
    value = ascii_whole_number(request.args.get(name, ""), 18)
    if value is None:
        raise Problem(400, "invalid-request", f"query parameter {name!r} must be a tree size (a non-negative integer)")
    return value


@bp.get("/api/v1/log/head")
@openapi.operation(summary="Latest signed tree head of the transparency log", tags=["log"],
                   responses={200: openapi.json_body(HEAD)}, problems=["not-in-log"])
def head() -> Response:
    return jsonify(translog.latest_head(services().sessions).to_dict())


@bp.get("/api/v1/log/proof")
@openapi.operation(summary="Inclusion proof of a logged certificate, seal, sealed document or license",
                   tags=["log"], parameters=[{"name": "subject", "in": "query", "required": True,
                                              "schema": {"type": "string", "minLength": 1, "maxLength": 200}}],
                   responses={200: openapi.json_body(PROOF)}, problems=["not-in-log", "invalid-request"])
def proof() -> Response:
    subject = request.args.get("subject", "")
    if not subject or len(subject) > 200:
        raise Problem(400, "invalid-request", "query parameter 'subject' is required (1-200 characters)")
    return jsonify(translog.prove_inclusion(services().sessions, subject).to_dict())


@bp.get("/api/v1/log/consistency")
@openapi.operation(summary="Consistency proof between two tree sizes", tags=["log"],
                   parameters=[{"name": n, "in": "query", "required": True, "schema": {"type": "integer", "minimum": 0}}
                               for n in ("old", "new")],
                   responses={200: openapi.json_body(CONSISTENCY)}, problems=["not-in-log", "invalid-request"])
def consistency() -> Response:
    return jsonify(translog.prove_consistency(services().sessions, _size("old"), _size("new")).to_dict())


@bp.post("/api/v1/log/sign")
@requires("admin")
@openapi.operation(summary="Sign a tree head over the log as it is now (with the region's audit key)", tags=["log"],
                   responses={200: openapi.json_body(HEAD)},
                   problems=["keystore-locked", "keystore-unavailable", "key-policy-denied"])
def sign_head() -> Response:
    from keystore.region import audit_signer

    s = services()
    return jsonify(translog.sign_tree_head(s.sessions, audit_signer(s.home, s.keystore)).to_dict())
