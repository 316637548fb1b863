"""Fuzzing of every parser of gm/ and ca/: malformed input raises the package's typed error
(GMError / CAError, both ValueError) with a message, never anything else — no crash, no
TypeError/IndexError from deep inside a library, no hang (hypothesis would report it).

Bounded in `make test`; `make fuzz` runs the same targets with many more examples.
"""
from __future__ import annotations

from asn1crypto import core
from asn1crypto import ocsp as aocsp
from asn1crypto import x509
from hypothesis import given

from ca import ocsp
from ca.certificate import CertificateBuilder
from ca.csr import build_csr, parse_csr
from ca.errors import CAError
from ca.testing import LocalSigner, make_hierarchy
from gm import keyformat, sm2
from gm.asn1.parse import load_strict
from gm.errors import ASN1FormatError, GMError
from tests.fuzz.mutate import examples, mutated

KEY = sm2.PrivateKey.generate()
SIG = KEY.sign(b"fuzz")
CIPHERTEXT = KEY.public_key.encrypt(b"secret")
HIER = make_hierarchy()
CSR_DER = build_csr(LocalSigner(), {"C": "CN", "O": "模糊测试", "CN": "fuzz"}).dump()
CERT_DER = (CertificateBuilder("device", HIER.config).subject("C=CN,O=x,CN=device-1")
            .public_key(KEY.public_key).issuer(HIER.issuing).sign(HIER.issuing_signer)).dump()
OCSP_DER = aocsp.OCSPRequest({"tbs_request": {
    "request_list": [{"req_cert": ocsp.cert_id_for(HIER.issuing, 0x1234, "sm3").raw}],
    "request_extensions": [{"extn_id": "nonce", "critical": False, "extn_value": core.OctetString(b"\x01" * 16)}],
}}).dump()


def _typed(call, data: bytes, errors: tuple[type[BaseException], ...]) -> None:
    try:
        call(data)
    except errors as exc:
        assert str(exc), f"{type(exc).__name__} without a message"


@examples()
@given(mutated(KEY.to_der()))
def test_private_key_der(data: bytes) -> None:
    _typed(sm2.PrivateKey.from_der, data, (GMError,))


@examples()
@given(mutated(KEY.to_pem(password=b"pw")))
def test_encrypted_private_key_pem(data: bytes) -> None:
    _typed(lambda d: keyformat.decode_private_key(d, b"pw"), data, (GMError,))


@examples()
@given(mutated(KEY.public_key.to_der()))
def test_public_key_der(data: bytes) -> None:
    _typed(sm2.PublicKey.from_der, data, (GMError,))


@examples()
@given(mutated(KEY.public_key.to_bytes()))
def test_public_key_point(data: bytes) -> None:
    _typed(sm2.PublicKey.from_bytes, data, (GMError,))


@examples()
@given(mutated(SIG))
def test_signature(data: bytes) -> None:
    try:
        ok = KEY.public_key.verify(data, b"fuzz")
    except GMError as exc:
        assert str(exc)
    else:  # a different well-formed signature never verifies
        assert ok == (data == SIG) or (ok and sm2.signature_to_rs(data) == sm2.signature_to_rs(SIG))


@examples()
@given(mutated(CIPHERTEXT))
def test_sm2_ciphertext(data: bytes) -> None:
    try:
        plain = KEY.decrypt(data)
    except GMError as exc:
        assert str(exc)
    else:  # C3 authenticates: only the original (or a re-encoding of it) decrypts
        assert plain == b"secret"


@examples()
@given(mutated(CSR_DER))
def test_csr(data: bytes) -> None:
    _typed(parse_csr, data, (CAError,))


@examples()
@given(mutated(OCSP_DER))
def test_ocsp_request(data: bytes) -> None:
    _typed(ocsp.parse_request, data, (CAError,))


@examples()
@given(mutated(CERT_DER))
def test_certificate(data: bytes) -> None:
    # certificates from outside (documents, seals, other regions) are read with load_strict
    _typed(lambda d: load_strict(x509.Certificate, d, "certificate"), data, (ASN1FormatError,))


# Inputs the fuzzer found (each crashed with IndexError from inside asn1crypto before the fix).
REGRESSIONS_PRIVATE_KEY = [
    bytes.fromhex(
        "3081870201003013060" "72a8648ce3d020106082a811ccf5501822d046d306b0201010420c64dde004d0e52f46a447e"
        "7603fbc0a1f8f3dcbef495d3f50b1abd8b1b8b5436a14403000004e89ae12c0d7f57d352dc60daa4a7ef4e9530608f"
        "9783c6c92a4f084e3997b7fc16571634" "72e776d7c4417cccc4e9ab9db08c04ac3e43752b07db7211a17f859d"),
]


def test_fuzzer_findings_stay_fixed() -> None:
    import pytest
    for data in REGRESSIONS_PRIVATE_KEY:
        with pytest.raises(GMError, match="malformed"):
            sm2.PrivateKey.from_der(data)
    # Found in CI (sixth session): the CSR's empty attributes [0] turned into universal tag 8
    # (INSTANCE OF), which asn1crypto reads as a value without .native: AttributeError escaped.
    at = CSR_DER.index(bytes.fromhex("a000300a"))
    with pytest.raises(CAError, match="malformed"):
        parse_csr(CSR_DER[:at] + b"\x08" + CSR_DER[at + 1:])
