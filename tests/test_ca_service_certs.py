"""init_region's service certificates (OCSP, TSA, seal maker, audit signer), the admin
credential, issue_for_key, the root CRL and authority_by_issuer_id, on SQLite and PostgreSQL."""
from __future__ import annotations

import stat
import subprocess

import pytest
from asn1crypto import crl as acrl
from asn1crypto import pem, x509

from ca import service
from ca.certificate import to_pem
from ca.crl import tbs_of
from ca.errors import CAError, RegionExists, RegionNotInitialised, ServiceCertificateMissing, UnknownAuthority
from ca.testing import soft_region
from store import audit, tokens
from store.db import make_sessionmaker, transaction
from store.testing import *  # noqa: F401,F403

DISTID = "distid:1234567812345678"
PASSPHRASE = "correct horse battery staple"
BASE = "http://pki.gd.example.gov.cn"
# what each service certificate must say (EKU, critical?) and the key-store usage of its key
EXPECTED = {
    "ocsp": ("ocsp", ["1.3.6.1.5.5.7.3.9"], False),
    "tsa": ("tsa", ["1.3.6.1.5.5.7.3.8"], True),
    "seal_maker": ("seal", None, None),
    "audit_signer": ("audit", None, None),
}


@pytest.fixture
def region(eseal_home):
    return eseal_home, *soft_region(eseal_home, PASSPHRASE, base_url=BASE)


