"""The console's audit page and "Verify now": a full verification is a recorded event, a page
view checks only what was appended after it.

A region with a million certificates holds millions of audit records and log entries; the
full check reads them all (about 9.5 s per 100,000 records plus 100,000 log entries here,
docs/audit.md). Page views once ran it every time. Now:

* "Verify now" (POST /console/audit/verify, admin and auditor, CSRF token) and POST
  /api/v1/audit/verify run the full check and append an ``audit.verify`` record (who, the
  result, the head seq and hash and the log size it covered); the page shows the latest;
* a page view checks the records and log entries past what that record covered, so its
  database work stays flat: SQLite VM instructions counted by a progress handler, as
  tests/test_flat_cost.py does, at 1,000 and 20,000 records and log entries;
* a record edited before the last verification is the next full verification's finding
  (in red until a later one passes); one edited after it is the page's own finding.

Referees: store.audit.verify over the whole chain (the record's findings must match it) and
the raw rows (the edit is an UPDATE of one row, as tests/test_api_workflow_audit.py does).
"""
from __future__ import annotations

import json
import re
from typing import Any

import pytest
from sqlalchemy import event, select, text

from api import create_app
from keystore.soft import SoftKeyStore
from store import audit
from store.db import make_sessionmaker, transaction
from store.home import Home
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403
from store.testing import bulk_audit_records, bulk_log_entries
from store.tokens import create_token
from tests.test_api_workflow_audit import _tamper
from tests.test_console_licenses import _csrf, _signed_in

SMALL, LARGE = 1_000, 20_000
GROWTH = 1.5  # as tests/test_flat_cost.py: a little (B-tree depth), never with the table
EVERY = 100   # VM instructions per progress-handler call
ROLES = ("admin", "ra_operator", "agency", "auditor")
PASSPHRASE = "audit page passphrase"
FORM_EXPIRED = "表单已过期，请重试"


def _console(home: Home, sessions) -> Any:
    SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE)
    return create_app(home.path, passphrase=PASSPHRASE)


def _verifications(sessions) -> list[dict[str, Any]]:
    with transaction(sessions, readonly=True) as s:
        rows = s.execute(select(AuditRecord.seq, AuditRecord.actor, AuditRecord.details)
                         .where(AuditRecord.action == "audit.verify").order_by(AuditRecord.seq)).all()
    return [{"seq": seq, "actor": actor, **json.loads(details)} for seq, actor, details in rows]


def _section(html: str, section_id: str) -> str:
    found = re.search(rf'<(p|section) id="{section_id}"[^>]*>.*?</\1>', html, flags=re.S)
    return found.group(0) if found else ""


def _verify_now(client) -> Any:
    page = client.get("/console/audit").get_data(as_text=True)
    return client.post("/console/audit/verify", data={"csrf": _csrf(page)})


@pytest.fixture
def region(eseal_home):
    sessions = make_sessionmaker(eseal_home.engine)
    bulk_audit_records(eseal_home.engine, 30)
    tokens = {role: create_token(sessions, role=role, agency="a1" if role == "agency" else None)[0] for role in ROLES}
    app = _console(eseal_home, sessions)
    yield app, tokens, sessions
    app.extensions["eseal"].home.close()


# --------------------------------------------------------------------- the cost of a view


class _Counted:
    """A console on a region of ``n`` audit records and ``n`` log entries, verified once in
    full, then 20 records appended; counts the SQLite VM instructions of its connections."""

    def __init__(self, path, n: int) -> None:
        home = Home.create(path)
        bulk_audit_records(home.engine, n)
        bulk_log_entries(home.engine, n)
        sessions = make_sessionmaker(home.engine)
        token = create_token(sessions, role="auditor")[0]
        self.app = _console(home, sessions)
        home.close()
        self.client = _signed_in(self.app, token)
        _verify_now(self.client)
        engine = self.app.extensions["eseal"].home.engine
        with transaction(engine) as s:
            for i in range(20):
                audit.append(s, actor="after", action="test.after", subject=f"after:{i}", details={"i": i})
        self.steps = 0
        event.listen(engine, "connect", self._count)
        engine.dispose()  # connections made from now on are counted

    def _count(self, dbapi_connection: Any, _record: Any) -> None:
        def tick() -> int:
            self.steps += 1
            return 0
        dbapi_connection.set_progress_handler(tick, EVERY)

    def measure(self, rounds: int = 5) -> int:
        assert self.client.get("/console/audit?page=2").status_code == 200  # warm-up
        self.steps = 0
        for page in range(1, rounds + 1):
            answer = self.client.get(f"/console/audit?page={page}")
            assert answer.status_code == 200 and 'id="audit-status" class="ok"' in answer.get_data(as_text=True)
        return self.steps


