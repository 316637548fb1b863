"""seal.structures: real seals and signatures verify; ours verify with OpenSSL; quirks are reported."""
from __future__ import annotations

import datetime as dt
import subprocess
import zipfile

import pytest
from asn1crypto import core

from ca.certificate import CertificateBuilder
from ca.testing import LocalSigner, make_hierarchy
from gm import sm2
from gm.asn1 import ses
from gm.sm3 import sm3
from seal import structures as st
from seal.errors import SealBuildError, SealFormatError

UTC = dt.timezone.utc


def _ofd_member(path, name) -> bytes:
    with zipfile.ZipFile(path) as package:
        return package.read(name)


@pytest.fixture(scope="module")
def vector_signatures(shared_vectors):
    out = {"SignedValueV4.dat": (shared_vectors / "seals" / "SignedValueV4.dat").read_bytes()}
    for ofd in sorted((shared_vectors / "ofd").glob("*.ofd")):
        out[ofd.name] = _ofd_member(ofd, "Doc_0/Signs/Sign_0/SignedValue.dat")
    return out


# ----------------------------------------------------------------------------- real seals


def test_v4_seal_facts_and_maker_signature(shared_vectors):
    seal = st.parse_seal((shared_vectors / "seals" / "UserV4.esl").read_bytes())
    assert (seal.version, seal.vid, seal.es_id) == (4, "OFDR&WTest", "51f044b76510434e9bc67a1185c2fba5")
    assert seal.name == "OFD R&W 测试用印章" and seal.seal_type == 3
    assert seal.cert_list_type == 1 and len(seal.certificates) == 1
    assert seal.valid_start == dt.datetime(2020, 4, 22, 2, 9, tzinfo=UTC)
    assert seal.picture.type == "PNG" and seal.picture.width_mm == 40
    assert seal.quirks == ()
    result = st.verify_seal_signature(seal)
    assert result.ok, result.reason
    # the ofdrw sign_cert.pem is a later test certificate, not the one this seal binds
    from asn1crypto import pem
    _, _, other_der = pem.unarmor((shared_vectors / "seals" / "sign_cert.pem").read_bytes())
    assert not seal.binds(other_der)
    assert seal.binds(seal.certificates[0])


def test_v1_seal_maker_signature_covers_sealinfo_cert_and_algorithm(shared_vectors):
    seal = st.parse_seal((shared_vectors / "seals" / "UserV1.esl").read_bytes())
    assert seal.version == 1 and seal.es_id == "40C8CDD24DEF43388B86E62CCE1D6832"
    assert seal.valid_end == dt.datetime(2022, 4, 22, 2, 18, 7, tzinfo=UTC)
    result = st.verify_seal_signature(seal)
    assert result.ok, result.reason
    # the signed bytes are SEQUENCE { sealInfo, cert, signatureAlgorithm }, not the bare sealInfo
    parsed = ses.SES_SealSignedDataV1.load(result.signed_bytes)
    assert parsed["sealInfo"].dump() == ses.SESealV1.load(seal.der)["esealInfo"].dump()
    bare = ses.SESealV1.load(seal.der)["esealInfo"].dump()
    assert not result.public_key.verify(result.signature_der, bare)


@pytest.mark.parametrize("name", ["SignedValueV4.dat", "SESV4SignDoc.ofd", "v4signed.ofd"])
def test_vector_signatures_verify(vector_signatures, name):
    sig = st.parse_signature(vector_signatures[name])
    assert sig.version == 4
    assert sig.property_info == "/Doc_0/Signs/Sign_0/Signature.xml"
    assert len(sig.data_hash) == 32
    signer = st.verify_signature_value(sig)
    assert signer.ok, signer.reason
    maker = st.verify_seal_signature(sig.seal)
    assert maker.ok, maker.reason
    assert sig.seal.binds(sig.signer_cert)


@pytest.mark.parametrize("name", ["SESV4SignDoc.ofd", "v4signed.ofd"])
def test_ofd_data_hash_is_sm3_of_signature_xml(shared_vectors, vector_signatures, name):
    sig = st.parse_signature(vector_signatures[name])
    xml = _ofd_member(shared_vectors / "ofd" / name, "Doc_0/Signs/Sign_0/Signature.xml")
    assert sig.data_hash == sm3(xml)


