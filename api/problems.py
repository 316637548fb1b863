"""The one error layer of the API: exceptions -> RFC 9457 ``application/problem+json``.

Every error a client can see has a stable ``type`` URI (``PROBLEM_BASE`` + a slug) that
clients may branch on, a short ``title`` (same for every instance of the type), the HTTP
``status`` and a ``detail`` saying what was wrong with this request.

* Typed service errors (``ca.errors.*``, ``store.tokens.TokenError``, key store errors, and
  whatever later packages register) map here, in :data:`REGISTRY`, by class; the most
  specific class in the exception's MRO wins. A package adds its own errors with
  :func:`register` (for instance at import time of its blueprint module).
* Views raise :class:`Problem` for request-level failures (bad JSON, missing field...).
* Werkzeug's HTTP errors (404 no such route, 405, 413 body too large, ...) become problems
  with slugs of their own.
* Anything else is a 500 ``internal-error``, logged with its traceback; the client sees no
  internals. Reaching it is a bug: every expected failure has a typed error.

Pages people open in a browser (the web console, the public verification pages) answer the
same problems as HTML pages: an area registers its path prefix and its page with
:func:`register_pages`. Chosen by the path, not by Accept: the API and the machine endpoints
(OCSP, CRL, TSA, trust lists) always answer problem+json, whatever a client asks for.
"""
from __future__ import annotations

import logging
from collections.abc import Callable
from typing import Any

from flask import Flask, Response, has_request_context, json, request
from sqlalchemy.exc import DBAPIError, InterfaceError, OperationalError
from werkzeug.exceptions import HTTPException

from gm.records import frozen_record

__all__ = ["PROBLEM_BASE", "MEDIA_TYPE", "Problem", "ProblemType", "register", "lookup", "install",
           "problem_response", "REGISTRY", "HTTP_SLUGS", "register_pages", "page_renderer"]

PROBLEM_BASE = "https://eseal.example/problems/"
MEDIA_TYPE = "application/problem+json"
log = logging.getLogger("eseal.api")


@frozen_record
class ProblemType:
    status: int
    slug: str
    title: str

    @property
    def uri(self) -> str:
        return PROBLEM_BASE + self.slug


