"""Each profile's certificate, parsed with asn1crypto, against concrete expected values.

The expectations are written out here (not read from ca.profiles) so a change of the
profile table has to change a test too.
"""
import datetime as dt
import hashlib

import pytest
from asn1crypto import core, x509

from ca.certificate import CertificateBuilder, random_serial
from ca.errors import BuilderError, IncompleteBuilder, InvalidIdentifier, ProfileViolation
from ca.gmt0015 import load_identify_code
from ca.profiles import CAConfig
from ca.testing import LocalSigner, make_hierarchy

BASE = "http://pki.gd.example.gov.cn"
ARC = "2.25.172213403981946219014592213393398203871.1.440000"
CLIENT_AUTH, EMAIL, SERVER_AUTH = "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.1"
TIMESTAMPING, OCSP_SIGNING = "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9"


@pytest.fixture(scope="module")
def region():
    return make_hierarchy(CAConfig(region_code="440000", base_url=BASE + "/"), region_name="广东省")


def exts(cert: x509.Certificate) -> dict[str, x509.Extension]:
    out = {}
    for e in cert["tbs_certificate"]["extensions"]:
        assert e["extn_id"].dotted not in out, "duplicate extension"
        out[e["extn_id"].dotted] = e
    return out


def ku(e):
    return set(e["extn_value"].parsed.native)


def eku(e):
    return [p.dotted for p in e["extn_value"].parsed]


def uris(e, key="access_location"):
    return e["extn_value"].parsed.native


def policy(e):
    return [p["policy_identifier"].dotted for p in e["extn_value"].parsed]


def issue(region, profile, subject, **kw):
    signer = LocalSigner()
    b = CertificateBuilder(profile, region.config).subject(subject).public_key(signer.public_key)
    b = b.issuer(region.issuing)
    if "identity" in kw:
        b = b.identity(**kw["identity"])
    if "san" in kw:
        b = b.subject_alt_names(kw["san"])
    return b.sign(region.issuing_signer), signer


def issuer_id(region):
    return hashlib.sha1(region.issuing.public_key["public_key"].contents[1:]).hexdigest()


