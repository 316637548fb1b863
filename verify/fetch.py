"""Fetch CRLs, OCSP answers, CA certificates and trust lists over http(s), defensively.

A verifier fetches URLs written by whoever made the certificate being checked, so the
fetcher trusts nothing: only ``http`` and ``https`` (no file://, ftp://, data:, ...),
redirects followed only to http(s) and at most :attr:`Fetcher.max_redirects` times, a
connect timeout and a read timeout per socket operation plus an overall deadline (a server
trickling one byte a second cannot hold a verification), and a size limit on the body
(read with a bound, never ``read()`` all). Every failure is a :class:`FetchError` with a
``reason`` word; the revocation layer turns it into TRY_LATER with the reason shown.
"""
from __future__ import annotations

import http.client
import socket
import ssl
import time
import urllib.parse
from dataclasses import dataclass, field

from gm.records import frozen_record
from verify.errors import FetchError

__all__ = ["Fetcher", "Response", "ALLOWED_SCHEMES"]

ALLOWED_SCHEMES = ("http", "https")


@frozen_record
class Response:
    url: str                 # the URL finally answered (after redirects)
    status: int
    content_type: str
    body: bytes


@dataclass
class Fetcher:
    """``Fetcher(connect_timeout=3, read_timeout=5, max_bytes=10 MiB).get(url)``."""

    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    total_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    user_agent: str = "eseal-verify/1"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    requests: int = field(default=0, init=False)   # how many requests went out (tests, stats)

    def get(self, url: str) -> Response:
        return self._request("GET", url, None, None)

    def post(self, url: str, body: bytes, content_type: str) -> Response:
        return self._request("POST", url, body, content_type)

    # --------------------------------------------------------------------------------

    @staticmethod
    def check_url(url: str) -> urllib.parse.SplitResult:
        """The parsed URL, or FetchError(reason="scheme") for anything not http(s)."""
        if not isinstance(url, str) or not url:
            raise FetchError("empty URL", "scheme")
        parts = urllib.parse.urlsplit(url)
        if parts.scheme.lower() not in ALLOWED_SCHEMES:
            raise FetchError(f"refusing to fetch {url!r}: only http and https URLs are fetched, "
                             f"not {parts.scheme or 'a relative URL'}", "scheme")
        if not parts.hostname:
            raise FetchError(f"refusing to fetch {url!r}: no host", "scheme")
        return parts

    def _request(self, method: str, url: str, body: bytes | None, content_type: str | None) -> Response:
        deadline = time.monotonic() + self.total_timeout
        for _ in range(self.max_redirects + 1):
            parts = self.check_url(url)
            status, headers, data = self._once(method, parts, body, content_type, deadline)
            if status in (301, 302, 303, 307, 308):
                location = headers.get("location")
                if not location:
                    raise FetchError(f"{url}: redirect {status} without a Location", "status")
                url = urllib.parse.urljoin(url, location)
                if status == 303:
                    method, body, content_type = "GET", None, None
                continue
            if not 200 <= status < 300:
                raise FetchError(f"{url}: HTTP status {status}", "status")
            return Response(url, status, headers.get("content-type", ""), data)
        raise FetchError(f"{url}: more than {self.max_redirects} redirects", "status")

    def _once(self, method: str, parts: urllib.parse.SplitResult, body: bytes | None,
              content_type: str | None, deadline: float) -> tuple[int, dict[str, str], bytes]:
        url = parts.geturl()
        host, port = parts.hostname, parts.port
        connect_timeout = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
        if parts.scheme.lower() == "https":
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(
                host, port, timeout=connect_timeout,
                context=self.ssl_context or ssl.create_default_context())
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {"User-Agent": self.user_agent, "Accept": "*/*", "Connection": "close"}
        if content_type:
            headers["Content-Type"] = content_type
        self.requests += 1
        try:
            try:
                conn.connect()
            except (TimeoutError, socket.timeout):
                raise FetchError(f"{url}: connect timed out after {connect_timeout:.1f} s", "timeout") from None
            conn.sock.settimeout(max(0.001, min(self.read_timeout, deadline - time.monotonic())))
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            length = response.getheader("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(f"{url}: response of {int(length)} bytes exceeds the limit of "
                                 f"{self.max_bytes} bytes", "too_large")
            chunks, total = [], 0
            while True:
                if time.monotonic() > deadline:
                    raise FetchError(f"{url}: no complete answer within {self.total_timeout:.1f} s", "timeout")
                chunk = response.read(min(65536, self.max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > self.max_bytes:
                    raise FetchError(f"{url}: response exceeds the limit of {self.max_bytes} bytes",
                                     "too_large")
            hdrs = {k.lower(): v for k, v in response.getheaders()}
            return response.status, hdrs, b"".join(chunks)
        except FetchError:
            raise
        except (TimeoutError, socket.timeout):
            raise FetchError(f"{url}: read timed out", "timeout") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}", "network") from None
        finally:
            conn.close()
