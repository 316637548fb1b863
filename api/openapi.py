"""OpenAPI 3.1 from one source: the declaration next to each view.

A view declares its operation with :func:`operation` (summary, parameters, request body,
responses, problem slugs it may answer); :func:`api.auth.requires` adds the bearer
security requirement and the 401/403 problems. :func:`build` walks the Flask URL map, so
the document lists exactly the routes that exist — a route without a declaration is left
out, and tests/test_api_openapi.py fails on it.

Helpers :func:`binary`, :func:`json_body`, :func:`ref` keep declarations short; named
schemas live in :data:`SCHEMAS` (blueprints add theirs with :func:`schema`).
"""
from __future__ import annotations

import re
from collections.abc import Callable, Iterable
from typing import Any

from flask import Flask

from api.ratelimit import SLUG as RATE_LIMITED

UNUSABLE_TEXT = "invalid-request"  # every operation: see api.request.refuse_unusable_characters

__all__ = ["operation", "build", "binary", "json_body", "ref", "schema", "SCHEMAS", "flask_to_openapi_path"]

ATTR = "_openapi"
SCHEMAS: dict[str, dict[str, Any]] = {
    "Problem": {
        "type": "object",
        "required": ["type", "title", "status", "detail"],
        "properties": {
            "type": {"type": "string", "format": "uri"},
            "title": {"type": "string"},
            "status": {"type": "integer"},
            "detail": {"type": "string"},
        },
    },
}


def schema(name: str, definition: dict[str, Any]) -> dict[str, str]:
    """Register a named schema; returns a $ref to it."""
    SCHEMAS[name] = definition
    return ref(name)


def ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def binary(media_type: str, description: str = "") -> dict[str, Any]:
    return {"description": description or media_type,
            "content": {media_type: {"schema": {"type": "string", "contentMediaType": media_type}}}}


def json_body(schema_: dict[str, Any], description: str = "") -> dict[str, Any]:
    return {"description": description or "JSON", "content": {"application/json": {"schema": schema_}}}


def _merge(fn: Callable[..., Any], **fields: Any) -> None:
    spec = dict(getattr(fn, ATTR, {}))
    for key, value in fields.items():
        if key == "problems":
            spec["problems"] = sorted(set(spec.get("problems", ())) | set(value))
        elif value is not None:
            spec[key] = value
    setattr(fn, ATTR, spec)


def operation(*, summary: str, tags: Iterable[str] = (), description: str | None = None,
              parameters: list[dict[str, Any]] | None = None, request: dict[str, Any] | None = None,
              responses: dict[int, dict[str, Any]] | None = None,
              problems: Iterable[str] = ()) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Declare the OpenAPI operation of a view (put it below ``@bp.route``)."""

    def decorate(fn: Callable[..., Any]) -> Callable[..., Any]:
        _merge(fn, summary=summary, tags=list(tags) or None, description=description,
               parameters=parameters, request=request, responses=responses, problems=list(problems))
        return fn

    return decorate


_CONVERTER = re.compile(r"<(?:(?P<conv>[a-z]+)(?:\([^)]*\))?:)?(?P<name>\w+)>")
_TYPES = {"int": {"type": "integer"}, "float": {"type": "number"}}


def flask_to_openapi_path(rule: str) -> str:
    return _CONVERTER.sub(lambda m: "{" + m.group("name") + "}", rule)


def _path_params(rule: str) -> list[dict[str, Any]]:
    return [{"name": m.group("name"), "in": "path", "required": True,
             "schema": dict(_TYPES.get(m.group("conv") or "", {"type": "string"}))}
            for m in _CONVERTER.finditer(rule)]


def _op(spec: dict[str, Any], rule: str, method: str, endpoint: str) -> dict[str, Any]:
    from api.problems import page_renderer, slugs

    known = slugs()
    op: dict[str, Any] = {"operationId": f"{endpoint}.{method.lower()}", "summary": spec["summary"]}
    if spec.get("description"):
        op["description"] = spec["description"]
    if spec.get("tags"):
        op["tags"] = spec["tags"]
    declared = {p["name"]: p for p in spec.get("parameters") or []}
    params = [declared.pop(p["name"], p) for p in _path_params(rule)]
    params += list(declared.values())
    if params:
        op["parameters"] = params
    if spec.get("request") is not None:
        op["requestBody"] = {"required": True, **spec["request"]}
    responses: dict[str, Any] = {str(code): body for code, body in (spec.get("responses") or {}).items()}
    by_status: dict[int, list[str]] = {}
    problems = list(spec.get("problems", ()))
    if not spec.get("security") and RATE_LIMITED not in problems:
        problems.append(RATE_LIMITED)  # api.ratelimit answers any public request when its bucket is empty
    if UNUSABLE_TEXT not in problems:
        problems.append(UNUSABLE_TEXT)  # api.request.refuse_unusable_characters: a NUL or lone surrogate
    for slug in problems:
        ptype = known.get(slug)
        if ptype is None:
            raise ValueError(f"{endpoint}: unknown problem slug {slug!r} in its OpenAPI declaration")
        by_status.setdefault(ptype.status, []).append(slug)
    # on the pages for people (the console, the public pages) a problem is the area's HTML page
    page = page_renderer(rule) is not None
    problem = {"text/html": {}} if page else {"application/problem+json": {"schema": ref("Problem")}}
    for status, names in sorted(by_status.items()):
        declared = responses.get(str(status))
        if declared is None:
            label = "HTML error page" if page else "problem"
            responses[str(status)] = {"description": f"{label}: " + ", ".join(names), "content": problem}
        elif page or "application/problem+json" not in declared.get("content", {}):
            # the view answers this status itself (a console page's HTML) and a problem can too
            joint = ": " if page else "; or problem: "
            responses[str(status)] = {**declared, "description": declared["description"] + joint + ", ".join(names),
                                      "content": {**declared.get("content", {}), **problem}}
    op["responses"] = responses or {"200": {"description": "OK"}}
    if spec.get("security"):
        op["security"] = [{"bearer": []}]
        op["x-roles"] = spec["security"]
    return op


def build(app: Flask) -> dict[str, Any]:
    """The OpenAPI 3.1 document of every declared route of ``app``."""
    paths: dict[str, dict[str, Any]] = {}
    for rule in sorted(app.url_map.iter_rules(), key=lambda r: r.rule):
        if rule.endpoint == "static":
            continue
        spec = getattr(app.view_functions[rule.endpoint], ATTR, None)
        if not spec or "summary" not in spec:
            continue
        path = flask_to_openapi_path(rule.rule)
        for method in sorted((rule.methods or set()) - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _op(spec, rule.rule, method, rule.endpoint)
    return {
        "openapi": "3.1.0",
        "info": {"title": "eseal", "version": "1",
                 "description": "SM2/SM3 certification authority, e-seals and verification. Errors are "
                                "application/problem+json (RFC 9457) with a stable `type` per error."},
        "paths": paths,
        "components": {
            "schemas": dict(SCHEMAS),
            "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                           "description": "API token from `eseal token create`"}},
        },
    }
