"""A model-based test of the lifecycles (Hypothesis RuleBasedStateMachine), through the service
layer, on SQLite and PostgreSQL: long random sequences of certificate issuance, renewal,
rekey, suspension, resumption and revocation; seals made, suspended, resumed and revoked;
documents sealed (OFD and detached CMS, with and without a timestamp); e-licenses issued
(sealed or not) and revoked; CRLs (full and delta) — with valid and invalid preconditions.

tests/helpers/lifecycle.py keeps the plain model. After every step the region must agree
with it: each certificate's stored status and OCSP answer, each seal's and license's
status, the audit chain (verifies; every domain action counted exactly) and the
transparency log's size. A refused step must raise the service's own error class and change
nothing. A full CRL, made by a rule, must list exactly the model's revoked and held serials
with their reasons; a delta CRL every change. Every document sealed so far must verify to
the indication docs/verification.md predicts from the model, and each sealing's log entry
must have an inclusion proof that checks.

`make test` runs a bounded number of sequences; ESEAL_FUZZ_EXAMPLES sets more (make fuzz
does not pick this file up: its name has no "fuzz"; run it by name).
"""
from __future__ import annotations

import contextlib
import datetime as dt
import os
import uuid
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    Bundle,
    RuleBasedStateMachine,
    initialize,
    invariant,
    multiple,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import select

from ca import renewal
from ca import service as ca_service
from ca.certificate import load_certificate
from ca.csr import build_csr
from ca.errors import AlreadyRevoked, CAError, InvalidTransition
from ca.testing import LocalSigner
from keystore.region import audit_signer
from keystore.soft import SoftKeyStore
from seal import sealing
from seal import service as seal_service
from seal.errors import InvalidSealTransition, SealRevoked, SealSuspended, SignerCertificateInvalid
from seal.license import service as license_service
from seal.license.errors import AlreadyRevoked as LicenseAlreadyRevoked
from seal.ofd.document import Page, Text, build_ofd
from store import db, translog
from store.home import Home
from store.models.ca import IssuedCertificate
from store.models.seal import SealRecord
from store.testing import pg_schema_url
from tests.helpers import lifecycle as lc
from verify.revocation import parse_crl
from verify.service import verifier_for_home

PASSPHRASE = "lifecycle model passphrase"
CREDIT_CODE = "91350100M000100Y43"
CITIZEN_ID = "11010519491231002X"
BUSINESS = {"credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}
AGENCY = "440000-某某局"
SUBJECTS = {"organization": {"subject": "C=CN,O=某某局,CN=某某局", "credit_code": CREDIT_CODE},
            "personal": {"subject": "C=CN,CN=张三", "id_number": CITIZEN_ID},
            "device": {"subject": "C=CN,O=某某局,CN=网关设备"}}
REASONS = ["unspecified", "keyCompromise", "affiliationChanged", "superseded", "cessationOfOperation",
           "privilegeWithdrawn"]
NOT_REVOCATIONS = ["certificateHold", "removeFromCRL"]
SEALS = st.integers(0, 7)  # which of the seals made so far


def lifecycle_settings() -> settings:
    n = int(os.environ.get("ESEAL_FUZZ_EXAMPLES", 25))
    return settings(max_examples=n, stateful_step_count=30, deadline=None, database=None,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.filter_too_much])


class Region:
    """A fresh home per sequence: its own SQLite file, or its own PostgreSQL schema."""

    def __init__(self, root: Path, pg_url: str | None) -> None:
        self._exit = contextlib.ExitStack()
        url = self._exit.enter_context(pg_schema_url(pg_url)) if pg_url else None
        self.home = Home.create(root / uuid.uuid4().hex, database_url=url)
        self._exit.callback(self.home.close)
        self.ks = SoftKeyStore.initialise(db.make_sessionmaker(self.home.engine), actor="admin",
                                          passphrase=PASSPHRASE).store
        self.info = ca_service.init_region(self.home, self.ks, region_code="440000", region_name="广东省",
                                           base_url="http://pki.gd.example.gov.cn")

    def close(self) -> None:
        self._exit.close()


