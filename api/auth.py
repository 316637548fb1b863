"""Bearer-token authentication and role checks for views.

``@requires("admin", "ra_operator")`` on a view: the request must carry
``Authorization: Bearer <token>`` for a known, unrevoked token (``store.tokens.authenticate``)
whose role is listed; otherwise 401 ``unauthorized`` (with ``WWW-Authenticate: Bearer``) or
403 ``forbidden``. A client address that presented ten unknown or revoked tokens within five
minutes gets 429 ``too-many-failed-authentications`` with ``Retry-After`` until the oldest
of them is five minutes old (api/lockout.py), whatever token it sends meanwhile. The
token's info is :func:`principal` for the view. Roles:

* ``admin`` — everything; ``ra_operator`` — certificate issuance and lifecycle;
* ``agency`` — scoped to its own agency: views over agency-owned things call
  :func:`require_agency` with the owner;
* ``auditor`` — read-only: listed only on GET endpoints.

The decorator also writes the security requirement and the roles into the view's OpenAPI
declaration, so the document and the check come from the same line.
"""
from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, TypeVar

from flask import g, request

from api.context import services
from api.lockout import SLUG as LOCKOUT_SLUG
from api.openapi import _merge
from api.problems import Problem
from store.tokens import ROLES, TokenInfo, authenticate

__all__ = ["requires", "principal", "require_agency", "actor"]

F = TypeVar("F", bound=Callable[..., Any])


def _bearer() -> str:
    header = request.headers.get("Authorization", "")
    scheme, _, token = header.partition(" ")
    if not header:
        raise Problem(401, "unauthorized", "this endpoint needs an `Authorization: Bearer <token>` header",
                      headers={"WWW-Authenticate": 'Bearer realm="eseal"'})
    if scheme.lower() != "bearer" or not token.strip():
        raise Problem(401, "unauthorized", "the Authorization header must read `Bearer <token>`",
                      headers={"WWW-Authenticate": 'Bearer realm="eseal", error="invalid_request"'})
    return token.strip()


def requires(*roles: str) -> Callable[[F], F]:
    unknown = set(roles) - set(ROLES)
    if unknown or not roles:
        raise ValueError(f"requires() needs roles among {ROLES}, got {roles!r}")

    def decorate(fn: F) -> F:
        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            s = services()
            token, client, lockout = _bearer(), request.remote_addr or "?", s.api_lockout
            wait = lockout.retry_after(client)
            if wait is not None:
                raise Problem(429, LOCKOUT_SLUG, f"too many unknown or revoked tokens from {client}; "
                              f"try again in {wait} s", headers={"Retry-After": str(wait)})
            info = authenticate(s.sessions, token)
            if info is None:
                lockout.failed(client)
                raise Problem(401, "unauthorized", "the token is unknown, malformed or revoked",
                              headers={"WWW-Authenticate": 'Bearer realm="eseal", error="invalid_token"'})
            if info.role not in roles:
                raise Problem(403, "forbidden",
                              f"role {info.role!r} may not {request.method} {request.path}; "
                              f"allowed: {', '.join(roles)}")
            g.eseal_principal = info
            return fn(*args, **kwargs)

        _merge(wrapper, security=list(roles), problems=["unauthorized", "forbidden", LOCKOUT_SLUG])
        return wrapper  # type: ignore[return-value]

    return decorate


def principal() -> TokenInfo:
    return g.eseal_principal


def actor() -> str:
    """The audit actor of the current request: ``api:<role>:<token id>``."""
    info = principal()
    return f"api:{info.role}:{info.token_id}"


def require_agency(owner: str | None) -> None:
    """An agency token only touches its own agency's things; other roles pass."""
    info = principal()
    if info.role == "agency" and info.agency != owner:
        raise Problem(403, "forbidden", f"this token is scoped to agency {info.agency!r}")