def common_leaf_checks(region, cert, signer, *, crl=True, ocsp=True):
    e = exts(cert)
    point = signer.public_key.to_bytes()
    assert e["2.5.29.14"]["extn_value"].parsed.native == hashlib.sha1(point).digest()
    assert e["2.5.29.35"]["extn_value"].parsed["key_identifier"].native == \
        hashlib.sha1(region.issuing.public_key["public_key"].contents[1:]).digest()
    assert "2.5.29.19" not in e  # end entities carry no basicConstraints
    assert e["2.5.29.15"]["critical"].native is True
    assert cert["signature_algorithm"]["algorithm"].dotted == "1.2.156.10197.1.501"
    assert cert["signature_algorithm"]["parameters"].native is None
    assert cert["tbs_certificate"]["version"].native == "v3"
    spki = cert["tbs_certificate"]["subject_public_key_info"]
    assert spki["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert spki["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"
    assert cert.issuer == region.issuing.subject
    iid = issuer_id(region)
    if crl:
        dp = e["2.5.29.31"]["extn_value"].parsed.native
        assert dp[0]["distribution_point"] == [f"{BASE}/crl/{iid}.crl"]
        fresh = e["2.5.29.46"]["extn_value"].parsed.native
        assert fresh[0]["distribution_point"] == [f"{BASE}/crl/{iid}-delta.crl"]
    else:
        assert "2.5.29.31" not in e and "2.5.29.46" not in e
    aia = {(a["access_method"], a["access_location"]) for a in
           e["1.3.6.1.5.5.7.1.1"]["extn_value"].parsed.native}
    expected = {("ca_issuers", f"{BASE}/ca/{iid}.cer")}
    if ocsp:
        expected.add(("ocsp", f"{BASE}/ocsp"))
    assert aia == expected
    serial = cert.serial_number
    assert serial >= 1 << 64
    return e


def test_root_ca_profile(region):
    cert = region.root
    e = exts(cert)
    assert set(e) == {"2.5.29.19", "2.5.29.15", "2.5.29.14", "2.5.29.35"}
    bc = e["2.5.29.19"]
    assert bc["critical"].native is True
    assert bc["extn_value"].parsed.native == {"ca": True, "path_len_constraint": 1}
    assert ku(e["2.5.29.15"]) == {"key_cert_sign", "crl_sign"}
    assert e["2.5.29.14"]["extn_value"].parsed.native == \
        e["2.5.29.35"]["extn_value"].parsed["key_identifier"].native
    assert cert.subject == cert.issuer
    assert cert.subject.native == {"country_name": "CN", "organization_name": "广东省电子认证中心",
                                   "common_name": "广东省根CA"}
    # C is PrintableString, the rest UTF8String
    rdns = cert.subject.chosen
    assert rdns[0][0]["value"].name == "printable_string"
    assert rdns[1][0]["value"].name == "utf8_string"


def test_issuing_ca_profile(region):
    e = exts(region.issuing)
    bc = e["2.5.29.19"]
    assert bc["critical"].native is True
    assert bc["extn_value"].parsed.native == {"ca": True, "path_len_constraint": 0}
    assert ku(e["2.5.29.15"]) == {"key_cert_sign", "crl_sign"}
    assert policy(e["2.5.29.32"]) == ["2.5.29.32.0"]
    root_id = hashlib.sha1(region.root.public_key["public_key"].contents[1:]).hexdigest()
    assert e["2.5.29.31"]["extn_value"].parsed.native[0]["distribution_point"] == \
        [f"{BASE}/crl/{root_id}.crl"]
    assert "2.5.29.46" not in e
    assert e["1.3.6.1.5.5.7.1.1"]["extn_value"].parsed.native == [
        {"access_method": "ca_issuers", "access_location": f"{BASE}/ca/{root_id}.cer"}]


def test_personal_profile(region):
    cert, signer = issue(region, "personal", "C=CN,ST=广东省,L=广州市,CN=张三",
                         identity={"citizen_id": "11010519491231002x"},
                         san=[("email", "zhangsan@example.cn")])
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature", "non_repudiation"}
    assert eku(e["2.5.29.37"]) == [CLIENT_AUTH, EMAIL]
    assert e["2.5.29.37"]["critical"].native is False
    assert policy(e["2.5.29.32"]) == [f"{ARC}.10"]
    qualifiers = e["2.5.29.32"]["extn_value"].parsed.native[0]["policy_qualifiers"]
    assert qualifiers == [{"policy_qualifier_id": "certification_practice_statement",
                           "qualifier": f"{BASE}/cps"}]
    ident = e["1.2.156.10260.4.1.1"]
    assert ident["critical"].native is False
    raw = ident["extn_value"].contents
    assert raw == bytes.fromhex("a0141312") + b"11010519491231002X"  # EXPLICIT [0] PrintableString
    assert load_identify_code(raw) == ("residenter_card_number", "11010519491231002X")
    assert e["2.5.29.17"]["extn_value"].parsed.native == ["zhangsan@example.cn"]


def test_organization_profile(region):
    cert, signer = issue(region, "organization", "C=CN,O=某某市市场监督管理局,CN=某某市市场监督管理局",
                         identity={"organization_code": "91350100M000100Y43",
                                   "taxation_number": "91350100M000100Y43"})
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature", "non_repudiation"}
    assert eku(e["2.5.29.37"]) == [CLIENT_AUTH]
    assert policy(e["2.5.29.32"]) == [f"{ARC}.11"]
    org = e["1.2.156.10260.4.1.4"]
    assert org["critical"].native is False
    assert core.PrintableString.load(org["extn_value"].contents).native == "91350100M000100Y43"
    assert core.PrintableString.load(e["1.2.156.10260.4.1.5"]["extn_value"].contents).native == \
        "91350100M000100Y43"
    assert "1.2.156.10260.4.1.1" not in e


def test_device_profile(region):
    cert, signer = issue(region, "device", "C=CN,O=某某局,CN=gateway-01",
                         san=[("dns", "gw01.example.gov.cn"), ("ip", "10.1.2.3")])
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature"}
    assert eku(e["2.5.29.37"]) == [CLIENT_AUTH]
    assert policy(e["2.5.29.32"]) == [f"{ARC}.12"]
    assert e["2.5.29.17"]["extn_value"].parsed.native == ["gw01.example.gov.cn", "10.1.2.3"]


def test_seal_maker_profile(region):
    cert, signer = issue(region, "seal_maker", "C=CN,O=广东省公安厅,OU=印章管理,CN=广东省电子印章制章系统",
                         identity={"organization_code": "91350100M000100Y43"})
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature", "non_repudiation"}
    assert "2.5.29.37" not in e
    assert policy(e["2.5.29.32"]) == [f"{ARC}.20"]
    assert "1.2.156.10260.4.1.4" in e


def test_tsa_profile(region):
    cert, signer = issue(region, "tsa", "C=CN,O=广东省电子认证中心,CN=广东省时间戳服务")
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature", "non_repudiation"}
    assert eku(e["2.5.29.37"]) == [TIMESTAMPING]
    assert e["2.5.29.37"]["critical"].native is True  # RFC 3161 §2.3
    assert policy(e["2.5.29.32"]) == [f"{ARC}.21"]


def test_ocsp_profile(region):
    cert, signer = issue(region, "ocsp", "C=CN,O=广东省电子认证中心,CN=广东省OCSP")
    e = common_leaf_checks(region, cert, signer, crl=False, ocsp=False)
    assert ku(e["2.5.29.15"]) == {"digital_signature"}
    assert eku(e["2.5.29.37"]) == [OCSP_SIGNING]
    nocheck = e["1.3.6.1.5.5.7.48.1.5"]
    assert nocheck["critical"].native is False
    assert nocheck["extn_value"].contents == b"\x05\x00"  # NULL
    assert policy(e["2.5.29.32"]) == [f"{ARC}.22"]
    nb, na = cert["tbs_certificate"]["validity"]["not_before"].native, \
        cert["tbs_certificate"]["validity"]["not_after"].native
    assert na - nb == dt.timedelta(days=180)


def test_tls_server_profile(region):
    cert, signer = issue(region, "tls_server", "C=CN,CN=www.gd.example.gov.cn",
                         san=[("dns", "www.gd.example.gov.cn")])
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature"}
    assert eku(e["2.5.29.37"]) == [SERVER_AUTH]
    assert policy(e["2.5.29.32"]) == [f"{ARC}.23"]
    assert e["2.5.29.17"]["extn_value"].parsed.native == ["www.gd.example.gov.cn"]


def test_audit_signer_profile(region):
    cert, signer = issue(region, "audit_signer", "C=CN,O=广东省电子认证中心,CN=审计签名")
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"digital_signature", "non_repudiation"}
    assert "2.5.29.37" not in e
    assert policy(e["2.5.29.32"]) == [f"{ARC}.24"]


