"""What a running app holds: the home, the unlocked key store, one sessionmaker, caches.

One :class:`Services` per app (so per gunicorn worker), in ``app.extensions["eseal"]``;
views reach it through :func:`services`.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import current_app
from sqlalchemy.orm import Session, sessionmaker

from api.config import ApiConfig
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


def services() -> Services:
    return current_app.extensions["eseal"]
