"""seal/cms.py: SM2/SM3 SignedData in the GM/T 0010 and PKCS#7 flavours, checked against
a real CFCA SADK signature, OpenSSL's parser, OpenSSL's CMS verifier and OpenSSL-made
signature values.

OpenSSL 3.0 and SM2 in CMS (the openssl#23471 family), as this suite shows:
* ``openssl cms -sign`` with an SM2 key writes no signature at all ("illegal zero
  content"): OpenSSL cannot produce SM2 CMS, so the OpenSSL -> eseal direction is tested
  with signature values made by ``openssl pkeyutl`` (default signer ID) over the signed
  attributes, assembled by us, and with whatever ``cms -sign`` makes should it ever work.
* ``openssl cms -verify`` computes Z_A with an empty signer ID (it never sets the GM/T 0009
  default "1234567812345678"), so it rejects standard SM2 CMS (ours, CFCA's) and accepts
  a signature made with the empty ID. The test with the empty ID proves that OpenSSL
  reads our structure and signed attributes exactly as we sign them; the test with
  ``pkeyutl -pkeyopt distid:1234567812345678`` proves the standard signature itself.
"""
from __future__ import annotations

import datetime as dt
import subprocess
from pathlib import Path

import pytest
from asn1crypto import cms

import gm  # noqa: F401  (registers the ShangMi OIDs)
from ca.certificate import load_certificate, to_pem
from ca.testing import LocalSigner, make_hierarchy, organization_signer
from seal import cms as scms

DISTID = "distid:1234567812345678"
CFCA = "cms/cfca_sadk_signedData_detached_HelloSecretWorld.p7.der"
DATA = b"eseal CMS test data\n" * 200  # 4 KB


@pytest.fixture(scope="module")
def pki():
    h = make_hierarchy()
    signer, cert = organization_signer(h)
    return h, signer, cert


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, **kw)


# --------------------------------------------------------------------------- the CFCA SADK vector


def test_cfca_detached_signature_verifies_with_hello_secret_world(shared_vectors):
    der = (shared_vectors / CFCA).read_bytes()
    check = scms.verify_cms(der, b"Hello Secret World!")
    assert check.ok, check.signer.detail
    assert check.flavour == "gmt0010" and check.content_type == "sm2_data" and check.detached
    assert not check.signer.signed_attributes  # CFCA signs the content itself
    assert check.signer.signature_algorithm == "sm2"
    assert check.signer.certificate.subject.native["common_name"] == "Jon Snow"


@pytest.mark.parametrize("data", [b"Hello Secret World", b"HelloSecretWorld", b"Hello Secret World!\n",
                                  b"hello secret world!", b""])
def test_cfca_signature_fails_for_other_bytes(shared_vectors, data):
    check = scms.verify_cms((shared_vectors / CFCA).read_bytes(), data)
    assert not check.ok
    assert check.failure == scms.Failure.SIGNATURE_INVALID


def test_cfca_without_detached_data_reports_missing_content(shared_vectors):
    check = scms.verify_cms((shared_vectors / CFCA).read_bytes())
    assert not check.ok and check.failure == scms.Failure.CONTENT_MISSING


# --------------------------------------------------------------------------- our own round trips


@pytest.mark.parametrize("flavour", ["gmt0010", "pkcs7"])
@pytest.mark.parametrize("detached", [True, False])
def test_round_trip_and_tamper(pki, flavour, detached):
    h, signer, cert = pki
    der = scms.sign_data(DATA, cert, signer.sign, flavour=flavour, detached=detached, chain=[h.issuing])
    check = scms.verify_cms(der, DATA if detached else None)
    assert check.ok, check.signer.detail
    assert check.flavour == flavour and check.detached is detached and check.content == DATA
    assert check.signer.signed_attributes and check.signer.message_digest is not None
    assert len(check.certificates) == 2
    tampered = DATA[:-1] + b"X"
    bad = scms.verify_cms(der, tampered)
    assert not bad.ok
    assert bad.failure == (scms.Failure.DIGEST_MISMATCH if detached else scms.Failure.CONTENT_MISMATCH)


