"""Public RFC 3161 timestamp endpoint (RFC 3161 §3.4, timestamps over HTTP).

    POST /tsa    application/timestamp-query -> application/timestamp-reply

No authentication: any relying party or signer of the region may ask for a timestamp.
A request that cannot be parsed or is refused is answered in RFC 3161's own terms (a
TimeStampResp with status rejection and failInfo), as /ocsp does for OCSP; only a wrong
Content-Type or a region without TSA certificate become problem+json.
"""
from __future__ import annotations

from flask import Blueprint, Response, request

from api import openapi
from api.context import services
from api.problems import Problem, register
from seal import tsa

bp = Blueprint("tsa", __name__)

register(tsa.TsaNotConfigured, 503, "tsa-not-configured", "Timestamp authority not configured")

QUERY = "application/timestamp-query"
REPLY = "application/timestamp-reply"


@bp.post("/tsa")
@openapi.operation(summary="RFC 3161 timestamp (SM2/SM3 token, GM/T 0033 profile)", tags=["pki"],
                   request=openapi.binary(QUERY, "DER TimeStampReq (SM3 or SHA-256 imprint)"),
                   responses={200: openapi.binary(REPLY, "DER TimeStampResp: granted with a token, or a "
                                                         "rejection with failInfo for a bad request")},
                   problems=["unsupported-media-type", "payload-too-large", "tsa-not-configured"])
def timestamp() -> Response:
    if request.mimetype != QUERY:
        raise Problem(415, "unsupported-media-type",
                      f"send the timestamp request as {QUERY}, not {request.mimetype or 'no Content-Type'}")
    s = services()
    reply = tsa.timestamp(s.home, s.keystore, request.get_data(cache=False), actor="tsa-http",
                          config=tsa.TsaConfig.from_env(), sessions=s.sessions)
    return Response(reply, mimetype=REPLY)
