"""An e-license's status for the verification engine: this home's directory, or the
issuing region's, found through the trust lists.

A license identifier starts with its region's GB/T 2260 code (seal/license/identifiers.py),
and each region's signed TL may name its ``license_status_uri`` (docs/trust-list.md). So a
verifier in region B asks region A about an A license at the address A's TL gives (the
JSON public record behind the QR code), never at an address read from the document. The
answer is kept for :func:`verify.freshness.status_max_age` (60 s when unset).

A directory that cannot be reached, or an answer that cannot be read, is ``unavailable``
(the engine: INDETERMINATE TRY_LATER, as for revocation status that cannot be had); a
license the directory says it does not know (its 404 ``unknown-license`` problem) is
``unknown`` (FAILED); a plain 404, from a wrong address or a proxy, is ``unavailable``. A license of a region whose TL
names no directory gets None (no registry to ask).
"""
from __future__ import annotations

import datetime as _dt
import json
import threading
import time
from typing import Any

from verify.engine import StatusAnswer, home_license_status
from verify.errors import FetchError
from verify.freshness import LICENSE_STATUS_DEFAULT, status_max_age

__all__ = ["license_status_lookup", "LicenseStatusLookup", "RemoteLicenseDirectory", "region_of_license"]

_STATUSES = ("valid", "revoked", "expired", "suspended")
UNAVAILABLE = "unavailable"
# the problem type of an eseal directory's 404 for a license it never issued (api/problems.py
# PROBLEM_BASE + the slug of seal/license/errors.py; tests/test_trustlist_license_status.py
# asks a real one)
UNKNOWN_LICENSE_PROBLEM = "https://eseal.example/problems/unknown-license"


def region_of_license(license_id: str) -> str | None:
    """``CN-<region code>`` of a well-formed identifier (check character verified), else None."""
    try:
        from seal.license.identifiers import parse_license_id

        return f"CN-{parse_license_id(license_id).region_code}"
    except Exception:  # noqa: BLE001 - InvalidLicenseId or no license package: nothing to ask
        return None


def _json(body: bytes) -> Any:
    try:
        return json.loads(body)
    except (ValueError, RecursionError):  # not JSON, an integer past Python's 4,300 digits, nested too deep
        return None


def _is_unknown_license(content_type: str, document: Any) -> bool:
    """A 404 is the directory's "no such license" only when it is its problem document (what
    api/ answers for seal.license.errors.LicenseNotFound): any server, proxy or wrong path
    answers a plain 404, and that says nothing about the license."""
    return (content_type.split(";")[0].strip().lower() == "application/problem+json"
            and isinstance(document, dict) and document.get("type") == UNKNOWN_LICENSE_PROBLEM)


def _time(text: Any) -> _dt.datetime | None:
    if not isinstance(text, str):
        return None
    try:
        t = _dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    return t if t.tzinfo else t.replace(tzinfo=_dt.timezone.utc)


class RemoteLicenseDirectory:
    """Asks other regions' license directories, at the addresses their TLs name."""

    def __init__(self, trust: Any, fetcher: Any = None, max_age: _dt.timedelta | None = None) -> None:
        if fetcher is None:
            from verify.fetch import Fetcher

            fetcher = Fetcher()
        self.trust, self.fetcher = trust, fetcher
        bound = status_max_age() if max_age is None else max_age
        self.max_age = (bound if bound is not None else LICENSE_STATUS_DEFAULT).total_seconds()
        self._cache: dict[str, tuple[float, StatusAnswer | None]] = {}
        self._lock = threading.Lock()

    def __call__(self, license_id: str) -> StatusAnswer | None:
        territory = region_of_license(license_id)
        template = self.trust.license_status_uri(territory) if territory and hasattr(
            self.trust, "license_status_uri") else None
        if template is None:
            return None
        now = time.monotonic()
        with self._lock:
            hit = self._cache.get(license_id)
        if hit is not None and now - hit[0] < self.max_age:
            return hit[1]
        answer = self._ask(template.replace("{license_id}", license_id), license_id, territory)
        if answer.status != UNAVAILABLE:    # a directory that did not answer is asked again next time
            with self._lock:
                if len(self._cache) > 10000:
                    self._cache.clear()
                self._cache[license_id] = (now, answer)
        return answer

    def _ask(self, url: str, license_id: str, territory: str) -> StatusAnswer | None:
        source = f"license directory of {territory} ({url})"
        try:
            response = self.fetcher.get(url, accept=(404,))
        except FetchError as exc:
            return StatusAnswer(UNAVAILABLE, reason=str(exc), source=source)
        record = _json(response.body)
        if response.status == 404:
            if _is_unknown_license(response.content_type, record):
                return StatusAnswer("unknown", reason="the issuing region's directory has no such license",
                                    source=source)
            return StatusAnswer(UNAVAILABLE, reason=f"{url}: HTTP status 404 that is not the directory's "
                                "unknown-license answer (a wrong address, or a proxy's)", source=source)
        if not isinstance(record, dict) or record.get("license_id") != license_id \
                or record.get("status") not in _STATUSES:
            return StatusAnswer(UNAVAILABLE, reason="the answer is not this license's record", source=source)
        return StatusAnswer(record["status"], _time(record.get("revoked_at")),
                            str(record.get("revoke_reason") or ""), source)


class LicenseStatusLookup:
    """license id -> StatusAnswer | None: this home's directory first, then the issuing
    region's (through ``trust``, a verify.trustlist.TrustStore, asked with ``fetcher``)."""

    def __init__(self, home: Any, trust: Any, fetcher: Any = None) -> None:
        self.local = home_license_status(home) if home is not None else None
        self.remote = RemoteLicenseDirectory(trust, fetcher)

    def __call__(self, license_id: str) -> StatusAnswer | None:
        answer = self.local(license_id) if self.local is not None else None
        return answer if answer is not None else self.remote(license_id)


license_status_lookup = LicenseStatusLookup
