"""A token made by the region's TSA (``init_region``, then ``seal.tsa.timestamp``) checked
by parts nobody here wrote, on SQLite and PostgreSQL.

``verify_token`` is our own code; here the token is taken apart by the OpenSSL 3 CLI and
asn1crypto only, and its SM2 signature is verified by ``openssl pkeyutl`` and by gmssl.
Nothing from seal/ or gm/ takes part in a check: seal.tsa only makes the request and the
token, ca.service only names the region's TSA certificate the token must point at.

The signature is over the DER of the signed attributes as a SET OF (tag 0x31, RFC 5652
5.4), not over their [0] IMPLICIT encoding in the SignerInfo, with the default SM2 signer
ID 1234567812345678 (GM/T 0009). ``openssl cms -verify`` and ``openssl ts -verify`` cannot
be the referee: OpenSSL 3.0 - 3.6 applies no distid there (an empty ID), so every SM2 CMS
signature and certificate chain fails in them, whoever made it (see test_ca_interop.py).

The second referee is gmssl as the project defines it (conftest.py ``gmssl_sm2``: the
pure-Python gmssl package, required under CI=true, skipped locally when missing). The
GmSSL command-line tool is not a project referee and is not used.
"""
from __future__ import annotations

import re
import subprocess
from dataclasses import dataclass
from pathlib import Path

import pytest
from asn1crypto import algos, cms, tsp, x509

from ca import service
from keystore.soft import SoftKeyStore
from seal import tsa
from store.db import make_sessionmaker
from store.testing import *  # noqa: F401,F403

pytestmark = pytest.mark.interop

PASSPHRASE = "correct horse battery staple"
DATA = b"a document stamped by the region's TSA\n"
DISTID = "distid:1234567812345678"
SM3 = "1.2.156.10197.1.401"
SM2_WITH_SM3 = "1.2.156.10197.1.501"
TST_INFO = "1.2.840.113549.1.9.16.1.4"


def run(cmd, **kw) -> subprocess.CompletedProcess:
    return subprocess.run([str(c) for c in cmd], capture_output=True, **kw)


@dataclass
class Stamped:
    dir: Path
    reply: Path  # the TimeStampResp as the TSA returned it
    token: Path  # its token, as `openssl ts -reply -token_out` extracted it
    data: Path  # the stamped data
    region_tsa: x509.Certificate


@pytest.fixture
def stamped(eseal_home, tmp_path, openssl_bin) -> Stamped:
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    service.init_region(eseal_home, ks, region_code="440000", region_name="广东省",
                        base_url="http://pki.gd.example.gov.cn")
    request, _ = tsa.request_for(DATA, hash_alg="sm3", cert_req=True)
    reply = tmp_path / "reply.tsr"
    reply.write_bytes(tsa.timestamp(eseal_home, ks, request, actor="client"))  # tsa=None: the region's TSA
    token = tmp_path / "token.der"
    out = run([openssl_bin, "ts", "-reply", "-in", reply, "-token_out", "-out", token])
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    data = tmp_path / "data.bin"
    data.write_bytes(DATA)
    region_tsa = service.service_certificate(eseal_home, "tsa").certificate
    return Stamped(tmp_path, reply, token, data, x509.Certificate.load(region_tsa.dump()))


def sm3_of(openssl_bin, path: Path) -> bytes:
    out = run([openssl_bin, "dgst", "-sm3", "-binary", path])
    assert out.returncode == 0, out.stderr.decode(errors="replace")
    assert len(out.stdout) == 32
    return out.stdout


def _write(path: Path, content: bytes) -> Path:
    path.write_bytes(content)
    return path


@dataclass
class Parts:
    signed_data: cms.SignedData
    signer: cms.SignerInfo
    e_content: bytes  # the TSTInfo DER, the eContent OCTET STRING's value
    signed_attrs_set: bytes  # signedAttrs re-tagged as SET OF (0x31)
    signature: bytes  # DER SM2 signature (SEQUENCE { r, s })
    tsa_cert: x509.Certificate  # the certificate the SignerInfo's sid names