def _openssl_verify(openssl_bin, tmp_path, cert_der, tbs, signature_der, tag) -> subprocess.CompletedProcess:
    cert = tmp_path / f"{tag}.der"
    cert.write_bytes(cert_der)
    pub = tmp_path / f"{tag}.pub.pem"
    subprocess.run([openssl_bin, "x509", "-inform", "DER", "-in", str(cert), "-pubkey", "-noout", "-out", str(pub)],
                   check=True, capture_output=True)
    (tmp_path / f"{tag}.tbs").write_bytes(tbs)
    (tmp_path / f"{tag}.sig").write_bytes(signature_der)
    return subprocess.run(
        [openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(pub), "-rawin", "-digest", "sm3",
         "-pkeyopt", "distid:1234567812345678", "-in", str(tmp_path / f"{tag}.tbs"),
         "-sigfile", str(tmp_path / f"{tag}.sig")], capture_output=True, text=True)


def test_vector_signatures_verify_with_openssl(vector_signatures, openssl_bin, tmp_path):
    sig = st.parse_signature(vector_signatures["SignedValueV4.dat"])
    # what OpenSSL checks is the raw field content, independent of our checker
    signer = _openssl_verify(openssl_bin, tmp_path, sig.signer_cert, ses.SES_Signature.load(sig.der)["toSign"].dump(),
                             sig.signature, "signer")
    assert "Signature Verified Successfully" in signer.stdout, signer.stderr
    seal = _openssl_verify(openssl_bin, tmp_path, sig.seal.maker_cert, sig.seal.tbs, sig.seal.signed_value, "maker")
    assert "Signature Verified Successfully" in seal.stdout, seal.stderr
    flipped = bytearray(sig.seal.tbs)
    flipped[100] ^= 1
    bad = _openssl_verify(openssl_bin, tmp_path, sig.seal.maker_cert, bytes(flipped), sig.seal.signed_value, "bad")
    assert bad.returncode != 0


def test_one_flipped_byte_fails(vector_signatures):
    der = bytearray(vector_signatures["SignedValueV4.dat"])
    sig = st.parse_signature(bytes(der))
    # flip one byte inside propertyInfo (inside TBS_Sign, outside the seal)
    at = bytes(der).index(b"/Doc_0/Signs/Sign_0/Signature.xml")
    der[at + 1] ^= 0x01
    tampered = st.parse_signature(bytes(der))
    assert tampered.property_info != sig.property_info
    result = st.verify_signature_value(tampered)
    assert not result.ok and "does not match" in result.reason
    assert st.verify_seal_signature(tampered.seal).ok  # the seal itself was not touched
    # flip one byte of the seal name: the maker signature fails
    seal_der = bytearray(sig.seal.der)
    at = bytes(seal_der).index("测试".encode())
    seal_der[at + 2] ^= 0x01
    assert not st.verify_seal_signature(st.parse_seal(bytes(seal_der))).ok


# ----------------------------------------------------------------------------- our own seals


@pytest.fixture(scope="module")
def pki():
    h = make_hierarchy()
    now = dt.datetime.now(UTC) - dt.timedelta(minutes=5)

    def issue(profile, subject, signer):
        builder = (CertificateBuilder(profile, h.config).subject(subject).public_key(signer.public_key)
                   .issuer(h.issuing).validity(now, now + dt.timedelta(days=30)))
        if profile == "organization":
            builder = builder.identity(organization_code="91350100M000100Y43")
        return builder.sign(h.issuing_signer)

    maker_signer, holder_signer = LocalSigner(), LocalSigner()
    maker = issue("seal_maker", {"C": "CN", "O": "测试省电子认证中心", "CN": "测试省制章人"}, maker_signer)
    holder = issue("organization", {"C": "CN", "O": "测试市人民政府", "CN": "测试市人民政府"}, holder_signer)
    return {"maker": (maker.dump(), maker_signer), "holder": (holder.dump(), holder_signer)}