def test_personal_encryption_twin(region):
    cert, signer = issue(region, "personal_encryption", "C=CN,CN=张三",
                         identity={"citizen_id": "11010519491231002X"})
    e = common_leaf_checks(region, cert, signer)
    assert ku(e["2.5.29.15"]) == {"key_encipherment", "data_encipherment", "key_agreement"}
    assert "2.5.29.37" not in e
    assert policy(e["2.5.29.32"]) == [f"{ARC}.110"]


# --- the rules refuse -----------------------------------------------------------------

def builder(region, profile="personal"):
    return CertificateBuilder(profile, region.config)


@pytest.mark.parametrize("subject, message", [
    ("C=US,CN=x", "C must be 'CN'"),
    ("CN=x", "lacks required C"),
    ("C=CN,O=x", "lacks required CN"),
    ("C=CN,CN=x,emailAddress=a@b", "cannot read"),
    ("C=CN,CN=", "non-empty string"),
    ({"C": "CN", "CN": " x"}, "without leading or trailing blanks"),
    ("C=CN,CN=x,serialNumber=张", "PrintableString"),
    # a NUL cuts a name short for software reading C strings ("www.bank.cn\0.evil.cn")
    ({"C": "CN", "CN": "张\x00三"}, "CN contains U\\+0000: control characters are not allowed"),
    ({"C": "CN", "CN": "张三", "O": "某\x1b局"}, "O contains U\\+001B"),
    ({"C": "CN", "CN": "a\x85b"}, "CN contains U\\+0085"),
])
def test_subject_rules(region, subject, message):
    with pytest.raises(ProfileViolation, match=message):
        builder(region).subject(subject)


