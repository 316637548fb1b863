"""The lifecycle model of tests/test_lifecycle_model.py, smaller, through the REST API (Flask
test client, role tokens), on SQLite and PostgreSQL: every step answers the status the model
predicts — 2xx for a valid step, the problem type of the service's own error for a refused
one, never a 500 — and afterwards each certificate's status (GET and OCSP over HTTP, asked
live with a nonce and from the pre-signed answers without), each seal's and each license's
agree with the model, and the audit chain verifies. A person's seal is used with right and
wrong PINs (locked after five, reset by the key administrator); OFD, PDF and CMS are sealed;
the OCSP responder's, the TSA's and the seal maker's certificates are revoked and replaced,
and OCSP answers, sealing and seal making follow.

The CRL served over HTTP is not compared with the model here: api/crl_cache.py serves a file
made from an earlier state for up to its ``settle`` seconds when two changes cancel out
within one second (documented there); tests/test_lifecycle_model.py checks every CRL made.
"""
from __future__ import annotations

import base64
import uuid
from pathlib import Path

from asn1crypto import ocsp as aocsp
from asn1crypto import pem, x509
from hypothesis import strategies as st
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, rule, run_state_machine_as_test

from api import create_app
from ca import ocsp as ca_ocsp
from ca import service as ca_service
from ca.certificate import to_pem
from ca.csr import build_csr
from ca.testing import LocalSigner
from store import db
from store.tokens import create_token
from tests.helpers import lifecycle as lc
from tests.test_lifecycle_model import (  # noqa: F401  (backend is a fixture)
    AGENCY,
    BUSINESS,
    CREDIT_CODE,
    PASSPHRASE,
    PINS,
    REASONS,
    SERVICE_REASONS,
    SERVICES,
    SUBJECTS,
    Region,
    backend,
    lifecycle_settings,
    small_pdf,
)

PROBLEM = "https://eseal.example/problems/"