@pytest.fixture(scope="module")
def counted(tmp_path_factory):
    made = [_Counted(tmp_path_factory.mktemp("audit-page") / "home", n) for n in (SMALL, LARGE)]
    yield made
    for c in made:
        c.app.extensions["eseal"].home.close()


def test_a_page_view_does_not_grow_with_the_log(counted) -> None:
    small, large = (c.measure() for c in counted)
    assert small > 0
    assert large <= small * GROWTH, f"audit page: {small} -> {large} ({large / small:.1f}x) x{EVERY} instructions"


def test_the_view_checks_what_came_after_the_verification(counted) -> None:
    large = counted[1]
    [made] = _verifications(make_sessionmaker(large.app.extensions["eseal"].home.engine))
    assert made["head_seq"] > LARGE and made["ok"] is True
    since = _section(large.client.get("/console/audit").get_data(as_text=True), "since-check")
    # the verification's own record and the 20 appended after it; not the 20,000 before
    assert f"{made['seq']}–{made['seq'] + 20}" in since and 'class="ok"' in since


# --------------------------------------------------------------------- Verify now


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_verify_now_records_the_verification_and_the_page_shows_it(region, role) -> None:
    app, tokens, sessions = region
    client = _signed_in(app, tokens[role])
    never = client.get("/console/audit").get_data(as_text=True)
    assert "从未完整校验" in _section(never, "audit-status") and 'class="warning"' in _section(never, "audit-status")
    assert "立即校验" in never and _verifications(sessions) == []

    answer = _verify_now(client)
    assert answer.status_code == 302 and answer.headers["Location"].endswith("/console/audit")
    [made] = _verifications(sessions)
    with transaction(sessions, readonly=True) as s:
        head_hash = bytes(s.scalar(select(AuditRecord.hash).where(AuditRecord.seq == made["seq"] - 1))).hex()
        assert audit.verify(s).ok
    assert "校验已记录：未发现问题" in client.get(answer.headers["Location"]).get_data(as_text=True)
    assert made["actor"].startswith(f"console:{role}:") and made["ok"] is True and made["findings"] == 0
    assert made["head_seq"] == made["seq"] - 1 and made["head_hash"] == head_hash and made["records"] == made["seq"] - 1

    client.get("/console/lang/en")
    html = client.get("/console/audit").get_data(as_text=True)
    last = _section(html, "last-verification")
    assert 'class="ok"' in last and made["actor"] in last and f"audit record #{made['seq']}" in last
    assert f"records 1–{made['seq'] - 1}" in last and head_hash[:16] in last and "no findings" in last
    assert "Chain verified" in _section(html, "audit-status")


def test_rest_post_records_and_get_does_not(region) -> None:
    app, tokens, sessions = region
    client = app.test_client()
    auth = {"Authorization": f"Bearer {tokens['auditor']}"}
    assert client.get("/api/v1/audit/verify", headers=auth).get_json()["ok"] is True
    assert _verifications(sessions) == []  # a GET has no side effect
    posted = client.post("/api/v1/audit/verify", headers=auth).get_json()
    [made] = _verifications(sessions)
    assert posted["ok"] is True and posted["recorded_seq"] == made["seq"] and made["actor"].startswith("api:auditor:")


# --------------------------------------------------------------------- tampering


