"""Every certificate the region issues is in the transparency log (store/translog.py), with an
inclusion proof that a relying party checks with the certificate and the region's log key."""
from __future__ import annotations

import pytest
from asn1crypto import pem
from sqlalchemy import func, select

from ca import keygen, renewal, service, workflow
from ca.csr import build_csr
from ca.testing import LocalSigner, soft_region
from gm.sm2 import PublicKey
from keystore.region import audit_signer
from store import translog
from store.db import make_sessionmaker, transaction
from store.models.ca import IssuedCertificate
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "translog test passphrase"


@pytest.fixture
def region(eseal_home):
    return eseal_home, soft_region(eseal_home, PASSPHRASE)[0]


def _csr(subject: str) -> bytes:
    return pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), subject).dump())


def _issue_every_way(home, ks) -> list[str]:
    """A serial from each issuance path: CSR, server key generation, dual, workflow, renew, rekey,
    key-store key."""
    serials = [service.issue_certificate(home, ks, profile="device", csr_pem=_csr("C=CN,O=某某局,CN=设备"))[0]]
    serials.append(keygen.issue_with_generated_key(home, ks, profile="personal", subject="C=CN,CN=张三",
                                                   id_number="11010519491231002X",
                                                   passphrase="a long passphrase").serial)
    dual = keygen.issue_dual(home, ks, profile="personal", csr_pem=_csr("C=CN,CN=李四"),
                             id_number="11010519491231002X")
    serials += [dual.signing_serial, dual.encryption_serial]
    app = workflow.submit_application(home, profile="device", csr_pem=_csr("C=CN,O=某某局,CN=终端"),
                                      operator="ra-1")
    workflow.review_application(home, app, reviewer="ra-2")
    serials.append(workflow.approve_application(home, ks, app, approver="ra-2")[0])
    serials.append(renewal.renew(home, ks, serials[0])[0])
    serials.append(renewal.rekey(home, ks, serials[-1], csr_pem=_csr("C=CN,O=某某局,CN=设备"))[0])
    key_ref = ks.generate("agency-seal-signer", "seal", actor="admin")
    serials.append(service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                         subject="C=CN,O=某某局,CN=某某局", credit_code="91350100M000100Y43")[0])
    return serials


def test_every_issued_certificate_has_a_verifying_inclusion_proof(region) -> None:
    home, ks = region
    issued = _issue_every_way(home, ks)
    sessions = make_sessionmaker(home.engine)
    head = translog.sign_tree_head(sessions, audit_signer(home, ks))
    log_key = PublicKey.from_pem(home.audit_public_key_path.read_bytes())
    with transaction(sessions, readonly=True) as s:
        stored = {serial: bytes(der) for serial, der in s.execute(select(IssuedCertificate.serial,
                                                                          IssuedCertificate.der))}
        logged = s.scalar(select(func.count()).select_from(translog.TransLogEntry)
                          .where(translog.TransLogEntry.kind == "certificate"))
    # the region's own certificates (root, issuing CA, services) and each path's certificate,
    # once each: the log and the certificate table agree
    assert set(issued) <= set(stored)
    assert logged == len(stored) + 1  # + the root (self-signed, not a row of ca_certificates)
    for serial, der in stored.items():
        proof = translog.prove_inclusion(sessions, f"cert:{serial}", head=head)
        wire = translog.InclusionProof.from_dict(proof.to_dict())
        assert wire.kind == "certificate"
        assert translog.check_inclusion(wire, der, log_key) == [], serial
    # a different certificate does not pass for a logged one
    proof = translog.prove_inclusion(sessions, f"cert:{issued[0]}", head=head)
    assert "the artefact is not the one logged (SM3 differs)" in translog.check_inclusion(
        proof, stored[issued[1]], log_key)
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s, log_key) == []


def test_a_failed_issuance_logs_nothing(region) -> None:
    """The log entry is in the storing transaction: an issuance that rolls back leaves none."""
    home, ks = region
    sessions = make_sessionmaker(home.engine)

    def count() -> int:
        with transaction(sessions, readonly=True) as s:
            return s.scalar(select(func.count()).select_from(translog.TransLogEntry))

    before = count()

    def refuse(s, serial):
        raise RuntimeError("refused inside the storing transaction")

    with pytest.raises(RuntimeError, match="refused inside"):
        service.issue_for_public_key(home, ks, profile="device", public_key=LocalSigner().public_key,
                                     subject="C=CN,O=某某局,CN=设备", before_store=refuse)
    assert count() == before
