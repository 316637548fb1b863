"""Rate limits on the public endpoints: a token bucket per client address, per worker process.

The public endpoints (OCSP, CRL, CA certificates, TSA, verify, trust lists, seal /
certificate / e-license status, the public pages, health) answer anyone, and some cost a
signature or a verification each: one client must not take a worker's whole CPU. Each
client address (``REMOTE_ADDR``) gets a bucket of ``burst`` requests that refills at
``per_second``; a request finding it empty gets ``429`` ``rate-limited`` with ``Retry-After``
(whole seconds until one request is allowed again) and costs nothing more: problem+json, or,
on the pages people open in a browser (the console, the public verification pages:
``api.problems.register_pages``), that area's HTML error page in the reader's language.

What counts as public: every request except those routed to a view that declares a bearer
role (``@requires``, :mod:`api.auth`); a token holder is accountable and limited by role,
not by address. Unrouted paths (404) count as public: scanners pay too.

Per process, on purpose: a check is a dict lookup under a lock, no database round trip on
the hottest paths (OCSP answers from memory in ~50 µs). With N gunicorn workers a client
can get up to N times the limit (its keep-alive connection stays with one worker, so in
practice it is about the limit per connection). Behind a reverse proxy every client has the
proxy's address: limit at the proxy and switch this off (``per_second`` 0).

:class:`RateLimit` is the WSGI layer, outermost (in front of the OCSP fast path).
"""
from __future__ import annotations

import json
import math
import threading
import time
from collections import OrderedDict
from collections.abc import Callable, Iterable
from functools import lru_cache
from typing import Any

from api.problems import MEDIA_TYPE, PROBLEM_BASE, ProblemType, page_renderer, problem_response

__all__ = ["TokenBuckets", "RateLimit", "RateLimited", "SLUG", "TITLE"]

SLUG = "rate-limited"
TITLE = "Too many requests"


class RateLimited(Exception):
    """Never raised (the WSGI layer answers itself); registered so that the problem type is
    listed with the others (api.problems.slugs, the OpenAPI document)."""


class TokenBuckets:
    """Buckets of ``burst`` tokens refilled at ``per_second``, one per key, at most
    ``max_keys`` (the least recently seen is dropped: it comes back with a full bucket, so
    the bound costs a flooding client nothing it could not have had by waiting)."""

    def __init__(self, per_second: float, burst: int, *, max_keys: int = 100_000,
                 clock: Callable[[], float] = time.monotonic) -> None:
        if per_second <= 0 or burst < 1:
            raise ValueError("a token bucket needs per_second > 0 and burst >= 1")
        self.per_second = float(per_second)
        self.burst = float(burst)
        self.max_keys = max_keys
        self.clock = clock
        self._buckets: OrderedDict[str, tuple[float, float]] = OrderedDict()  # key -> (tokens, at)
        self._lock = threading.Lock()

    def take(self, key: str) -> float:
        """Take one token for ``key``: 0.0 when allowed, else the seconds until one is there."""
        now = self.clock()
        with self._lock:
            tokens, at = self._buckets.pop(key, (self.burst, now))
            tokens = min(self.burst, tokens + max(0.0, now - at) * self.per_second)
            wait = 0.0
            if tokens >= 1.0:
                tokens -= 1.0
            else:
                wait = (1.0 - tokens) / self.per_second
            self._buckets[key] = (tokens, now)
            if len(self._buckets) > self.max_keys:
                self._buckets.popitem(last=False)
            return wait


STATUS = "429 Too Many Requests"


def _detail(retry: int) -> str:
    return f"too many requests from this address; retry in {retry} s"


@lru_cache(maxsize=64)
def _answer(retry: int) -> tuple[tuple[tuple[str, str], ...], bytes]:
    """Headers and body of the 429 problem+json for ``retry`` seconds: a flooding client gets them often."""
    body = json.dumps({"type": PROBLEM_BASE + SLUG, "title": TITLE, "status": 429, "detail": _detail(retry)}).encode()
    return (("Content-Type", MEDIA_TYPE), ("Content-Length", str(len(body))), ("Retry-After", str(retry))), body


class RateLimit:
    """WSGI layer: ``RateLimit(inner, flask_app, buckets)``; ``buckets`` None lets all pass."""

    def __init__(self, inner: Callable[..., Iterable[bytes]], flask_app: Any, buckets: TokenBuckets | None) -> None:
        self.inner = inner
        self.buckets = buckets
        self._public = lru_cache(maxsize=4096)(self._classify)
        self._flask = flask_app

    def _classify(self, method: str, path: str) -> bool:
        from api.openapi import ATTR

        adapter = self._flask.url_map.bind("localhost")
        try:
            endpoint, _ = adapter.match(path, method)
        except Exception:  # noqa: BLE001 - 404, 405, redirects: not a token holder's view
            return True
        view = self._flask.view_functions.get(endpoint)
        return not getattr(view, ATTR, {}).get("security")

    def is_public(self, method: str, path: str) -> bool:
        if path.startswith(("/ocsp", "/crl/")):  # the hottest paths, no routing needed
            return True
        return self._public(method, path)

    def __call__(self, environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        if self.buckets is not None and self.is_public(environ.get("REQUEST_METHOD", ""),
                                                       environ.get("PATH_INFO", "")):
            wait = self.buckets.take(environ.get("REMOTE_ADDR") or "-")
            if wait:
                return self._refuse(environ, start_response, max(1, math.ceil(wait)))
        return self.inner(environ, start_response)

    def _refuse(self, environ: dict[str, Any], start_response: Callable[..., Any], retry: int) -> Iterable[bytes]:
        if page_renderer(environ.get("PATH_INFO", "")) is None:
            headers, body = _answer(retry)
            start_response(STATUS, list(headers))
            return [body]
        # A page for people: the problem layer renders it (the reader's language comes from the
        # session) and the app's after-request hooks add the HTML security headers, as for any page.
        with self._flask.request_context(environ):
            response = problem_response(ProblemType(429, SLUG, TITLE), _detail(retry),
                                        headers={"Retry-After": str(retry)})
            response = self._flask.process_response(response)
        return response(environ, start_response)