def expect(error: type[BaseException], call, *args, **kwargs) -> BaseException:
    """Run a step the model says is invalid: exactly ``error`` (not a subclass, not a base)."""
    with pytest.raises(Exception) as caught:
        call(*args, **kwargs)
    assert type(caught.value) is error, f"expected {error.__name__}, got {type(caught.value).__name__}: {caught.value}"
    return caught.value


def lifecycle_machine(root: Path, pg_url: str | None) -> type[RuleBasedStateMachine]:
    class Lifecycle(RuleBasedStateMachine):
        certs = Bundle("certs")
        licenses = Bundle("licenses")

        def __init__(self) -> None:
            super().__init__()
            self.region = Region(root, pg_url)
            self.home, self.ks = self.region.home, self.region.ks
            self.model = lc.Model()
            counts, self.audit_total, _ = lc.audit_counts(self.home)
            self.model.audit.update(counts)
            self.model.log_size = lc.log_size(self.home)
            self.verifier = verifier_for_home(self.home, online=False)  # kept: its caches must follow the changes
            with db.transaction(self.home.engine, readonly=True) as s:
                issuing = s.scalar(select(IssuedCertificate).where(IssuedCertificate.profile == "issuing_ca"))
                self.issuing = load_certificate(bytes(issuing.der))
                ocsp_row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.profile == "ocsp"))
                self.responder = load_certificate(bytes(ocsp_row.der))

        def teardown(self) -> None:
            self.region.close()

        # ------------------------------------------------------------------- certificates

        @initialize(target=certs)
        def agency_seal(self) -> str:
            """Every sequence starts with what an agency has: a signer certificate and its seal."""
            serial = self.issue("organization", True)
            self.make_seal(serial)
            return serial

        def _seal(self, pick: int) -> str:
            """One of the seals made so far (there is one from the start)."""
            made = list(self.model.seals)
            return made[pick % len(made)]

        def _issued(self, serial: str, profile: str, key_ref: str | None) -> str:
            self.model.certs[serial] = lc.Cert(serial, profile, key_ref)
            self.model.audit["cert.issue"] += 1
            self.model.log_size += 1
            return serial

        @rule(target=certs, profile=st.sampled_from(sorted(SUBJECTS)), held=st.booleans())
        def issue(self, profile: str, held: bool) -> str:
            """A certificate for a key the key store holds (a seal signer), or from a CSR."""
            if held:
                key_ref = self.ks.generate(f"signer-{uuid.uuid4().hex[:12]}", "seal", actor="admin")
                serial, _ = ca_service.issue_for_key(self.home, self.ks, profile=profile, key_ref=key_ref,
                                                     **SUBJECTS[profile])
                return self._issued(serial, profile, key_ref)
            csr = build_csr(LocalSigner(), SUBJECTS[profile]["subject"])
            fields = {k: v for k, v in SUBJECTS[profile].items() if k != "subject"}
            serial, _ = ca_service.issue_certificate(self.home, self.ks, csr_pem=csr.dump(), profile=profile,
                                                     **fields)
            return self._issued(serial, profile, None)

        def _changed(self, cert: lc.Cert, status: str, reason: str | None, start: dt.datetime) -> None:
            cert.status, cert.reason = status, reason
            cert.changed, cert.ever_changed = lc.Window(start, lc.now()), True

        @rule(serial=certs)
        def suspend(self, serial: str) -> None:
            cert, start = self.model.certs[serial], lc.now()
            if cert.status == "good":
                ca_service.suspend(self.home, serial)
                self._changed(cert, "hold", "certificateHold", start)
                self.model.audit["cert.suspend"] += 1
            else:
                expect(AlreadyRevoked if cert.status == "revoked" else InvalidTransition,
                       ca_service.suspend, self.home, serial)

        @rule(serial=certs)
        def resume(self, serial: str) -> None:
            cert, start = self.model.certs[serial], lc.now()
            if cert.status == "hold":
                ca_service.resume(self.home, serial)
                self._changed(cert, "good", None, start)
                self.model.audit["cert.resume"] += 1
            else:
                expect(AlreadyRevoked if cert.status == "revoked" else InvalidTransition,
                       ca_service.resume, self.home, serial)

        @rule(serial=certs, reason=st.sampled_from(REASONS + NOT_REVOCATIONS))
        def revoke(self, serial: str, reason: str) -> None:
            cert, start = self.model.certs[serial], lc.now()
            if reason in NOT_REVOCATIONS:
                expect(CAError, ca_service.revoke, self.home, serial, reason)
            elif cert.status == "revoked":
                expect(AlreadyRevoked, ca_service.revoke, self.home, serial, reason)
            else:
                ca_service.revoke(self.home, serial, reason)
                self._changed(cert, "revoked", reason, start)
                self.model.audit["cert.revoke"] += 1

        @rule(target=certs, serial=certs)
        def renew(self, serial: str):
            cert = self.model.certs[serial]
            if cert.status == "good":
                new, _ = renewal.renew(self.home, self.ks, serial)
                return self._issued(new, cert.profile, cert.key_ref)
            expect(AlreadyRevoked if cert.status == "revoked" else InvalidTransition,
                   renewal.renew, self.home, self.ks, serial)
            return multiple()

        @rule(target=certs, serial=certs)
        def rekey(self, serial: str):
            cert, start = self.model.certs[serial], lc.now()
            csr = build_csr(LocalSigner(), SUBJECTS[cert.profile]["subject"]).dump()
            if cert.status == "revoked":
                expect(AlreadyRevoked, renewal.rekey, self.home, self.ks, serial, csr_pem=csr)
                return multiple()
            if cert.key_ref is not None:  # a key-store key is rekeyed with a new key-store key
                expect(CAError, renewal.rekey, self.home, self.ks, serial, csr_pem=csr)
                return multiple()
            new, _ = renewal.rekey(self.home, self.ks, serial, csr_pem=csr)
            self._changed(cert, "revoked", "superseded", start)
            self.model.audit["cert.revoke"] += 1
            return self._issued(new, cert.profile, None)

        # ------------------------------------------------------------------- CRLs

        @rule(delta=st.booleans())
        def crl(self, delta: bool) -> None:
            if delta and not self.model.full_crl_made:
                expect(CAError, ca_service.generate_crl, self.home, self.ks, delta=True)
                return
            der = ca_service.generate_crl(self.home, self.ks, delta=delta)
            self.model.audit["crl.generate"] += 1
            self.model.full_crl_made |= not delta
            info = parse_crl(der, self.issuing)
            assert info.is_delta is delta
            listed = {format(serial, "x"): lc.camel(reason) for serial, (_, reason) in info.revoked.items()}
            assert listed == (self.model.delta_listed() if delta else self.model.listed())
            for serial, (when, _) in info.revoked.items():
                cert = self.model.certs[format(serial, "x")]
                assert cert.changed.holds(when), (serial, when, cert.changed)

        # ------------------------------------------------------------------- seals

        @rule(serial=certs)
        def make_seal(self, serial: str) -> None:
            cert = self.model.certs[serial]
            der = self._der(serial)
            if cert.status != "good":
                expect(SignerCertificateInvalid, seal_service.make_seal, self.home, self.ks,
                       seal_type="organization", name="某某局", agency=AGENCY, holder_certs=[der])
                return
            es_id = seal_service.make_seal(self.home, self.ks, seal_type="organization", name="某某局",
                                           agency=AGENCY, holder_certs=[der])
            self.model.seals[es_id] = lc.Seal(es_id, serial)
            self.model.audit["seal.make"] += 1
            self.model.log_size += 1

        def _der(self, serial: str) -> bytes:
            return bytes(ca_service.certificate_status(self.home, serial).der)

        def _seal_step(self, pick: int, call, allowed: set[str], status: str, action: str) -> None:
            es_id = self._seal(pick)
            seal, start = self.model.seals[es_id], lc.now()
            if seal.status in allowed:
                call(self.home, es_id, reason="model")
                seal.status, seal.changed = status, lc.Window(start, lc.now())
                self.model.audit[action] += 1
            else:
                expect(InvalidSealTransition, call, self.home, es_id, reason="model")

        @rule(pick=SEALS)
        def suspend_seal(self, pick: int) -> None:
            self._seal_step(pick, seal_service.suspend_seal, {"valid"}, "suspended", "seal.suspend")

        @rule(pick=SEALS)
        def resume_seal(self, pick: int) -> None:
            self._seal_step(pick, seal_service.resume_seal, {"suspended"}, "valid", "seal.resume")

        @rule(pick=SEALS)
        def revoke_seal(self, pick: int) -> None:
            self._seal_step(pick, seal_service.revoke_seal, {"valid", "suspended"}, "revoked", "seal.revoke")

        def _refusal(self, es_id: str) -> type[BaseException] | None:
            """The refusal authorise_use owes a use of ``es_id`` now (None: the use is granted)."""
            seal = self.model.seals[es_id]
            cert = self.model.certs[seal.signer]
            if seal.status == "revoked":
                return SealRevoked
            if seal.status == "suspended":
                return SealSuspended
            if cert.status != "good" or cert.key_ref is None:
                return SignerCertificateInvalid
            return None

        def _logged(self, artefact: bytes) -> None:
            """The sealing's log entry has an inclusion proof that checks."""
            from gm.sm3 import sm3

            sessions = db.make_sessionmaker(self.home.engine)
            signer = audit_signer(self.home, self.ks)
            translog.sign_tree_head(sessions, signer)
            proof = translog.prove_inclusion(sessions, f"signature:{sm3(artefact).hex()}")
            key = self.ks.public_key(signer.key_id)
            assert translog.check_inclusion(proof, artefact, key) == []

        @rule(pick=SEALS, kind=st.sampled_from(["ofd", "cms"]), timestamp=st.booleans())
        def seal_document(self, pick: int, kind: str, timestamp: bool) -> None:
            es_id = self._seal(pick)
            refusal = self._refusal(es_id)
            if refusal is not None:
                expect(refusal, sealing.authorise, self.home, self.ks, es_id)
                self.model.audit["seal.use_refused"] += 1
                return
            start = lc.now()
            grant = sealing.authorise(self.home, self.ks, es_id)
            data = build_ofd([Page([Text(20, 20, "通知", size=6)])]) if kind == "ofd" else "数据".encode()
            sealed = sealing.seal_document(self.home, self.ks, grant, data, cms=kind == "cms", timestamp=timestamp)
            seal = self.model.seals[es_id]
            self.model.docs.append(lc.Doc(kind, sealed.data, data if kind == "cms" else None, seal.signer, es_id,
                                          timestamp, lc.Window(start, lc.now())))
            self.model.audit["seal.sign"] += 1
            self.model.audit["tsa.timestamp"] += timestamp
            self.model.log_size += 1
            self._logged(lc.signed_value(sealed.data) if kind == "ofd" else lc.cms_signature_value(sealed.data))

        # ------------------------------------------------------------------- e-licenses

        @rule(target=licenses, pick=st.none() | SEALS)
        def issue_license(self, pick: int | None):
            es_id = None if pick is None else self._seal(pick)
            issue = dict(type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id, actor="clerk")
            if es_id is not None and (refusal := self._refusal(es_id)) is not None:
                expect(refusal, license_service.issue_license, self.home, self.ks, **issue)
                self.model.audit["seal.use_refused"] += 1
                return multiple()
            start = lc.now()
            license_id, ofd = license_service.issue_license(self.home, self.ks, **issue)
            record = self.model.licenses[license_id] = lc.License(license_id)
            self.model.audit["license.issue"] += 1
            if es_id is not None:
                seal = self.model.seals[es_id]
                record.document = lc.Doc("license", ofd, None, seal.signer, es_id, True, lc.Window(start, lc.now()),
                                         license_id)
                self.model.docs.append(record.document)
                self.model.audit["seal.sign"] += 1
                self.model.audit["tsa.timestamp"] += 1
                self.model.log_size += 1
                self._logged(lc.signed_value(ofd))
            return license_id

        @rule(license_id=licenses)
        def revoke_license(self, license_id: str) -> None:
            record = self.model.licenses[license_id]
            if record.status == "revoked":
                expect(LicenseAlreadyRevoked, license_service.revoke_license, self.home, license_id, "again")
                return
            license_service.revoke_license(self.home, license_id, "model")
            record.status = "revoked"
            self.model.audit["license.revoke"] += 1

        # ------------------------------------------------------------------- invariants

        @invariant()
        def statuses_match_the_model(self) -> None:
            with db.transaction(self.home.engine, readonly=True) as s:
                for serial, cert in self.model.certs.items():
                    row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == serial))
                    assert (row.status, row.reason) == (cert.status, cert.reason), (serial, row.status, cert)
                    if cert.status != "good":
                        assert cert.changed.holds(row.revoked_at), (serial, row.revoked_at, cert.changed)
                for es_id, seal in self.model.seals.items():
                    assert s.get(SealRecord, es_id).status == seal.status, (es_id, seal)
            for license_id, record in self.model.licenses.items():
                assert license_service.license_status(self.home, license_id).status == record.status

        @invariant()
        def ocsp_answers_per_the_model(self) -> None:
            if not self.model.certs:
                return
            serials = [int(s, 16) for s in self.model.certs] + [12345]  # one never issued
            response = ca_service.ocsp_respond(self.home, self.ks, lc.ocsp_request(self.issuing, serials))
            answers = lc.ocsp_answers(response, self.responder)
            assert answers.pop(12345)[0] == "unknown"
            with db.transaction(self.home.engine, readonly=True) as s:
                for serial, (status, when, reason) in answers.items():
                    cert = self.model.certs[format(serial, "x")]
                    if cert.status == "good":
                        assert status == "good", (cert, status)
                        continue
                    row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.serial == cert.serial))
                    assert (status, when, reason) == ("revoked", row.revoked_at,
                                                      None if cert.reason == "unspecified" else cert.reason)

        @invariant()
        def audit_chain_and_log_grow_by_the_steps(self) -> None:
            counts, total, findings = lc.audit_counts(self.home)
            assert findings == []
            assert total >= self.audit_total
            self.audit_total = total
            assert counts == +self.model.audit, (counts, self.model.audit)
            assert lc.log_size(self.home) == self.model.log_size

        @invariant()
        def sealed_documents_verify_as_predicted(self) -> None:
            for doc in self.model.docs:
                if doc.kind == "cms":
                    report = self.verifier.verify_cms(doc.sealed, doc.data)
                else:
                    report = self.verifier.verify_ofd(doc.sealed)
                (sig,) = report.signatures
                assert (sig.timestamp_time is not None) is doc.timestamped
                assert sig.timestamp_time is None or doc.made.holds(sig.timestamp_time)
                assert doc.made.holds(sig.claimed_signing_time), (sig.claimed_signing_time, doc.made)
                row = ca_service.certificate_status(self.home, doc.signer)
                state = seal_service.seal_state(self.home, doc.es_id) if doc.kind != "cms" else None
                license_revoked = doc.license_id is not None and self.model.licenses[doc.license_id].status == "revoked"
                wanted = lc.expected_verdict(
                    cert_status=row.status, revoked_at=row.revoked_at,
                    seal_status=state.status if state else None, seal_since=state.since if state else None,
                    license_revoked=license_revoked, poe=sig.timestamp_time, claimed=sig.claimed_signing_time)
                got = (sig.indication.value, sig.sub_indication.value if sig.sub_indication else None)
                assert got == wanted, (doc.kind, doc.timestamped, got, wanted,
                                       [(c.code, c.result.value, c.message) for c in sig.checks if c.failed])

    return Lifecycle


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def backend(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str | None:
    """None for SQLite (each sequence's home has its own file), else the PostgreSQL URL under
    which each sequence gets its own schema."""
    monkeypatch.delenv("ESEAL_DATABASE_URL", raising=False)
    return None if request.param == "sqlite" else request.getfixturevalue("pg_url")


def test_lifecycles_keep_the_region_consistent(backend: str | None, tmp_path: Path) -> None:
    run_state_machine_as_test(lifecycle_machine(tmp_path, backend), settings=lifecycle_settings())
