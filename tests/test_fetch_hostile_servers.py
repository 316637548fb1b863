"""Every fetch path of a relying party -- verify/fetch.py itself, OCSP and CRLs
(verify/revocation.py), another region's e-license directory (verify/license_status.py) and
the trust-list import (verify/trustlist/service.py) -- against real local servers that are
broken or hostile: silent, stalling, trickling a byte at a time, too large, lying about
their length, compressing unasked, redirecting where they must not, answering garbage, a
valid object of the wrong kind, or an error status. Expected: a FetchError with its reason
(a TrustListError for the import), TRY_LATER / unavailable in the engine, bounded time per
fetch (the configured deadline, not the server, ends it) and nothing bad kept in a cache.

Servers that misbehave are :class:`HostileServer` (raw sockets, one thread per connection);
well-behaved ones are verify.testing.PKIServer. No wall-clock limits are asserted: a test
that makes the fetcher wait checks which configured timeout ended the wait, and that the
server still had bytes to send when the fetcher gave up."""
from __future__ import annotations

import datetime as dt
import gzip
import re
import socket
import ssl
import threading
import time
from collections.abc import Callable

import pytest
from asn1crypto import x509

from ca.certificate import CertificateBuilder
from ca.profiles import CAConfig
from ca.testing import LocalSigner, make_hierarchy
from seal.license.identifiers import make_license_id
from store.testing import *  # noqa: F401,F403 - eseal_home on SQLite and PostgreSQL
from verify.errors import FetchError
from verify.fetch import Fetcher
from verify.license_status import RemoteLicenseDirectory
from verify.report import CheckResult, SubIndication
from verify.revocation import RevocationChecker
from verify.testing import PKIServer, TestPKI
from verify.trustlist import TrustStore
from verify.trustlist.model import Service, StatusPeriod, TrustList

UTC = dt.timezone.utc
TRICKLE_BYTES = 400          # a trickle lasts TRICKLE_BYTES x TRICKLE_PAUSE = 20 s unless cut
TRICKLE_PAUSE = 0.05


class HostileServer:
    """``with HostileServer(handler) as srv: fetch(srv.url + "/x")``: every connection is
    given to ``handler(conn, request_head)`` in its own thread. ``unsent`` collects, per
    trickling connection, how many bytes it still had to send when the client went away."""

    def __init__(self, handler: Callable[[socket.socket, bytes], None], *, raw: bool = False) -> None:
        self.handler, self.raw = handler, raw      # raw: the handler reads the request itself (b"" given)
        self.requests: list[bytes] = []
        self.unsent: list[int] = []
        self._sock = socket.socket()
        self._sock.bind(("127.0.0.1", 0))
        self._sock.listen(16)
        self.port = self._sock.getsockname()[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._accept, daemon=True)

    def _accept(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._sock.accept()
            except OSError:
                return
            threading.Thread(target=self._serve, args=(conn,), daemon=True).start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(30)
            head = b""
            try:
                while b"\r\n\r\n" not in head and not self.raw:
                    data = conn.recv(65536)
                    if not data:
                        return
                    head += data
                self.requests.append(head)
                self.handler(conn, head)
            except OSError:
                pass

    def trickle(self, conn: socket.socket, head: bytes, data: bytes) -> None:
        """Send ``head`` at once, then ``data`` one byte per TRICKLE_PAUSE."""
        conn.sendall(head)
        for i in range(len(data)):
            try:
                conn.sendall(data[i:i + 1])
            except OSError:
                self.unsent.append(len(data) - i)
                return
            time.sleep(TRICKLE_PAUSE)
        self.unsent.append(0)

    def __enter__(self) -> HostileServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._sock.close()


def leaf_pointing_at(url: str) -> tuple[x509.Certificate, x509.Certificate]:
    """A leaf whose AIA OCSP and CRL DP (and its issuer's) name ``url``, and its issuing CA."""
    h = make_hierarchy(CAConfig(region_code="110000", base_url=url))
    key = LocalSigner()
    leaf = (CertificateBuilder("seal_maker", h.config).subject({"C": "CN", "O": "某地", "CN": "某章"})
            .public_key(key.public_key).issuer(h.issuing).sign(h.issuing_signer))
    return leaf, h.issuing


def assert_given_up_mid_trickle(srv: HostileServer) -> None:
    """The fetcher closed the connection while the server still had bytes to trickle (the
    old fetcher's error came too, but only once the server had sent its last byte)."""
    wait_until = time.monotonic() + 10      # the server notices the closed connection at its next send
    while not srv.unsent and time.monotonic() < wait_until:
        time.sleep(0.05)
    assert srv.unsent and srv.unsent[0] > 0, "the fetcher must give up while the server still trickles"


# --------------------------------------------------------------------------- deadlines


def test_a_body_trickled_a_byte_at_a_time_is_cut_at_the_total_deadline() -> None:
    """Each byte comes well within the read timeout: only an overall deadline ends the fetch.
    The old fetcher checked its deadline between 64 KiB reads, and http.client's buffered
    read waits for all 64 KiB (or the end): the trickle held it to the last byte."""
    def handler(conn: socket.socket, head: bytes) -> None:
        srv.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"x" * TRICKLE_BYTES)

    with HostileServer(handler) as srv:
        fetcher = Fetcher(read_timeout=5, total_timeout=0.5)
        with pytest.raises(FetchError) as err:
            fetcher.get(srv.url + "/slow.crl")
        assert err.value.reason == "timeout"
        assert "no complete answer within 0.5 s" in str(err.value)
        assert_given_up_mid_trickle(srv)


