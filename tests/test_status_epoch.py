"""Status rows reused between verifications until a status changes (store/status_epoch.py),
on SQLite and PostgreSQL: the triggers of migration 0012 count exactly the changes a verifier
reads; a verification reuses what it read while the count stands; a change made through
another engine (another worker, another host) is seen by the very next verification."""
from __future__ import annotations

import datetime as dt

import pytest
from sqlalchemy import text, update

from ca import service as ca_service
from seal import service as seal_service
from seal.license import service as license_service
from store import db
from store.db import make_sessionmaker
from store.home import Home
from store.models.license import LicenseRecord
from store.status_epoch import WATCHED, drop_trigger_ddl
from store.testing import *  # noqa: F401,F403
from verify.report import CheckResult, Indication, SubIndication
from tests.test_verify_license import licensed_region
from verify.service import verifier_for_home

def _epoch(engine) -> int:
    with engine.connect() as conn:
        return conn.execute(text("SELECT value FROM status_epoch WHERE id = 1")).scalar_one()


@pytest.fixture
def region(eseal_home):
    """A home with a region, an agency seal bound to its signer and one issued e-license."""
    return (eseal_home, *licensed_region(eseal_home))


def test_watched_changes_and_only_those_count(region) -> None:
    home, _, cert, es_id, lid, _ = region
    engine = home.engine
    start = _epoch(engine)
    with db.transaction(make_sessionmaker(engine)) as s:      # not a column a verifier reads
        s.execute(update(LicenseRecord).where(LicenseRecord.id == lid).values(external_id="ext-1"))
    assert _epoch(engine) == start
    license_service.revoke_license(home, lid, "吊销营业执照", actor="admin")
    after_license = _epoch(engine)
    assert after_license > start
    seal_service.suspend_seal(home, es_id, reason="暂停")
    after_seal = _epoch(engine)
    assert after_seal > after_license
    ca_service.revoke(home, cert.serial_number, reason="key_compromise")
    assert _epoch(engine) > after_seal


def test_every_watched_table_has_its_triggers(eseal_home) -> None:
    """The migration made a trigger for each watched table (a table added to WATCHED without
    a migration would be read from memory while nothing counts its changes)."""
    engine = eseal_home.engine
    with engine.connect() as conn:
        if engine.dialect.name == "postgresql":
            found = {(r[0], r[1]) for r in conn.execute(text(
                "SELECT DISTINCT event_object_table, event_manipulation FROM information_schema.triggers "
                "WHERE trigger_name LIKE 'status_epoch_%' AND trigger_schema = current_schema()"))}
        else:
            found = set()
            for name, table in conn.execute(text(
                    "SELECT name, tbl_name FROM sqlite_master WHERE type = 'trigger' AND name LIKE 'status_epoch_%'")):
                found.add((table, "UPDATE" if name.endswith("_update") else "DELETE"))
    assert found == {(t, kind) for t in WATCHED for kind in ("UPDATE", "DELETE")}


def _license_check(verifier, ofd):
    [sig] = verifier.verify_ofd(ofd).signatures
    return sig, sig.check("LICENSE_STATUS").result


def test_rows_are_reused_until_the_epoch_moves(region) -> None:
    """With the triggers dropped, a status written behind their back is not seen while the
    epoch stands (the rows come from memory), and is seen once the epoch moves."""
    home, _, _, _, lid, ofd = region
    verifier = verifier_for_home(home, online=False)
    assert _license_check(verifier, ofd)[1] is CheckResult.PASSED
    with db.transaction(make_sessionmaker(home.engine)) as s:
        for statement in drop_trigger_ddl(home.engine.dialect.name):
            s.execute(text(statement))
        s.execute(update(LicenseRecord).where(LicenseRecord.id == lid).values(
            status="revoked", revoked_at=dt.datetime.now(dt.timezone.utc), revoke_reason="behind the triggers"))
    assert _license_check(verifier, ofd)[1] is CheckResult.PASSED     # read under the same epoch
    with db.transaction(make_sessionmaker(home.engine)) as s:
        s.execute(text("UPDATE status_epoch SET value = value + 1 WHERE id = 1"))
    sig, result = _license_check(verifier, ofd)
    assert result is CheckResult.FAILED and sig.sub_indication is SubIndication.LICENSE_REVOKED


