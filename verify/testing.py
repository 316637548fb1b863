"""Test and benchmark helpers: an in-memory region PKI served over real local HTTP.

:class:`PKIServer` is a tiny threaded HTTP server on 127.0.0.1 answering GET/POST from a
table of routes (bytes or a function of the request body). :class:`TestPKI` is a region
made with :func:`ca.testing.make_hierarchy` whose certificates point at that server: CRLs
of the issuing CA and the root (signed by ``ca.crl.CRLBuilder``), an OCSP responder
(``ca.ocsp.Responder`` with a delegated responder certificate) answering from the
``revoked`` table, and AIA caIssuers. Never used by the service.
"""
from __future__ import annotations

import datetime as _dt
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from asn1crypto import x509

UTC = _dt.timezone.utc
Route = bytes | Callable[[bytes], bytes]


class PKIServer:
    """``with PKIServer() as srv: srv.routes["/x"] = b"..."; fetch(srv.url + "/x")``."""

    def __init__(self) -> None:
        self.routes: dict[str, Route] = {}
        self.hits: dict[str, int] = {}
        routes, hits = self.routes, self.hits

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: Any) -> None:
                pass

            def _answer(self, body: bytes) -> None:
                path = self.path.split("?")[0]
                hits[path] = hits.get(path, 0) + 1
                route = routes.get(path)
                if route is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                data = route(body) if callable(route) else route
                if isinstance(data, tuple):          # (status, headers, body) for odd answers
                    status, headers, data = data
                else:
                    status, headers = 200, {}
                self.send_response(status)
                for k, v in headers.items():
                    self.send_header(k, v)
                self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                self.wfile.write(data)

            def do_GET(self) -> None:  # noqa: N802
                self._answer(b"")

            def do_POST(self) -> None:  # noqa: N802
                n = int(self.headers.get("Content-Length") or 0)
                self._answer(self.rfile.read(n))

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self._server.server_address[1]}"
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)

    def __enter__(self) -> PKIServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def close(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _now() -> _dt.datetime:
    return _dt.datetime.now(UTC).replace(microsecond=0)


@dataclass
class TestPKI:
    """A region (root -> issuing CA -> leaves) whose URLs point at ``server``."""

    __test__ = False   # not a pytest class

    server: PKIServer
    region_name: str = "测试省"
    region_code: str = "440000"
    revoked: dict[int, tuple[_dt.datetime, str | None]] = field(default_factory=dict)
    revoked_cas: dict[int, tuple[_dt.datetime, str | None]] = field(default_factory=dict)
    crl_validity: _dt.timedelta = _dt.timedelta(days=7)

    def __post_init__(self) -> None:
        from ca.certificate import CertificateBuilder, subject_key_identifier
        from ca.ocsp import Responder
        from ca.profiles import CAConfig
        from ca.testing import LocalSigner, make_hierarchy

        self.config = CAConfig(region_code=self.region_code, base_url=self.server.url + "/" + self.region_code)
        self.h = make_hierarchy(self.config, region_name=self.region_name)
        self.root, self.issuing = self.h.root, self.h.issuing
        self.ocsp_signer = LocalSigner()
        self.ocsp_cert = (CertificateBuilder("ocsp", self.config)
                          .subject({"C": "CN", "O": self.region_name, "CN": f"{self.region_name}OCSP"})
                          .public_key(self.ocsp_signer.public_key).issuer(self.issuing)
                          .sign(self.h.issuing_signer))
        self.responder = Responder(self.ocsp_signer, self.ocsp_cert)
        self.issuing_id = subject_key_identifier(self.issuing).hex()
        self.root_id = subject_key_identifier(self.root).hex()
        base = "/" + self.region_code
        self.crl_path = f"{base}/crl/{self.issuing_id}.crl"
        self.root_crl_path = f"{base}/crl/{self.root_id}.crl"
        self.ocsp_path = f"{base}/ocsp"
        self.refresh_crls()
        self.server.routes[self.ocsp_path] = self.answer_ocsp
        self.server.routes[f"{base}/ca/{self.issuing_id}.cer"] = self.issuing.dump()
        self.server.routes[f"{base}/ca/{self.root_id}.cer"] = self.root.dump()

    # ------------------------------------------------------------------------------

    def issue(self, profile: str = "seal_maker", cn: str = "某某局", *, not_before: _dt.datetime | None = None,
              not_after: _dt.datetime | None = None, signer: Any = None) -> tuple[x509.Certificate, Any]:
        """A leaf certificate from the issuing CA and its in-memory signer."""
        from ca.certificate import CertificateBuilder
        from ca.testing import LocalSigner

        signer = signer or LocalSigner()
        nb = not_before or _now() - _dt.timedelta(minutes=30)
        na = not_after or nb + _dt.timedelta(days=365)
        cert = (CertificateBuilder(profile, self.config)
                .subject({"C": "CN", "O": self.region_name, "CN": cn})
                .public_key(signer.public_key).issuer(self.issuing).validity(nb, na)
                .sign(self.h.issuing_signer))
        return cert, signer

    def revoke(self, cert: x509.Certificate, at: _dt.datetime | None = None, reason: str | None = "keyCompromise") -> None:
        self.revoked[cert.serial_number] = ((at or _now()).replace(microsecond=0), reason)
        self.refresh_crls()

    def crl(self, *, root: bool = False, this_update: _dt.datetime | None = None,
            next_update: _dt.datetime | None = None, number: int = 1) -> bytes:
        from ca.crl import CRLBuilder

        tu = this_update or _now() - _dt.timedelta(minutes=1)
        issuer, signer, rows = ((self.root, self.h.root_signer, self.revoked_cas) if root
                                else (self.issuing, self.h.issuing_signer, self.revoked))
        entries = [(serial, at, reason, None) for serial, (at, reason) in rows.items()]
        return (CRLBuilder(issuer, self.config).crl_number(number).this_update(tu)
                .next_update(next_update or tu + self.crl_validity).revoked(entries).sign(signer))

    def refresh_crls(self) -> None:
        self.server.routes[self.crl_path] = self.crl()
        self.server.routes[self.root_crl_path] = self.crl(root=True)

    def answer_ocsp(self, body: bytes) -> bytes:
        from ca import ocsp

        request = ocsp.parse_request(body)
        now = _now()
        answers = []
        for cid in request.cert_ids:
            if not cid.matches_issuer(self.issuing):
                answers.append(ocsp.Answer(cid, "unknown", now, now + _dt.timedelta(hours=1)))
            elif cid.serial in self.revoked:
                at, reason = self.revoked[cid.serial]
                answers.append(ocsp.Answer(cid, "revoked", now, now + _dt.timedelta(hours=1), at, reason))
            else:
                answers.append(ocsp.Answer(cid, "good", now, now + _dt.timedelta(hours=1)))
        return self.responder.respond(answers, nonce=request.nonce)