def test_an_email_name_with_a_control_character_is_refused(region):
    with pytest.raises(ProfileViolation, match="subject alternative name contains U\\+0000"):
        builder(region).subject_alt_names([("email", "zhang@example.cn\x00.evil.cn")])


def test_subject_attribute_not_allowed(region):
    with pytest.raises(ProfileViolation, match="serialNumber not allowed"):
        builder(region, "tsa").subject("C=CN,O=x,CN=y,serialNumber=1")


def test_identity_rules(region):
    with pytest.raises(InvalidIdentifier, match="wrong check character '1' \\(expected 'X'\\)"):
        builder(region).identity(citizen_id="110105194912310021")
    with pytest.raises(InvalidIdentifier, match="unified social credit code: wrong check"):
        builder(region, "organization").identity(organization_code="91350100M000100Y44")
    with pytest.raises(ProfileViolation, match="organization_code not allowed"):
        builder(region).identity(citizen_id="11010519491231002X", organization_code="91350100M000100Y43")
    with pytest.raises(ProfileViolation, match="give one of"):
        builder(region).identity(citizen_id="11010519491231002X", passport_number="E1234567")
    signer = LocalSigner()
    b = builder(region).subject("C=CN,CN=x").public_key(signer.public_key).issuer(region.issuing)
    with pytest.raises(IncompleteBuilder, match="requires identity identify_code"):
        b.sign(region.issuing_signer)


def test_builder_is_immutable_and_set_once(region):
    b0 = builder(region, "device")
    b1 = b0.subject("C=CN,O=x,CN=y")
    assert b1 is not b0
    with pytest.raises(BuilderError, match="subject is already set"):
        b1.subject("C=CN,O=x,CN=z")
    with pytest.raises(IncompleteBuilder, match="public_key, issuer not set"):
        b0.subject("C=CN,O=x,CN=y").sign(region.issuing_signer)
    with pytest.raises(BuilderError, match="positive"):
        b0.serial_number(0)
    with pytest.raises(BuilderError, match="20 octets"):
        b0.serial_number(1 << 160)


def test_validity_limits(region):
    now = dt.datetime.now(dt.timezone.utc)
    with pytest.raises(ProfileViolation, match="exceeds the maximum of 398 days"):
        builder(region, "tls_server").validity(now, now + dt.timedelta(days=400))
    signer = LocalSigner()
    b = (builder(region, "device").subject("C=CN,O=x,CN=y").public_key(signer.public_key)
         .issuer(region.issuing).validity(now, now + dt.timedelta(days=365 * 5)))
    issuer_end = region.issuing["tbs_certificate"]["validity"]["not_after"].native
    assert issuer_end > now + dt.timedelta(days=365 * 5)  # so this one is fine
    b.sign(region.issuing_signer)
    late = now + dt.timedelta(days=365 * 10)
    b2 = (builder(region, "seal_maker").subject("C=CN,O=x,CN=y").public_key(signer.public_key)
          .issuer(region.issuing).validity(late - dt.timedelta(days=365), late + dt.timedelta(days=3)))
    with pytest.raises(ProfileViolation, match="after the issuer's not_after"):
        b2.sign(region.issuing_signer)


def test_signer_must_own_the_issuer_key(region):
    signer = LocalSigner()
    b = builder(region, "device").subject("C=CN,O=x,CN=y").public_key(signer.public_key).issuer(region.issuing)
    with pytest.raises(ProfileViolation, match="not the issuer certificate's key"):
        b.sign(region.root_signer)


def test_leaf_cannot_issue(region):
    leaf, _ = issue(region, "device", "C=CN,O=x,CN=y")
    with pytest.raises(ProfileViolation, match="not a CA"):
        builder(region, "device").issuer(leaf)


def test_serials_are_random_and_large():
    serials = {random_serial() for _ in range(1000)}
    assert len(serials) == 1000
    assert all(1 << 64 <= s < 1 << 128 for s in serials)


def test_explicit_serial_kept(region):
    signer = LocalSigner()
    cert = (builder(region, "device").subject("C=CN,O=x,CN=y").public_key(signer.public_key)
            .issuer(region.issuing).serial_number(0x1234567890ABCDEF01).sign(region.issuing_signer))
    assert cert.serial_number == 0x1234567890ABCDEF01
