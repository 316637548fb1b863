"""One service-level test per profile, on SQLite and PostgreSQL: a certificate issued through
ca/service.py (from an OpenSSL CSR; the encryption twins through the KMC) into a real region,
checked against the profile table written out below (not read from ca.profiles), against the
stored row and audit record, and verified by OpenSSL under the region's issuing CA.

tests/test_ca_profiles.py checks the builder's encodings byte by byte with an in-memory PKI;
here the question is whether the service path — database region, key store signer, URLs of
this region, stored row — yields each profile's certificate.
"""
from __future__ import annotations

import datetime as dt
import hashlib
import json
import subprocess
from pathlib import Path

import pytest
from asn1crypto import pem, x509

from ca import keygen, service
from ca.certificate import to_pem
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker, transaction
from store.models import AuditRecord
from store.models.ca import IssuedCertificate
from store.testing import *  # noqa: F401,F403

DISTID = "distid:1234567812345678"
PASSPHRASE = "correct horse battery staple"
BASE = "http://pki.gd.example.gov.cn"
ARC = "2.25.172213403981946219014592213393398203871.1.440000"
CITIZEN_ID, CREDIT_CODE = "11010519491231002X", "91350100M000100Y43"
SIGN, ENC = {"digital_signature", "non_repudiation"}, {"key_encipherment", "data_encipherment", "key_agreement"}
CLIENT, EMAIL, SERVER = "1.3.6.1.5.5.7.3.2", "1.3.6.1.5.5.7.3.4", "1.3.6.1.5.5.7.3.1"
TSA, OCSP = "1.3.6.1.5.5.7.3.8", "1.3.6.1.5.5.7.3.9"
IDENTIFY_CODE, ORG_CODE = "1.2.156.10260.4.1.1", "1.2.156.10260.4.1.4"
PERSON = dict(subject="C=CN,CN=张三", id_number=CITIZEN_ID)
ORG = dict(subject="C=CN,O=某某局,CN=某某局", credit_code=CREDIT_CODE)
DEVICE = dict(subject="C=CN,O=某某局,CN=gw-01", san=[("dns", "gw01.example.gov.cn")])
SERVICE = dict(subject="C=CN,O=广东省电子认证中心,CN=服务")

# profile: (request, key usage, EKU, EKU critical, policy number, CRL DP + freshest CRL,
#           AIA OCSP, ocsp-nocheck, identity extension, default validity in days)
TABLE = {
    "personal": (PERSON, SIGN, [CLIENT, EMAIL], False, 10, True, True, False, IDENTIFY_CODE, 730),
    "organization": (ORG, SIGN, [CLIENT], False, 11, True, True, False, ORG_CODE, 730),
    "device": (DEVICE, {"digital_signature"}, [CLIENT], False, 12, True, True, False, None, 730),
    "seal_maker": (SERVICE, SIGN, None, None, 20, True, True, False, None, 1825),
    "tsa": (SERVICE, SIGN, [TSA], True, 21, True, True, False, None, 1825),
    "ocsp": (SERVICE, {"digital_signature"}, [OCSP], False, 22, False, False, True, None, 180),
    "tls_server": (dict(subject="C=CN,CN=www.gd.example.gov.cn", san=[("dns", "www.gd.example.gov.cn")]),
                   {"digital_signature"}, [SERVER], False, 23, True, True, False, None, 365),
    "audit_signer": (SERVICE, SIGN, None, None, 24, True, True, False, None, 1095),
    "personal_encryption": (PERSON, ENC, None, None, 110, True, True, False, IDENTIFY_CODE, 730),
    "organization_encryption": (ORG, ENC, None, None, 111, True, True, False, ORG_CODE, 730),
    "device_encryption": (DEVICE, ENC, None, None, 112, True, True, False, None, 730),
}


@pytest.fixture(scope="module")
def csr(openssl_bin, tmp_path_factory) -> Path:
    d = tmp_path_factory.mktemp("csr")
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(d / "k.pem")], check=True,
                   capture_output=True)
    subprocess.run([openssl_bin, "req", "-new", "-key", str(d / "k.pem"), "-sm3", "-sigopt", DISTID,
                    "-subj", "/C=CN/CN=x", "-out", str(d / "req.pem")], check=True, capture_output=True)
    return d / "req.pem"