@pytest.mark.parametrize("head, filler", [
    (b"HTTP/1.1 200 OK\r\nX-Slow: ", b"y"),                                    # the headers, a byte at a time
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n1000\r\n", b"z"),    # a chunk, a byte at a time
], ids=["headers", "chunked-body"])
def test_a_trickle_anywhere_is_cut_at_the_total_deadline(head: bytes, filler: bytes) -> None:
    def handler(conn: socket.socket, _head: bytes) -> None:
        srv.trickle(conn, head, filler * TRICKLE_BYTES)

    with HostileServer(handler) as srv:
        with pytest.raises(FetchError, match="no complete answer within 0.5 s") as err:
            Fetcher(read_timeout=5, total_timeout=0.5).get(srv.url + "/slow")
        assert err.value.reason == "timeout"
        assert_given_up_mid_trickle(srv)


def test_headers_then_a_stalled_body_time_out_with_the_read_timeout() -> None:
    """Already right: a server that stops sending is cut by the read timeout (named)."""
    release = threading.Event()

    def handler(conn: socket.socket, head: bytes) -> None:
        conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc")
        release.wait(30)

    with HostileServer(handler) as srv:
        try:
            with pytest.raises(FetchError, match="read timed out after 0.3 s") as err:
                Fetcher(read_timeout=0.3, total_timeout=60).get(srv.url + "/stall")
            assert err.value.reason == "timeout"
        finally:
            release.set()


def test_a_trickling_region_costs_a_verification_one_deadline_not_one_per_url() -> None:
    """The leaf names an OCSP responder, a CRL and a delta CRL on one trickling host: the
    first fetch takes the deadline, the others are not asked (the old fetcher asked each
    and waited the whole deadline for each: three of them here, more up the chain)."""
    def handler(conn: socket.socket, head: bytes) -> None:
        srv.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"\x30" * TRICKLE_BYTES)

    with HostileServer(handler) as srv:
        leaf, issuer = leaf_pointing_at(srv.url)
        fetcher = Fetcher(read_timeout=5, total_timeout=0.5, failure_backoff=600)
        out = RevocationChecker(fetcher=fetcher).check(leaf, issuer)
        assert (out.check.result, out.check.sub_indication) == (CheckResult.INDETERMINATE, SubIndication.TRY_LATER)
        first, *rest = out.evidence.errors
        assert "no complete answer within 0.5 s [timeout]" in first
        assert len(rest) == 2 and all("not asked: 127.0.0.1 did not answer in time" in e for e in rest), rest
        assert len(srv.requests) == 1 and fetcher.requests == 1
        # the same fetcher, later (the shared verifier's): still not asked while it rests
        again = RevocationChecker(fetcher=fetcher).check(leaf, issuer)
        assert again.check.sub_indication is SubIndication.TRY_LATER and len(srv.requests) == 1