def _make_seal(pki, *, by_digest=False) -> bytes:
    maker_der, maker_signer = pki["maker"]
    holder_der, _ = pki["holder"]
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    kwargs = ({"cert_digests": [st.certificate_digest(holder_der)]} if by_digest
              else {"certificates": [holder_der]})
    info = st.build_seal_info(es_id="44010020260000001X", seal_type=1, name="测试市人民政府",
                              valid_start=start, valid_end=start + dt.timedelta(days=365),
                              picture=st.Picture("png", b"\x89PNG...", 42, 42), **kwargs)
    return st.assemble_seal(info, maker_der, maker_signer.sign(info))


def _make_signature(pki, seal_der, *, timestamp=None) -> bytes:
    holder_der, holder_signer = pki["holder"]
    tbs = st.build_tbs_sign(seal_der, data_hash=sm3(b"<Signature/>"), property_info="/Doc_0/Signs/Sign_0/Signature.xml",
                            time_info=dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC))
    return st.assemble_signature(tbs, holder_der, holder_signer.sign(tbs), timestamp=timestamp)


@pytest.mark.parametrize("by_digest", [False, True])
def test_our_seal_round_trips_and_verifies(pki, by_digest):
    der = _make_seal(pki, by_digest=by_digest)
    seal = st.parse_seal(der)
    assert seal.version == 4 and seal.vid == "eseal" and seal.es_id == "44010020260000001X"
    assert seal.picture.type == "PNG" and (seal.picture.width_mm, seal.picture.height_mm) == (42, 42)
    assert seal.cert_list_type == (2 if by_digest else 1)
    assert seal.binds(pki["holder"][0]) and not seal.binds(pki["maker"][0])
    assert seal.valid_end == dt.datetime(2027, 1, 1, tzinfo=UTC)
    assert st.verify_seal_signature(seal).ok
    assert ses.SESeal.load(der).dump() == der


def test_our_signature_verifies_with_openssl(pki, openssl_bin, tmp_path):
    seal_der = _make_seal(pki)
    der = _make_signature(pki, seal_der, timestamp=b"\x30\x03\x02\x01\x00")
    sig = st.parse_signature(der)
    assert sig.timestamp == b"\x30\x03\x02\x01\x00"
    assert sig.time_info == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert sig.data_hash == sm3(b"<Signature/>")
    assert st.verify_signature_value(sig).ok and st.verify_seal_signature(sig.seal).ok
    out = _openssl_verify(openssl_bin, tmp_path, sig.signer_cert, sig.tbs, sig.signature, "ours")
    assert "Signature Verified Successfully" in out.stdout, out.stderr
    out = _openssl_verify(openssl_bin, tmp_path, sig.seal.maker_cert, sig.seal.tbs, sig.seal.signed_value, "oursmaker")
    assert "Signature Verified Successfully" in out.stdout, out.stderr


# ----------------------------------------------------------------------------- quirks


def _replace_signature(der: bytes, signature_field: core.OctetBitString) -> bytes:
    """The signature `der` with its signature BIT STRING replaced (the TBS bytes unchanged)."""
    sig = ses.SES_Signature.load(der)
    return ses.SES_Signature({"toSign": sig["toSign"], "cert": sig["cert"], "signatureAlgID": sig["signatureAlgID"],
                              "signature": signature_field}).dump()


def test_raw_rs_signature_is_accepted_with_a_quirk(pki):
    der = _make_signature(pki, _make_seal(pki))
    sig = st.parse_signature(der)
    r, s = sm2.signature_to_rs(sig.signature)
    raw = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    result = st.verify_signature_value(st.parse_signature(_replace_signature(der, core.OctetBitString(raw))))
    assert result.ok
    assert [q.code for q in result.quirks] == ["raw-rs-signature"]


def test_a_reading_already_tried_is_skipped_and_the_others_still_verify(pki):
    """``tried`` (a DER signature a caller's quick check found not to verify) is not verified
    again, and only that one: the reading equal to it is skipped -- here a good one, to show
    it is not verified -- while another reading of the octets (raw r||s) still is."""
    der = _make_signature(pki, _make_seal(pki))
    sig = st.parse_signature(der)
    assert st.verify_signature_value(sig).ok
    skipped = st.verify_signature_value(sig, tried=sig.signature)
    assert not skipped.ok and skipped.reason == "the signer's SM2 signature does not match the signed data"
    r, s = sm2.signature_to_rs(sig.signature)
    raw_octets = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    raw = st.parse_signature(_replace_signature(der, core.OctetBitString(raw_octets)))
    found = st.verify_signature_value(raw, tried=sm2.signature_from_rs(r, s ^ 1))
    assert found.ok and [q.code for q in found.quirks] == ["raw-rs-signature"]


