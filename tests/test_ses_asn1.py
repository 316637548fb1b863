"""gm.asn1.ses: the GB/T 38540 / GM/T 0031 declarations read real seals and dump them byte for byte."""
from __future__ import annotations

import datetime as dt
import subprocess
import zipfile

import pytest
from asn1crypto import core

import gm  # noqa: F401  (registers ShangMi OIDs)
from gm.asn1 import ses

UTC = dt.timezone.utc


def _ofd_signed_value(path) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read("Doc_0/Signs/Sign_0/SignedValue.dat")


def _vectors(shared_vectors):
    seals = shared_vectors / "seals"
    yield "UserV4.esl", ses.SESeal, (seals / "UserV4.esl").read_bytes()
    yield "UserV1.esl", ses.SESealV1, (seals / "UserV1.esl").read_bytes()
    yield "SignedValueV4.dat", ses.SES_Signature, (seals / "SignedValueV4.dat").read_bytes()
    for ofd in sorted((shared_vectors / "ofd").glob("*.ofd")):
        yield ofd.name, ses.SES_Signature, _ofd_signed_value(ofd)


def test_every_vector_parses_fully_and_dumps_byte_exact(shared_vectors):
    seen = 0
    for name, cls, der in _vectors(shared_vectors):
        value = cls.load(der)
        value.native  # parse every field, so a wrong type or order raises here
        assert value.dump() == der, name
        seen += 1
    assert seen == 5


def test_v4_seal_fields_match_openssl_asn1parse(shared_vectors, openssl_bin):
    path = shared_vectors / "seals" / "UserV4.esl"
    seal = ses.SESeal.load(path.read_bytes())
    info = seal["eSealInfo"]
    text = subprocess.run([openssl_bin, "asn1parse", "-inform", "DER", "-in", str(path)],
                          capture_output=True, text=True, check=True).stdout
    assert info["header"]["ID"].native == "ES" and ":ES" in text
    assert info["header"]["version"].native == 4
    assert info["header"]["Vid"].native == "OFDR&WTest"
    assert info["esID"].native == "51f044b76510434e9bc67a1185c2fba5"
    assert ":" + info["esID"].native in text
    prop = info["property"]
    assert prop["name"].native == "OFD R&W 测试用印章"
    assert prop["certListType"].native == ses.CERT_LIST_CERTIFICATES
    assert isinstance(prop["certList"], ses.CertInfoList) and len(prop["certList"]) == 1
    assert prop["validEnd"].native == dt.datetime(2022, 4, 22, 2, 9, tzinfo=UTC)
    assert ":20220422020900Z" in text
    picture = info["picture"]
    assert picture["type"].native == "PNG"
    assert picture["data"].native.startswith(b"\x89PNG\r\n\x1a\n")
    assert (picture["width"].native, picture["height"].native) == (40, 40)
    assert seal["signAlgID"].dotted == "1.2.156.10197.1.501"


def test_v1_seal_has_utctime_and_signinfo(shared_vectors):
    seal = ses.SESealV1.load((shared_vectors / "seals" / "UserV1.esl").read_bytes())
    info = seal["esealInfo"]
    assert info["header"]["version"].native == 1
    assert isinstance(info["property"]["createDate"], core.UTCTime)
    assert info["property"]["validStart"].native == dt.datetime(2020, 4, 22, 2, 18, 7, tzinfo=UTC)
    assert seal["signInfo"]["signatureAlgorithm"].dotted == "1.2.156.10197.1.501"
    assert len(seal["signInfo"]["signData"].contents) == 73  # unused-bits octet + 72-byte DER (r, s)


def test_signature_v4_fields(shared_vectors):
    sig = ses.SES_Signature.load((shared_vectors / "seals" / "SignedValueV4.dat").read_bytes())
    tbs = sig["toSign"]
    assert tbs["version"].native == 4
    assert tbs["propertyInfo"].native == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert tbs["timeInfo"].native == dt.datetime(2020, 10, 12, 11, 14, 3, tzinfo=UTC)
    assert len(tbs["dataHash"].contents) == 33  # unused-bits octet + SM3 digest
    assert sig["timeStamp"].native is None


def test_extension_datas_in_a_tax_seal(shared_vectors):
    der = _ofd_signed_value(shared_vectors / "ofd" / "v4signed.ofd")
    info = ses.SES_Signature.load(der)["toSign"]["eseal"]["eSealInfo"]
    assert info["header"]["Vid"].native == "GOMAIN"
    assert info["picture"]["type"].native == "ofd"
    (ext,) = info["extDatas"]
    assert ext["extnID"].dotted == "1.2.156.10197.6.7.2.2.1"
    assert ext["critical"].native is False
    assert ext["extnValue"].native == b"2.1"


