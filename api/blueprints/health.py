"""Liveness, readiness and the OpenAPI document.

``/health`` answers while the process serves requests. ``/ready`` says whether this worker
can do its job: the database answers and the key store is unlocked and holds the region;
otherwise 503 with ``Retry-After`` (a load balancer takes the worker out of rotation).
"""
from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import select, text

from api import openapi
from api.context import services
from api.problems import Problem
from store.models.ca import CertificateAuthority

bp = Blueprint("health", __name__)

STATUS = openapi.schema("Status", {"type": "object", "required": ["status"],
                                   "properties": {"status": {"type": "string"},
                                                  "checks": {"type": "object"}}})
RETRY_AFTER = "5"


@bp.get("/health")
@openapi.operation(summary="Liveness", tags=["operations"], responses={200: openapi.json_body(STATUS)})
def health() -> Response:
    return jsonify({"status": "ok"})


@bp.get("/ready")
@openapi.operation(summary="Readiness: database reachable, key store unlocked, region present",
                   tags=["operations"], responses={200: openapi.json_body(STATUS)}, problems=["not-ready"])
def ready() -> Response:
    s = services()
    checks: dict[str, str] = {}
    try:
        with s.home.engine.connect() as conn:
            conn.execute(text("SELECT 1"))
            region = conn.execute(select(CertificateAuthority.region_code)
                                  .where(CertificateAuthority.kind == "root").limit(1)).scalar()
        checks["database"] = "ok"
        checks["region"] = "ok" if region else "not initialised"
    except Exception as exc:  # noqa: BLE001 - any database failure means "not ready"
        checks["database"] = f"unreachable: {type(exc).__name__}"
        checks["region"] = "unknown"
    checks["keystore"] = "unlocked" if s.keystore.is_unlocked else "locked"
    if checks["database"] != "ok" or checks["region"] != "ok" or checks["keystore"] != "unlocked":
        failing = ", ".join(f"{k} {v}" for k, v in checks.items() if v not in ("ok", "unlocked"))
        raise Problem(503, "not-ready", f"not ready: {failing}", headers={"Retry-After": RETRY_AFTER},
                      checks=checks)
    return jsonify({"status": "ready", "checks": checks})


@bp.get("/api/openapi.json")
@openapi.operation(summary="This OpenAPI 3.1 document", tags=["operations"],
                   responses={200: openapi.json_body({"type": "object"})})
def openapi_document() -> Response:
    return jsonify(openapi.build(current_app))