def test_without_a_rest_every_url_is_asked() -> None:
    """failure_backoff=0 is the old behaviour: each URL waits its own deadline."""
    def handler(conn: socket.socket, head: bytes) -> None:
        srv.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"\x30" * TRICKLE_BYTES)

    with HostileServer(handler) as srv:
        leaf, issuer = leaf_pointing_at(srv.url)
        out = RevocationChecker(fetcher=Fetcher(read_timeout=5, total_timeout=0.3, failure_backoff=0)).check(
            leaf, issuer)
        assert len(out.evidence.errors) == 3 and len(srv.requests) == 3
        assert all("within 0.3 s [timeout]" in e for e in out.evidence.errors), out.evidence.errors


def throwaway_tls_context(tmp_path) -> ssl.SSLContext:
    """A server context with a self-signed certificate for 127.0.0.1, made here."""
    import ipaddress

    from cryptography import x509 as cx509
    from cryptography.hazmat.primitives import hashes, serialization
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.x509.oid import NameOID

    key = ec.generate_private_key(ec.SECP256R1())
    name = cx509.Name([cx509.NameAttribute(NameOID.COMMON_NAME, "127.0.0.1")])
    now = dt.datetime.now(UTC)
    cert = (cx509.CertificateBuilder().subject_name(name).issuer_name(name).public_key(key.public_key())
            .serial_number(cx509.random_serial_number()).not_valid_before(now - dt.timedelta(hours=1))
            .not_valid_after(now + dt.timedelta(hours=1))
            .add_extension(cx509.SubjectAlternativeName([cx509.IPAddress(ipaddress.ip_address("127.0.0.1"))]),
                           critical=False)
            .sign(key, hashes.SHA256()))
    (tmp_path / "tls.pem").write_bytes(cert.public_bytes(serialization.Encoding.PEM) + key.private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(tmp_path / "tls.pem")
    return context


def test_a_tls_handshake_trickled_a_byte_at_a_time_is_cut_at_the_total_deadline(tmp_path) -> None:
    """The server accepts TCP and answers the ClientHello a byte at a time (its real
    ServerHello, certificate and Finished, from an in-memory TLS server): each byte comes well
    within the connect timeout, so only the overall deadline can end the handshake, and the
    error says that it was the handshake."""
    context = throwaway_tls_context(tmp_path)

    def handler(conn: socket.socket, _head: bytes) -> None:
        incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = context.wrap_bio(incoming, outgoing, server_side=True)
        while True:
            try:
                tls.do_handshake()
                return
            except ssl.SSLWantReadError:
                pending = outgoing.read()
                if pending:
                    srv.trickle(conn, b"", pending)
                    if srv.unsent[-1]:
                        return
                data = conn.recv(65536)
                if not data:
                    return
                incoming.write(data)

    with HostileServer(handler, raw=True) as srv:
        client = ssl.create_default_context(cafile=str(tmp_path / "tls.pem"))
        fetcher = Fetcher(connect_timeout=30, read_timeout=30, total_timeout=0.5, ssl_context=client)
        with pytest.raises(FetchError, match="TLS handshake .* within 0.5 s") as err:
            fetcher.get(f"https://127.0.0.1:{srv.port}/x.crl")
        assert err.value.reason == "timeout"
        assert_given_up_mid_trickle(srv)


def test_a_slow_tcp_connect_leaves_the_handshake_only_what_is_left_of_the_deadline(tmp_path) -> None:
    """The TCP connect takes a while (the listener's accept queue is full: Linux drops the SYN
    and the client sends it again a second later), then the handshake trickles. The old
    fetcher gave the handshake a whole connect timeout of its own after the connect had
    used part of the deadline (3.0 s for a 2.5 s deadline, measured); it gets only what is left."""
    context = throwaway_tls_context(tmp_path)
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    filler = socket.create_connection(("127.0.0.1", port))     # the one connection the queue holds
    unsent: list[int] = []

    def serve() -> None:
        time.sleep(0.3)
        listener.accept()[0].close()        # room again: the fetcher's SYN, sent again, gets in
        conn, _ = listener.accept()
        with conn:
            incoming, outgoing = ssl.MemoryBIO(), ssl.MemoryBIO()
            tls = context.wrap_bio(incoming, outgoing, server_side=True)
            incoming.write(conn.recv(65536))
            with pytest.raises(ssl.SSLWantReadError):
                tls.do_handshake()
            data = outgoing.read()
            for i in range(len(data)):
                try:
                    conn.sendall(data[i:i + 1])
                except OSError:
                    unsent.append(len(data) - i)
                    return
                time.sleep(TRICKLE_PAUSE)

    server = threading.Thread(target=serve, daemon=True)
    server.start()
    try:
        fetcher = Fetcher(connect_timeout=2.0, read_timeout=5, total_timeout=2.5,
                          ssl_context=ssl.create_default_context(cafile=str(tmp_path / "tls.pem")))
        with pytest.raises(FetchError, match="TLS handshake") as err:
            fetcher.get(f"https://127.0.0.1:{port}/x")
        budget = float(re.search(r"within ([0-9.]+) s", str(err.value)).group(1))
        assert err.value.reason == "timeout" and budget < 2.0, str(err.value)
        server.join(timeout=30)
        assert unsent and unsent[0] > 0, "the fetcher must give up while the server still trickles"
    finally:
        filler.close()
        listener.close()


def test_a_prompt_tls_server_is_fetched(tmp_path) -> None:
    """The same server answering at once: the handshake and the answer go through."""
    context = throwaway_tls_context(tmp_path)

    def handler(conn: socket.socket, _head: bytes) -> None:
        with context.wrap_socket(conn, server_side=True) as tls:
            head = b""
            while b"\r\n\r\n" not in head:
                head += tls.recv(65536)
            tls.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")

    with HostileServer(handler, raw=True) as srv:
        client = ssl.create_default_context(cafile=str(tmp_path / "tls.pem"))
        assert Fetcher(ssl_context=client).get(f"https://127.0.0.1:{srv.port}/x").body == b"ok"


# --------------------------------------------------------------------------- sizes, encodings


def raw_answer(data: bytes) -> Callable[[socket.socket, bytes], None]:
    def handler(conn: socket.socket, head: bytes) -> None:
        conn.sendall(data)
        conn.shutdown(socket.SHUT_WR)
    return handler


@pytest.mark.parametrize("answer, reason, message", [
    # a Content-Length past the limit is refused before the body is read
    (b"HTTP/1.1 200 OK\r\nContent-Length: 999999999\r\n\r\nabc", "too_large", "999999999 bytes exceeds"),
    # a Content-Length longer than the body: the connection ends early (the old fetcher
    # returned the three bytes as the whole answer)
    (b"HTTP/1.1 200 OK\r\nContent-Length: 500\r\n\r\nabc", "network", "ended after 3 of the 500 bytes"),
    # chunked with a huge chunk size: read up to the limit, no further
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffff\r\n" + b"q" * 30000,
     "too_large", "exceeds the limit of 10000 bytes"),
    # a chunk size that is not hexadecimal
    (b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n", "network", "IncompleteRead"),
    # no status line at all
    (b"\x30\x82\x01\x00garbage", "network", "BadStatusLine"),
])
def test_bodies_past_the_limit_and_lying_framing(answer, reason, message) -> None:
    with HostileServer(raw_answer(answer)) as srv:
        with pytest.raises(FetchError, match=message) as err:
            Fetcher(max_bytes=10_000).get(srv.url + "/x")
        assert err.value.reason == reason


def test_a_content_length_shorter_than_the_body_is_what_is_read() -> None:
    """Already right: the answer is the Content-Length bytes; what follows is not read."""
    with HostileServer(raw_answer(b"HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc" + b"d" * 50_000)) as srv:
        assert Fetcher(max_bytes=10_000).get(srv.url + "/x").body == b"abc"


def test_a_gzip_bomb_is_never_inflated() -> None:
    """Already right: http.client asks for identity and does not decompress, so a server
    sending gzip anyway hands over its compressed bytes (which parse as nothing)."""
    bomb = gzip.compress(b"\0" * (50 * 1024 * 1024))
    answer = (b"HTTP/1.1 200 OK\r\nContent-Encoding: gzip\r\nContent-Length: " + str(len(bomb)).encode()
              + b"\r\n\r\n" + bomb)
    with HostileServer(raw_answer(answer)) as srv:
        got = Fetcher(max_bytes=1024 * 1024).get(srv.url + "/bomb.crl")
        assert got.body == bomb and len(bomb) < 1024 * 1024
        assert b"accept-encoding: identity" in srv.requests[0].lower()


# --------------------------------------------------------------------------- redirects, statuses


def redirect_to(location: bytes) -> Callable[[socket.socket, bytes], None]:
    return raw_answer(b"HTTP/1.1 302 Found\r\nLocation: " + location + b"\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("location", [b"file:///etc/passwd", b"ftp://127.0.0.1/x.crl", b"gopher://127.0.0.1/",
                                      b"data:application/pkix-crl;base64,MAA="])