def test_rebuilt_from_native_values_equals_the_original(shared_vectors):
    """A second, independent path: rebuild each structure from its parsed Python values."""
    for name, cls, der in _vectors(shared_vectors):
        rebuilt = cls(cls.load(der).native).dump(force=True)
        if name == "v4signed.ofd":
            # That producer encoded critical = FALSE explicitly; DER omits a DEFAULT value,
            # so the canonical re-encoding is exactly those 3 bytes (01 01 00) shorter.
            assert len(der) - len(rebuilt) == 3
        else:
            assert rebuilt == der, name


def _hand_built_seal(cert_list_type: int) -> ses.SESeal:
    when = dt.datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC)
    if cert_list_type == ses.CERT_LIST_DIGESTS:
        cert_list = ses.CertDigestList([{"type": "sm3", "value": b"\x11" * 32}])
    else:
        cert_list = ses.CertInfoList([b"0\x03\x02\x01\x00"])
    info = ses.SES_SealInfo({
        "header": {"ID": "ES", "version": 4, "Vid": "eseal"},
        "esID": "440100202600000001X",
        "property": {
            "type": ses.SEAL_TYPE_ORGANIZATION, "name": "某某市人民政府", "certListType": cert_list_type,
            "certList": cert_list, "createDate": when, "validStart": when, "validEnd": when,
        },
        "picture": {"type": "PNG", "data": b"\x89PNG", "width": 42, "height": 42},
        "extDatas": [{"extnID": "1.2.3.4", "critical": True, "extnValue": b"x"}],
    })
    return ses.SESeal({"eSealInfo": info, "cert": b"maker", "signAlgID": "1.2.156.10197.1.501",
                       "signedValue": b"\x01"})


@pytest.mark.parametrize("cert_list_type", [ses.CERT_LIST_CERTIFICATES, ses.CERT_LIST_DIGESTS])
def test_hand_built_seal_round_trips(cert_list_type):
    der = _hand_built_seal(cert_list_type).dump()
    back = ses.SESeal.load(der)
    prop = back["eSealInfo"]["property"]
    expected = ses.CertDigestList if cert_list_type == ses.CERT_LIST_DIGESTS else ses.CertInfoList
    assert isinstance(prop["certList"], expected)
    if cert_list_type == ses.CERT_LIST_DIGESTS:
        assert prop["certList"][0]["type"].native == "sm3"
        assert prop["certList"][0]["value"].native == b"\x11" * 32
    assert prop["name"].native == "某某市人民政府"
    assert back["eSealInfo"]["extDatas"][0]["critical"].native is True
    assert ses.SESeal(back.native).dump(force=True) == der


def test_hand_built_signature_with_timestamp_round_trips():
    seal = _hand_built_seal(ses.CERT_LIST_CERTIFICATES)
    tbs = ses.TBS_Sign({"version": 4, "eseal": seal,
                        "timeInfo": dt.datetime(2026, 5, 6, 7, 8, 9, tzinfo=UTC),
                        "dataHash": b"\x01" * 32, "propertyInfo": "/Doc_0/Signs/Sign_0/Signature.xml"})
    sig = ses.SES_Signature({"toSign": tbs, "cert": b"signer", "signatureAlgID": "1.2.156.10197.1.501",
                             "signature": b"\x02" * 70, "timeStamp": b"\x03" * 10})
    der = sig.dump()
    back = ses.SES_Signature.load(der)
    # [0] EXPLICIT: the tag A0 wraps a universal BIT STRING (03)
    assert der.endswith(bytes([0xA0, 13, 0x03, 11, 0]) + b"\x03" * 10)
    assert back["timeStamp"].contents[1:] == b"\x03" * 10
    assert back["toSign"]["dataHash"].contents == b"\x00" + b"\x01" * 32
    assert back["toSign"]["eseal"].dump() == seal.dump()


def test_hand_built_v1_signature_round_trips():
    when = dt.datetime(2020, 1, 1, tzinfo=UTC)
    seal = ses.SESealV1({
        "esealInfo": {
            "header": {"ID": "ES", "version": 1, "Vid": "eseal"},
            "esID": "1",
            "property": {"type": 1, "name": "n", "certList": [b"c"], "createDate": when,
                         "validStart": when, "validEnd": when},
            "picture": {"type": "PNG", "data": b"p", "width": 1, "height": 1},
        },
        "signInfo": {"cert": b"m", "signatureAlgorithm": "1.2.156.10197.1.501", "signData": b"\x05"},
    })
    sig = ses.SES_SignatureV1({"toSign": {"version": 1, "eseal": seal, "timeInfo": b"200101000000Z",
                                          "dataHash": b"\x09" * 32, "propertyInfo": "p", "cert": b"s",
                                          "signatureAlgorithm": "1.2.156.10197.1.501"},
                               "signature": b"\x07"})
    back = ses.SES_SignatureV1.load(sig.dump())
    assert back["toSign"]["eseal"]["esealInfo"]["property"]["createDate"].contents == b"200101000000Z"
    assert back["toSign"]["timeInfo"].contents[1:] == b"200101000000Z"
    assert back.dump() == sig.dump()