def test_unused_bits_and_dropped_trailing_zero(pki):
    holder_der, holder_signer = pki["holder"]
    seal_der = _make_seal(pki)
    for attempt in range(5000):  # a signature whose last octet is zero: about 1 in 256
        tbs = st.build_tbs_sign(seal_der, data_hash=sm3(str(attempt).encode()), property_info="p",
                                time_info=dt.datetime(2026, 3, 1, tzinfo=UTC))
        signature = holder_signer.sign(tbs)
        if signature[-1] == 0:
            break
    else:  # pragma: no cover
        pytest.fail("no signature ending in a zero octet")
    field = core.OctetBitString(signature[:-1])
    field.contents = b"\x03" + signature[:-1]  # 3 unused bits, trailing zero octet dropped
    der = ses.SES_Signature({"toSign": ses.TBS_Sign.load(tbs), "cert": holder_der, "signatureAlgID": st.SM2_WITH_SM3,
                             "signature": field}).dump()
    sig = st.parse_signature(der)
    assert [q.code for q in sig.quirks] == ["bit-string-unused-bits"]
    result = st.verify_signature_value(sig)
    assert result.ok
    assert {q.code for q in result.quirks} == {"bit-string-unused-bits", "bit-string-trailing-zero-dropped"}


def test_generalized_time_without_z_is_read_as_beijing_time(pki):
    sig = ses.SES_Signature.load(_make_signature(pki, _make_seal(pki)))
    tbs = sig["toSign"]
    odd_time = core.GeneralizedTime.load(b"\x18\x0e" + b"20260301160000")
    tbs_odd = ses.TBS_Sign({"version": 4, "eseal": tbs["eseal"], "timeInfo": odd_time, "dataHash": tbs["dataHash"],
                            "propertyInfo": tbs["propertyInfo"]})
    parsed = st.parse_signature(ses.SES_Signature({"toSign": tbs_odd, "cert": sig["cert"],
                                                   "signatureAlgID": sig["signatureAlgID"],
                                                   "signature": sig["signature"]}).dump())
    assert parsed.time_info == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert [q.code for q in parsed.quirks] == ["generalized-time-without-z"]
    utc_text = core.GeneralizedTime.load(b"\x18\x0d" + b"260301080000Z")
    tbs_utc = ses.TBS_Sign({"version": 4, "eseal": tbs["eseal"], "timeInfo": utc_text, "dataHash": tbs["dataHash"],
                            "propertyInfo": tbs["propertyInfo"]})
    parsed = st.parse_signature(ses.SES_Signature({"toSign": tbs_utc, "cert": sig["cert"],
                                                   "signatureAlgID": sig["signatureAlgID"],
                                                   "signature": sig["signature"]}).dump())
    assert parsed.time_info == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert [q.code for q in parsed.quirks] == ["generalized-time-utctime-text"]


def test_unsupported_algorithm_is_a_failed_check_not_an_exception(pki):
    sig = ses.SES_Signature.load(_make_signature(pki, _make_seal(pki)))
    der = ses.SES_Signature({"toSign": sig["toSign"], "cert": sig["cert"], "signatureAlgID": "1.2.840.10045.4.3.2",
                             "signature": sig["signature"]}).dump()
    result = st.verify_signature_value(st.parse_signature(der))
    assert not result.ok and "1.2.840.10045.4.3.2" in result.reason


# ----------------------------------------------------------------------------- bad input


def test_broken_input_raises_specific_errors(shared_vectors):
    good = (shared_vectors / "seals" / "UserV4.esl").read_bytes()
    with pytest.raises(SealFormatError, match="empty input"):
        st.parse_seal(b"")
    with pytest.raises(SealFormatError, match="not DER"):
        st.parse_seal(good[:-10])
    with pytest.raises(SealFormatError, match="SEQUENCE of 3 fields"):
        st.parse_seal(b"\x30\x09\x02\x01\x01\x02\x01\x02\x02\x01\x03")
    with pytest.raises(SealFormatError, match="not DER"):
        st.parse_signature(good + b"\x00")
    with pytest.raises(SealFormatError, match="expected DER bytes"):
        st.parse_signature("text")


