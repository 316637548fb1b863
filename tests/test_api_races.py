"""Two clients doing conflicting things to the same object at the same moment, over a real
`eseal serve` (gunicorn, 2 workers of 4 threads) on SQLite and on PostgreSQL.

Each race sends its requests from threads released together by a barrier (connections
opened before it), ``ESEAL_RACE_ROUNDS`` times (2 by default; long runs: 50). Whatever the
interleaving, every answer is a success or a specific 4xx problem+json (409 for a
conflict) -- never a 500, a 503 or a dropped connection -- and the state afterwards is one
of the serial outcomes. The last test checks the whole region: the audit chain and the
transparency log verify, no serial or seal id twice, and the server logged no unexpected
error.
"""
from __future__ import annotations

import base64
import http.client
import json
import os
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

import pytest
from asn1crypto import pem
from sqlalchemy import func, select

from api.testing import free_port, serving
from ca.certificate import to_pem
from ca.csr import build_csr
from ca.testing import LocalSigner
from store import audit, db, translog
from store.home import Home
from store.models import AuditRecord
from store.models.ca import IssuedCertificate
from store.models.license import LicenseRecord
from store.testing import pg_schema_url
from store.tokens import create_token
from tests.helpers.region import seal_region

ROUNDS = int(os.environ.get("ESEAL_RACE_ROUNDS", "2"))
PASSPHRASE = "correct horse battery staple"
PROBLEM = "https://eseal.example/problems/"
AGENCY = "440000-某某局"
CREDIT_CODE = "91350100M000100Y43"
BUSINESS = {"credit_code": CREDIT_CODE, "name": "深圳某某科技有限公司", "entity_type": "有限责任公司",
            "legal_representative": "张三", "establishment_date": "2020-02-03", "address": "深圳市南山区",
            "scope": "软件开发"}


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: dict

    @property
    def problem(self) -> str | None:
        return self.body.get("type", "").removeprefix(PROBLEM) if self.status >= 400 else None


@dataclass
class Region:
    port: int
    home: Path
    tokens: dict[str, str]
    signer_pem: str
    log: Path

    def prepare(self, method: str, path: str, payload: object = None, role: str = "admin",
                headers: dict[str, str] | None = None):
        """A request ready to go: its connection is open, so the barrier releases only the send."""
        conn = http.client.HTTPConnection("127.0.0.1", self.port, timeout=120)
        conn.connect()
        h = {"Authorization": f"Bearer {self.tokens[role]}", **(headers or {})}
        body = None
        if payload is not None:
            body = json.dumps(payload).encode()
            h["Content-Type"] = "application/json"

        def send() -> Answer:
            try:
                conn.request(method, path, body=body, headers=h)
                r = conn.getresponse()
                data, hdrs = r.read(), {k.lower(): v for k, v in r.getheaders()}
            finally:
                conn.close()
            return Answer(r.status, hdrs, json.loads(data) if data and "json" in hdrs.get("content-type", "") else {})
        return send

    def call(self, method: str, path: str, payload: object = None, role: str = "admin", **kw) -> Answer:
        return checked(self.prepare(method, path, payload, role, **kw)())

    def race(self, *requests: tuple) -> list[Answer]:
        """Send the requests at once (each a tuple of `prepare`'s arguments); their answers, checked."""
        senders = [self.prepare(*r) for r in requests]
        barrier = threading.Barrier(len(senders))

        def go(send):
            barrier.wait()
            return send()
        with ThreadPoolExecutor(len(senders)) as pool:
            return [checked(a) for a in pool.map(go, senders)]

    def read(self):
        """A read-only session on the served home's database."""
        return _Reader(self.home)


class _Reader:
    def __init__(self, home: Path) -> None:
        self._home = Home.open(home, migrate=False)

    def __enter__(self):
        self._tx = db.transaction(self._home.engine, readonly=True)
        return self._tx.__enter__()

    def __exit__(self, *exc):
        self._tx.__exit__(*exc)
        self._home.close()


def checked(answer: Answer) -> Answer:
    """A success, or a 4xx problem+json with a type; never a 5xx."""
    assert answer.status < 500, (answer.status, answer.body)
    if answer.status >= 400:
        assert answer.headers.get("content-type", "").startswith("application/problem+json"), answer.headers
        assert answer.body.get("type", "").startswith(PROBLEM), answer.body
    return answer


