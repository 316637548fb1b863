"""How long a relying party reuses a status answer it fetched (a deployment setting).

``ESEAL_VERIFY_STATUS_MAX_AGE`` (seconds) bounds the reuse of OCSP answers and CRLs
(otherwise kept until their nextUpdate, RFC 5280 / RFC 6960) and of another region's
e-license status (otherwise :data:`LICENSE_STATUS_DEFAULT`). ``0`` asks afresh every time:
a relying party that must see a revocation the moment the issuer records it pays one
fetch per verification for it (ETSI EN 319 102-1 §5.2.5: revocation freshness is a
constraint of the validation policy).
"""
from __future__ import annotations

import datetime as _dt

from store.settings import seconds_setting

__all__ = ["status_max_age", "ENV", "LICENSE_STATUS_DEFAULT"]

ENV = "ESEAL_VERIFY_STATUS_MAX_AGE"
LICENSE_STATUS_DEFAULT = _dt.timedelta(seconds=60)


def status_max_age(environ: dict[str, str] | None = None) -> _dt.timedelta | None:
    """The configured bound, or None (no bound beyond the answer's own nextUpdate)."""
    seconds = seconds_setting(ENV, environ)
    return None if seconds is None else _dt.timedelta(seconds=seconds)