@pytest.mark.parametrize("flavour, expected", [
    ("gmt0010", ["1.2.156.10197.6.1.4.2.2", ":sm3", "1.2.156.10197.6.1.4.2.1", "1.2.156.10197.1.301.1"]),
    ("pkcs7", [":pkcs7-signedData", ":sm3", ":pkcs7-data", ":SM2-with-SM3"]),
])
def test_flavour_oids_as_openssl_reads_them(pki, tmp_path, openssl_bin, flavour, expected):
    _, signer, cert = pki
    f = tmp_path / "s.der"
    f.write_bytes(scms.sign_data(DATA, cert, signer.sign, flavour=flavour))
    out = run([openssl_bin, "asn1parse", "-inform", "DER", "-in", f], text=True)
    assert out.returncode == 0, out.stderr
    positions = [out.stdout.index(oid) for oid in expected]
    assert positions == sorted(positions)  # in the order of the structure
    for attr in (":contentType", ":messageDigest", ":signingTime"):
        assert attr in out.stdout
    lines = out.stdout.splitlines()
    sm3_at = [i for i, line in enumerate(lines) if line.endswith(":sm3")]
    assert len(sm3_at) == 2 and all("NULL" in lines[i + 1] for i in sm3_at)  # as OpenSSL writes SM3
    sig_at = next(i for i, line in enumerate(lines) if line.endswith(expected[-1]))
    assert ("NULL" in lines[sig_at + 1]) is (flavour == "gmt0010")  # CFCA: NULL; OpenSSL: absent
    if flavour == "gmt0010":
        assert "pkcs7-" not in out.stdout


def test_signing_time_and_digest_attributes(pki):
    _, signer, cert = pki
    t = dt.datetime(2026, 11, 23, 8, 30, 15, tzinfo=dt.timezone.utc)
    check = scms.verify_cms(scms.sign_data(DATA, cert, signer.sign, signing_time=t), DATA)
    assert check.signer.signing_time == t
    import gmssl.sm3 as gsm3  # independent SM3

    assert check.signer.message_digest.hex() == gsm3.sm3_hash(list(DATA))


def test_signer_certificate_left_out_is_found_in_extra_certificates(pki):
    _, signer, cert = pki
    prepared = scms.prepare_signed_data(DATA, cert)
    der = scms.assemble_signed_data(prepared, signer.sign(prepared.to_be_signed), include_certificate=False)
    missing = scms.verify_cms(der, DATA)
    assert not missing.ok and missing.failure == scms.Failure.SIGNER_CERT_NOT_FOUND
    assert scms.verify_cms(der, DATA, extra_certificates=[cert]).ok


def test_wrong_key_for_certificate_is_refused_at_assembly(pki):
    _, _, cert = pki
    other = LocalSigner()
    with pytest.raises(scms.SigningError, match="does not verify with the certificate's public key"):
        scms.sign_data(DATA, cert, other.sign)
    with pytest.raises(scms.SigningError, match="malformed SM2 signature"):
        scms.sign_data(DATA, cert, lambda tbs: b"\x30\x00")


def test_signature_over_other_attributes_is_invalid(pki):
    _, signer, cert = pki
    p1 = scms.prepare_signed_data(DATA, cert, signing_time=dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc))
    p2 = scms.prepare_signed_data(DATA, cert, signing_time=dt.datetime(2026, 1, 2, tzinfo=dt.timezone.utc))
    der = scms.assemble_signed_data(p1, signer.sign(p2.to_be_signed), check=False)
    check = scms.verify_cms(der, DATA)
    assert not check.ok and check.failure == scms.Failure.SIGNATURE_INVALID


def test_raw_rs_signature_is_accepted_with_a_warning(pki):
    from gm.sm2 import signature_to_rs

    _, signer, cert = pki
    p = scms.prepare_signed_data(DATA, cert)
    r, s = signature_to_rs(signer.sign(p.to_be_signed))
    der = scms.assemble_signed_data(p, r.to_bytes(32, "big") + s.to_bytes(32, "big"), check=False)
    check = scms.verify_cms(der, DATA)
    assert check.ok and "raw r||s" in check.signer.warnings[0]


@pytest.mark.parametrize("blob, match", [
    (b"", "empty"),
    (b"\x30\x03\x02\x01\x01", "malformed"),
    (b"not DER at all", "malformed"),
])
def test_malformed_input_raises_malformed_cms(blob, match):
    with pytest.raises(scms.MalformedCms, match=match):
        scms.verify_cms(blob)


def test_truncated_vector_and_other_content_types(shared_vectors):
    der = (shared_vectors / CFCA).read_bytes()
    with pytest.raises(scms.MalformedCms, match="malformed"):
        scms.verify_cms(der[:-10], b"Hello Secret World!")
    enveloped = cms.ContentInfo({"content_type": "data", "content": b"x"}).dump()
    with pytest.raises(scms.MalformedCms, match="not SignedData"):
        scms.verify_cms(enveloped)