def test_builder_rejects_bad_values(pki):
    holder_der, _ = pki["holder"]
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    base = dict(es_id="X1", seal_type=1, name="n", valid_start=start, valid_end=start + dt.timedelta(days=1),
                picture=st.Picture("PNG", b"p", 40, 40), certificates=[holder_der])
    with pytest.raises(SealBuildError, match="printable ASCII"):
        st.build_seal_info(**{**base, "es_id": "印章"})
    with pytest.raises(SealBuildError, match="must be after"):
        st.build_seal_info(**{**base, "valid_end": start})
    with pytest.raises(SealBuildError, match="exactly one"):
        st.build_seal_info(**{**base, "cert_digests": [st.certificate_digest(holder_der)]})
    with pytest.raises(SealBuildError, match="not a DER X.509"):
        st.build_seal_info(**{**base, "certificates": [b"\x30\x00"]})
    with pytest.raises(SealBuildError, match="picture type"):
        st.build_seal_info(**{**base, "picture": st.Picture("TIFF", b"p", 40, 40)})
    with pytest.raises(SealBuildError, match="timezone-aware"):
        st.build_seal_info(**{**base, "valid_start": dt.datetime(2026, 1, 1)})
    seal_der = _make_seal(pki)
    with pytest.raises(SealBuildError, match="32-byte SM3"):
        st.build_tbs_sign(seal_der, data_hash=b"short", property_info="p")
    with pytest.raises(SealBuildError, match="DER SM2 signature"):
        st.assemble_signature(st.build_tbs_sign(seal_der, data_hash=b"\x00" * 32, property_info="p"),
                              holder_der, b"\x01" * 64)


def test_seal_and_signature_are_told_apart(shared_vectors):
    seal_der = (shared_vectors / "seals" / "UserV4.esl").read_bytes()
    sig_der = (shared_vectors / "seals" / "SignedValueV4.dat").read_bytes()
    with pytest.raises(SealFormatError, match="not a SES_Signature"):
        st.parse_signature(seal_der)
    with pytest.raises(SealFormatError, match="not a seal"):
        st.parse_seal(sig_der)
    # a structurally wrong field deep inside is a SealFormatError, not a bare ValueError
    body = b"\x30\x04\x16\x02ES" + b"\x16\x01x" + b"\x02\x01\x01" + b"\x02\x01\x02"  # header lacks fields
    truncated_header = b"\x30" + bytes([len(body)]) + body
    with pytest.raises(SealFormatError, match="malformed"):
        st.parse_seal(truncated_header)


@pytest.mark.parametrize("with_extras", [False, True])
def test_fast_encoders_equal_the_declarative_asn1(pki, with_extras):
    """build_tbs_sign / assemble_signature concatenate DER; asn1crypto's dump is the referee."""
    holder_der, holder_signer = pki["holder"]
    seal_der = _make_seal(pki)
    when = dt.datetime(2026, 3, 1, 8, 0, 5, tzinfo=UTC)
    extensions = [("1.2.3.4", True, b"ext")] if with_extras else []
    prop = "/Doc_0/Signs/Sign_0/Signature.xml" * (8 if with_extras else 1)  # long form lengths too
    tbs = st.build_tbs_sign(seal_der, data_hash=sm3(b"d"), property_info=prop, time_info=when,
                            extensions=extensions)
    reference = {"version": 4, "eseal": ses.SESeal.load(seal_der), "timeInfo": when, "dataHash": sm3(b"d"),
                 "propertyInfo": prop}
    if extensions:
        reference["extDatas"] = [{"extnID": "1.2.3.4", "critical": True, "extnValue": b"ext"}]
    assert tbs == ses.TBS_Sign(reference).dump()
    signature = holder_signer.sign(tbs)
    token = b"\x30\x82\x01\x00" + b"\x00" * 256 if with_extras else None
    der = st.assemble_signature(tbs, holder_der, signature, timestamp=token)
    value = {"toSign": ses.TBS_Sign.load(tbs), "cert": holder_der, "signatureAlgID": "1.2.156.10197.1.501",
             "signature": signature}
    if token:
        value["timeStamp"] = token
    assert der == ses.SES_Signature(value).dump()