def test_an_edit_before_the_verification_is_the_next_full_ones_finding_and_stays_red(region) -> None:
    app, tokens, sessions = region
    client = _signed_in(app, tokens["auditor"])
    client.get("/console/lang/en")
    _verify_now(client)
    _tamper(sessions, 7)
    # the page does not reread record 7 (the last full verification vouched for it) ...
    assert "Chain verified" in _section(client.get("/console/audit").get_data(as_text=True), "audit-status")
    # ... the next full verification finds it, and the page shows that in red
    _verify_now(client)
    failed = _verifications(sessions)[-1]
    assert failed["ok"] is False and failed["findings"] == 1 and failed["first_findings"][0].startswith("edited at seq 7")
    for _view in range(2):  # and keeps showing it
        html = client.get("/console/audit").get_data(as_text=True)
        last = _section(html, "last-verification")
        assert 'class="error"' in last and "TAMPERED" in last and "edited at seq 7" in last
        assert 'class="error"' in _section(html, "audit-status")
    client.get("/console/lang/zh")
    assert "发现篡改" in _section(client.get("/console/audit").get_data(as_text=True), "last-verification")

    with sessions.kw["bind"].begin() as conn:  # repaired (the bulk records' actor), a later one passes
        conn.execute(text("UPDATE audit_record SET actor = 'bulk' WHERE seq = 7"))
    _verify_now(client)
    html = client.get("/console/audit").get_data(as_text=True)
    assert 'class="ok"' in _section(html, "last-verification") and "哈希链校验通过" in _section(html, "audit-status")


def test_an_edit_after_the_verification_is_found_by_the_page(region) -> None:
    app, tokens, sessions = region
    client = _signed_in(app, tokens["admin"])
    client.get("/console/lang/en")
    _verify_now(client)
    with transaction(sessions) as s:
        appended = [audit.append(s, actor="later", action="test.later", subject=f"later:{i}", details={}).seq
                    for i in range(3)]
    assert 'class="ok"' in _section(client.get("/console/audit").get_data(as_text=True), "since-check")
    _tamper(sessions, appended[1])
    html = client.get("/console/audit").get_data(as_text=True)
    since = _section(html, "since-check")
    assert 'class="error"' in since and f"edited at seq {appended[1]}" in since
    assert f"records {appended[0] - 1}–{appended[-1]}" in since  # the verification's record, then the three
    assert 'class="ok"' in _section(html, "last-verification") and 'class="error"' in _section(html, "audit-status")


def test_a_log_entry_altered_after_the_verification_is_found_by_the_page(region) -> None:
    app, tokens, sessions = region
    client = _signed_in(app, tokens["admin"])
    client.get("/console/lang/en")
    _verify_now(client)
    engine = sessions.kw["bind"]
    first = bulk_log_entries(engine, 5)
    assert 'class="ok"' in _section(client.get("/console/audit").get_data(as_text=True), "since-check")
    with engine.begin() as conn:
        conn.execute(text("UPDATE translog_entries SET subject = 'cert:forged' WHERE idx = :i"), {"i": first + 2})
    since = _section(client.get("/console/audit").get_data(as_text=True), "since-check")
    assert 'class="error"' in since and f"log entry {first + 2} (cert:forged) was altered" in since
    assert f"transparency log entries {first}–{first + 4}" in since


# --------------------------------------------------------------------- who may


@pytest.mark.parametrize("role", ["agency", "ra_operator"])
def test_other_roles_cannot_verify(region, role) -> None:
    app, tokens, sessions = region
    client = _signed_in(app, tokens[role])
    page = client.get("/console/seals").get_data(as_text=True)
    refused = client.post("/console/audit/verify", data={"csrf": _csrf(page)})
    assert refused.status_code == 302 and not refused.headers["Location"].endswith("/console/audit")
    rest = app.test_client().post("/api/v1/audit/verify", headers={"Authorization": f"Bearer {tokens[role]}"})
    assert rest.status_code == 403 and rest.mimetype == "application/problem+json"
    assert _verifications(sessions) == []


def test_signed_out_and_without_csrf_nothing_is_recorded(region) -> None:
    app, tokens, sessions = region
    signed_out = app.test_client().post("/console/audit/verify", data={})
    assert signed_out.status_code == 302 and "/console/login" in signed_out.headers["Location"]
    assert app.test_client().post("/api/v1/audit/verify").status_code == 401
    client = _signed_in(app, tokens["admin"])
    for form in ({}, {"csrf": "forged"}):
        refused = client.post("/console/audit/verify", data=form)
        assert refused.status_code == 302
        assert FORM_EXPIRED in client.get(refused.headers["Location"], follow_redirects=True).get_data(as_text=True)
    assert _verifications(sessions) == []
