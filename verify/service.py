"""Service functions for the shells (api/, cli/): a configured :class:`Verifier` for a home.

``verifier_for_home`` builds the trust store from the home's imported trust lists and its
own root (its other CAs as intermediates), a revocation checker that answers for the
home's own certificates from its CA database and shares other answers through it, and
the home's seal registry, and e-license status from the home's directory or the issuing
region's (verify/license_status.py). ``shared_verifier`` keeps one per home and policy in
the process (so a web worker verifies with warm caches) and reloads the trust store when
lists were imported (asked at most every ``TRUST_CHECK`` seconds) or every
``TRUST_RELOAD`` seconds.
"""
from __future__ import annotations

import threading
import time
from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

from verify.engine import Verifier, home_seal_status
from verify.fetch import Fetcher
from verify.license_status import license_status_lookup
from verify.registry import home_registry
from verify.report import LENIENT, STRICT
from verify.revocation import RevocationCache, RevocationChecker
from verify.trustlist.service import imported_marker, load_trust_store, trust_store_from_file
from verify.trustlist.store import TrustStore

__all__ = ["verifier_for_home", "shared_verifier", "license_document", "TRUST_RELOAD"]

TRUST_RELOAD = 60.0
TRUST_CHECK = 1.0       # how often a shared verifier asks whether lists were imported
_LOCK = threading.Lock()
_SHARED: dict[tuple[str, bool, bool], tuple[float, Verifier, Any, float]] = {}
_RESOLVED: dict[str, str] = {}


def verifier_for_home(home: Any | None, *, lenient: bool = False, online: bool = True,
                      crls: Iterable[bytes] = (), trust_lists: Sequence[str | Path] = (),
                      anchors: Iterable[bytes] = (), fetcher: Any = None, status_fetcher: Any = None) -> Verifier:
    """A Verifier over ``home`` (may be None: then only ``trust_lists`` / ``anchors``).

    ``fetcher`` also fetches missing issuers (AIA); revocation and license status go through
    ``status_fetcher``, else ``fetcher``, else one new Fetcher -- one for both, so a host that
    timed out or answered 503 for one rests for the other (verify/fetch.py)."""
    policy = LENIENT if lenient else STRICT
    if online and status_fetcher is None:
        status_fetcher = fetcher if fetcher is not None else Fetcher()
    store, cache, extra = TrustStore(), RevocationCache(), {}
    if home is not None:
        from store.db import make_sessionmaker

        store = load_trust_store(home)
        cache = RevocationCache(make_sessionmaker(home.engine))
        extra = {"seal_status": home_seal_status(home)}
    for path in trust_lists:
        for tl in trust_store_from_file(path).lists:
            store.add_list(tl, source=str(path))
    for der in anchors:
        store.add_anchor(der)
    revocation = RevocationChecker(fetcher=status_fetcher, cache=cache, online=online, offline_crls=list(crls),
                                   policy=policy,
                                   # CRLs the caller hands over are the evidence asked for
                                   registry=home_registry(home) if home is not None and not crls else None)
    # this home's license directory, else the issuing region's (its TL names it)
    extra["license_status"] = license_status_lookup(home, store, status_fetcher if online else _Offline())
    return Verifier(store, revocation, policy, fetcher=fetcher, **extra)


class _Offline:
    """The fetcher of the offline mode: refuses every fetch."""

    def get(self, url: str, **_: Any) -> Any:
        from verify.errors import FetchError

        raise FetchError(f"{url}: offline mode", "offline")


def shared_verifier(home: Any, *, lenient: bool = False, online: bool = True) -> Verifier:
    """The process-wide Verifier of ``home`` (warm caches across requests)."""
    where = str(home.path)
    resolved = _RESOLVED.get(where)
    if resolved is None:        # resolve() is three lstat calls: once per home, not per request
        resolved = _RESOLVED[where] = str(Path(where).resolve())
    key = (resolved, lenient, online)
    now = time.monotonic()
    with _LOCK:
        entry = _SHARED.get(key)
    if entry is not None and now - entry[0] < TRUST_RELOAD:
        if now - entry[3] < TRUST_CHECK:
            return entry[1]
        marker = imported_marker(home)      # one query a second at most: lists imported since?
        if marker == entry[2]:
            with _LOCK:
                _SHARED[key] = (entry[0], entry[1], marker, now)
            return entry[1]
    else:
        marker = imported_marker(home)
    # keep the warm revocation answers and the fetcher's resting hosts, take the new trust store
    kept = entry[1].revocation if entry is not None else None
    verifier = verifier_for_home(home, lenient=lenient, online=online,
                                 status_fetcher=kept.fetcher if kept is not None else None)
    if kept is not None:
        verifier.revocation = kept
    with _LOCK:
        _SHARED[key] = (now, verifier, marker, now)
    return verifier


def license_document(home: Any, license_id: str, *, sessions: Any = None) -> tuple[str, bytes]:
    """(file name, sealed OFD) of an e-license in ``home``'s directory, to verify it by its id
    (its LICENSE_STATUS check then reads the same directory). Raises the license errors of
    seal/license (InvalidLicenseId, LicenseNotFound)."""
    from seal.license.service import get_license

    info = get_license(home, license_id, sessions=sessions)
    return f"{info.status.license_id}.ofd", info.ofd
