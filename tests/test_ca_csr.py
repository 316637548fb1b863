"""PKCS#10 parsing, proof of possession and refusals (no external referee needed)."""
import pytest
from asn1crypto import csr, pem, x509

from ca import csr as ca_csr
from ca.errors import InvalidCSR
from ca.testing import LocalSigner


@pytest.fixture(scope="module")
def signer():
    return LocalSigner()


@pytest.fixture(scope="module")
def good(signer):
    san = x509.Extension({"extn_id": "subject_alt_name", "critical": False,
                          "extn_value": [x509.GeneralName(name="dns_name", value="a.gov.cn")]})
    return ca_csr.build_csr(signer, {"C": "CN", "O": "某某局", "CN": "张三"}, extensions=[san]).dump()


def test_roundtrip_der_and_pem(signer, good):
    for data in (good, pem.armor("CERTIFICATE REQUEST", good)):
        parsed = ca_csr.parse_csr(data)
        assert parsed.subject_attributes == {"C": "CN", "O": "某某局", "CN": "张三"}
        assert parsed.public_key == signer.public_key.to_bytes()
        assert list(parsed.requested_extensions) == ["2.5.29.17"]
        assert parsed.uid == b"1234567812345678"


def test_other_uid_needs_the_parameter():
    from gm.sm2 import PrivateKey

    key = PrivateKey.generate()

    class UidSigner:
        public_key = key.public_key

        def sign(self, data):
            return key.sign(data, uid=b"alice@example.cn")

    der = ca_csr.build_csr(UidSigner(), "C=CN,CN=alice").dump()
    with pytest.raises(InvalidCSR, match="proof of possession failed.*'1234567812345678'"):
        ca_csr.parse_csr(der)
    assert ca_csr.parse_csr(der, uid=b"alice@example.cn").subject_attributes["CN"] == "alice"


def test_tampered_subject_refused(good):
    der = bytearray(good)
    i = der.find("张三".encode())
    der[i] ^= 0x01
    with pytest.raises(InvalidCSR, match="proof of possession failed"):
        ca_csr.parse_csr(bytes(der))


def test_tampered_signature_refused(good):
    req = csr.CertificationRequest.load(good)
    sig = bytearray(req["signature"].native)
    sig[-1] ^= 0x01
    bad = csr.CertificationRequest({"certification_request_info": req["certification_request_info"],
                                    "signature_algorithm": req["signature_algorithm"],
                                    "signature": bytes(sig)}).dump()
    with pytest.raises(InvalidCSR, match="proof of possession failed|signature is malformed"):
        ca_csr.parse_csr(bad)


@pytest.mark.parametrize("data, message", [
    (b"", "empty"),
    (b"hello world", "neither PEM nor DER"),
    (b"\x30\x03\x02\x01\x00", "DER is malformed"),
    (pem.armor("CERTIFICATE", b"\x30\x00"), "PEM block is 'CERTIFICATE'"),
])
def test_garbage_refused(data, message):
    with pytest.raises(InvalidCSR, match=message):
        ca_csr.parse_csr(data)


def test_trailing_bytes_refused(good):
    with pytest.raises(InvalidCSR, match="trailing data"):
        ca_csr.parse_csr(good + b"\x00")


def _resign_with(good, signer, *, alg=None, curve=None):
    req = csr.CertificationRequest.load(good)
    info = req["certification_request_info"].copy()
    if curve:
        from asn1crypto import keys

        spki = keys.PublicKeyInfo({
            "algorithm": {"algorithm": "ec",
                          "parameters": keys.ECDomainParameters(name="named", value=curve)},
            "public_key": info["subject_pk_info"]["public_key"].native})
        info = csr.CertificationRequestInfo({**{k: info[k] for k in ("version", "subject", "attributes")},
                                             "subject_pk_info": spki})
    return csr.CertificationRequest({
        "certification_request_info": info,
        "signature_algorithm": {"algorithm": alg or "1.2.156.10197.1.501"},
        "signature": signer.sign(info.dump())}).dump()


def test_wrong_signature_algorithm_refused(good, signer):
    with pytest.raises(InvalidCSR, match=r"signature algorithm is sha256_ecdsa .*expected SM2-with-SM3"):
        ca_csr.parse_csr(_resign_with(good, signer, alg="sha256_ecdsa"))


def test_wrong_curve_refused(good, signer):
    with pytest.raises(InvalidCSR, match=r"curve secp256r1 .*expected SM2"):
        ca_csr.parse_csr(_resign_with(good, signer, curve="secp256r1"))


def test_bad_uid_parameter(good):
    with pytest.raises(InvalidCSR, match="uid"):
        ca_csr.parse_csr(good, uid=b"")
