"""Fuzzing of what a verifier parses from outside: CRLs and OCSP responses fetched from another
region's URLs (verify/revocation.py), and signed trust lists and lists of lists
(verify/trustlist). Malformed input is refused with the package's own error and a message
(UnusableAnswer, TrustListError); anything else -- a crash from deep inside asn1crypto or
json, a hang -- is a bug. A CRL or response whose bytes were changed must never be accepted
with a different meaning: a mutated CRL that still parses and verifies is byte-for-byte the
original (DER has one encoding), and the same for OCSP.

Bounded in `make test`; `make fuzz` runs the same targets with many more examples.
"""
from __future__ import annotations

import base64
import datetime as dt
import json

from hypothesis import given
from hypothesis import strategies as st

from ca import ocsp
from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner
from verify.errors import TrustListError
from verify.revocation import UnusableAnswer, _ocsp_request, _parse_ocsp, parse_crl
from verify.testing import PKIServer, TestPKI
from verify.trustlist import open_list, sign_list
from verify.trustlist.model import Pointer, Service, StatusPeriod, TrustList
from tests.fuzz.mutate import examples, mutated

UTC = dt.timezone.utc
NOW = dt.datetime.now(UTC).replace(microsecond=0)

with PKIServer() as _server:  # only the PKI's objects are used: nothing is fetched
    PKI = TestPKI(_server)
LEAF, _ = PKI.issue("device", "模糊测试")
PKI.revoke(PKI.issue("device", "已吊销")[0], reason="keyCompromise")
CRL = PKI.crl()
NONCE = b"\x07" * 16
OCSP_RESPONSE = PKI.answer_ocsp(_ocsp_request(LEAF, PKI.issuing, NONCE))

TL_KEY = LocalSigner()
TL_CERT = (CertificateBuilder("audit_signer", PKI.config).subject({"C": "CN", "O": "测试", "CN": "信任列表签名"})
           .public_key(TL_KEY.public_key).issuer(PKI.issuing).sign(PKI.h.issuing_signer))
GRANTED = (StatusPeriod("granted", NOW - dt.timedelta(days=30)),)
TL = TrustList("TL", "测试省电子认证中心", "CN-440000", 3, NOW, NOW + dt.timedelta(days=30), (
    Service("root_ca", "测试省根CA", (PKI.root,), GRANTED),
    Service("tsa", "测试省时间戳", (PKI.issuing,), GRANTED),
))
TL_DOC = sign_list(TL, TL_CERT, TL_KEY.sign)
LOTL = TrustList("LOTL", "国家", "CN", 1, NOW, NOW + dt.timedelta(days=30), (), (
    Pointer("CN-440000", "测试省电子认证中心", "https://tl.example/440000.json", (TL_CERT,), GRANTED),
))
LOTL_DOC = sign_list(LOTL, TL_CERT, TL_KEY.sign)


def test_the_seeds_are_accepted() -> None:
    info = parse_crl(CRL, PKI.issuing)
    assert len(info.revoked) == 1
    answer = _parse_ocsp(OCSP_RESPONSE, LEAF, PKI.issuing, NONCE, NOW, dt.timedelta(days=1), "seed")
    assert answer.status == "good"
    assert open_list(TL_DOC, [TL_CERT])[0].sequence_number == 3
    assert open_list(LOTL_DOC, [TL_CERT])[0].pointers[0].territory == "CN-440000"


@examples()
@given(mutated(CRL))
def test_crl(data: bytes) -> None:
    try:
        info = parse_crl(data, PKI.issuing, url="fuzz")
    except UnusableAnswer as exc:
        assert str(exc)
        return
    assert data == CRL or info.revoked == parse_crl(CRL, PKI.issuing).revoked, "a changed CRL was accepted"


@examples()
@given(mutated(OCSP_RESPONSE))
def test_ocsp_response(data: bytes) -> None:
    try:
        answer = _parse_ocsp(data, LEAF, PKI.issuing, NONCE, NOW, dt.timedelta(days=1), "fuzz")
    except UnusableAnswer as exc:
        assert str(exc)
        return
    assert answer.status == "good", "a changed OCSP response was accepted with another status"