def test_v1_signature_made_by_hand_verifies_both_signatures(pki):
    """GM/T 0031 v1: maker signs SEQUENCE { sealInfo, cert, signatureAlgorithm }; signer signs DER(TBS_Sign)."""
    maker_der, maker_signer = pki["maker"]
    holder_der, holder_signer = pki["holder"]
    when = dt.datetime(2026, 1, 1, tzinfo=UTC)
    info = ses.SES_SealInfoV1({
        "header": {"ID": "ES", "version": 1, "Vid": "eseal"}, "esID": "V1SEAL",
        "property": {"type": 1, "name": "旧版印章", "certList": [holder_der], "createDate": when,
                     "validStart": when, "validEnd": when + dt.timedelta(days=1)},
        "picture": {"type": "PNG", "data": b"\x89PNG", "width": 40, "height": 40},
    })
    to_be_signed = ses.SES_SealSignedDataV1({"sealInfo": info, "cert": maker_der,
                                             "signatureAlgorithm": st.SM2_WITH_SM3}).dump()
    seal = ses.SESealV1({"esealInfo": info, "signInfo": {"cert": maker_der, "signatureAlgorithm": st.SM2_WITH_SM3,
                                                         "signData": maker_signer.sign(to_be_signed)}})
    tbs = ses.TBS_SignV1({"version": 1, "eseal": seal, "timeInfo": b"260301080000Z", "dataHash": sm3(b"doc"),
                          "propertyInfo": "doc.ofd", "cert": holder_der, "signatureAlgorithm": st.SM2_WITH_SM3})
    der = ses.SES_SignatureV1({"toSign": tbs, "signature": holder_signer.sign(tbs.dump())}).dump()
    sig = st.parse_signature(der)
    assert sig.version == 1 and sig.seal.version == 1 and sig.seal.es_id == "V1SEAL"
    assert sig.time_info == dt.datetime(2026, 3, 1, 8, 0, tzinfo=UTC)
    assert sig.signer_cert == holder_der and sig.seal.binds(holder_der)
    assert st.verify_signature_value(sig).ok
    assert st.verify_seal_signature(sig.seal).ok
    # the v4 rule (maker signs the bare sealInfo) must not be what makes it pass
    assert not sig.seal.tbs == info.dump()


def test_x509_v1_maker_certificate_is_a_reported_quirk(pki):
    """Some producers' certificates are X.509 version 1: read, verified, reported."""
    from asn1crypto import x509 as ax509

    maker_der, maker_signer = pki["maker"]
    h_cert = ax509.Certificate.load(maker_der)
    original = h_cert["tbs_certificate"]
    tbs = ax509.TbsCertificate({"version": "v1", **{k: original[k] for k in (
        "serial_number", "signature", "issuer", "validity", "subject", "subject_public_key_info")}})
    # signed by an unrelated key: only the seal signature matters here, not the certificate's
    v1 = ax509.Certificate({"tbs_certificate": tbs, "signature_algorithm": h_cert["signature_algorithm"],
                            "signature_value": LocalSigner().sign(tbs.dump())}).dump()
    assert ax509.Certificate.load(v1)["tbs_certificate"]["version"].native == "v1"
    holder_der, _ = pki["holder"]
    start = dt.datetime(2026, 1, 1, tzinfo=UTC)
    info = st.build_seal_info(es_id="V1CERT", seal_type=1, name="n", valid_start=start,
                              valid_end=start + dt.timedelta(days=1), picture=st.Picture("PNG", b"p", 40, 40),
                              certificates=[holder_der])
    seal = st.parse_seal(st.assemble_seal(info, v1, maker_signer.sign(info)))
    assert [q.code for q in seal.quirks] == ["x509-v1-certificate"]
    result = st.verify_seal_signature(seal)
    assert result.ok and [q.code for q in result.quirks] == ["x509-v1-certificate"]
