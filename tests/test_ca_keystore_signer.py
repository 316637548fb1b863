"""ca.keystore_signer: a CA signs certificates and CRLs through the key store by key reference."""
from __future__ import annotations

import datetime as dt

from asn1crypto import x509

from ca.certificate import CertificateBuilder
from ca.crl import CRLBuilder, tbs_of
from ca.keystore_signer import KeyStoreSigner
from ca.profiles import CAConfig
from ca.signer import Signer
from gm.sm2 import PublicKey
from keystore.soft import SoftKeyStore
from store import audit
from store.db import make_sessionmaker, transaction
from store.testing import *  # noqa: F401,F403


def test_keystore_signer_signs_root_and_crl(store_engine) -> None:
    sessions = make_sessionmaker(store_engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase="correct horse battery").store
    ref = ks.generate("root", "ca", actor="admin")
    signer = KeyStoreSigner(ks, ref, actor="admin", role="ca")
    assert isinstance(signer, Signer)
    config = CAConfig(region_code="440000", base_url="http://pki.example.gov.cn")
    cert = (CertificateBuilder("root_ca", config).subject({"C": "CN", "O": "测试", "CN": "测试根CA"})
            .public_key(signer.public_key).sign(signer))
    pub = PublicKey.from_bytes(bytes(cert.public_key["public_key"].contents[1:]))
    assert pub.verify(cert["signature_value"].native, cert["tbs_certificate"].dump())
    der = CRLBuilder(cert, config).crl_number(1).next_update(
        dt.datetime.now(dt.timezone.utc) + dt.timedelta(days=1)).sign(signer)
    from asn1crypto import crl
    assert pub.verify(crl.CertificateList.load(der)["signature"].native, tbs_of(der))
    assert isinstance(cert, x509.Certificate)
    with transaction(sessions, readonly=True) as s:
        assert audit.verify(s).ok


def test_a_large_message_is_hashed_once_and_signed_as_its_digest(store_engine) -> None:
    """A full CRL of 10^6 entries is ~45 MB: KeyStoreSigner hashes it itself and has the key
    store sign e (audited as key.sign_digest with that e); the signature verifies as usual."""
    from sqlalchemy import select

    from ca.keystore_signer import DIGEST_HERE_FROM
    from store.models import AuditRecord

    sessions = make_sessionmaker(store_engine)
    ks = SoftKeyStore.initialise(sessions, actor="admin", passphrase="correct horse battery").store
    ref = ks.generate("issuing", "ca", actor="admin")
    signer = KeyStoreSigner(ks, ref, actor="admin", role="ca")
    big = bytes(range(256)) * (DIGEST_HERE_FROM // 256 + 1)
    small = b"a certificate's TBS"
    pub = ks.public_key(ref)
    assert pub.verify(signer.sign(big), big) and pub.verify(signer.sign(small), small)
    with transaction(sessions, readonly=True) as s:
        records = s.execute(select(AuditRecord.action, AuditRecord.details).order_by(AuditRecord.seq)).all()[-2:]
    assert [action for action, _ in records] == ["key.sign_digest", "key.sign"]
    assert pub.digest(big).hex() in str(records[0][1])
