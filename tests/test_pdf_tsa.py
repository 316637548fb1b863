"""A PDF seal made through the key store and timestamped by this region's TSA in process
(seal.tsa.tsa_callable), on SQLite and PostgreSQL: the token sits in the CMS as a
signatureTimeStampToken over the signature value, seal.tsa.verify_token and `openssl ts`
accept it, and the TSA issued exactly one token (no dry-run token wasted)."""
from __future__ import annotations

import re
import subprocess

from asn1crypto import cms
from sqlalchemy import func, select

import gm  # noqa: F401
import pytest
from ca.certificate import CertificateBuilder
from ca.testing import make_hierarchy
from keystore.soft import SoftKeyStore
from seal import tsa
from seal.cms import keystore_signer
from seal.pdf import inspect_pdf_signatures, seal_pdf
from store.db import make_sessionmaker, transaction
from store.models.tsa import TsaToken
from store.testing import *  # noqa: F401,F403
from tests.test_pdf_seal import make_pdf, seal_png

PASSPHRASE = "correct horse battery staple"


@pytest.mark.parametrize("subfilter", ["adbe.pkcs7.detached", "ETSI.CAdES.detached"])
def test_keystore_seal_with_region_tsa_timestamp(eseal_home, tmp_path, openssl_bin, subfilter):
    ks = SoftKeyStore.initialise(make_sessionmaker(eseal_home.engine), actor="admin", passphrase=PASSPHRASE).store
    h = make_hierarchy()
    tsa_key = ks.generate("tsa", "tsa", actor="admin")
    tsa_cert = (CertificateBuilder("tsa", h.config)
                .subject({"C": "CN", "O": "测试省电子认证中心", "CN": "测试省时间戳服务"})
                .public_key(ks.public_key(tsa_key)).issuer(h.issuing).sign(h.issuing_signer))
    ident = tsa.TsaIdentity(tsa_key, tsa_cert, (h.issuing, h.root))
    seal_key = ks.generate("agency-seal", "seal", actor="admin")
    cert = (CertificateBuilder("organization", h.config).subject({"C": "CN", "O": "某局", "CN": "某局"})
            .identity(organization_code="91350100M000100Y43")
            .public_key(ks.public_key(seal_key)).issuer(h.issuing).sign(h.issuing_signer))

    out = seal_pdf(make_pdf(1), sign=keystore_signer(ks, seal_key, actor="agency", role="seal"),
                   certificate=cert, chain=[h.issuing], box_mm=(20, 20, 40, 40), picture_png=seal_png(),
                   subfilter=subfilter, timestamp=tsa.tsa_callable(eseal_home, ks, tsa=ident))

    (f,) = inspect_pdf_signatures(out)
    assert f.ok and f.has_timestamp and f.timestamp_imprint_ok is True and f.subfilter == subfilter
    signature_value = cms.ContentInfo.load(f.cms)["content"]["signer_infos"][0]["signature"].native
    assert f.signature_value == signature_value
    check = tsa.verify_token(f.timestamp_token, signature_value)
    assert check.ok, check.detail
    assert check.gen_time == f.timestamp_time and check.hash_algorithm == "sm3"
    with transaction(eseal_home.engine, readonly=True) as s:
        assert s.scalar(select(func.count()).select_from(TsaToken)) == 1

    (tmp_path / "token.der").write_bytes(f.timestamp_token)
    (tmp_path / "sig.bin").write_bytes(signature_value)
    text = subprocess.run([openssl_bin, "ts", "-reply", "-in", tmp_path / "token.der", "-token_in", "-text"],
                          capture_output=True, text=True)
    assert text.returncode == 0, text.stderr
    digest = subprocess.run([openssl_bin, "dgst", "-sm3", "-r", tmp_path / "sig.bin"], capture_output=True,
                            text=True).stdout.split()[0]
    assert "Hash Algorithm: sm3" in text.stdout
    block = text.stdout.split("Message data:")[1].split("Serial number:")[0]
    imprint = "".join(re.sub(r"[ -]", "", m.group(1))
                      for m in re.finditer(r"^\s*[0-9a-f]{4} - ((?:[0-9a-f]{2}[ -]){1,16})", block, re.M))
    assert imprint == digest
