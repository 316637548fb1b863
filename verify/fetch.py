"""Fetch CRLs, OCSP answers, CA certificates and trust lists over http(s), defensively.

A verifier fetches URLs written by whoever made the certificate being checked, so the
fetcher trusts nothing: only ``http`` and ``https`` (no file://, ftp://, data:, ...),
redirects followed only to http(s) and at most :attr:`Fetcher.max_redirects` times, a
connect timeout (the TCP connect, then the whole TLS handshake) and a read timeout per socket
operation plus an overall deadline (a server trickling one byte a second cannot hold a
verification: the deadline bounds the handshake and every read),
a size limit on the body (read with a bound, never ``read()`` all; no Content-Encoding is
asked for or undone), and a rest for a host that timed out or asked to be left alone
(429/503 with Retry-After): its further URLs fail at once for
:attr:`Fetcher.failure_backoff` seconds, so one slow region costs a verification one
deadline, not one per URL. Every failure is a :class:`FetchError` with a
``reason`` word; the revocation layer turns it into TRY_LATER with the reason shown.
"""
from __future__ import annotations

import http.client
import io
import socket
import ssl
import threading
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


class _DeadlineSocket:
    """A connected socket as the response reader sees it: every read waits at most the read
    timeout and never past the request's deadline. http.client reads through a buffered file
    that loops until it has the bytes it asked for (a header line, a chunk, 64 KiB of body),
    so a deadline checked between those reads lets a server trickling a byte a second hold the
    fetch for hours; checked here, before each ``recv``, it cannot."""

    def __init__(self, sock: socket.socket, deadline: float, read_timeout: float) -> None:
        self._sock, self._deadline, self._read_timeout = sock, deadline, read_timeout
        self.past_deadline = False      # a read was cut by the deadline, not by the read timeout

    def recv_into(self, buffer: bytearray | memoryview, *args: int) -> int:
        left = self._deadline - time.monotonic()
        if left <= 0:
            self.past_deadline = True
            raise TimeoutError("the fetch's deadline has passed")
        self._sock.settimeout(min(self._read_timeout, left))
        try:
            return self._sock.recv_into(buffer, *args)
        except (TimeoutError, socket.timeout):
            self.past_deadline = left < self._read_timeout
            raise

    def makefile(self, mode: str = "rb", *args: object, **kwargs: object) -> io.BufferedReader:
        return io.BufferedReader(socket.SocketIO(self, "rb"))  # type: ignore[arg-type]

    def _decref_socketios(self) -> None:     # SocketIO.close calls it; the fetcher closes the socket
        pass

    def close(self) -> None:                 # http.client closes early when the answer says "close"
        pass

    def __getattr__(self, name: str) -> object:
        return getattr(self._sock, name)


