"""OCSP request parsing and response building (in process; OpenSSL checks in test_ca_interop)."""
import datetime as dt
import hashlib

import pytest
from asn1crypto import core, ocsp as aocsp

from ca import ocsp
from ca.certificate import CertificateBuilder
from ca.errors import BuilderError, MalformedOCSPRequest, ProfileViolation
from ca.testing import LocalSigner, make_hierarchy

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)


@pytest.fixture(scope="module")
def region():
    h = make_hierarchy()
    h.ocsp_signer = LocalSigner()
    h.ocsp_cert = (CertificateBuilder("ocsp", h.config).subject("C=CN,O=x,CN=OCSP")
                   .public_key(h.ocsp_signer.public_key).issuer(h.issuing).sign(h.issuing_signer))
    return h


def request_der(region, serials, alg="sha1", nonce=b"\x01" * 16):
    ids = [ocsp.cert_id_for(region.issuing, s, alg).raw for s in serials]
    tbs = {"request_list": [{"req_cert": c} for c in ids]}
    if nonce is not None:
        tbs["request_extensions"] = [{"extn_id": "nonce", "critical": False,
                                      "extn_value": core.OctetString(nonce)}]
    return aocsp.OCSPRequest({"tbs_request": tbs}).dump()


@pytest.mark.parametrize("alg, size", [("sha1", 20), ("sm3", 32)])
def test_parse_request(region, alg, size):
    req = ocsp.parse_request(request_der(region, [7, 1 << 100], alg))
    assert req.nonce == b"\x01" * 16
    assert [c.serial for c in req.cert_ids] == [7, 1 << 100]
    assert all(c.hash_algorithm == alg and len(c.issuer_key_hash) == size for c in req.cert_ids)
    assert all(c.matches_issuer(region.issuing) for c in req.cert_ids)
    assert not req.cert_ids[0].matches_issuer(region.root)


def test_request_without_nonce(region):
    assert ocsp.parse_request(request_der(region, [1], nonce=None)).nonce is None


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"\x30\x03\x02\x01\x00", "DER is malformed"),
    (b"not der", "DER is malformed"),
])
def test_malformed_requests(data, message):
    with pytest.raises(MalformedOCSPRequest, match=message):
        ocsp.parse_request(data)


def test_unsupported_hash_refused(region):
    cid = ocsp.cert_id_for(region.issuing, 1).raw.copy()
    bad = aocsp.CertId({"hash_algorithm": {"algorithm": "sha256"},
                        "issuer_name_hash": b"\x00" * 32, "issuer_key_hash": b"\x00" * 32,
                        "serial_number": 1})
    der = aocsp.OCSPRequest({"tbs_request": {"request_list": [{"req_cert": cid}, {"req_cert": bad}]}}).dump()
    with pytest.raises(MalformedOCSPRequest, match="sha256 .* not supported"):
        ocsp.parse_request(der)


def test_empty_request_list_refused():
    der = aocsp.OCSPRequest({"tbs_request": {"request_list": []}}).dump()
    with pytest.raises(MalformedOCSPRequest, match="no CertID"):
        ocsp.parse_request(der)


def test_response_good_revoked_unknown(region):
    req = ocsp.parse_request(request_der(region, [1, 2, 3], "sm3"))
    nxt = NOW + dt.timedelta(hours=4)
    answers = [ocsp.Answer(req.cert_ids[0], "good", NOW, nxt),
               ocsp.Answer(req.cert_ids[1], "revoked", NOW, nxt, revoked_at=NOW - dt.timedelta(days=2),
                           reason="keyCompromise"),
               ocsp.Answer(req.cert_ids[2], "unknown", NOW)]
    der = ocsp.build_response(region.ocsp_signer, region.ocsp_cert, answers, nonce=req.nonce)
    resp = aocsp.OCSPResponse.load(der)
    assert resp["response_status"].native == "successful"
    basic = resp["response_bytes"]["response"].parsed
    data = basic["tbs_response_data"]
    key = region.ocsp_cert.public_key["public_key"].contents[1:]
    assert data["responder_id"].name == "by_key"
    assert data["responder_id"].chosen.native == hashlib.sha1(key).digest()
    singles = data["responses"]
    assert [s["cert_status"].name for s in singles] == ["good", "revoked", "unknown"]
    assert singles[1]["cert_status"].chosen["revocation_time"].native == NOW - dt.timedelta(days=2)
    assert singles[1]["cert_status"].chosen["revocation_reason"].native == "key_compromise"
    assert singles[0]["next_update"].native == nxt
    assert singles[2]["next_update"].native is None
    assert [s["cert_id"].dump() for s in singles] == [c.raw.dump() for c in req.cert_ids]
    assert data["response_extensions"][0]["extn_value"].parsed.native == b"\x01" * 16
    assert basic["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert basic["certs"][0].dump() == region.ocsp_cert.dump()
    tbs, sig = ocsp.tbs_of(der)
    assert region.ocsp_signer.public_key.verify(sig, tbs)


def test_presign_has_no_nonce(region):
    der = ocsp.presign(region.ocsp_signer, region.ocsp_cert, region.issuing, 99, "good",
                       this_update=NOW, next_update=NOW + dt.timedelta(hours=1))
    data = aocsp.OCSPResponse.load(der)["response_bytes"]["response"].parsed["tbs_response_data"]
    assert data["response_extensions"].native is None
    assert data["responses"][0]["cert_id"]["serial_number"].native == 99
    assert data["produced_at"].native == NOW


def test_answer_and_builder_refusals(region):
    cid = ocsp.cert_id_for(region.issuing, 1)
    with pytest.raises(BuilderError, match="needs revoked_at"):
        ocsp.Answer(cid, "revoked", NOW)
    with pytest.raises(BuilderError, match="good, revoked or unknown"):
        ocsp.Answer(cid, "fine", NOW)
    with pytest.raises(ProfileViolation, match="not the responder certificate's key"):
        ocsp.build_response(region.issuing_signer, region.ocsp_cert, [ocsp.Answer(cid, "good", NOW)])


def test_error_response():
    assert aocsp.OCSPResponse.load(ocsp.error_response("malformed_request"))["response_status"].native \
        == "malformed_request"


def test_hand_assembled_envelope_matches_asn1crypto(region):
    cid = ocsp.cert_id_for(region.issuing, 5, "sm3")
    responder = ocsp.Responder(region.ocsp_signer, region.ocsp_cert)
    for include in (True, False):
        der = responder.respond([ocsp.Answer(cid, "good", NOW)], nonce=b"\x02" * 8,
                                include_certificate=include)
        assert aocsp.OCSPResponse.load(der).dump(force=True) == der


def test_signer_returning_garbage_is_refused(region):
    from ca.errors import SignerError

    class Bad:
        public_key = region.ocsp_signer.public_key

        def __init__(self, out):
            self.out = out

        def sign(self, data):
            return self.out

    good = region.ocsp_signer.sign(b"x")
    for out in (b"", b"\x30\x00", good + b"\x00", b"\x30\x06\x02\x01\x00\x02\x01\x01",
                b"\x30\x06\x02\x01\x81\x02\x01\x01"):
        with pytest.raises(SignerError):
            answer = ocsp.Answer(ocsp.cert_id_for(region.issuing, 1), "good", NOW)
            ocsp.Responder(Bad(out), region.ocsp_cert).respond([answer])