def parts(token_der: bytes) -> Parts:
    """The pieces of the token, by asn1crypto (a parser nobody here wrote)."""
    info = cms.ContentInfo.load(token_der)
    assert info["content_type"].dotted == "1.2.840.113549.1.7.2"
    sd = info["content"]
    encap = sd["encap_content_info"]
    assert encap["content_type"].dotted == TST_INFO
    octets = encap["content"]
    assert octets.method == 0, "eContent must be a primitive OCTET STRING"
    signers = list(sd["signer_infos"])
    assert len(signers) == 1
    si = signers[0]
    implicit = si["signed_attrs"].dump()  # the bytes as they are in the token
    assert implicit[0] == 0xA0, f"signedAttrs tag {implicit[0]:#x}, expected [0] IMPLICIT (0xa0)"
    sid = si["sid"]
    assert sid.name == "issuer_and_serial_number"
    named = [c.chosen for c in sd["certificates"]
             if c.name == "certificate"
             and c.chosen.issuer.dump() == sid.chosen["issuer"].dump()
             and c.chosen.serial_number == sid.chosen["serial_number"].native]
    assert len(named) == 1, "the token's certificates must hold exactly the one its signer names"
    return Parts(sd, si, octets.contents, b"\x31" + implicit[1:], si["signature"].native, named[0])


def attr(si: cms.SignerInfo, name: str):
    found = [a for a in si["signed_attrs"] if a["type"].native == name]
    assert len(found) == 1 and len(found[0]["values"]) == 1, f"exactly one {name} value"
    return found[0]["values"][0]


def pkeyutl_verify(openssl_bin, pub: Path, message: Path, sig: Path) -> subprocess.CompletedProcess:
    return run([openssl_bin, "pkeyutl", "-verify", "-rawin", "-digest", "sm3", "-pkeyopt", DISTID,
                "-pubin", "-inkey", pub, "-in", message, "-sigfile", sig], text=True)


def flip_message_digest(p: Parts) -> bytes:
    """The signed attributes with the first byte of the messageDigest value flipped."""
    value = attr(p.signer, "message_digest").native
    at = p.signed_attrs_set.index(b"\x04\x20" + value) + 2
    assert p.signed_attrs_set.count(value) == 1
    return p.signed_attrs_set[:at] + bytes([p.signed_attrs_set[at] ^ 0x01]) + p.signed_attrs_set[at + 1:]


# ------------------------------------------------------------------ 1. algorithms, as OpenSSL prints them


def test_openssl_cms_print_shows_sm3_digest_and_sm2_with_sm3_signature(stamped, openssl_bin):
    token = stamped.token.read_bytes()
    reply = stamped.reply.read_bytes()
    assert token and reply.endswith(token)  # -token_out gave the token of the reply, as it is
    out = run([openssl_bin, "cms", "-cmsout", "-inform", "DER", "-in", stamped.token, "-print", "-noout"],
              text=True)
    assert out.returncode == 0, out.stderr
    text = out.stdout
    assert "contentType: pkcs7-signedData (1.2.840.113549.1.7.2)" in text
    assert f"eContentType: id-smime-ct-TSTInfo ({TST_INFO})" in text
    # SignedData.digestAlgorithms: exactly one, SM3
    digests = re.search(r"digestAlgorithms:\n(.*?)\n\s*encapContentInfo:", text, re.S).group(1)
    assert re.findall(r"algorithm: (.+)", digests) == [f"sm3 ({SM3})"], digests
    # the one SignerInfo: digestAlgorithm SM3, signatureAlgorithm SM2-with-SM3 (sm2sign-with-sm3)
    signer = text.split("signerInfos:", 1)[1]
    assert signer.count("signatureAlgorithm:") == 1
    assert re.search(r"digestAlgorithm:\s*\n\s*algorithm: (.+)", signer).group(1) == f"sm3 ({SM3})"
    assert re.search(r"signatureAlgorithm:\s*\n\s*algorithm: (.+)", signer).group(1) \
        == f"SM2-with-SM3 ({SM2_WITH_SM3})"
    # and asn1crypto reads the same OIDs
    p = parts(token)
    assert [a["algorithm"].dotted for a in p.signed_data["digest_algorithms"]] == [SM3]
    assert p.signer["digest_algorithm"]["algorithm"].dotted == SM3
    assert p.signer["signature_algorithm"]["algorithm"].dotted == SM2_WITH_SM3


# ------------------------------------------------------------------ 2. messageDigest and signature, by OpenSSL