def api_machine(root: Path, pg_url: str | None) -> type[RuleBasedStateMachine]:
    class ApiLifecycle(RuleBasedStateMachine):
        certs = Bundle("certs")
        licenses = Bundle("licenses")

        def __init__(self) -> None:
            super().__init__()
            self.region = Region(root, pg_url)
            home = self.region.home
            sessions = db.make_sessionmaker(home.engine)
            self.admin = {"Authorization": f"Bearer {create_token(sessions, role='admin')[0]}"}
            self.agency = {"Authorization": f"Bearer {create_token(sessions, role='agency', agency=AGENCY)[0]}"}
            self.app = create_app(home.path, passphrase=PASSPHRASE)
            self.client = self.app.test_client()
            self.model = lc.Model()

        def teardown(self) -> None:
            self.app.extensions["eseal"].home.close()
            self.region.close()

        def answer(self, response, wanted_status: int, problem: str | None = None):
            assert response.status_code != 500, response.get_data(as_text=True)[:800]
            assert response.status_code == wanted_status, (response.status_code, response.get_data(as_text=True)[:800])
            if problem is not None:
                assert response.json["type"] == PROBLEM + problem, response.json
            return response

        # ------------------------------------------------------------------- steps

        @initialize(target=certs)
        def agency_seal(self) -> str:
            """A signer certificate over a key-store key and the agency's seal binding it."""
            home, ks = self.region.home, self.region.ks
            key_ref = ks.generate("agency-signer", "seal", actor="admin")
            serial, cert = ca_service.issue_for_key(home, ks, profile="organization", key_ref=key_ref,
                                                    subject="C=CN,O=某某局,CN=某某局", credit_code=CREDIT_CODE)
            self.model.certs[serial] = lc.Cert(serial, "organization", key_ref)
            made = self.answer(self.client.post("/api/v1/seals", headers=self.admin, json={
                "type": "organization", "name": "某某局", "agency": AGENCY,
                "holder_certs": [to_pem(cert).decode()]}), 201)
            self.es_id = made.json["es_id"]
            self.model.seals[self.es_id] = lc.Seal(self.es_id, serial)
            # a person's seal over their PIN key, for the same agency
            self.person_key = ks.generate("person", "personal-seal", actor="admin", pin=PINS[0])
            self.model.pins[self.person_key] = lc.Pin(PINS[0])
            person, person_cert = ca_service.issue_for_key(home, ks, profile="personal", key_ref=self.person_key,
                                                           **SUBJECTS["personal"])
            self.model.certs[person] = lc.Cert(person, "personal", self.person_key)
            made = self.answer(self.client.post("/api/v1/seals", headers=self.admin, json={
                "type": "personal", "name": "张三", "agency": AGENCY, "holder_certs": [to_pem(person_cert).decode()]}),
                201)
            self.person_seal = made.json["es_id"]
            self.model.seals[self.person_seal] = lc.Seal(self.person_seal, person, personal=True)
            for profile in SERVICES:
                current = ca_service.service_certificate(home, profile).serial
                self.model.certs[current] = lc.Cert(current, profile, "service")
                self.model.services[profile] = [current]
            return serial

        @rule(target=certs)
        def issue(self) -> str:
            request = build_csr(LocalSigner(), "C=CN,O=某某局,CN=网关设备")
            csr = pem.armor("CERTIFICATE REQUEST", request.dump()).decode()
            made = self.answer(self.client.post("/api/v1/certificates", headers=self.admin,
                                                json={"profile": "device", "csr": csr}), 201)
            serial = made.json["serial"]
            self.model.certs[serial] = lc.Cert(serial, "device", None)
            return serial

        def _refusal(self, cert: lc.Cert, allowed: set[str]) -> str | None:
            if cert.status in allowed:
                return None
            return "already-revoked" if cert.status == "revoked" else "invalid-transition"

        @rule(serial=certs, step=st.sampled_from(["suspend", "resume"]))
        def hold(self, serial: str, step: str) -> None:
            cert = self.model.certs[serial]
            refusal = self._refusal(cert, {"good"} if step == "suspend" else {"hold"})
            response = self.client.post(f"/api/v1/certificates/{serial}/{step}", headers=self.admin)
            if refusal:
                self.answer(response, 409, refusal)
                return
            self.answer(response, 200)
            cert.status, cert.reason = ("hold", "certificateHold") if step == "suspend" else ("good", None)

        @rule(serial=certs, reason=st.sampled_from(REASONS))
        def revoke(self, serial: str, reason: str) -> None:
            cert = self.model.certs[serial]
            response = self.client.post(f"/api/v1/certificates/{serial}/revoke", headers=self.admin,
                                        json={"reason": reason})
            if cert.status == "revoked":
                self.answer(response, 409, "already-revoked")
                return
            self.answer(response, 200)
            cert.status, cert.reason = "revoked", reason

        @rule(serial=certs)
        def renew(self, serial: str) -> None:
            cert = self.model.certs[serial]
            refusal = self._refusal(cert, {"good"})
            response = self.client.post(f"/api/v1/certificates/{serial}/renew", headers=self.admin)
            if refusal:
                self.answer(response, 409, refusal)
                return
            new = self.answer(response, 201).json["serial"]
            self.model.certs[new] = lc.Cert(new, cert.profile, cert.key_ref)

        @rule(step=st.sampled_from(["suspend", "resume", "revoke"]))
        def seal_step(self, step: str) -> None:
            seal = self.model.seals[self.es_id]
            allowed, status = {"suspend": ({"valid"}, "suspended"), "resume": ({"suspended"}, "valid"),
                               "revoke": ({"valid", "suspended"}, "revoked")}[step]
            response = self.client.post(f"/api/v1/seals/{self.es_id}/{step}", headers=self.admin, json={})
            if seal.status not in allowed:
                self.answer(response, 409, "invalid-seal-transition")
                return
            self.answer(response, 200)
            seal.status = status

        def _use_refusal(self) -> str | None:
            seal = self.model.seals[self.es_id]
            if seal.status in ("revoked", "suspended"):
                return f"seal-{seal.status}"
            if self.model.certs[seal.signer].status != "good":
                return "signer-certificate-invalid"
            return None

        @rule(kind=st.sampled_from(["cms", "pdf"]))
        def seal_data(self, kind: str) -> None:
            document = small_pdf() if kind == "pdf" else "数据".encode()
            response = self.client.post(f"/api/v1/seals/{self.es_id}/sign", headers=self.agency, json={
                "document": base64.b64encode(document).decode(), "cms": kind == "cms"})
            refusal = self._use_refusal()
            if refusal is None and self.model.service("tsa") is None:  # the API timestamps every sealing
                self.answer(response, 503, "tsa-not-configured")
                return
            self.answer(response, 409 if refusal else 200, refusal)

        @rule(pin=st.sampled_from([PINS[0], PINS[1], "000000", None]))
        def seal_as_the_person(self, pin: str | None) -> None:
            """The person's seal: refused with 403 wrong-pin for a missing or wrong PIN, and for
            every PIN once five wrong ones locked it; the right one clears the count."""
            body = {"document": base64.b64encode("数据".encode()).decode(), "cms": True,
                    **({"pin": pin} if pin is not None else {})}
            response = self.client.post(f"/api/v1/seals/{self.person_seal}/sign", headers=self.agency, json=body)
            seal, held = self.model.seals[self.person_seal], self.model.pins[self.person_key]
            cert = self.model.certs[seal.signer]
            if cert.status != "good":
                self.answer(response, 409, "signer-certificate-invalid")
            elif held.locked or pin is None:
                self.answer(response, 403, "wrong-pin")
            elif pin != held.pin:
                held.failures += 1
                held.locked = held.failures >= lc.PIN_MAX_FAILURES
                self.answer(response, 403, "wrong-pin")
            else:
                held.failures = 0
                if self.model.service("tsa") is None:
                    self.answer(response, 503, "tsa-not-configured")
                    return
                self.answer(response, 200)

        @rule(new=st.sampled_from(PINS))
        def reset_pin(self, new: str) -> None:
            self.region.ks.reset_pin(self.person_key, new, actor="key-admin", role="key-admin")
            self.model.pins[self.person_key] = lc.Pin(new)

        @rule(profile=st.sampled_from(sorted(SERVICES)), reason=st.sampled_from(SERVICE_REASONS))
        def revoke_service(self, profile: str, reason: str) -> None:
            serial = self.model.service(profile)
            if serial is None:
                return
            self.answer(self.client.post(f"/api/v1/certificates/{serial}/revoke", headers=self.admin,
                                         json={"reason": reason}), 200)
            self.model.certs[serial].status, self.model.certs[serial].reason = "revoked", reason

        @rule(profile=st.sampled_from(sorted(SERVICES)))
        def replace_service(self, profile: str) -> None:
            usage, name = SERVICES[profile]
            home, ks = self.region.home, self.region.ks
            key_ref = ks.generate(f"{profile}-{uuid.uuid4().hex[:12]}", usage, actor="admin")
            serial, _ = ca_service.issue_for_key(home, ks, profile=profile, key_ref=key_ref,
                                                 subject=f"C=CN,O=广东省电子认证中心,CN=广东省{name}")
            self.model.certs[serial] = lc.Cert(serial, profile, key_ref)
            self.model.services[profile].append(serial)

        @rule()
        def make_seal(self) -> None:
            """Another seal over the agency's certificate: refused while there is no seal maker."""
            seal = self.model.seals[self.es_id]
            der = ca_service.certificate_status(self.region.home, seal.signer).der
            response = self.client.post("/api/v1/seals", headers=self.admin, json={
                "type": "organization", "name": "某某局", "agency": AGENCY,
                "holder_certs": [pem.armor("CERTIFICATE", bytes(der)).decode()]})
            if self.model.service("seal_maker") is None:
                self.answer(response, 503, "seal-maker-unavailable")
            elif self.model.certs[seal.signer].status != "good":
                self.answer(response, 409, "signer-certificate-invalid")
            else:
                self.answer(response, 201)

        @rule(target=licenses, sealed=st.booleans())
        def issue_license(self, sealed: bool):
            body = {"type": "YYZZ", "data": BUSINESS, **({"seal_id": self.es_id} if sealed else {"unsealed": True})}
            response = self.client.post("/api/v1/licenses", headers=self.agency, json=body)
            refusal = self._use_refusal() if sealed else None
            if refusal:
                self.answer(response, 409, refusal)
                return ()
            if sealed and self.model.service("tsa") is None:
                self.answer(response, 503, "tsa-not-configured")
                return ()
            license_id = self.answer(response, 201).json["license_id"]
            self.model.licenses[license_id] = lc.License(license_id)
            return license_id

        @rule(license_id=licenses)
        def revoke_license(self, license_id) -> None:
            if not license_id:
                return
            record = self.model.licenses[license_id]
            response = self.client.post(f"/api/v1/licenses/{license_id}/revoke", headers=self.agency,
                                        json={"reason": "model"})
            if record.status == "revoked":
                self.answer(response, 409, "license-already-revoked")
                return
            self.answer(response, 200)
            record.status = "revoked"

        # ------------------------------------------------------------------- invariants

        @invariant()
        def the_api_answers_per_the_model(self) -> None:
            for serial, cert in self.model.certs.items():
                got = self.answer(self.client.get(f"/api/v1/certificates/{serial}", headers=self.admin), 200).json
                assert (got["status"], got["reason"]) == (cert.status, cert.reason), (got, cert)
            seal = self.model.seals[self.es_id]
            assert self.answer(self.client.get(f"/api/v1/seals/{self.es_id}"), 200).json["status"] == seal.status
            for license_id, record in self.model.licenses.items():
                got = self.answer(self.client.get(f"/api/v1/licenses/{license_id}", headers=self.agency), 200).json
                assert got["status"] == record.status

        @invariant()
        def ocsp_over_http_per_the_model(self) -> None:
            """Live (a nonce, every certificate) and pre-signed (no nonce, the agency's signer)
            answers, signed by the responder certificate the model has in use."""
            chain = self.answer(self.client.get("/ca/chain.pem"), 200).data
            issuing = x509.Certificate.load(pem.unarmor(chain, multiple=True).__next__()[2])
            serials = [int(s, 16) for s in self.model.certs]
            signer = int(self.model.seals[self.es_id].signer, 16)
            presigned = aocsp.OCSPRequest({"tbs_request": {"request_list": [
                {"req_cert": ca_ocsp.cert_id_for(issuing, signer, "sm3").raw}]}}).dump()
            for request in (lc.ocsp_request(issuing, serials), presigned):
                response = self.client.post("/ocsp", data=request, content_type="application/ocsp-request")
                in_use = self.model.service("ocsp")
                if in_use is None:
                    assert response.mimetype == "application/problem+json", (response.status_code, response.mimetype)
                    self.answer(response, 503, "region-not-initialised")
                    continue
                self.answer(response, 200)
                responder = aocsp.OCSPResponse.load(response.data).basic_ocsp_response["certs"][0]
                signed_by = self.model.certs[format(responder.serial_number, "x")]
                # live and pre-signed answers alike are the current responder's (ca/ocsp_cache.py
                # reloads on its revocation, suspension, expiry or replacement)
                assert signed_by.serial == in_use
                answers = lc.ocsp_answers(response.data, responder)
                for serial, (status, _, reason) in answers.items():
                    cert = self.model.certs[format(serial, "x")]
                    wanted = ("good", None) if cert.status == "good" else (
                        "revoked", None if cert.reason == "unspecified" else cert.reason)
                    assert (status, reason) == wanted, (cert, status, reason)

        @invariant()
        def audit_chain_verifies(self) -> None:
            _, _, findings = lc.audit_counts(self.region.home)
            assert findings == []

    return ApiLifecycle


def test_lifecycles_through_the_api(backend: str | None, tmp_path: Path) -> None:  # noqa: F811
    settings = lifecycle_settings()
    # an eighth of the in-process sequences: every step here also asks each status over HTTP and OCSP
    settings = type(settings)(settings, max_examples=max(3, settings.max_examples // 8), stateful_step_count=25)
    run_state_machine_as_test(api_machine(tmp_path, backend), settings=settings)