def test_a_change_through_another_engine_is_seen_at_once(region, tmp_path) -> None:
    """Another process's engine (a second worker) revokes; this verifier, warm, sees it on its
    next verification: the license, then the signer's certificate."""
    home, _, cert, _, lid, ofd = region
    verifier = verifier_for_home(home, online=False)
    for _ in range(2):                      # warm: the second reads from memory
        sig, result = _license_check(verifier, ofd)
        assert (sig.indication, result) == (Indication.PASSED, CheckResult.PASSED)
    label = f"serial {cert.serial_number:x})"
    [signer] = [c for c in sig.checks if c.code == "REVOCATION_STATUS" and c.subject.endswith(label)]
    assert ": good (registry" in signer.message, signer.message
    other = Home.open(home.path)
    try:
        assert other.engine is not home.engine
        license_service.revoke_license(other, lid, "吊销营业执照", actor="admin")
        sig, result = _license_check(verifier, ofd)
        assert result is CheckResult.FAILED and sig.sub_indication is SubIndication.LICENSE_REVOKED
        ca_service.revoke(other, cert.serial_number, reason="key_compromise")
    finally:
        other.close()
    # the signer's status as the registry now gives it (whether the timestamp, taken before,
    # still saves the signature depends on which second each fell in)
    [sig] = verifier.verify_ofd(ofd).signatures
    label = f"serial {cert.serial_number:x})"
    [signer] = [c for c in sig.checks if c.code == "REVOCATION_STATUS" and c.subject.endswith(label)]
    assert ": revoked at " in signer.message and "registry" in signer.message, signer.message


def test_counting_changes_adds_no_deadlock_with_the_audit_chain(region) -> None:
    """Two transactions that take the audit head and change a watched row in opposite orders
    both commit: the counter's row is locked at commit (PostgreSQL: a deferred trigger), after
    the audit head, in every transaction -- a trigger taking it at the UPDATE deadlocks here."""
    import threading

    from store import audit
    from store.models.seal import SealRecord

    home, _, _, es_id, lid, _ = region
    start = _epoch(home.engine)
    factory = make_sessionmaker(home.engine)
    first, second = factory(), factory()
    errors: list[BaseException] = []
    try:
        if home.engine.dialect.name == "postgresql":   # a lock wait fails the test instead of hanging it
            for session in (first, second):
                session.execute(text("SET LOCAL lock_timeout = '5s'"))
        audit.append(first, actor="t1", action="test.first", subject="s", details={})   # holds the head
        if home.engine.dialect.name == "postgresql":
            # (SQLite has one writer: the second transaction waits for the first as a whole)
            second.execute(update(LicenseRecord).where(LicenseRecord.id == lid).values(revoke_reason="t2"))
        first.execute(update(SealRecord).where(SealRecord.es_id == es_id).values(status_reason="t1"))

        def second_appends() -> None:
            try:
                if home.engine.dialect.name != "postgresql":
                    second.execute(update(LicenseRecord).where(LicenseRecord.id == lid).values(revoke_reason="t2"))
                audit.append(second, actor="t2", action="test.second", subject="s", details={})  # waits for the head
                second.commit()
            except BaseException as exc:  # noqa: BLE001 - reported below
                errors.append(exc)

        worker = threading.Thread(target=second_appends)
        worker.start()
        first.commit()
        worker.join(30)
        assert not worker.is_alive() and errors == [], errors
    finally:
        first.close()
        second.close()
    assert _epoch(home.engine) >= start + 2