def test_bad_arguments():
    with pytest.raises(ValueError, match="unknown CMS flavour"):
        h = make_hierarchy()
        scms.prepare_signed_data(b"x", h.issuing, flavour="smime")
    with pytest.raises(scms.CmsError, match="timezone-aware"):
        scms.prepare_signed_data(b"x", h.issuing, signing_time=dt.datetime(2026, 1, 1))
    with pytest.raises(scms.CmsError, match="must be bytes"):
        scms.prepare_signed_data("text", h.issuing)


# --------------------------------------------------------------------------- OpenSSL interop


def _files(tmp_path: Path, cert, signer) -> tuple[Path, Path, Path]:
    data, cert_pem, key_pem = tmp_path / "data.bin", tmp_path / "cert.pem", tmp_path / "key.pem"
    data.write_bytes(DATA)
    cert_pem.write_bytes(to_pem(cert))
    key_pem.write_bytes(signer.private_key.to_pem())
    return data, cert_pem, key_pem


@pytest.mark.parametrize("detached", [True, False])
def test_openssl_cms_verifies_our_pkcs7_structure(pki, tmp_path, openssl_bin, detached):
    """OpenSSL re-encodes our signed attributes and checks the SM2 signature over them
    (with its empty signer ID, see the module docstring), the messageDigest and content."""
    _, signer, cert = pki
    data, _, _ = _files(tmp_path, cert, signer)
    p = scms.prepare_signed_data(DATA, cert, flavour="pkcs7", detached=detached)
    empty_id_sig = signer.private_key.sign(p.to_be_signed, b"")
    f = tmp_path / "s.der"
    f.write_bytes(scms.assemble_signed_data(p, empty_id_sig, check=False))
    cmd = [openssl_bin, "cms", "-verify", "-binary", "-noverify", "-inform", "DER", "-in", f,
           "-out", tmp_path / "out.bin"] + (["-content", data] if detached else [])
    out = run(cmd, text=True)
    assert out.returncode == 0 and "Verification successful" in out.stderr, out.stderr
    assert (tmp_path / "out.bin").read_bytes() == DATA
    # our verifier agrees when told the signer ID is empty
    assert scms.verify_cms(f.read_bytes(), DATA if detached else None, uid=b"").ok
    # and OpenSSL refuses the same structure over other content
    if detached:
        (tmp_path / "other.bin").write_bytes(DATA + b"!")
        bad = run(cmd[:-1] + [tmp_path / "other.bin"], text=True)
        assert bad.returncode != 0 and "verification failure" in bad.stderr.lower()


def test_openssl_checks_our_default_id_signature_over_signed_attributes(pki, tmp_path, openssl_bin):
    """The standard signature (ID 1234567812345678): OpenSSL pkeyutl verifies it over the
    signed-attribute bytes; openssl cms -verify, lacking a distid option, refuses it."""
    _, signer, cert = pki
    data, cert_pem, _ = _files(tmp_path, cert, signer)
    p = scms.prepare_signed_data(DATA, cert, flavour="pkcs7")
    sig = signer.sign(p.to_be_signed)
    (tmp_path / "tbs.der").write_bytes(p.to_be_signed)
    (tmp_path / "sig.der").write_bytes(sig)
    run([openssl_bin, "x509", "-in", cert_pem, "-pubkey", "-noout", "-out", tmp_path / "pub.pem"], check=True)
    ok = run([openssl_bin, "pkeyutl", "-verify", "-pubin", "-inkey", tmp_path / "pub.pem", "-rawin",
              "-digest", "sm3", "-pkeyopt", DISTID, "-in", tmp_path / "tbs.der", "-sigfile", tmp_path / "sig.der"],
             text=True)
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr
    f = tmp_path / "s.der"
    f.write_bytes(scms.assemble_signed_data(p, sig))
    cms_verify = run([openssl_bin, "cms", "-verify", "-binary", "-noverify", "-inform", "DER", "-in", f,
                      "-content", data, "-out", "/dev/null"], text=True)
    assert cms_verify.returncode != 0  # openssl#23471: empty ID in CMS; flips if OpenSSL is fixed
    assert scms.verify_cms(f.read_bytes(), DATA).ok


def test_openssl_made_key_cert_and_signature_verify_with_verify_cms(tmp_path, openssl_bin):
    """OpenSSL -> eseal: OpenSSL's key, self-signed certificate and SM2 signature value
    (pkeyutl, default signer ID) over our signed attributes; verify_cms accepts them and
    refuses other data."""
    key, cert_pem = tmp_path / "k.pem", tmp_path / "c.pem"
    run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", key], check=True)
    run([openssl_bin, "req", "-new", "-x509", "-key", key, "-sm3", "-sigopt", DISTID, "-subj",
         "/C=CN/O=OpenSSL/CN=openssl signer", "-days", "2", "-out", cert_pem], check=True)
    from asn1crypto import pem as apem

    cert = load_certificate(apem.unarmor(cert_pem.read_bytes())[2])
    p = scms.prepare_signed_data(DATA, cert, flavour="pkcs7")
    (tmp_path / "tbs.der").write_bytes(p.to_be_signed)
    run([openssl_bin, "pkeyutl", "-sign", "-inkey", key, "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
         "-in", tmp_path / "tbs.der", "-out", tmp_path / "sig.der"], check=True)
    der = scms.assemble_signed_data(p, (tmp_path / "sig.der").read_bytes())
    assert scms.verify_cms(der, DATA).ok
    assert scms.verify_cms(der, DATA + b"x").failure == scms.Failure.DIGEST_MISMATCH


def test_openssl_cms_sign_with_sm2(tmp_path, openssl_bin):
    """What `openssl cms -sign -md sm3` does with an SM2 key. OpenSSL 3.0 fails to write the
    signature (the known SM2-in-CMS defect); if a later OpenSSL succeeds, its output must
    verify with verify_cms, so this test turns into the full interop test by itself."""
    key, cert_pem, data = tmp_path / "k.pem", tmp_path / "c.pem", tmp_path / "d.bin"
    data.write_bytes(DATA)
    run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", key], check=True)
    run([openssl_bin, "req", "-new", "-x509", "-key", key, "-sm3", "-sigopt", DISTID, "-subj", "/CN=s",
         "-days", "2", "-out", cert_pem], check=True)
    out = run([openssl_bin, "cms", "-sign", "-md", "sm3", "-signer", cert_pem, "-inkey", key, "-binary",
               "-in", data, "-outform", "DER", "-out", tmp_path / "s.der"], text=True)
    if out.returncode != 0:
        assert "illegal zero content" in out.stderr  # the signature OCTET STRING is empty
        return
    check = scms.verify_cms((tmp_path / "s.der").read_bytes(), DATA)
    if not check.ok:  # an OpenSSL that signs but still with the empty ID
        check = scms.verify_cms((tmp_path / "s.der").read_bytes(), DATA, uid=b"")
    assert check.ok, check.signer.detail


@pytest.mark.parametrize("flavour", ["gmt0010", "pkcs7"])
@pytest.mark.parametrize("detached", [True, False])
def test_encoding_is_der_as_asn1crypto_writes_it(pki, flavour, detached):
    """assemble_signed_data writes DER by hand; asn1crypto re-encoding every field
    (sorting SET OFs) gives the same bytes, and parse -> dump is identical."""
    h, signer, cert = pki
    t = dt.datetime(2051, 1, 1, tzinfo=dt.timezone.utc) if detached else None  # GeneralizedTime past 2049
    p = scms.prepare_signed_data(DATA, cert, flavour=flavour, detached=detached, signing_time=t)
    extra = cms.CMSAttribute({"type": "signing_certificate_v2", "values": [{"certs": []}]})
    der = scms.assemble_signed_data(p, signer.sign(p.to_be_signed), chain=[h.issuing, h.root],
                                    unsigned_attrs=[extra])
    parsed = cms.ContentInfo.load(der)
    assert parsed.dump(force=True) == der
    assert p.signed_attrs.dump(force=True)[1:] == p.to_be_signed[1:]
    if t is not None:
        assert scms.verify_cms(der, DATA).signer.signing_time == t


def test_mutated_signed_data_never_crashes(shared_vectors, pki):
    """Bit flips and truncations of the CFCA vector and of ours: a CmsCheck or MalformedCms,
    no other exception; an intact input still verifies."""
    import random

    _, signer, cert = pki
    ours = scms.sign_data(b"Hello Secret World!", cert, signer.sign)
    rnd = random.Random(5652)
    for original in ((shared_vectors / CFCA).read_bytes(), ours):
        assert scms.verify_cms(original, b"Hello Secret World!").ok
        outcomes = set()
        for _ in range(150):
            blob = bytearray(original)
            if rnd.random() < 0.7:
                blob[rnd.randrange(len(blob))] ^= 1 << rnd.randrange(8)
            else:
                blob = blob[: rnd.randrange(len(blob))]
            try:
                check = scms.verify_cms(bytes(blob), b"Hello Secret World!")
                outcomes.add("ok" if check.ok else check.failure)
            except scms.MalformedCms:
                outcomes.add("malformed")
        assert "malformed" in outcomes and len(outcomes) >= 2, outcomes
