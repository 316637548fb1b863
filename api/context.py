"""What a running app holds: the home, the unlocked key store, one sessionmaker, caches.

One :class:`Services` per app (so per gunicorn worker), in ``app.extensions["eseal"]``;
views reach it through :func:`services`.
"""
from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from api.config import ApiConfig
from api.lockout import FailedAuthentications
from store.home import Home

__all__ = ["Services", "services"]


@dataclass
class Services:
    home: Home
    keystore: Any               # keystore.soft.SoftKeyStore, unlocked
    sessions: sessionmaker[Session]
    config: ApiConfig
    ocsp: Any                   # ca.ocsp_cache.OCSPCache
    crl: Any                    # api.crl_cache.CRLCache
    idempotency: Any            # api.idempotency.IdempotencyStore
    # failed bearer tokens per client address (api.auth): 10 in 5 minutes, then 429
    api_lockout: FailedAuthentications = field(default_factory=lambda: FailedAuthentications(10, 300))
    # failed console sign-ins per client address (api.blueprints.console): 5 in 5 minutes
    console_lockout: FailedAuthentications = field(default_factory=lambda: FailedAuthentications(5, 300))


def services() -> Services:
    return current_app.extensions["eseal"]