class Problem(Exception):
    """Raised by views: ``Problem(400, "bad-json", "body is not JSON: ...")``."""

    def __init__(self, status: int, slug: str, detail: str, *, title: str | None = None,
                 headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.type = ProblemType(status, slug, title or _TITLES.get(slug, slug.replace("-", " ")))
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


# Titles of the slugs views raise directly (Problem(...)); the registry below holds the rest.
_TITLES = {
    "bad-json": "Request body is not valid JSON",
    "invalid-request": "Request is invalid",
    "unauthorized": "Authentication required",
    "forbidden": "Not allowed for this token",
    "not-found": "Not found",
    "method-not-allowed": "Method not allowed",
    "payload-too-large": "Request body too large",
    "unsupported-media-type": "Unsupported media type",
    "idempotency-key-reused": "Idempotency key reused with a different request",
    "idempotency-in-progress": "A request with this idempotency key is still running",
    "too-many-failed-authentications": "Too many failed authentications from this address",
    "not-ready": "Service not ready",
    "database-unavailable": "Database unavailable",
    "internal-error": "Internal error",
}

_STATUSES = {
    "bad-json": 400, "invalid-request": 400, "unauthorized": 401, "forbidden": 403, "not-found": 404,
    "method-not-allowed": 405, "payload-too-large": 413, "unsupported-media-type": 415,
    "idempotency-key-reused": 409, "idempotency-in-progress": 409, "too-many-failed-authentications": 429, "not-ready": 503, "database-unavailable": 503, "internal-error": 500,
}

HTTP_SLUGS = {
    400: "invalid-request", 401: "unauthorized", 403: "forbidden", 404: "not-found",
    405: "method-not-allowed", 413: "payload-too-large", 415: "unsupported-media-type",
}

REGISTRY: dict[type[BaseException], ProblemType] = {}


def register(exc_class: type[BaseException], status: int, slug: str, title: str) -> None:
    """Map ``exc_class`` (and its subclasses, unless they have their own entry) to a problem."""
    REGISTRY[exc_class] = ProblemType(status, slug, title)


def lookup(exc: BaseException) -> ProblemType | None:
    for klass in type(exc).__mro__:
        found = REGISTRY.get(klass)
        if found is not None:
            return found
    return None


def _register_defaults() -> None:
    from ca import errors as ca
    from keystore import errors as ks
    from store.errors import StoreError
    from store.tokens import TokenError

    register(ca.CAError, 400, "ca-error", "Certificate authority refused the request")
    register(ca.InvalidCSR, 400, "invalid-csr", "Certificate request is invalid")
    register(ca.InvalidIdentifier, 400, "invalid-identifier", "Identity number or credit code is invalid")
    register(ca.ProfileViolation, 400, "profile-violation", "Request does not satisfy the certificate profile")
    register(ca.BuilderError, 400, "invalid-certificate-field", "A certificate field value is invalid")
    register(ca.UnknownSerial, 404, "unknown-serial", "No such certificate")
    register(ca.AlreadyRevoked, 409, "already-revoked", "Certificate is revoked")
    register(ca.InvalidTransition, 409, "invalid-transition", "Status change does not apply")
    register(ca.RegionExists, 409, "region-exists", "Region already initialised")
    register(ca.RegionNotInitialised, 503, "region-not-initialised", "Region not initialised")
    register(ca.UnknownAuthority, 404, "unknown-issuer", "No such certification authority")
    register(ca.ServiceCertificateMissing, 503, "service-certificate-missing",
             "The region lacks a service certificate for this operation")
    register(ca.KeyDeliveryError, 400, "key-delivery", "Key cannot be delivered as asked")
    for name, status, slug, title in (
            ("UnknownApplication", 404, "unknown-application", "No such certificate application"),
            ("SeparationOfDuties", 403, "separation-of-duties", "Separation of duties forbids this step")):
        klass = getattr(ca, name, None)  # registration workflow errors, as they land
        if klass is not None:
            register(klass, status, slug, title)
    register(TokenError, 400, "invalid-token-request", "Token request is invalid")
    register(ks.KeyStoreError, 503, "keystore-unavailable", "Key store cannot perform the operation")
    register(ks.KeyStoreLocked, 503, "keystore-locked", "Key store is locked")
    # a key admin's decision, not an outage: retrying will not help (no 503 and Retry-After)
    register(ks.KeyDisabled, 409, "key-disabled", "The key is disabled")
    register(ks.KeyDestroyed, 409, "key-destroyed", "The key is destroyed")
    register(ks.PolicyDenied, 403, "key-policy-denied", "Key policy refuses this use")
    register(StoreError, 503, "store-unavailable", "Data store unavailable")


# Path prefix -> the HTML page of a problem there: render(problem type, detail) -> HTML.
_PAGES: dict[str, Callable[[ProblemType, str], str]] = {}


def register_pages(prefix: str, render: Callable[[ProblemType, str], str]) -> None:
    """Answer the problems of ``prefix`` and the paths below it ("/console": "/console/x", not
    "/consoles") with ``render(ptype, detail)``, an HTML page, instead of problem+json."""
    _PAGES[prefix] = render


def page_renderer(path: str) -> Callable[[ProblemType, str], str] | None:
    """The page that answers the problems of ``path``; None where problems are problem+json."""
    for prefix, render in _PAGES.items():
        if path == prefix or path.startswith(prefix + "/"):
            return render
    return None


def _html_page(ptype: ProblemType, detail: str) -> str | None:
    """The problem as the HTML page of the area the request is in; None outside such areas."""
    render = page_renderer(request.path) if has_request_context() else None
    if render is None:
        return None
    try:
        return render(ptype, detail)
    except Exception:  # noqa: BLE001 - the error layer must answer: a broken page falls back to JSON
        log.exception("the HTML page of a %s problem failed; answering problem+json", ptype.status)
        return None


def problem_response(ptype: ProblemType, detail: str, *, headers: dict[str, str] | None = None,
                     **extra: Any) -> Response:
    page = _html_page(ptype, detail)
    if page is not None:
        response = Response(page, status=ptype.status, mimetype="text/html")
    else:
        body = {"type": ptype.uri, "title": ptype.title, "status": ptype.status, "detail": detail, **extra}
        response = Response(json.dumps(body, ensure_ascii=False), status=ptype.status, mimetype=MEDIA_TYPE)
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def _http_problem(exc: HTTPException) -> Response:
    status = exc.code or 500
    slug = HTTP_SLUGS.get(status, f"http-{status}")
    ptype = ProblemType(status, slug, _TITLES.get(slug, exc.name))
    headers = {}
    if status == 405 and exc.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(exc.valid_methods)  # type: ignore[attr-defined]
    detail = exc.description or exc.name
    if status == 413:
        from flask import current_app

        detail = f"request body exceeds the limit of {current_app.config['MAX_CONTENT_LENGTH']} bytes"
    return problem_response(ptype, detail, headers=headers)


RETRY_AFTER_SECONDS = "5"


def _database_down(exc: Exception) -> bool:
    return isinstance(exc, (OperationalError, InterfaceError)) or (
        isinstance(exc, DBAPIError) and exc.connection_invalidated)


def _handle(exc: Exception) -> Response:
    if _database_down(exc):
        # the message of a driver error can carry host names and SQL: log it, say less
        log.warning("database unavailable: %s", type(exc).__name__)
        return problem_response(ProblemType(503, "database-unavailable", _TITLES["database-unavailable"]),
                                "the database cannot be reached; retry shortly",
                                headers={"Retry-After": RETRY_AFTER_SECONDS})
    if isinstance(exc, Problem):
        return problem_response(exc.type, exc.detail, headers=exc.headers, **exc.extra)
    if isinstance(exc, HTTPException):
        return _http_problem(exc)
    ptype = lookup(exc)
    if ptype is not None:
        headers = {"Retry-After": RETRY_AFTER_SECONDS} if ptype.status == 503 else None
        return problem_response(ptype, str(exc), headers=headers)
    log.exception("unexpected error while serving a request")
    return problem_response(ProblemType(500, "internal-error", _TITLES["internal-error"]),
                            "an unexpected error occurred; it has been logged")


def install(app: Flask) -> None:
    """Route every exception of ``app`` through :func:`_handle`."""
    if not REGISTRY:
        _register_defaults()
    app.register_error_handler(Exception, _handle)


def slugs() -> dict[str, ProblemType]:
    """Every problem type the API can answer (for the OpenAPI document)."""
    if not REGISTRY:
        _register_defaults()
    out = {p.slug: p for p in REGISTRY.values()}
    for slug, title in _TITLES.items():
        out.setdefault(slug, ProblemType(_STATUSES[slug], slug, title))
    return out