def test_a_redirect_to_another_scheme_is_refused(location) -> None:
    with HostileServer(redirect_to(location)) as srv:
        with pytest.raises(FetchError, match="only http and https") as err:
            Fetcher().get(srv.url + "/x.crl")
        assert err.value.reason == "scheme" and len(srv.requests) == 1


def test_a_redirect_loop_and_a_long_chain_stop_at_the_limit() -> None:
    with HostileServer(redirect_to(b"/again")) as srv:          # a loop
        with pytest.raises(FetchError, match="more than 3 redirects") as err:
            Fetcher(max_redirects=3).get(srv.url + "/x.crl")
        assert err.value.reason == "status" and len(srv.requests) == 4

    def chain(conn: socket.socket, head: bytes) -> None:       # /0 -> /1 -> ... -> /40
        n = int(head.split(b" ")[1].strip(b"/"))
        conn.sendall(b"HTTP/1.1 301 Moved\r\nLocation: /" + str(n + 1).encode() + b"\r\nContent-Length: 0\r\n\r\n")

    with HostileServer(chain) as srv:
        with pytest.raises(FetchError, match="more than 5 redirects"):
            Fetcher(max_redirects=5).get(srv.url + "/0")
        assert len(srv.requests) == 6


def test_a_location_with_a_folded_line_is_not_followed_into_a_header() -> None:
    """A Location folded over two lines (CR LF, space): never becomes a request header."""
    answer = (b"HTTP/1.1 302 Found\r\nLocation: /next\r\n X-Injected: 1\r\nContent-Length: 0\r\n\r\n")
    with HostileServer(raw_answer(answer)) as srv:
        with pytest.raises(FetchError) as err:
            Fetcher().get(srv.url + "/x")
        assert err.value.reason == "network"
        assert all(b"x-injected" not in r.lower() for r in srv.requests), srv.requests