def test_signature_verifies_with_openssl_pkeyutl(stamped, openssl_bin):
    p = parts(stamped.token.read_bytes())
    d = stamped.dir
    (d / "tst_info.der").write_bytes(p.e_content)
    (d / "signed_attrs.der").write_bytes(p.signed_attrs_set)
    (d / "sig.der").write_bytes(p.signature)
    (d / "tsa.der").write_bytes(p.tsa_cert.dump())

    # the signer is the region's TSA certificate
    assert p.tsa_cert.dump() == stamped.region_tsa.dump()
    # signed attributes: content type TSTInfo, messageDigest = SM3 of the eContent by OpenSSL
    assert attr(p.signer, "content_type").dotted == TST_INFO
    assert attr(p.signer, "message_digest").native == sm3_of(openssl_bin, d / "tst_info.der")
    # ESSCertIDv2 (RFC 5816) names the TSA certificate by its SM3 hash, by OpenSSL
    ess = attr(p.signer, "signing_certificate_v2")["certs"][0]
    assert ess["hash_algorithm"]["algorithm"].dotted == SM3
    assert ess["cert_hash"].native == sm3_of(openssl_bin, d / "tsa.der")
    # the SET OF is DER: its elements in ascending order of their encodings (X.690 11.6)
    encodings = [a.dump() for a in p.signer["signed_attrs"]]
    assert encodings == sorted(encodings)
    assert p.signed_attrs_set[0] == 0x31 and b"".join(encodings) == cms.CMSAttributes.load(p.signed_attrs_set).contents

    pub = run([openssl_bin, "x509", "-inform", "DER", "-in", d / "tsa.der", "-pubkey", "-noout"])
    assert pub.returncode == 0, pub.stderr.decode(errors="replace")
    (d / "tsa_pub.pem").write_bytes(pub.stdout)

    ok = pkeyutl_verify(openssl_bin, d / "tsa_pub.pem", d / "signed_attrs.der", d / "sig.der")
    assert ok.returncode == 0 and "Signature Verified Successfully" in ok.stdout, ok.stdout + ok.stderr

    (d / "flipped.der").write_bytes(flip_message_digest(p))
    bad = pkeyutl_verify(openssl_bin, d / "tsa_pub.pem", d / "flipped.der", d / "sig.der")
    assert bad.returncode != 0 and "Signature Verified Successfully" not in bad.stdout
    assert "Signature Verification Failure" in bad.stdout + bad.stderr
    # and the [0] IMPLICIT bytes as they are in the token are not what was signed
    (d / "implicit.der").write_bytes(b"\xa0" + p.signed_attrs_set[1:])
    assert pkeyutl_verify(openssl_bin, d / "tsa_pub.pem", d / "implicit.der", d / "sig.der").returncode != 0


# ------------------------------------------------------------------ 3. the signature, by gmssl


def test_signature_verifies_with_gmssl(stamped, openssl_bin, gmssl_sm2):
    p = parts(stamped.token.read_bytes())
    assert attr(p.signer, "message_digest").native == sm3_of(openssl_bin, _write(stamped.dir / "tst.der", p.e_content))
    point = p.tsa_cert.public_key
    assert point["algorithm"]["algorithm"].dotted == "1.2.840.10045.2.1"
    assert point["algorithm"]["parameters"].chosen.dotted == "1.2.156.10197.1.301"  # the SM2 curve
    public = point["public_key"].native
    assert len(public) == 65 and public[0] == 0x04
    theirs = gmssl_sm2.CryptSM2(private_key="", public_key=public[1:].hex())
    # gmssl strips a leading "04" with str.lstrip("04"), eating 0 and 4 digits of x too: set x || y as it is
    theirs.public_key = public[1:].hex()
    rs = algos.DSASignature.load(p.signature)
    assert rs.dump() == p.signature  # DER, nothing trailing
    r, s = rs["r"].native, rs["s"].native
    raw = f"{r:064x}{s:064x}"  # gmssl: r || s hex, default signer ID 1234567812345678
    assert theirs.verify_with_sm3(raw, p.signed_attrs_set)
    assert not theirs.verify_with_sm3(raw, flip_message_digest(p))
    assert not theirs.verify_with_sm3(raw, b"\xa0" + p.signed_attrs_set[1:])


# ------------------------------------------------------------------ 4. the imprint of the data


def test_message_imprint_is_openssl_sm3_of_the_data(stamped, openssl_bin):
    p = parts(stamped.token.read_bytes())
    tst_info = tsp.TSTInfo.load(p.e_content)
    assert tst_info.dump(force=True) == p.e_content  # DER, nothing trailing
    imprint = tst_info["message_imprint"]
    assert imprint["hash_algorithm"]["algorithm"].dotted == SM3
    assert imprint["hash_algorithm"]["parameters"].native is None  # absent or NULL
    assert imprint["hashed_message"].native == sm3_of(openssl_bin, stamped.data)
    # and OpenSSL's own reading of the reply shows the same algorithm and imprint
    text = run([openssl_bin, "ts", "-reply", "-in", stamped.reply, "-text"], text=True).stdout
    assert "Hash Algorithm: sm3" in text
    block = text.split("Message data:", 1)[1].split("Serial number:", 1)[0]
    shown = " ".join(re.findall(r"^\s*[0-9a-f]{4} - ([0-9a-f -]{47})", block, re.M)).replace("-", " ")
    assert bytes.fromhex(shown) == sm3_of(openssl_bin, stamped.data)
