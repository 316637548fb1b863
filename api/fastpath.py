"""OCSP, CRLs and verification without Flask's per-request machinery: a WSGI layer in
front of the app.

A hot responder mostly returns stored bytes (ca/ocsp_cache.py, api/crl_cache.py); next to
that, building Flask's request and response objects, contexts and signals costs ~20 times
as much as an OCSP answer itself. :class:`FastPath` answers exactly the two OCSP forms
(``POST /ocsp`` with ``application/ocsp-request`` and a Content-Length within the limit,
and ``GET /ocsp/<b64>``) and the two CRL URLs (``GET /crl/<issuer id>.crl`` and
``GET /crl/<issuer id>-delta.crl``) straight from the caches and passes every other
request, unchanged, to the Flask app. The Flask views of the same URLs stay: they are the
documented endpoints (OpenAPI), they answer what the fast path declines (wrong media type
-> 415 problem, no Content-Length, an unknown issuer -> 404 problem, an unexpected error ->
the problem layer), and they produce the same bytes.

Verification (``POST /api/v1/verify`` with a raw body of one of the view's media types, no
query string) is the relying parties' hot path: there Flask's machinery cost about a tenth
of a request. The fast path calls the same verifier as the view and answers only with a
report; anything else -- another media type, a policy asked for, an input that cannot be
verified, any error -- goes to the Flask view, which answers it (a report or a problem).
"""
from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Iterable
from typing import Any

from api.blueprints.verify import RAW_TYPES
from api.secure_headers import ALWAYS
from ca import ocsp

__all__ = ["FastPath", "decode_get"]

OCSP_REQUEST = "application/ocsp-request"
_HEADERS = "application/ocsp-response"
_CRL = "application/pkix-crl"
_CRL_CACHE_CONTROL = "public, max-age=60"   # as the Flask view (api/blueprints/pki.py)


def decode_get(encoded: str) -> bytes | None:
    """DER of an RFC 6960 A.1 GET request path (already URL-decoded); None when not base64.
    The URL-safe alphabet and missing padding are accepted too, as some clients send them."""
    text = encoded.strip().replace("-", "+").replace("_", "/").replace(" ", "+")
    text += "=" * (-len(text) % 4)
    try:
        return base64.b64decode(text, validate=True)
    except (binascii.Error, ValueError):
        return None


VERIFY_PATH = "/api/v1/verify"
VERIFY_TYPES = frozenset(RAW_TYPES)


class FastPath:
    """``verify(body) -> (JSON bytes, indication)`` answers verification requests (None: only
    the Flask view verifies)."""

    def __init__(self, app: Callable[..., Iterable[bytes]], cache: Any, max_length: int, crl: Any = None,
                 verify: Callable[[bytes], tuple[bytes, str]] | None = None) -> None:
        self.app = app
        self.cache = cache
        self.crl = crl
        self.max_length = max_length
        self.verify = verify

    def _answer(self, der: bytes, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", _HEADERS), ("Content-Length", str(len(der))), *ALWAYS])
        return [der]

    def _crl(self, name: str, start_response: Callable[..., Any]) -> list[bytes] | None:
        delta = name.endswith("-delta")
        try:
            der = self.crl.get(name[:-6] if delta else name, delta=delta)
        except Exception:  # noqa: BLE001 - unknown issuer, no CRL...: the Flask view answers with a problem
            return None
        start_response("200 OK", [("Content-Type", _CRL), ("Content-Length", str(len(der))),
                                  ("Cache-Control", _CRL_CACHE_CONTROL), *ALWAYS])
        return [der]

    def _body(self, environ: dict[str, Any], types: Iterable[str]) -> bytes | None:
        """The whole body of a request of one of ``types`` within the length limit (None for
        any other); what was read stays readable for the Flask view, should the fast path decline."""
        ctype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
        try:
            length = int(environ.get("CONTENT_LENGTH") or -1)
        except ValueError:
            length = -1
        if ctype not in types or not 0 <= length <= self.max_length:
            return None
        body = environ["wsgi.input"].read(length) if length else b""
        environ["wsgi.input"] = io.BytesIO(body)
        return body if len(body) == length else None

    def _verified(self, body: bytes, start_response: Callable[..., Any]) -> list[bytes] | None:
        try:
            report, indication = self.verify(body)  # type: ignore[misc]
        except Exception:  # noqa: BLE001 - the Flask view verifies again and answers through the problem layer
            return None
        start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(report))),
                                  ("X-Eseal-Indication", indication), *ALWAYS])
        return [report]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if method == "POST" and path == VERIFY_PATH:
            if self.verify is not None and not environ.get("QUERY_STRING"):
                body = self._body(environ, VERIFY_TYPES)
                if body:
                    answered = self._verified(body, start_response)
                    if answered is not None:
                        return answered
                    environ["wsgi.input"] = io.BytesIO(body)
        elif method == "POST" and path == "/ocsp":
            body = self._body(environ, (OCSP_REQUEST,))
            if body is not None:
                try:
                    return self._answer(self.cache.respond(body), start_response)
                except Exception:  # noqa: BLE001 - the Flask view answers again, with the error layer
                    environ["wsgi.input"] = io.BytesIO(body)
        elif method == "GET" and path.startswith("/ocsp/") and len(path) > 6:
            der = decode_get(path[6:])
            try:
                if der is None:
                    return self._answer(ocsp.error_response("malformed_request"), start_response)
                return self._answer(self.cache.respond(der), start_response)
            except Exception:  # noqa: BLE001 - as above
                pass
        elif (method == "GET" and self.crl is not None and path.startswith("/crl/") and path.endswith(".crl")
              and "/" not in path[5:]):
            answered = self._crl(path[5:-4], start_response)
            if answered is not None:
                return answered
        return self.app(environ, start_response)