def _issue(home, ks, profile: str, request: dict, csr_pem: bytes) -> tuple[str, x509.Certificate]:
    if profile.endswith("_encryption"):
        pair = keygen.issue_dual(home, ks, profile=profile.removesuffix("_encryption"), csr_pem=csr_pem, **request)
        return pair.encryption_serial, pair.encryption_certificate
    return service.issue_certificate(home, ks, profile=profile, csr_pem=csr_pem, **request)


@pytest.mark.interop
@pytest.mark.parametrize("profile", list(TABLE))
def test_profile_through_the_service(profile, eseal_home, csr, openssl_bin, tmp_path) -> None:
    request, key_usage, eku, eku_critical, number, crl_dp, aia_ocsp, nocheck, identity, days = TABLE[profile]
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省", base_url=BASE)
    serial, cert = _issue(eseal_home, ks, profile, request, csr.read_bytes())

    issuing = x509.Certificate.load(next(pem.unarmor(service.ca_chain(eseal_home), multiple=True))[2])
    issuer_id = hashlib.sha1(issuing.public_key["public_key"].contents[1:]).hexdigest()
    e = {x["extn_id"].dotted: x for x in cert["tbs_certificate"]["extensions"]}
    assert set(e["2.5.29.15"]["extn_value"].parsed.native) == key_usage and e["2.5.29.15"]["critical"].native
    if eku is None:
        assert "2.5.29.37" not in e
    else:
        assert [o.dotted for o in e["2.5.29.37"]["extn_value"].parsed] == eku
        assert e["2.5.29.37"]["critical"].native is eku_critical
    assert "2.5.29.19" not in e
    assert [p["policy_identifier"].dotted for p in e["2.5.29.32"]["extn_value"].parsed] == [f"{ARC}.{number}"]
    assert e["2.5.29.35"]["extn_value"].parsed["key_identifier"].native == issuing.key_identifier
    if crl_dp:
        assert e["2.5.29.31"]["extn_value"].parsed.native[0]["distribution_point"] == [f"{BASE}/crl/{issuer_id}.crl"]
        assert e["2.5.29.46"]["extn_value"].parsed.native[0]["distribution_point"] == \
            [f"{BASE}/crl/{issuer_id}-delta.crl"]
    else:
        assert "2.5.29.31" not in e and "2.5.29.46" not in e
    aia = {a["access_method"]: a["access_location"] for a in e["1.3.6.1.5.5.7.1.1"]["extn_value"].parsed.native}
    assert aia.pop("ca_issuers") == f"{BASE}/ca/{issuer_id}.cer"
    assert aia == ({"ocsp": f"{BASE}/ocsp"} if aia_ocsp else {})
    assert ("1.3.6.1.5.5.7.48.1.5" in e) is nocheck
    assert [o for o in (IDENTIFY_CODE, ORG_CODE) if o in e] == ([identity] if identity else [])
    if "san" in request:
        assert e["2.5.29.17"]["extn_value"].parsed.native == [v for _, v in request["san"]]
    validity = cert["tbs_certificate"]["validity"]
    assert validity["not_after"].native - validity["not_before"].native == dt.timedelta(days=days)

    # the stored row and the audit record describe this certificate
    with transaction(eseal_home.engine, readonly=True) as s:
        row = s.query(IssuedCertificate).filter_by(serial=serial).one()
        assert (row.profile, row.status, bytes(row.der)) == (profile, "good", cert.dump())
        record = s.query(AuditRecord).filter_by(subject=f"cert:{serial}", action="cert.issue").one()
        assert json.loads(record.details)["profile"] == profile
    # and OpenSSL accepts it under the region's issuing CA
    (tmp_path / "issuing.pem").write_bytes(to_pem(issuing))
    (tmp_path / "leaf.pem").write_bytes(to_pem(cert))
    r = subprocess.run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain", "-purpose", "any",
                        "-CAfile", str(tmp_path / "issuing.pem"), str(tmp_path / "leaf.pem")],
                       capture_output=True, text=True)
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr
