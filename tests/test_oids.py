"""ShangMi OIDs: one table (gm/oids.py), named inside asn1crypto by `import gm`.

Real material from other implementations (../shared/vectors) must parse by name and
re-encode byte for byte; what we build by name must be what OpenSSL names the same way.
"""
from __future__ import annotations

import re
import subprocess

import pytest
from asn1crypto import algos, cms, core, crl, keys, pem, x509

import gm  # noqa: F401  (the import under test registers the names)
from gm import oids
from gm.asn1 import registry


def _der(path) -> bytes:
    data = path.read_bytes()
    return pem.unarmor(data)[2] if pem.detect(data) else data


def test_every_oid_is_defined_once_and_well_formed():
    values = {name: value for name, value in vars(oids).items() if name.isupper() and isinstance(value, str)}
    assert len(values) >= 40
    for name, value in values.items():
        assert re.fullmatch(r"1\.2\.156\.(10197|10260)(\.\d+)+", value), name
    assert len(set(values.values())) == len(values), "an OID is defined under two names"


def test_root_certificate_parses_by_name_and_redumps_exactly(shared_vectors):
    der = _der(shared_vectors / "certs" / "ROOTCA.pem")
    cert = x509.Certificate.load(der)
    assert cert["signature_algorithm"]["algorithm"].native == "sm2_sm3"
    assert cert["tbs_certificate"]["signature"]["algorithm"].native == "sm2_sm3"
    assert cert.signature_algo == "sm2"
    assert cert.hash_algo == "sm3"
    assert cert.public_key["algorithm"]["algorithm"].native == "ec"
    assert cert.public_key.curve == ("named", "sm2p256v1")
    assert cert.subject.native["common_name"] == "ROOTCA"
    assert cert.dump(force=True) == der


def test_issued_certificate_and_crl_parse_by_name(shared_vectors):
    issued = x509.Certificate.load(_der(shared_vectors / "certs" / "SHECA_SM2_by_ROOTCA.pem"))
    assert issued.signature_algo == "sm2" and issued.hash_algo == "sm3"
    assert issued.public_key.curve == ("named", "sm2p256v1")
    der = _der(shared_vectors / "certs" / "ROOTCA.crl")
    crl_list = crl.CertificateList.load(der)
    assert crl_list["signature_algorithm"]["algorithm"].native == "sm2_sm3"
    assert crl_list["signature_algorithm"].signature_algo == "sm2"
    assert len(crl_list["tbs_cert_list"]["revoked_certificates"]) == 18
    assert crl_list.dump(force=True) == der


def test_gmt0010_signed_data_parses_by_name(shared_vectors):
    der = (shared_vectors / "cms" / "cfca_sadk_signedData_detached_HelloSecretWorld.p7.der").read_bytes()
    info = cms.ContentInfo.load(der)
    assert info["content_type"].native == "sm2_signed_data"
    signed = info["content"]
    assert isinstance(signed, cms.SignedData)
    assert signed["encap_content_info"]["content_type"].native == "sm2_data"
    assert [a["algorithm"].native for a in signed["digest_algorithms"]] == ["sm3"]
    signer = signed["signer_infos"][0]
    assert signer["digest_algorithm"]["algorithm"].native == "sm3"
    assert signer["signature_algorithm"]["algorithm"].native == "sm2"
    assert signer["signature_algorithm"].signature_algo == "sm2"
    assert signed["certificates"][0].chosen.signature_algo == "sm2"
    assert info.dump(force=True) == der


def test_gmt0010_enveloped_data_parses_by_name(shared_vectors):
    der = _der(shared_vectors / "cms" / "envelope_case1_enveloped.p7.pem")
    info = cms.ContentInfo.load(der)
    assert info["content_type"].native == "sm2_enveloped_data"
    enveloped = info["content"]
    recipient = enveloped["recipient_infos"][0].chosen
    assert recipient["key_encryption_algorithm"]["algorithm"].native == "sm2_encrypt"
    content = enveloped["encrypted_content_info"]
    assert content["content_type"].native == "sm2_data"
    algorithm = content["content_encryption_algorithm"]
    assert algorithm["algorithm"].native == "sm4"
    assert algorithm.encryption_cipher == "sm4"
    assert algorithm.encryption_mode == "cbc"
    assert algorithm.key_length == 16
    assert algorithm.encryption_iv == bytes.fromhex("6FCF116C98EACB29F3A9B4A052940C69")
    assert info.dump(force=True) == der


@pytest.mark.interop
@pytest.mark.parametrize(("structure", "openssl_name"), [
    (lambda: algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"}), "SM2-with-SM3"),
    (lambda: algos.SignedDigestAlgorithm({"algorithm": "sm3_rsa"}), "sm3WithRSAEncryption"),
    (lambda: algos.DigestAlgorithm({"algorithm": "sm3"}), ":sm3"),
    (lambda: keys.ECDomainParameters(name="named", value="sm2p256v1"), ":sm2"),
    (lambda: algos.EncryptionAlgorithm({"algorithm": "sm4_cbc", "parameters": b"\x00" * 16}), "sm4-cbc"),
    (lambda: algos.EncryptionAlgorithm({"algorithm": "sm4_ctr", "parameters": b"\x00" * 16}), "sm4-ctr"),
])
def test_built_by_name_openssl_names_the_same(openssl_bin, structure, openssl_name):
    der = structure().dump()
    parsed = subprocess.run([openssl_bin, "asn1parse", "-inform", "DER"], input=der,
                            capture_output=True, check=True).stdout.decode()
    assert openssl_name in parsed


def _registered() -> list[tuple[type, str, str]]:
    rows = [(keys.NamedCurve, oids.SM2, "sm2p256v1"), (algos.DigestAlgorithmId, oids.SM3, "sm3"),
            (algos.HmacAlgorithmId, oids.HMAC_SM3, "sm3"), (cms.KeyEncryptionAlgorithmId, oids.SM2_ENCRYPT, "sm2_encrypt")]
    rows += [(algos.SignedDigestAlgorithmId, oid, name) for oid, name in registry._SIGNATURES.items()]
    rows += [(algos.EncryptionAlgorithmId, oid, name) for oid, name in registry._SM4_MODES.items()]
    rows += [(cms.ContentType, oid, name) for oid, name in registry._CONTENT_TYPES.items()]
    rows += [(x509.ExtensionId, oid, name) for oid, name in registry._EXTENSIONS.items()]
    return rows


@pytest.mark.parametrize(("cls", "oid", "name"), _registered(), ids=lambda v: getattr(v, "__name__", v))
def test_each_name_parses_and_dumps(cls, oid, name):
    by_name = cls(name)
    assert by_name.dotted == oid
    assert by_name.dump() == core.ObjectIdentifier(oid).dump()
    assert cls.load(core.ObjectIdentifier(oid).dump()).native == name


def test_signature_properties_for_every_sm_signature():
    expected = {"sm2_sm3": ("sm2", "sm3"), "sm2_sha1": ("sm2", "sha1"), "sm2_sha256": ("sm2", "sha256"),
                "sm3_rsa": ("rsassa_pkcs1v15", "sm3")}
    for name, (signature, digest) in expected.items():
        algorithm = algos.SignedDigestAlgorithm({"algorithm": name})
        assert (algorithm.signature_algo, algorithm.hash_algo) == (signature, digest)
    bare = algos.SignedDigestAlgorithm({"algorithm": "sm2"})
    assert bare.signature_algo == "sm2"
    with pytest.raises(ValueError, match="Hash algorithm not known for sm2"):
        bare.hash_algo  # noqa: B018  (GM/T 0010: the hash is in SignerInfo.digestAlgorithm)
    # asn1crypto's own names still answer as before.
    assert algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).signature_algo == "ecdsa"
    assert algos.SignedDigestAlgorithm({"algorithm": "sha256_ecdsa"}).hash_algo == "sha256"


def test_sm4_gcm_parameters_parse():
    algorithm = algos.EncryptionAlgorithm({
        "algorithm": "sm4_gcm",
        "parameters": algos.CcmParams({"aes_nonce": b"\x01" * 12, "aes_icvlen": 16}),
    })
    reparsed = algos.EncryptionAlgorithm.load(algorithm.dump())
    assert reparsed["algorithm"].dotted == oids.SM4_GCM
    assert reparsed.encryption_mode == "gcm"
    assert reparsed.encryption_iv == b"\x01" * 12
    assert reparsed["parameters"]["aes_icvlen"].native == 16


@pytest.mark.interop
def test_openssl_pkcs8_sm4_scheme_reads_by_name(openssl_bin, tmp_path):
    key = tmp_path / "k.pem"
    subprocess.run([openssl_bin, "genpkey", "-algorithm", "SM2", "-out", str(key)], check=True)
    out = subprocess.run([openssl_bin, "pkcs8", "-topk8", "-v2", "sm4", "-passout", "pass:x", "-outform", "DER",
                          "-in", str(key)], capture_output=True, check=True).stdout
    algorithm = keys.EncryptedPrivateKeyInfo.load(out)["encryption_algorithm"]
    assert algorithm["parameters"]["encryption_scheme"]["algorithm"].native == "sm4_cbc"
    assert algorithm.encryption_cipher == "sm4"
    assert algorithm.key_length == 16
    assert len(algorithm.encryption_iv) == 16


def test_register_is_idempotent():
    registry.register()
    registry.register()
    assert algos.SignedDigestAlgorithm({"algorithm": "sm2_sm3"}).hash_algo == "sm3"
    assert algos.SignedDigestAlgorithm({"algorithm": "sha1_rsa"}).hash_algo == "sha1"
