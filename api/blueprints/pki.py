"""Public PKI endpoints: the URLs ca/profiles.py writes into certificates.

    GET  /crl/<issuer id>.crl          full CRL (application/pkix-crl, DER)
    GET  /crl/<issuer id>-delta.crl    delta CRL
    GET  /ca/<issuer id>.cer           the CA certificate (application/pkix-cert, DER)
    GET  /ca/chain.pem                 the region's CA certificates, root last
    POST /ocsp                         application/ocsp-request -> application/ocsp-response
    GET  /ocsp/<base64 request>        RFC 6960 appendix A.1 (URL-decoded standard base64)

``<issuer id>`` is the CA's subject key identifier in hex (``ca.profiles.ExtensionContext``).
No authentication: relying parties anywhere must reach these. The two OCSP forms are
usually answered by api/fastpath.py in front of Flask; these views are the documented
endpoints and answer whatever the fast path declines. A malformed OCSP request
is answered in OCSP's own terms (malformedRequest), not with problem+json.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from api import openapi
from api.context import services
from api.crl_cache import NoCRL, UnknownIssuer
from api.fastpath import decode_get
from api.problems import Problem, register
from ca import ocsp

bp = Blueprint("pki", __name__)

register(UnknownIssuer, 404, "unknown-issuer", "No such certification authority")
register(NoCRL, 404, "no-crl", "No CRL published for this authority")

CRL_TYPE = "application/pkix-crl"
CERT_TYPE = "application/pkix-cert"
OCSP_REQUEST = "application/ocsp-request"
OCSP_RESPONSE = "application/ocsp-response"
_ISSUER = [{"name": "issuer_id", "in": "path", "required": True,
            "schema": {"type": "string", "pattern": "^[0-9a-fA-F]{1,40}$"},
            "description": "hex subject key identifier of the CA (as in the certificate's URLs)"}]


def _crl(issuer_id: str, delta: bool) -> Response:
    der = services().crl.get(issuer_id, delta=delta)
    return Response(der, mimetype=CRL_TYPE, headers={"Cache-Control": "public, max-age=60"})


@bp.get("/crl/<issuer_id>.crl")
@openapi.operation(summary="Full CRL of a CA", tags=["pki"], parameters=_ISSUER,
                   responses={200: openapi.binary(CRL_TYPE, "DER CRL (RFC 5280), SM2-with-SM3")},
                   problems=["unknown-issuer", "no-crl"])
def full_crl(issuer_id: str) -> Response:
    if issuer_id.endswith("-delta"):
        return _crl(issuer_id[: -len("-delta")], True)
    return _crl(issuer_id, False)


@bp.get("/crl/<issuer_id>-delta.crl")
@openapi.operation(summary="Delta CRL of a CA", tags=["pki"], parameters=_ISSUER,
                   responses={200: openapi.binary(CRL_TYPE, "DER delta CRL")},
                   problems=["unknown-issuer", "no-crl"])
def delta_crl(issuer_id: str) -> Response:
    return _crl(issuer_id, True)


@bp.get("/ca/<issuer_id>.cer")
@openapi.operation(summary="CA certificate (authority information access, caIssuers)", tags=["pki"],
                   parameters=_ISSUER, responses={200: openapi.binary(CERT_TYPE, "DER certificate")},
                   problems=["unknown-issuer"])
def ca_certificate(issuer_id: str) -> Response:
    from ca import service

    s = services()
    _, der = service.authority_by_issuer_id(s.home, issuer_id, sessions=s.sessions)
    return Response(der, mimetype=CERT_TYPE, headers={"Cache-Control": "public, max-age=3600"})


@bp.get("/ca/chain.pem")
@openapi.operation(summary="The region's CA certificates (PEM, issuing CA first, root last)", tags=["pki"],
                   responses={200: openapi.binary("application/pem-certificate-chain")},
                   problems=["region-not-initialised"])
def chain() -> Response:
    from ca import service

    s = services()
    return Response(service.ca_chain(s.home, sessions=s.sessions), mimetype="application/pem-certificate-chain")


def _ocsp(der: bytes) -> Response:
    return Response(services().ocsp.respond(der), mimetype=OCSP_RESPONSE)


@bp.post("/ocsp")
@openapi.operation(summary="OCSP (RFC 6960), POST form", tags=["pki"],
                   request=openapi.binary(OCSP_REQUEST, "DER OCSPRequest"),
                   responses={200: openapi.binary(OCSP_RESPONSE, "DER OCSPResponse (malformedRequest "
                                                                  "for a request that cannot be parsed)")},
                   problems=["unsupported-media-type", "payload-too-large"])
def ocsp_post() -> Response:
    if request.mimetype != OCSP_REQUEST:
        raise Problem(415, "unsupported-media-type",
                      f"send the OCSP request as {OCSP_REQUEST}, not {request.mimetype or 'no Content-Type'}")
    return _ocsp(request.get_data(cache=False))


@bp.get("/ocsp/<path:encoded>")
@openapi.operation(summary="OCSP (RFC 6960 appendix A.1), GET form", tags=["pki"],
                   parameters=[{"name": "encoded", "in": "path", "required": True,
                                "schema": {"type": "string"},
                                "description": "URL-encoded base64 of the DER OCSPRequest"}],
                   responses={200: openapi.binary(OCSP_RESPONSE, "DER OCSPResponse")})
def ocsp_get(encoded: str) -> Response:
    der = decode_get(encoded)  # werkzeug has already URL-decoded the path
    if der is None:
        return Response(ocsp.error_response("malformed_request"), mimetype=OCSP_RESPONSE)
    return _ocsp(der)
