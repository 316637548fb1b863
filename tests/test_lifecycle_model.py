"""A model-based test of the lifecycles (Hypothesis RuleBasedStateMachine), through the service
layer, on SQLite and PostgreSQL: long random sequences of certificate issuance, renewal,
rekey, suspension, resumption and revocation; seals made, suspended, resumed and revoked;
documents sealed (OFD, PDF and detached CMS, with and without a timestamp); personal seals
used with the holder's PIN, wrong PINs locking it, PINs changed and reset; the region's own
service certificates (OCSP responder, TSA, seal maker) revoked and replaced; e-licenses
issued (sealed or not) and revoked; CRLs (full and delta) — with valid and invalid
preconditions.

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
import io
import os
import time
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
from ca.errors import AlreadyRevoked, CAError, InvalidTransition, RegionNotInitialised
from ca.testing import LocalSigner
from keystore import errors as ks_errors
from keystore.region import audit_signer
from keystore.soft import SoftKeyStore
from seal import sealing
from seal import service as seal_service
from seal.errors import (
    InvalidSealTransition,
    SealBuildError,
    SealMakerUnavailable,
    SealRevoked,
    SealSuspended,
    SignerCertificateInvalid,
    WrongPin,
)
from seal.license import service as license_service
from seal.license.errors import AlreadyRevoked as LicenseAlreadyRevoked
from seal.ofd.document import Page, Text, build_ofd
from seal.tsa import TsaNotConfigured
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
PINS = ["246810", "135790"]  # what a holder sets; "000000" is never one of them, "12" too short
# the service certificates a rule revokes and replaces (the audit signer's is not a region service here)
SERVICES = {"ocsp": ("ocsp", "OCSP响应者"), "tsa": ("tsa", "时间戳服务"), "seal_maker": ("seal", "制章人")}
SERVICE_REASONS = ["cessationOfOperation", "superseded", "keyCompromise"]


def small_pdf() -> bytes:
    """A one-page PDF drawn with reportlab (an input of the pdf sealing rule)."""
    from reportlab.lib.pagesizes import A4
    from reportlab.pdfgen import canvas

    out = io.BytesIO()
    pdf = canvas.Canvas(out, pagesize=A4)
    pdf.drawString(72, 760, "Notice")
    pdf.showPage()
    pdf.save()
    return out.getvalue()


def pdf_signature_value(pdf: bytes) -> bytes:
    """The SignerInfo's signature value of a PDF sealed once (what its sealing logs), read with pyHanko."""
    from pyhanko.pdf_utils.reader import PdfFileReader

    (embedded,) = PdfFileReader(io.BytesIO(pdf)).embedded_signatures
    return embedded.signer_info["signature"].native


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
                for profile in SERVICES:  # the region's first service certificates, good
                    row = s.scalar(select(IssuedCertificate).where(IssuedCertificate.profile == profile))
                    self.model.certs[row.serial] = lc.Cert(row.serial, profile, row.key_ref)
                    self.model.services[profile] = [row.serial]

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
            self._made(serial, "organization", "某某局")

        def _made(self, serial: str, seal_type: str, name: str) -> None:
            """make_seal binding ``serial``: refused while the region has no seal maker, then for a
            certificate not good, then for a key of the other kind of seal (a person's has a PIN)."""
            cert, maker = self.model.certs[serial], self.model.service("seal_maker")
            make = dict(seal_type=seal_type, name=name, agency=AGENCY, holder_certs=[self._der(serial)])
            personal_key = cert.key_ref in self.model.pins
            refusal = (SealMakerUnavailable if maker is None else SignerCertificateInvalid if cert.status != "good"
                       else SealBuildError if personal_key != (seal_type == "personal") else None)
            if refusal is not None:
                expect(refusal, seal_service.make_seal, self.home, self.ks, **make)
                return
            es_id = seal_service.make_seal(self.home, self.ks, **make)
            self.model.seals[es_id] = lc.Seal(es_id, serial, maker, personal=seal_type == "personal")
            self.model.audit["seal.make"] += 1
            self.model.log_size += 1

        @rule(target=certs)
        def make_personal_seal(self) -> str:
            """A person's key (usage personal-seal, with a PIN), their certificate and their name seal."""
            key_ref = self.ks.generate(f"person-{uuid.uuid4().hex[:12]}", "personal-seal", actor="admin", pin=PINS[0])
            self.model.pins[key_ref] = lc.Pin(PINS[0])
            serial, _ = ca_service.issue_for_key(self.home, self.ks, profile="personal", key_ref=key_ref,
                                                 **SUBJECTS["personal"])
            self._issued(serial, "personal", key_ref)
            self._made(serial, "personal", "张三")
            return serial

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

        def _refusal(self, es_id: str, pin: str | None = None) -> type[BaseException] | None:
            """The refusal authorise_use owes a use of ``es_id`` with ``pin`` now (None: the use is
            granted); a personal seal's PIN is counted as the key store must count it."""
            seal = self.model.seals[es_id]
            cert = self.model.certs[seal.signer]
            if seal.status == "revoked":
                return SealRevoked
            if seal.status == "suspended":
                return SealSuspended
            if cert.status != "good" or cert.key_ref is None:
                return SignerCertificateInvalid
            if not seal.personal:
                return None
            held = self.model.pins[cert.key_ref]
            if held.locked or pin is None:
                return WrongPin
            if pin != held.pin:
                self._wrong_pin(held)
                return WrongPin
            held.failures = 0
            return None

        def _wrong_pin(self, held: lc.Pin) -> None:
            held.failures += 1
            held.locked = held.failures >= lc.PIN_MAX_FAILURES
            self.model.audit["key.pin_failed"] += 1

        def _pin_key(self, pick: int) -> str | None:
            """One of the personal keys made so far (None before the first)."""
            keys = list(self.model.pins)
            return keys[pick % len(keys)] if keys else None

        @rule(pick=SEALS, old=st.sampled_from(PINS + ["000000"]), new=st.sampled_from(PINS + ["12"]))
        def change_pin(self, pick: int, old: str, new: str) -> None:
            key_ref = self._pin_key(pick)
            if key_ref is None:
                return
            held, change = self.model.pins[key_ref], self.ks.change_pin
            if len(new) < 6:
                expect(ks_errors.KeyStoreError, change, key_ref, old, new, actor="holder", role="seal")
            elif held.locked:
                expect(ks_errors.PinLocked, change, key_ref, old, new, actor="holder", role="seal")
            elif old != held.pin:
                self._wrong_pin(held)
                expect(ks_errors.PinLocked if held.locked else ks_errors.WrongPin, change, key_ref, old, new,
                       actor="holder", role="seal")
            else:
                change(key_ref, old, new, actor="holder", role="seal")
                held.pin, held.failures = new, 0
                self.model.audit["key.pin_changed"] += 1

        @rule(pick=SEALS, new=st.sampled_from(PINS))
        def reset_pin(self, pick: int, new: str) -> None:
            """An administrator sets a new PIN: it unlocks a locked one."""
            key_ref = self._pin_key(pick)
            if key_ref is None:
                return
            self.ks.reset_pin(key_ref, new, actor="admin", role="key-admin")
            self.model.pins[key_ref] = lc.Pin(new)
            self.model.audit["key.pin_reset"] += 1

        def _logged(self, artefact: bytes) -> None:
            """The sealing's log entry has an inclusion proof that checks."""
            from gm.sm3 import sm3

            sessions = db.make_sessionmaker(self.home.engine)
            signer = audit_signer(self.home, self.ks)
            translog.sign_tree_head(sessions, signer)
            proof = translog.prove_inclusion(sessions, f"signature:{sm3(artefact).hex()}")
            key = self.ks.public_key(signer.key_id)
            assert translog.check_inclusion(proof, artefact, key) == []

        @rule(pick=SEALS, kind=st.sampled_from(["ofd", "cms", "pdf"]), timestamp=st.booleans(),
              pin=st.sampled_from([PINS[0], PINS[1], "000000", None]))
        def seal_document(self, pick: int, kind: str, timestamp: bool, pin: str | None) -> None:
            es_id = self._seal(pick)
            refusal = self._refusal(es_id, pin)
            if refusal is not None:
                expect(refusal, sealing.authorise, self.home, self.ks, es_id, pin=pin)
                self.model.audit["seal.use_refused"] += 1
                return
            start = lc.now()
            grant = sealing.authorise(self.home, self.ks, es_id, pin=pin)
            data = {"ofd": lambda: build_ofd([Page([Text(20, 20, "通知", size=6)])]), "pdf": small_pdf,
                    "cms": "数据".encode}[kind]()
            tsa = self.model.service("tsa") if timestamp else None
            if timestamp and tsa is None:  # the region has no TSA now: nothing is sealed, nothing recorded
                expect(TsaNotConfigured, sealing.seal_document, self.home, self.ks, grant, data, cms=kind == "cms",
                       timestamp=True)
                return
            sealed = sealing.seal_document(self.home, self.ks, grant, data, cms=kind == "cms", timestamp=timestamp)
            seal = self.model.seals[es_id]
            self.model.docs.append(lc.Doc(kind, sealed.data, data if kind == "cms" else None, seal.signer, es_id,
                                          timestamp, lc.Window(start, lc.now()), tsa=tsa, maker=seal.maker))
            self.model.audit["seal.sign"] += 1
            self.model.audit["tsa.timestamp"] += timestamp
            self.model.log_size += 1
            self._logged({"ofd": lc.signed_value, "cms": lc.cms_signature_value,
                          "pdf": pdf_signature_value}[kind](sealed.data))

        # ------------------------------------------------------------------- service certificates

        @rule(profile=st.sampled_from(sorted(SERVICES)), reason=st.sampled_from(SERVICE_REASONS))
        def revoke_service(self, profile: str, reason: str) -> None:
            """Revoke the certificate a region service uses now: the service stops (or falls back
            to an older good one); what it signed before keeps or loses its proof per the model."""
            serial = self.model.service(profile)
            if serial is None:
                return
            while self.model.docs and lc.now() <= self.model.docs[-1].made.end:
                time.sleep(0.05)  # revocation time and genTime have whole seconds: keep them apart
            start = lc.now()
            ca_service.revoke(self.home, serial, reason)
            self._changed(self.model.certs[serial], "revoked", reason, start)
            self.model.audit["cert.revoke"] += 1

        @rule(profile=st.sampled_from(sorted(SERVICES)))
        def replace_service(self, profile: str) -> None:
            """A new certificate for a new key of the service: it is used from now on."""
            usage, name = SERVICES[profile]
            key_ref = self.ks.generate(f"{profile}-{uuid.uuid4().hex[:12]}", usage, actor="admin")
            serial, _ = ca_service.issue_for_key(self.home, self.ks, profile=profile, key_ref=key_ref,
                                                 subject=f"C=CN,O=广东省电子认证中心,CN=广东省{name}")
            self._issued(serial, profile, key_ref)
            self.model.services[profile].append(serial)

        # ------------------------------------------------------------------- e-licenses

        @rule(target=licenses, pick=st.none() | SEALS)
        def issue_license(self, pick: int | None):
            es_id = None if pick is None else self._seal(pick)
            issue = dict(type="YYZZ", data=BUSINESS, agency=None, seal_id=es_id, actor="clerk")
            if es_id is not None and (refusal := self._refusal(es_id)) is not None:
                expect(refusal, license_service.issue_license, self.home, self.ks, **issue)
                self.model.audit["seal.use_refused"] += 1
                return multiple()
            tsa = self.model.service("tsa")
            if es_id is not None and tsa is None:  # a sealed e-license is always timestamped
                expect(TsaNotConfigured, license_service.issue_license, self.home, self.ks, **issue)
                return multiple()
            start = lc.now()
            license_id, ofd = license_service.issue_license(self.home, self.ks, **issue)
            record = self.model.licenses[license_id] = lc.License(license_id)
            self.model.audit["license.issue"] += 1
            if es_id is not None:
                seal = self.model.seals[es_id]
                record.document = lc.Doc("license", ofd, None, seal.signer, es_id, True, lc.Window(start, lc.now()),
                                         license_id, tsa=tsa, maker=seal.maker)
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
            request = lc.ocsp_request(self.issuing, serials)
            responder = self.model.service("ocsp")
            if responder is None:  # no good responder certificate: no answer rather than a bad one
                expect(RegionNotInitialised, ca_service.ocsp_respond, self.home, self.ks, request)
                return
            response = ca_service.ocsp_respond(self.home, self.ks, request)
            answers = lc.ocsp_answers(response, load_certificate(self._der(responder)))
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
                elif doc.kind == "pdf":
                    report = self.verifier.verify_pdf(doc.sealed)
                else:
                    report = self.verifier.verify_ofd(doc.sealed)
                (sig,) = report.signatures
                proven = doc.timestamped and lc.timestamp_holds(self.model.certs[doc.tsa], doc.made)
                assert (sig.timestamp_time is not None) is proven, (doc.kind, doc.tsa, sig.timestamp_time)
                assert sig.timestamp_time is None or doc.made.holds(sig.timestamp_time)
                assert doc.made.holds(sig.claimed_signing_time), (sig.claimed_signing_time, doc.made)
                row = ca_service.certificate_status(self.home, doc.signer)
                state = seal_service.seal_state(self.home, doc.es_id) if doc.kind in ("ofd", "license") else None
                maker = ca_service.certificate_status(self.home, doc.maker) if state is not None else None
                license_revoked = doc.license_id is not None and self.model.licenses[doc.license_id].status == "revoked"
                wanted = lc.expected_verdict(
                    cert_status=row.status, revoked_at=row.revoked_at,
                    seal_status=state.status if state else None, seal_since=state.since if state else None,
                    license_revoked=license_revoked, poe=sig.timestamp_time, claimed=sig.claimed_signing_time,
                    timestamp_failed=doc.timestamped and not proven,
                    maker_revoked_at=maker.revoked_at if maker is not None else None)
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