@dataclass
class Fetcher:
    """``Fetcher(connect_timeout=3, read_timeout=5, max_bytes=10 MiB).get(url)``."""

    connect_timeout: float = 3.0
    read_timeout: float = 5.0
    total_timeout: float = 15.0
    max_bytes: int = 10 * 1024 * 1024
    max_redirects: int = 3
    # a host that let a request time out, or answered 429/503 with Retry-After, is not asked
    # again for this long (at most): its next URLs fail at once instead of each taking the
    # whole deadline (a certificate names an OCSP responder, a CRL and a delta CRL, its
    # issuer more); 0 asks every time
    failure_backoff: float = 30.0
    user_agent: str = "eseal-verify/1"
    ssl_context: ssl.SSLContext | None = field(default=None, repr=False)
    requests: int = field(default=0, init=False)   # how many requests went out (tests, stats)
    # (scheme, host, port) -> (monotonic time until which it is not asked, why)
    _resting: dict[tuple[str, str, int | None], tuple[float, str, str]] = field(
        default_factory=dict, init=False, repr=False, compare=False)
    _lock: threading.Lock = field(default_factory=threading.Lock, init=False, repr=False, compare=False)

    def get(self, url: str, *, accept: tuple[int, ...] = ()) -> Response:
        """The answer to GET ``url``; a status other than 2xx is a FetchError unless in ``accept``
        (then its Response, body read with the same limits)."""
        return self._request("GET", url, None, None, accept)

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

    def _request(self, method: str, url: str, body: bytes | None, content_type: str | None,
                 accept: tuple[int, ...] = ()) -> Response:
        deadline = time.monotonic() + self.total_timeout
        for _ in range(self.max_redirects + 1):
            parts = self.check_url(url)
            host = (parts.scheme.lower(), parts.hostname or "", parts.port)
            self._check_resting(url, host)
            try:
                status, headers, data = self._once(method, parts, body, content_type, deadline)
            except FetchError as exc:
                if exc.reason == "timeout":
                    self._rest(host, self.failure_backoff, f"{parts.hostname} did not answer in time", "timeout")
                raise
            if status in (429, 503):
                self._rest(host, _retry_after(headers.get("retry-after")),
                           f"{parts.hostname} answered {status} with Retry-After", "status")
            if status in (301, 302, 303, 307, 308):
                location = headers.get("location")
                if not location:
                    raise FetchError(f"{url}: redirect {status} without a Location", "status")
                url = urllib.parse.urljoin(url, location)
                if status == 303:
                    method, body, content_type = "GET", None, None
                continue
            if not 200 <= status < 300 and status not in accept:
                raise FetchError(f"{url}: HTTP status {status}", "status")
            return Response(url, status, headers.get("content-type", ""), data)
        raise FetchError(f"{url}: more than {self.max_redirects} redirects", "status")

    def _rest(self, host: tuple[str, str, int | None], seconds: float | None, why: str, reason: str) -> None:
        if not seconds or seconds <= 0 or self.failure_backoff <= 0:
            return
        with self._lock:
            if len(self._resting) > 10000:
                self._resting.clear()
            self._resting[host] = (time.monotonic() + min(seconds, self.failure_backoff), why, reason)

    def _check_resting(self, url: str, host: tuple[str, str, int | None]) -> None:
        with self._lock:
            until, why, reason = self._resting.get(host, (0.0, "", ""))
        left = until - time.monotonic()
        if left > 0:
            raise FetchError(f"{url}: not asked: {why}; asked again in {left:.0f} s", reason)

    def _once(self, method: str, parts: urllib.parse.SplitResult, body: bytes | None,
              content_type: str | None, deadline: float) -> tuple[int, dict[str, str], bytes]:
        url = parts.geturl()
        host, port = parts.hostname, parts.port
        connect_timeout = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
        tls = (self.ssl_context or ssl.create_default_context()) if parts.scheme.lower() == "https" else None
        if tls is not None:
            conn: http.client.HTTPConnection = http.client.HTTPSConnection(host, port, timeout=connect_timeout,
                                                                           context=tls)
        else:
            conn = http.client.HTTPConnection(host, port, timeout=connect_timeout)
        path = parts.path or "/"
        if parts.query:
            path += "?" + parts.query
        headers = {"User-Agent": self.user_agent, "Accept": "*/*", "Connection": "close"}
        if content_type:
            headers["Content-Type"] = content_type
        self.requests += 1
        raw: socket.socket | None = None
        reader: _DeadlineSocket | None = None
        try:
            self._connect(conn, url, connect_timeout, deadline, tls)
            raw = conn.sock
            conn.sock = reader = _DeadlineSocket(raw, deadline, self.read_timeout)  # type: ignore[assignment]
            raw.settimeout(max(0.001, min(self.read_timeout, deadline - time.monotonic())))
            conn.request(method, path, body=body, headers=headers)
            response = conn.getresponse()
            length = response.getheader("content-length")
            if length is not None and length.isdigit() and int(length) > self.max_bytes:
                raise FetchError(f"{url}: response of {int(length)} bytes exceeds the limit of "
                                 f"{self.max_bytes} bytes", "too_large")
            chunks, total = [], 0
            while True:
                chunk = response.read(min(65536, self.max_bytes + 1 - total))
                if not chunk:
                    break
                chunks.append(chunk)
                total += len(chunk)
                if total > self.max_bytes:
                    raise FetchError(f"{url}: response exceeds the limit of {self.max_bytes} bytes",
                                     "too_large")
            if response.length:     # http.client ends a short body quietly when read in parts
                raise FetchError(f"{url}: the answer ended after {total} of the {total + response.length} "
                                 "bytes its Content-Length announced", "network")
            hdrs = {k.lower(): v for k, v in response.getheaders()}
            return response.status, hdrs, b"".join(chunks)
        except FetchError:
            raise
        except (TimeoutError, socket.timeout):
            if reader is not None and reader.past_deadline:
                raise FetchError(f"{url}: no complete answer within {self.total_timeout:.1f} s", "timeout") from None
            raise FetchError(f"{url}: read timed out after {self.read_timeout:.1f} s", "timeout") from None
        except (OSError, http.client.HTTPException, ValueError) as exc:
            raise FetchError(f"{url}: {type(exc).__name__}: {exc}", "network") from None
        finally:
            conn.close()
            if raw is not None:
                raw.close()


    def _connect(self, conn: http.client.HTTPConnection, url: str, connect_timeout: float, deadline: float,
                 tls: ssl.SSLContext | None) -> None:
        """TCP, then for https the TLS handshake, each within the connect timeout and both
        within the deadline. HTTPSConnection.connect gave the handshake a connect timeout of
        its own after the TCP connect had used up to one, and a handshake cut short was
        reported as "connect timed out"."""
        try:
            http.client.HTTPConnection.connect(conn)        # TCP only, for http and https alike
        except (TimeoutError, socket.timeout):
            raise FetchError(f"{url}: connect timed out after {connect_timeout:.1f} s", "timeout") from None
        if tls is None:
            return
        handshake = max(0.001, min(self.connect_timeout, deadline - time.monotonic()))
        conn.sock.settimeout(handshake)     # ssl: the whole handshake, not each read (Python 3.5+)
        try:
            conn.sock = tls.wrap_socket(conn.sock, server_hostname=conn.host)
        except (TimeoutError, socket.timeout):
            raise FetchError(f"{url}: the TLS handshake with {conn.host} did not finish within {handshake:.1f} s",
                             "timeout") from None


def _retry_after(value: str | None) -> float | None:
    """Seconds of a Retry-After header given in seconds (an HTTP date is not honoured: the
    server's clock is not ours to trust), or None."""
    if value is None or not (value.strip().isascii() and value.strip().isdigit()):
        return None
    return float(int(value.strip()[:9]))