@pytest.fixture(scope="module", params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def region(request, tmp_path_factory) -> Region:
    folder = tmp_path_factory.mktemp(f"races-{request.param}")
    port = free_port()
    with ExitStack() as stack:
        url = None
        if request.param == "postgresql":
            url = stack.enter_context(pg_schema_url(request.getfixturevalue("pg_url")))
        saved = os.environ.pop("ESEAL_DATABASE_URL", None)
        try:
            home = Home.create(folder / "home", database_url=url)
            made = seal_region(home, passphrase=PASSPHRASE, agency=AGENCY, name="某某局",
                               base_url=f"http://127.0.0.1:{port}")
            sessions = db.make_sessionmaker(home.engine)
            tokens = {name: create_token(sessions, role=role, agency=AGENCY if role == "agency" else None,
                                         label=name)[0]
                      for name, role in (("admin", "admin"), ("ra1", "ra_operator"), ("ra2", "ra_operator"),
                                         ("agency", "agency"))}
            made.keystore.lock()
            home.close()
        finally:
            if saved is not None:
                os.environ["ESEAL_DATABASE_URL"] = saved
        log = folder / "serve.log"
        stack.enter_context(serving(folder / "home", port, passphrase=PASSPHRASE, workers=2, threads=4, log=log))
        yield Region(port, folder / "home", tokens, to_pem(made.signer).decode(), log)


def device_csr() -> str:
    return pem.armor("CERTIFICATE REQUEST", build_csr(LocalSigner(), "C=CN,O=某某局,CN=网关设备").dump()).decode()


def issue(region: Region) -> str:
    answer = region.call("POST", "/api/v1/certificates", {"profile": "device", "csr": device_csr()})
    assert answer.status == 201, answer.body
    return answer.body["serial"]


def new_seal(region: Region, name: str = "某某局") -> str:
    answer = region.call("POST", "/api/v1/seals", {"type": "organization", "name": name, "agency": AGENCY,
                                                   "holder_certs": [region.signer_pem]})
    assert answer.status == 201, answer.body
    return answer.body["es_id"]


def audit_count(region: Region, action: str, subject: str | None = None) -> int:
    with region.read() as s:
        query = select(func.count()).select_from(AuditRecord).where(AuditRecord.action == action)
        if subject is not None:
            query = query.where(AuditRecord.subject == subject)
        return s.scalar(query)


def outcomes(answers: list[Answer]) -> list[tuple[int, str | None]]:
    return [(a.status, a.problem) for a in answers]


# --------------------------------------------------------------------------- certificates


def test_revoke_twice_at_once(region) -> None:
    for _ in range(ROUNDS):
        serial = issue(region)
        path = f"/api/v1/certificates/{serial}/revoke"
        answers = region.race(("POST", path, {"reason": "keyCompromise"}), ("POST", path, {"reason": "superseded"}))
        assert sorted(outcomes(answers)) == [(200, None), (409, "already-revoked")]
        winner = next(a for a in answers if a.status == 200).body
        final = region.call("GET", f"/api/v1/certificates/{serial}").body
        assert (final["status"], final["reason"]) == ("revoked", winner["reason"])
        assert audit_count(region, "cert.revoke", f"cert:{serial}") == 1


def test_revoke_and_suspend_at_once(region) -> None:
    for _ in range(ROUNDS):
        serial = issue(region)
        base = f"/api/v1/certificates/{serial}"
        revoked, suspended = region.race(("POST", f"{base}/revoke", {"reason": "keyCompromise"}),
                                         ("POST", f"{base}/suspend"))
        assert revoked.status == 200, revoked.body  # from good or from hold: revocation always can
        assert (suspended.status, suspended.problem) in ((200, None), (409, "already-revoked"))
        final = region.call("GET", base).body
        assert (final["status"], final["reason"]) == ("revoked", "keyCompromise")
        assert audit_count(region, "cert.suspend", f"cert:{serial}") == (suspended.status == 200)


def test_suspend_and_resume_at_once(region) -> None:
    for _ in range(ROUNDS):
        serial = issue(region)
        base = f"/api/v1/certificates/{serial}"
        suspended, resumed = region.race(("POST", f"{base}/suspend"), ("POST", f"{base}/resume"))
        assert suspended.status == 200, suspended.body
        assert (resumed.status, resumed.problem) in ((200, None), (409, "invalid-transition"))
        wanted = "good" if resumed.status == 200 else "hold"
        assert region.call("GET", base).body["status"] == wanted


def test_rekey_and_revoke_at_once(region) -> None:
    for _ in range(ROUNDS):
        serial = issue(region)
        base = f"/api/v1/certificates/{serial}"
        rekeyed, revoked = region.race(("POST", f"{base}/rekey", {"csr": device_csr()}),
                                       ("POST", f"{base}/revoke", {"reason": "keyCompromise"}))
        # serially: rekey first (the old one revoked as superseded, then the revocation refused),
        # or the revocation first (then the rekey refused)
        assert sorted([(rekeyed.status, rekeyed.problem), (revoked.status, revoked.problem)]) in (
            [(201, None), (409, "already-revoked")], [(200, None), (409, "already-revoked")])
        final = region.call("GET", base).body
        assert final["reason"] == ("superseded" if rekeyed.status == 201 else "keyCompromise")


# --------------------------------------------------------------------------- applications


def reviewed_application(region: Region) -> int:
    answer = region.call("POST", "/api/v1/applications", {"profile": "device", "csr": device_csr(),
                                                          "subject": "C=CN,O=某某局,CN=网关设备"}, role="ra1")
    assert answer.status == 201, answer.body
    app_id = answer.body["id"]
    assert region.call("POST", f"/api/v1/applications/{app_id}/review", role="ra1").status == 200
    return app_id


def issued_for(region: Region, app_id: int) -> int:
    with region.read() as s:
        rows = s.scalars(select(AuditRecord.details).where(AuditRecord.action == "cert.issue")).all()
    return sum(json.loads(d).get("application") == app_id for d in rows)


def test_approve_and_reject_at_once(region) -> None:
    for _ in range(ROUNDS):
        app_id = reviewed_application(region)
        base = f"/api/v1/applications/{app_id}"
        approved, rejected = region.race(("POST", f"{base}/approve", None, "ra2"),
                                         ("POST", f"{base}/reject", {"reason": "papers incomplete"}, "admin"))
        assert sorted([approved.status, rejected.status]) == [200, 409], outcomes([approved, rejected])
        loser = approved if approved.status == 409 else rejected
        assert loser.problem == "invalid-transition", loser.body
        final = region.call("GET", base).body
        assert final["status"] == ("issued" if approved.status == 200 else "rejected")
        assert issued_for(region, app_id) == (approved.status == 200)


def test_two_approvals_issue_once(region) -> None:
    for _ in range(ROUNDS):
        app_id = reviewed_application(region)
        path = f"/api/v1/applications/{app_id}/approve"
        answers = region.race(("POST", path, None, "ra2"), ("POST", path, None, "admin"))
        assert sorted(outcomes(answers)) == [(200, None), (409, "invalid-transition")]
        assert issued_for(region, app_id) == 1


# --------------------------------------------------------------------------- licenses


def test_two_batches_of_the_same_csv_issue_each_row_once(region) -> None:
    for n in range(ROUNDS):
        stem = f"race-{os.getpid()}-{threading.get_ident()}-{n}"
        header = ["external_id", *BUSINESS]
        lines = [",".join(header)] + [",".join([f"{stem}-{i}", *BUSINESS.values()]) for i in range(4)]
        body = {"type": "YYZZ", "csv": "\n".join(lines) + "\n", "unsealed": True}
        answers = region.race(*[("POST", "/api/v1/licenses/batch", body, "agency")] * 2)
        assert [a.status for a in answers] == [200, 200], outcomes(answers)
        by_id: dict[str, set[str]] = {}
        statuses = Counter()
        for a in answers:
            for row in a.body["rows"]:
                statuses[row["status"]] += 1
                by_id.setdefault(row["external_id"], set()).add(row["license_id"])
        assert statuses == {"issued": 4, "already issued": 4}, statuses
        assert all(len(ids) == 1 for ids in by_id.values()), by_id
        with region.read() as s:
            stored = s.scalar(select(func.count()).select_from(LicenseRecord)
                              .where(LicenseRecord.external_id.like(f"{stem}-%")))
        assert stored == 4


# --------------------------------------------------------------------------- seals


def _seal_body(n: int) -> dict:
    return {"document": base64.b64encode(f"数据 {n}".encode()).decode(), "cms": True}


def sealings_after(region: Region, es_id: str, action: str, *, subject: str | None = None) -> list[int]:
    """seqs of the uses of seal ``es_id`` (seal.sign; key.sign of key ``es_id`` when the
    ``subject`` is a key) recorded after the last ``action`` record of ``subject``."""
    subject = subject or f"seal:{es_id}"
    use = ("seal.sign",) if subject.startswith("seal:") else ("key.sign", "key.sign_digest")
    with region.read() as s:
        rows = s.execute(select(AuditRecord.seq, AuditRecord.action).where(AuditRecord.subject == subject)
                         .order_by(AuditRecord.seq)).all()
    changed = max(seq for seq, a in rows if a == action)
    return [seq for seq, a in rows if a in use and seq > changed]


@pytest.mark.parametrize("step,refusal", [("revoke", "seal-revoked"), ("suspend", "seal-suspended")])
def test_sealing_while_the_seal_is_revoked(region, step, refusal) -> None:
    for _ in range(ROUNDS):
        es_id = new_seal(region)
        sealings = [("POST", f"/api/v1/seals/{es_id}/sign", _seal_body(i), "agency") for i in range(6)]
        changed, *sealed = region.race(("POST", f"/api/v1/seals/{es_id}/{step}", {"reason": "race"}), *sealings)
        assert changed.status == 200, changed.body
        assert {(a.status, a.problem) for a in sealed} <= {(200, None), (409, refusal)}, outcomes(sealed)
        done = sum(a.status == 200 for a in sealed)
        assert audit_count(region, "seal.sign", f"seal:{es_id}") == done
        assert audit_count(region, "seal.use_refused", f"seal:{es_id}") == len(sealed) - done
        # a sealing is recorded before the seal's change or not at all
        assert sealings_after(region, es_id, f"seal.{step}") == []


def test_sealing_while_a_key_admin_disables_the_key(region) -> None:
    """The key admin's change comes from another process (`eseal keys disable`): a sealing
    completes before it, or is refused; the key enabled again afterwards seals again."""
    from keystore.soft import SoftKeyStore

    es_id = new_seal(region)
    home = Home.open(region.home, migrate=False)
    try:
        keystore = SoftKeyStore.from_home(home)
        key_ref = keystore.find("agency-signer").key_ref
        for _ in range(ROUNDS):
            sealings = [region.prepare("POST", f"/api/v1/seals/{es_id}/sign", _seal_body(i), "agency")
                        for i in range(6)]
            barrier = threading.Barrier(len(sealings) + 1)

            def go(send):
                barrier.wait()
                return send() if send else keystore.disable(key_ref, actor="key-admin", role="key-admin")
            try:
                with ThreadPoolExecutor(len(sealings) + 1) as pool:
                    _, *sealed = list(pool.map(go, [None, *sealings]))
            finally:
                keystore.enable(key_ref, actor="key-admin", role="key-admin")
            assert {(a.status, a.problem) for a in map(checked, sealed)} <= {(200, None), (409, "key-disabled")}, \
                outcomes(sealed)
            assert sealings_after(region, key_ref, "key.disable", subject=key_ref) == []
            assert region.call("POST", f"/api/v1/seals/{es_id}/sign", _seal_body(0), "agency").status == 200
    finally:
        home.close()


def test_suspend_and_resume_a_seal_at_once(region) -> None:
    for _ in range(ROUNDS):
        es_id = new_seal(region)
        base = f"/api/v1/seals/{es_id}"
        suspended, resumed = region.race(("POST", f"{base}/suspend", {}), ("POST", f"{base}/resume", {}))
        assert suspended.status == 200, suspended.body
        assert (resumed.status, resumed.problem) in ((200, None), (409, "invalid-seal-transition"))
        wanted = "valid" if resumed.status == 200 else "suspended"
        assert region.call("GET", base).body["status"] == wanted


def test_two_seals_with_the_same_name_at_once(region) -> None:
    for _ in range(ROUNDS):
        body = {"type": "organization", "name": "同名专用章", "agency": AGENCY, "holder_certs": [region.signer_pem]}
        answers = region.race(*[("POST", "/api/v1/seals", body)] * 2)
        assert [a.status for a in answers] == [201, 201]  # names are not unique: two seals, two ids
        assert answers[0].body["es_id"] != answers[1].body["es_id"]


def test_grant_twice_and_withdraw_twice_at_once(region) -> None:
    for n in range(ROUNDS):
        es_id = new_seal(region)
        other = f"440000-另一局-{n}"
        answers = region.race(*[("POST", f"/api/v1/seals/{es_id}/grants", {"agency": other})] * 2)
        assert [a.status for a in answers] == [200, 200], outcomes(answers)  # a repeat grant changes nothing
        assert audit_count(region, "seal.grant_use", f"seal:{es_id}") == 1
        answers = region.race(*[("DELETE", f"/api/v1/seals/{es_id}/grants/{quote(other)}")] * 2)
        assert sorted(outcomes(answers)) == [(200, None), (404, "not-found")]
        assert audit_count(region, "seal.withdraw_use", f"seal:{es_id}") == 1


def test_two_trust_lists_published_at_once(region) -> None:
    """Each publication takes the next sequence number (unique per kind): both are published,
    one after the other, or the second is refused as a conflict."""
    from store.models.trust import PublishedTrustList

    for _ in range(ROUNDS):
        answers = region.race(*[("POST", "/api/v1/trust-lists/tl", {})] * 2)
        assert {(a.status, a.problem) for a in answers} <= {(201, None), (409, "trust-list-conflict")}
        assert 201 in [a.status for a in answers]
    with region.read() as s:
        numbers = s.scalars(select(PublishedTrustList.sequence_number).where(PublishedTrustList.kind == "tl")
                            .order_by(PublishedTrustList.sequence_number)).all()
    assert numbers == list(range(1, len(numbers) + 1))


# --------------------------------------------------------------------------- Idempotency-Key


def test_the_same_idempotency_key_twice_at_once(region) -> None:
    es_id = new_seal(region)
    for n in range(ROUNDS):
        key = {"Idempotency-Key": f"race-seal-{n}"}
        before = audit_count(region, "seal.sign", f"seal:{es_id}")
        answers = region.race(*[("POST", f"/api/v1/seals/{es_id}/sign", _seal_body(n), "agency", key)] * 2)
        assert {(a.status, a.problem) for a in answers} <= {(200, None), (409, "idempotency-in-progress")}
        done = [a for a in answers if a.status == 200]
        assert done and all(a.body["document"] == done[0].body["document"] for a in done)
        assert audit_count(region, "seal.sign", f"seal:{es_id}") == before + 1

        key = {"Idempotency-Key": f"race-issue-{n}"}
        before = audit_count(region, "cert.issue")
        body = {"profile": "device", "csr": device_csr()}
        answers = region.race(*[("POST", "/api/v1/certificates", body, "admin", key)] * 2)
        assert sorted(outcomes(answers)) in ([(200, None), (201, None)], [(201, None), (409, "idempotency-in-progress")])
        assert len({a.body["serial"] for a in answers if a.status < 300}) == 1
        assert audit_count(region, "cert.issue") == before + 1

        key = {"Idempotency-Key": f"race-issue-other-{n}"}  # one key, two bodies: the second is refused
        answers = region.race(*[("POST", "/api/v1/certificates", {"profile": "device", "csr": device_csr()},
                                 "admin", key) for _ in range(2)])
        assert sorted(outcomes(answers)) in ([(201, None), (409, "idempotency-in-progress")],
                                             [(201, None), (409, "idempotency-key-reused")]), outcomes(answers)
        assert audit_count(region, "cert.issue") == before + 2


# --------------------------------------------------------------------------- the region afterwards


def test_the_region_is_whole_afterwards(region) -> None:
    with region.read() as s:
        assert list(audit.verify(s).findings) == []
        assert translog.verify_log(s) == []
        serials = s.scalars(select(IssuedCertificate.serial)).all()
        assert len(serials) == len(set(serials))
        issued = s.scalars(select(AuditRecord.subject).where(AuditRecord.action == "cert.issue")).all()
        assert sorted(issued) == sorted(f"cert:{x}" for x in serials if f"cert:{x}" in issued)
        assert len(issued) == len(set(issued))
    text = region.log.read_text(errors="replace")
    assert "unexpected error" not in text and "Traceback" not in text, text[-3000:]