@pytest.mark.parametrize("status", [404, 429, 500, 503])
def test_error_statuses_are_fetch_errors(status) -> None:
    with PKIServer() as srv:
        srv.routes["/x"] = lambda body: (status, {"Retry-After": "120"}, b"<html>busy</html>")
        with pytest.raises(FetchError, match=f"HTTP status {status}") as err:
            Fetcher().get(srv.url + "/x")
        assert err.value.reason == "status"


def test_retry_after_is_honoured_up_to_the_backoff() -> None:
    """A 503 (or 429) with Retry-After rests the host (at most failure_backoff): the next
    URL on it is not asked; a 503 without it, or a date, does not."""
    with PKIServer() as srv:
        srv.routes["/busy"] = lambda body: (503, {"Retry-After": "120"}, b"")
        srv.routes["/ok"] = b"fine"
        fetcher = Fetcher(failure_backoff=600)
        with pytest.raises(FetchError, match="HTTP status 503"):
            fetcher.get(srv.url + "/busy")
        with pytest.raises(FetchError, match="not asked: 127.0.0.1 answered 503 with Retry-After") as err:
            fetcher.get(srv.url + "/ok")
        assert err.value.reason == "status" and srv.hits.get("/ok") is None
        for header in ({}, {"Retry-After": "Wed, 21 Oct 2037 07:28:00 GMT"}, {"Retry-After": "²"}):
            other = Fetcher(failure_backoff=600)
            srv.routes["/busy"] = lambda body, h=header: (503, h, b"")
            with pytest.raises(FetchError, match="HTTP status 503"):
                other.get(srv.url + "/busy")
            assert other.get(srv.url + "/ok").body == b"fine"


# --------------------------------------------------------------------------- OCSP and CRLs


@pytest.fixture
def pki():
    with PKIServer() as srv:
        yield TestPKI(srv)


