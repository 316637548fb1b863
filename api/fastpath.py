"""OCSP and CRLs without Flask's per-request machinery: a WSGI layer in front of the app.

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
"""
from __future__ import annotations

import base64
import binascii
import io
from collections.abc import Callable, Iterable
from typing import Any

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


class FastPath:
    def __init__(self, app: Callable[..., Iterable[bytes]], cache: Any, max_length: int, crl: Any = None) -> None:
        self.app = app
        self.cache = cache
        self.crl = crl
        self.max_length = max_length

    def _answer(self, der: bytes, start_response: Callable[..., Any]) -> list[bytes]:
        start_response("200 OK", [("Content-Type", _HEADERS), ("Content-Length", str(len(der)))])
        return [der]

    def _crl(self, name: str, start_response: Callable[..., Any]) -> list[bytes] | None:
        delta = name.endswith("-delta")
        try:
            der = self.crl.get(name[:-6] if delta else name, delta=delta)
        except Exception:  # noqa: BLE001 - unknown issuer, no CRL...: the Flask view answers with a problem
            return None
        start_response("200 OK", [("Content-Type", _CRL), ("Content-Length", str(len(der))),
                                  ("Cache-Control", _CRL_CACHE_CONTROL)])
        return [der]

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        method, path = environ.get("REQUEST_METHOD"), environ.get("PATH_INFO", "")
        if method == "POST" and path == "/ocsp":
            ctype = environ.get("CONTENT_TYPE", "").partition(";")[0].strip().lower()
            try:
                length = int(environ.get("CONTENT_LENGTH") or -1)
            except ValueError:
                length = -1
            if ctype == OCSP_REQUEST and 0 <= length <= self.max_length:
                body = environ["wsgi.input"].read(length) if length else b""
                environ["wsgi.input"] = io.BytesIO(body)  # for the Flask view, should we decline
                if len(body) == length:
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