def _run(cmd: list[str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(cmd, capture_output=True, text=True)


def _verify(openssl_bin: str, home, cert: x509.Certificate, tmp_path) -> None:
    chain = [c for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    (tmp_path / "issuing.pem").write_bytes(pem.armor("CERTIFICATE", chain[0]))
    (tmp_path / "leaf.pem").write_bytes(to_pem(cert))
    # -partial_chain with the issuing CA as anchor: OpenSSL 3.0 checks an intermediate's SM2
    # signature without the distid (see test_ca_interop.py); issuing-under-root is checked there
    r = _run([openssl_bin, "verify", "-vfyopt", DISTID, "-partial_chain", "-CAfile", str(tmp_path / "issuing.pem"),
              str(tmp_path / "leaf.pem")])
    assert r.returncode == 0 and r.stdout.strip().endswith(": OK"), r.stdout + r.stderr


@pytest.mark.interop
def test_service_certificates_made_at_init(region, openssl_bin, tmp_path) -> None:
    home, ks, info = region
    root = x509.Certificate.load(pem.unarmor(info.root_pem_path.read_bytes())[2])
    for profile, (usage, eku, eku_critical) in EXPECTED.items():
        sc = service.service_certificate(home, profile)
        assert sc.serial == info.service_serials[profile] == format(sc.certificate.serial_number, "x")
        assert ks.info(sc.key_ref).usage == usage
        assert sc.certificate.public_key["public_key"].contents[1:] == ks.public_key(sc.key_ref).to_bytes()
        assert [c.dump() for c in sc.chain][1] == root.dump()
        assert sc.certificate.issuer == sc.chain[0].subject
        ext = {e["extn_id"].dotted: e for e in sc.certificate["tbs_certificate"]["extensions"]}
        if eku is None:
            assert "2.5.29.37" not in ext
        else:
            assert [o.dotted for o in ext["2.5.29.37"]["extn_value"].parsed] == eku
            assert ext["2.5.29.37"]["critical"].native is eku_critical
        _verify(openssl_bin, home, sc.certificate, tmp_path)
    assert info.ocsp_serial == info.service_serials["ocsp"]
    # the audit signer certifies the key store's audit key (the one audit checkpoints use)
    assert service.service_certificate(home, "audit_signer").key_ref == ks.find("audit").key_ref
    assert home.audit_public_key_path.is_file()


def test_admin_token_written_once(region) -> None:
    home, ks, info = region
    path = info.admin_token_path
    assert path == home.path / "admin.token"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    token = path.read_text().strip()
    who = tokens.authenticate(make_sessionmaker(home.engine), token)
    assert who is not None and who.role == "admin" and who.label == "initial administrator"
    # a home whose admin.token exists is never initialised over it (even with no root.pem)
    (home.path / "root.pem").unlink()
    with pytest.raises(RegionExists):
        service.init_region(home, ks, region_code="440000", region_name="广东省", base_url=BASE)
    assert path.read_text().strip() == token


def test_service_certificate_errors(region, eseal_home) -> None:
    home, _, info = region
    with pytest.raises(CAError, match="not a service profile"):
        service.service_certificate(home, "personal")
    service.revoke(home, info.service_serials["tsa"], "keyCompromise")
    with pytest.raises(ServiceCertificateMissing, match="no valid tsa certificate"):
        service.service_certificate(home, "tsa")


def test_service_certificate_before_init(eseal_home) -> None:
    with pytest.raises(RegionNotInitialised, match="eseal init"):
        service.service_certificate(eseal_home, "ocsp")


@pytest.mark.interop
def test_issue_for_key_held_in_key_store(region, openssl_bin, tmp_path) -> None:
    from store.models.ca import IssuedCertificate

    home, ks, _ = region
    key_ref = ks.generate("agency-seal-1", "seal", actor="admin")
    serial, cert = service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                         subject="C=CN,O=某某局,CN=某某局电子印章",
                                         credit_code="91350100M000100Y43", actor="ra")
    assert cert.public_key["public_key"].contents[1:] == ks.public_key(key_ref).to_bytes()
    with transaction(home.engine, readonly=True) as s:
        row = s.query(IssuedCertificate).filter_by(serial=serial).one()
        assert row.key_ref == key_ref and row.profile == "organization"
        assert audit.verify(s).ok
    _verify(openssl_bin, home, cert, tmp_path)
    from keystore.errors import KeyNotFound

    with pytest.raises(KeyNotFound):
        service.issue_for_key(home, ks, profile="organization", key_ref="soft:nope", subject="C=CN,O=a,CN=b")


def _crl_fields(der: bytes):
    c = acrl.CertificateList.load(der)
    idp = c.issuing_distribution_point_value
    url = idp["distribution_point"].chosen[0].native
    return c, url, [e["user_certificate"].native for e in c["tbs_cert_list"]["revoked_certificates"]]


@pytest.mark.interop
def test_root_crl_at_the_issuing_ca_crl_dp(region, openssl_bin, tmp_path) -> None:
    home, ks, info = region
    chain = [x509.Certificate.load(c) for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    issuing, root = chain
    dp_url = issuing.crl_distribution_points[0]["distribution_point"].chosen[0].native
    empty, url, entries = _crl_fields(service.generate_crl(home, ks, authority="root"))
    assert url == dp_url and entries == []
    assert empty.freshest_crl_value is None

    service.revoke(home, info.issuing_serial, "cessationOfOperation")
    der = service.generate_crl(home, ks, authority="root")
    crl, url, entries = _crl_fields(der)
    assert entries == [int(info.issuing_serial, 16)]
    assert crl.issuer == root.subject and crl.crl_number_value.native == empty.crl_number_value.native + 1
    # signed by the root key (openssl pkeyutl over the TBS bytes with the signer ID)
    (tmp_path / "root.pub").write_text(_run([openssl_bin, "x509", "-in", str(info.root_pem_path),
                                             "-pubkey", "-noout"]).stdout)
    (tmp_path / "tbs.der").write_bytes(tbs_of(der))
    (tmp_path / "sig.der").write_bytes(crl["signature"].native)
    v = _run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", str(tmp_path / "root.pub"), "-rawin",
              "-digest", "sm3", "-pkeyopt", DISTID, "-in", str(tmp_path / "tbs.der"),
              "-sigfile", str(tmp_path / "sig.der")])
    assert "Signature Verified Successfully" in v.stdout, v.stdout + v.stderr
    # the issuing CA's CRL stays the default and does not list CA certificates
    _, issuing_url, issuing_entries = _crl_fields(service.generate_crl(home, ks))
    assert issuing_entries == [] and issuing_url != dp_url
    with pytest.raises(CAError, match="full CRLs only"):
        service.generate_crl(home, ks, authority="root", delta=True)
    with pytest.raises(CAError, match="authority must be"):
        service.generate_crl(home, ks, authority="tsa")


def test_authority_by_issuer_id(region) -> None:
    home, ks, info = region
    chain = [x509.Certificate.load(c) for _, _, c in pem.unarmor(service.ca_chain(home), multiple=True)]
    issuing, root = chain
    # the ids are the ones written into certificates: the issuing CA's CRL DP names the root,
    # an end entity's caIssuers URL names the issuing CA
    dp_url = issuing.crl_distribution_points[0]["distribution_point"].chosen[0].native
    root_id = dp_url.rsplit("/", 1)[1].removesuffix(".crl")
    assert service.authority_by_issuer_id(home, root_id) == ("root", root.dump())
    tsa = service.service_certificate(home, "tsa").certificate
    ca_url = [a["access_location"].native for a in tsa.authority_information_access_value
              if a["access_method"].native == "ca_issuers"][0]
    issuing_id = ca_url.rsplit("/", 1)[1].removesuffix(".cer")
    assert service.authority_by_issuer_id(home, issuing_id.upper()) == ("issuing", issuing.dump())
    with pytest.raises(UnknownAuthority, match="no CA of this region"):
        service.authority_by_issuer_id(home, "0" * 40)
    with pytest.raises(UnknownAuthority, match="40 hex digits"):
        service.authority_by_issuer_id(home, "../etc/passwd")