def test_garbage_and_wrong_kinds_of_answer_leave_revocation_try_later(pki) -> None:
    """Already right: an HTML page, an empty body, a CRL where an OCSP response belongs, an
    OCSP response where a CRL belongs, another issuer's CRL -- each a reason, none cached."""
    leaf, _ = pki.issue()
    other = make_hierarchy(CAConfig(region_code="320000", base_url="http://pki.js.example"))
    from ca import ocsp
    from ca.crl import CRLBuilder

    now = dt.datetime.now(UTC).replace(microsecond=0)
    ocsp_response = pki.responder.respond([ocsp.Answer(ocsp.cert_id_for(pki.issuing, leaf.serial_number), "good",
                                                       now, now + dt.timedelta(hours=1))])
    foreign_crl = (CRLBuilder(other.issuing, other.config).crl_number(1).this_update(now)
                   .next_update(now + dt.timedelta(days=1)).revoked([]).sign(other.issuing_signer))
    crl, srv = pki.crl(), pki.server
    srv.routes.pop(pki.crl_path.replace(".crl", "-delta.crl"), None)
    for ocsp_answer, crl_answer, expected in (
            (b"<html><body>502 Bad Gateway</body></html>", b"", ("malformed response", "malformed")),
            (crl, ocsp_response, ("malformed response", "malformed")),
            (b"", foreign_crl, ("malformed response", "authority key identifier does not name")),
    ):
        srv.routes[pki.ocsp_path] = ocsp_answer
        srv.routes[pki.crl_path] = crl_answer
        checker = RevocationChecker()
        out = checker.check(leaf, pki.issuing)
        assert out.check.sub_indication is SubIndication.TRY_LATER, out.evidence
        ocsp_error, crl_error = out.evidence.errors[:2]     # (and the delta CRL: not served)
        assert expected[0] in ocsp_error and expected[1] in crl_error, out.evidence.errors
        srv.routes[pki.ocsp_path], srv.routes[pki.crl_path] = pki.answer_ocsp, crl
        assert checker.check(leaf, pki.issuing).check.result is CheckResult.PASSED     # nothing bad was kept


def test_an_ocsp_answer_produced_in_the_future_is_not_used(pki) -> None:
    """thisUpdate in the future was refused, producedAt in the future was believed (and shown
    in the evidence): a responder whose clock runs days ahead is not a current answer."""
    from ca import ocsp

    leaf, _ = pki.issue()
    now = dt.datetime.now(UTC).replace(microsecond=0)

    def ahead(body: bytes) -> bytes:
        req = ocsp.parse_request(body)
        return pki.responder.respond([ocsp.Answer(req.cert_ids[0], "good", now, now + dt.timedelta(hours=1))],
                                     nonce=req.nonce, produced_at=now + dt.timedelta(days=2))

    pki.server.routes[pki.ocsp_path] = ahead
    out = RevocationChecker().check(leaf, pki.issuing)
    assert out.evidence.source == "crl", out.evidence           # the CRL answers instead
    assert any("producedAt" in e and "is in the future" in e for e in out.evidence.errors), out.evidence.errors


def test_a_crl_from_the_future_is_not_kept_until_its_next_update(pki) -> None:
    """A CRL issued ahead of time (the CA's clock wrong for an hour) is unusable; the old
    checker kept it until its nextUpdate (a week here) and answered TRY_LATER from it for
    the whole week, never asking for the corrected CRL the issuer served meanwhile."""
    leaf, _ = pki.issue()
    srv = pki.server
    del srv.routes[pki.ocsp_path]
    now = dt.datetime.now(UTC).replace(microsecond=0)
    srv.routes[pki.crl_path] = pki.crl(this_update=now + dt.timedelta(hours=1))
    checker = RevocationChecker(prefer_ocsp=False)
    out = checker.check(leaf, pki.issuing)
    assert out.check.sub_indication is SubIndication.TRY_LATER
    assert any("is in the future" in e for e in out.evidence.errors), out.evidence.errors
    pki.refresh_crls()                                          # the issuer corrects it
    fixed = checker.check(leaf, pki.issuing)
    assert (fixed.check.result, fixed.evidence.source) == (CheckResult.PASSED, "crl"), fixed.evidence


# --------------------------------------------------------------------------- e-license directory


LICENSE = make_license_id("440000", "YYZZ", 2026, 42)


def directory_at(h, url: str) -> TrustStore:
    t0 = dt.datetime(2026, 1, 1, tzinfo=UTC)
    return TrustStore.of([(TrustList("TL", "广东省电子认证中心", "CN-440000", 1, t0, t0 + dt.timedelta(days=3650),
                                     (Service("root_ca", "广东省根CA", (h.root,), (StatusPeriod("granted", t0),)),),
                                     license_status_uri=url + "/api/v1/licenses/{license_id}"), None)])


def test_a_license_directory_answering_a_giant_number_is_unavailable() -> None:
    """JSON allows an integer of any length; Python refuses to convert more than 4,300
    digits with a ValueError that is not a JSONDecodeError: it went out of the engine."""
    h = make_hierarchy()
    with PKIServer() as srv:
        srv.routes[f"/api/v1/licenses/{LICENSE}"] = b'{"license_id": ' + b"7" * 5000 + b"}"
        answer = RemoteLicenseDirectory(directory_at(h, srv.url), Fetcher(), max_age=dt.timedelta(0))(LICENSE)
        assert answer.status == "unavailable" and "not this license's record" in answer.reason


def test_a_trickling_license_directory_is_unavailable_within_the_deadline() -> None:
    def handler(conn: socket.socket, head: bytes) -> None:
        srv.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"{" * TRICKLE_BYTES)

    h = make_hierarchy()
    with HostileServer(handler) as srv:
        directory = RemoteLicenseDirectory(directory_at(h, srv.url), Fetcher(read_timeout=5, total_timeout=0.5),
                                           max_age=dt.timedelta(minutes=1))
        answer = directory(LICENSE)
        assert answer.status == "unavailable" and "no complete answer within 0.5 s" in answer.reason
        again = directory(LICENSE)        # not cached as an answer; the host rests instead of trickling again
        assert again.status == "unavailable" and "not asked" in again.reason and len(srv.requests) == 1


def stall(conn: socket.socket, head: bytes) -> None:
    """Accept the request and say nothing until the client goes away."""
    while conn.recv(65536):     # (a POST's body may follow its head)
        pass


def busy(conn: socket.socket, head: bytes) -> None:
    conn.sendall(b"HTTP/1.1 503 Service Unavailable\r\nRetry-After: 30\r\nContent-Length: 0\r\n\r\n")


@pytest.mark.parametrize("handler", [stall, busy], ids=["stalls", "503 Retry-After"])
def test_one_verifier_rests_a_host_for_revocation_and_license_status_alike(handler, tmp_path) -> None:
    """A region whose responder, CRLs and license directory share one host: once its OCSP
    responder stalled (or asked to be left alone), the same verifier's license lookup does
    not ask it again. verify.service built one Fetcher for revocation and another for
    license status: the lookup waited the whole timeout a second time."""
    from verify.service import verifier_for_home
    from verify.trustlist import sign_list

    with HostileServer(lambda conn, head: handler(conn, head)) as srv:
        leaf, issuer = leaf_pointing_at(srv.url)
        h = make_hierarchy(CAConfig(region_code="440000", base_url=srv.url))
        signer = LocalSigner()
        tl_signer = (CertificateBuilder("audit_signer", h.config).subject({"C": "CN", "O": "广东省", "CN": "TL"})
                     .public_key(signer.public_key).issuer(h.issuing).sign(h.issuing_signer))
        (tmp_path / "tl.json").write_bytes(sign_list(directory_at(h, srv.url).lists[0], tl_signer, signer.sign))
        verifier = verifier_for_home(None, trust_lists=[tmp_path / "tl.json"])
        out = verifier.revocation.check(leaf, issuer)
        assert out.check.sub_indication is SubIndication.TRY_LATER and len(srv.requests) == 1, out.evidence
        answer = verifier.license_status(LICENSE)
        assert answer.status == "unavailable" and "not asked" in answer.reason, answer
        assert len(srv.requests) == 1


# --------------------------------------------------------------------------- trust lists


