"""HTTP API: the Flask app factory.

``create_app(home_path, passphrase=None, config=None)`` opens the home (``store.home.Home``),
unlocks its key store (``passphrase`` or ``ESEAL_PASSPHRASE``), keeps one sessionmaker and
the per-process caches (pre-signed OCSP answers, CRL files, idempotency keys) in
``app.extensions["eseal"]`` (:mod:`api.context`), installs the problem+json error layer
(:mod:`api.problems`) and registers every blueprint. JSON is written and read by orjson
(:mod:`api.jsonprovider`: the documents of Flask's own provider); the console's signed-cookie
sessions are Flask's, with less work per request (:class:`_CookieSessions`). In front of
Flask, two WSGI layers: the per-client rate limit of the public endpoints
(:mod:`api.ratelimit`, outermost; its limiter is ``app.extensions["eseal_ratelimit"]``) and
the OCSP and CRL fast path (:mod:`api.fastpath`).

Blueprints are discovered: each module of ``api/blueprints/`` that defines ``bp`` (a
``flask.Blueprint``) is registered, in module-name order, so an area adds its endpoints by
adding one file there. Views declare their OpenAPI operation next to them
(:mod:`api.openapi`) and their roles with ``@requires`` (:mod:`api.auth`).

Serving never generates keys: the home must hold an initialised region (``eseal init``).
"""
from __future__ import annotations

import importlib
import os
import pkgutil
from collections.abc import Mapping
from pathlib import Path
from typing import Any

from flask import Flask
from flask.sessions import SecureCookieSessionInterface, SessionMixin
from itsdangerous import URLSafeTimedSerializer

__all__ = ["create_app", "PassphraseMissing"]

PASSPHRASE_ENV = "ESEAL_PASSPHRASE"


class PassphraseMissing(RuntimeError):
    """The key store cannot be unlocked: no passphrase was given."""


class _CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions, same cookies, less work per request: Flask builds a
    signing serializer on every request (~10 µs, most of a ``/health``'s session cost) where
    one per secret key does, parses the Cookie header of requests that have none, and reads
    seven cookie settings before finding that an untouched empty session writes nothing."""

    def __init__(self) -> None:
        self._signing: tuple[Any, URLSafeTimedSerializer | None] = (None, None)

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        if not app.secret_key:
            return None
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made_for, serializer = self._signing
        if made_for != keys:
            serializer = super().get_signing_serializer(app)
            self._signing = (keys, serializer)
        return serializer

    def open_session(self, app: Flask, request: Any) -> SessionMixin | None:
        if not request.environ.get("HTTP_COOKIE") and app.secret_key:
            return self.session_class()  # what Flask finds for a request without the cookie
        return super().open_session(app, request)

    def save_session(self, app: Flask, session: SessionMixin, response: Any) -> None:
        if not session and not session.modified:  # Flask's own early return, before its settings
            if session.accessed:
                response.vary.add("Cookie")
            return
        super().save_session(app, session, response)


def _blueprints() -> list[Any]:
    from api import blueprints

    found = []
    for info in sorted(pkgutil.iter_modules(blueprints.__path__), key=lambda m: m.name):
        module = importlib.import_module(f"{blueprints.__name__}.{info.name}")
        bp = getattr(module, "bp", None)
        if bp is not None:
            found.append(bp)
    return found


def create_app(home_path: str | Path, *, passphrase: str | None = None,
               config: Mapping[str, Any] | None = None) -> Flask:
    from api import problems
    from api.config import ApiConfig
    from api.context import Services
    from api.crl_cache import CRLCache
    from api.idempotency import IdempotencyStore
    from api.jsonprovider import OrjsonProvider
    from ca.ocsp_cache import OCSPCache
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker
    from store.home import Home

    settings = ApiConfig.load(config)
    home = Home.open(home_path)
    sessions = make_sessionmaker(home.engine)
    keystore = SoftKeyStore(sessions)
    secret = passphrase if passphrase is not None else os.environ.get(PASSPHRASE_ENV)
    if not secret:
        raise PassphraseMissing(f"the key store passphrase is needed: set {PASSPHRASE_ENV} or pass passphrase=")
    keystore.unlock_with_passphrase(secret, actor="eseal-serve")

    app = Flask("eseal")
    app.config["MAX_CONTENT_LENGTH"] = settings.max_content_length
    app.json = OrjsonProvider(app)
    app.json.ensure_ascii = False  # type: ignore[attr-defined]
    app.json.sort_keys = False  # type: ignore[attr-defined]
    app.session_interface = _CookieSessions()
    app.extensions["eseal"] = Services(
        home=home, keystore=keystore, sessions=sessions, config=settings,
        ocsp=OCSPCache(home, keystore, sessions=sessions, refresh_fraction=settings.ocsp_refresh_fraction,
                       max_entries=settings.ocsp_cache_size),
        crl=CRLCache(home, keystore, sessions=sessions, max_age_seconds=settings.crl_max_age_seconds,
                     settle_seconds=settings.crl_settle_seconds),
        idempotency=IdempotencyStore(home.path, ttl_seconds=settings.idempotency_ttl_seconds),
    )
    problems.install(app)
    from api.request import refuse_unusable_characters

    app.before_request(refuse_unusable_characters)
    for bp in _blueprints():
        app.register_blueprint(bp)
    from api.fastpath import FastPath
    from api.ratelimit import SLUG, TITLE, RateLimit, RateLimited, TokenBuckets

    problems.register(RateLimited, 429, SLUG, TITLE)  # listed in the OpenAPI document's problems
    buckets = (TokenBuckets(settings.rate_limit_per_second, settings.rate_limit_burst)
               if settings.rate_limit_per_second else None)
    eseal = app.extensions["eseal"]
    from api.blueprints.verify import raw_verification

    fast = FastPath(app.wsgi_app, eseal.ocsp, settings.max_content_length, crl=eseal.crl,
                    verify=raw_verification(app, home))
    limiter = RateLimit(fast, app, buckets)
    app.extensions["eseal_ratelimit"] = limiter
    app.wsgi_app = limiter  # type: ignore[method-assign]
    return app