@examples()
@given(mutated(TL_DOC))
def test_signed_trust_list_bytes(data: bytes) -> None:
    for pins in ([TL_CERT], None):
        try:
            tl, _ = open_list(data, pins)
        except TrustListError as exc:
            assert str(exc)
            continue
        assert tl.to_dict() == TL.to_dict(), "a changed trust list was accepted"


_JSON = st.recursive(st.none() | st.booleans() | st.integers(-2**70, 2**70) | st.text(max_size=20),
                     lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=8), inner, max_size=3),
                     max_leaves=8)


def _paths(value, prefix=()):  # noqa: ANN001, ANN202
    yield prefix
    if isinstance(value, dict):
        for k, v in value.items():
            yield from _paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            yield from _paths(v, (*prefix, i))


@examples()
@given(st.sampled_from([TL_DOC, LOTL_DOC]), st.data())
def test_trust_list_json_with_a_value_replaced(doc: bytes, data) -> None:  # noqa: ANN001
    """Well-formed JSON of the wrong shape: any value of the envelope or the list (the
    signature included) replaced by any JSON value."""
    envelope = json.loads(doc)
    paths = [p for p in _paths(envelope) if p]
    path = data.draw(st.sampled_from(paths))
    replacement = data.draw(_JSON)
    target = envelope
    for key in path[:-1]:
        target = target[key]
    if target[path[-1]] == replacement:
        return
    target[path[-1]] = replacement
    try:
        open_list(json.dumps(envelope, ensure_ascii=False).encode(), None)
    except TrustListError as exc:
        assert str(exc)
        return
    raise AssertionError(f"a trust list with {'/'.join(map(str, path))} replaced was accepted")


def test_fuzz_seeds_are_distinct_kinds() -> None:
    # the OCSP seed is a real responder's answer with the nonce echoed, signed by the OCSP certificate
    assert ocsp.parse_request(_ocsp_request(LEAF, PKI.issuing, NONCE)).nonce == NONCE


def test_fuzzer_findings_stay_fixed() -> None:
    """What the first run of these targets found: asn1crypto parses names lazily, and a damaged
    one broke with a ValueError out of parse_crl and _parse_ocsp (a crash of the verification)
    instead of an unusable answer."""
    country = b"\x06\x03\x55\x04\x06\x13\x02CN"  # C=CN as a PrintableString: the CRL issuer's first RDN
    assert country in CRL
    bad_tag = CRL.replace(country, b"\x06\x03\x55\x04\x06\x12\x02CN", 1)  # NumericString: not a DirectoryString
    try:
        parse_crl(bad_tag, PKI.issuing, url="regression")
    except UnusableAnswer as exc:
        assert "malformed" in str(exc) or "not by" in str(exc)
    else:
        raise AssertionError("a CRL with a broken issuer name was accepted")
    name = "测试省OCSP".encode()
    assert name in OCSP_RESPONSE
    private_use = OCSP_RESPONSE.replace(name, "\ue000".encode() + name[3:], 1)  # same length: still DER
    try:
        _parse_ocsp(private_use, LEAF, PKI.issuing, NONCE, NOW, dt.timedelta(days=1), "regression")
    except UnusableAnswer as exc:
        assert "malformed" in str(exc)
    else:
        raise AssertionError("an OCSP response with a broken responder name was accepted")
    # a list whose signer certificate (inside the CMS) has a damaged name but the right key:
    # the signature verifies, the pin does not match, and naming the signer must not crash
    envelope = json.loads(TL_DOC)
    cms_der = base64.b64decode(envelope["signature"])
    cn = "信任列表签名".encode()
    at = cms_der.index(cn) - 2
    assert cms_der[at] == 0x0C  # UTF8String
    envelope["signature"] = base64.b64encode(cms_der[:at] + b"\x12" + cms_der[at + 1:]).decode()
    damaged = json.dumps(envelope).encode()
    try:
        open_list(damaged, [PKI.issuing])
    except TrustListError as exc:
        assert str(exc)
    else:
        raise AssertionError("a list signed by an unpinned certificate was accepted")
