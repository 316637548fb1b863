"""Settings of the HTTP service, typed; unknown keys refused.

Sources, later wins: defaults, environment ``ESEAL_API_<KEY>`` (upper case), the ``config``
mapping given to ``create_app``.

    max_content_length       bytes a request body may have (413 above)         1 MiB
    crl_max_age_seconds      a cached CRL older than this is regenerated        3600
    crl_settle_seconds       see api/crl_cache.py                               5
    ocsp_refresh_fraction    re-sign a cached OCSP answer when less than this
                             fraction of its validity remains                    0.5
    ocsp_cache_size          pre-signed answers kept per process                100000
    idempotency_ttl_seconds  how long an Idempotency-Key is remembered          86400
    rate_limit_per_second    public requests per second per client address and
                             worker process (api/ratelimit.py); 0 switches off   100
    rate_limit_burst         requests a client may make at once before that       1000
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import fields
from typing import Any

from gm.records import frozen_record

__all__ = ["ApiConfig", "ApiConfigError"]


class ApiConfigError(ValueError):
    """A setting of the HTTP service has an unknown name or a wrong value."""


@frozen_record
class ApiConfig:
    max_content_length: int = 1024 * 1024
    crl_max_age_seconds: int = 3600
    crl_settle_seconds: int = 5
    ocsp_refresh_fraction: float = 0.5
    ocsp_cache_size: int = 100_000
    idempotency_ttl_seconds: int = 86_400
    rate_limit_per_second: float = 100.0
    rate_limit_burst: int = 1000

    def __post_init__(self) -> None:
        for f in fields(self):
            value = getattr(self, f.name)
            kind = float if f.type in ("float", float) else int
            if isinstance(value, bool) or not isinstance(value, (int, float) if kind is float else int):
                raise ApiConfigError(f"{f.name} must be a{'' if kind is int else ' real'} number, not {value!r}")
            if value < 0:
                raise ApiConfigError(f"{f.name} must not be negative, not {value!r}")
        if self.rate_limit_per_second and self.rate_limit_burst < 1:
            raise ApiConfigError("rate_limit_burst must be at least 1 when rate limits are on")
        if not 0 < self.ocsp_refresh_fraction < 1:
            raise ApiConfigError(f"ocsp_refresh_fraction must be between 0 and 1, not {self.ocsp_refresh_fraction!r}")

    @classmethod
    def load(cls, overrides: Mapping[str, Any] | None = None, environ: Mapping[str, str] | None = None) -> ApiConfig:
        env = os.environ if environ is None else environ
        known = {f.name: f for f in fields(cls)}
        values: dict[str, Any] = {}
        for name, f in known.items():
            raw = env.get(f"ESEAL_API_{name.upper()}")
            if raw:
                try:
                    values[name] = float(raw) if f.type in ("float", float) else int(raw)
                except ValueError:
                    raise ApiConfigError(f"ESEAL_API_{name.upper()} must be a number, not {raw!r}") from None
        for name, value in (overrides or {}).items():
            if name not in known:
                raise ApiConfigError(f"unknown API setting {name!r}; known: {', '.join(sorted(known))}")
            values[name] = value
        return cls(**values)