@pytest.fixture(scope="module")
def lists(tmp_path_factory):
    """Region A (广东) and the national operator N in SQLite homes; A's TL and N's LOTL served
    by a local PKIServer."""
    from ca import service as ca_service
    from keystore.soft import SoftKeyStore
    from store.db import make_sessionmaker
    from store.home import Home
    from verify.trustlist.service import PointerSpec, build_lotl, list_signer, publish_region_tl

    d = tmp_path_factory.mktemp("lists")
    homes, stores = {}, {}
    for key, code, name in (("A", "440000", "广东省"), ("N", "100000", "国家")):
        homes[key] = Home.create(d / key, database_url=f"sqlite:///{d / key}.db")
        stores[key] = SoftKeyStore.initialise(make_sessionmaker(homes[key].engine), actor="admin",
                                              passphrase="correct horse battery staple").store
        ca_service.init_region(homes[key], stores[key], region_code=code, region_name=name,
                               base_url=f"http://pki.{code}.example")
    with PKIServer() as srv:
        srv.routes["/A/tl.json"] = publish_region_tl(homes["A"], stores["A"])
        signer = list_signer(homes["A"], stores["A"], "tl")[1]
        srv.routes["/lotl.json"] = build_lotl(homes["N"], stores["N"], [PointerSpec(f"{srv.url}/A/tl.json", signer)])
        national = list_signer(homes["N"], stores["N"], "lotl")[1]
        yield {"srv": srv, "homes": homes, "stores": stores, "national": national}
    for h in homes.values():
        h.close()


def test_a_national_list_location_that_trickles_or_answers_a_giant_number_is_a_trust_list_error(
        lists, eseal_home) -> None:
    from verify.errors import TrustListError
    from verify.trustlist.service import import_lotl

    def handler(conn: socket.socket, head: bytes) -> None:
        srv.trickle(conn, b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", b"{" * TRICKLE_BYTES)

    with HostileServer(handler) as srv:
        with pytest.raises(TrustListError, match="cannot fetch .*no complete answer within 0.5 s"):
            import_lotl(eseal_home, srv.url + "/lotl.json", lists["national"],
                        fetcher=Fetcher(read_timeout=5, total_timeout=0.5))
    # an integer past Python's 4,300 digits: a ValueError went out of import_lotl
    lists["srv"].routes["/giant.json"] = b'{"format": ' + b"9" * 5000 + b"}"
    with pytest.raises(TrustListError, match="not a JSON trust list"):
        import_lotl(eseal_home, lists["srv"].url + "/giant.json", lists["national"])


def test_a_regional_list_that_goes_bad_leaves_the_last_good_one(lists, eseal_home) -> None:
    """Import, then A's URL answers: an older list (rollback), a list past its nextUpdate, a
    giant number, an HTML 503, nothing: each a failure of that list, the imported one kept.
    The giant number used to escape as a ValueError and abort the whole import."""
    from sqlalchemy import select

    from store.db import transaction
    from store.models.trust import ImportedTrustList
    from verify.trustlist.service import import_lotl, load_trust_store, publish_region_tl

    srv, homes, stores = lists["srv"], lists["homes"], lists["stores"]
    url, lotl = srv.url + "/A/tl.json", srv.url + "/lotl.json"
    first = srv.routes["/A/tl.json"]
    srv.routes["/A/tl.json"] = publish_region_tl(homes["A"], stores["A"])
    try:
        result = import_lotl(eseal_home, lotl, lists["national"])
        assert not result.failures
        (good_seq,) = [seq for u, _, seq in result.imported if u == url]
        past = dt.datetime.now(UTC) - dt.timedelta(days=10)
        stale = publish_region_tl(homes["A"], stores["A"], now=past, validity=dt.timedelta(days=1))
        for answer, reason in ((first, "rollback refused"), (stale, "stale TL"),
                               (b'{"format": ' + b"9" * 5000 + b"}", "not a JSON trust list"),
                               (lambda body: (503, {"Content-Type": "text/html"}, b"<html>down</html>"),
                                "HTTP status 503"),
                               (b"", "not a JSON trust list")):
            srv.routes["/A/tl.json"] = answer
            result = import_lotl(eseal_home, lotl, lists["national"])
            assert result.imported == () and len(result.failures) == 1, result
            assert result.failures[0][0] == url and reason in result.failures[0][1], result.failures
            with transaction(eseal_home.engine, readonly=True) as s:
                assert s.scalar(select(ImportedTrustList.sequence_number)
                                .where(ImportedTrustList.source == url)) == good_seq
            assert [tl.sequence_number for tl in load_trust_store(eseal_home, own_region=False).lists] == [good_seq]
    finally:
        srv.routes["/A/tl.json"] = first
