"""Group commit (store.group_commit): writers that queue behind a write under way are committed
together in one transaction, each returns only once its records are committed, and a member
whose work fails is the only one that hears of it -- on SQLite and on PostgreSQL, with audit
records and with real sealings."""
from __future__ import annotations

import threading
import time

import pytest
from sqlalchemy import func, select

from seal import sealing
from store import audit, db, group_commit, translog
from store.models import AuditRecord
from store.testing import *  # noqa: F401,F403
from tests.faults.seal_fast_worker import document
from tests.test_faults_kill_seal import _audit_key, _region

QUEUED = 5


def _records(engine, subject: str) -> int:
    with db.transaction(engine, readonly=True) as s:
        return s.execute(select(func.count()).select_from(AuditRecord).where(AuditRecord.subject == subject)).scalar()


def _wait_for_queue(engine, n: int) -> None:
    deadline = time.monotonic() + 30
    while group_commit.queued(engine) < n:
        assert time.monotonic() < deadline, f"{group_commit.queued(engine)} of {n} writers queued within 30 s"
        time.sleep(0.005)


class _HeldLeader:
    """A first writer that holds its transaction open until released, so the next ones queue."""

    def __init__(self, engine, sessions) -> None:
        self.engine, self.release, self.writing = engine, threading.Event(), threading.Event()
        self.errors: list[BaseException] = []

        def work(s) -> None:
            audit.append(s, actor="leader", action="test.write", subject="leader", details={})
            self.writing.set()
            assert self.release.wait(30)

        def run() -> None:
            try:
                group_commit.commit_together(sessions, work)
            except BaseException as exc:  # noqa: BLE001 -- reported by the test
                self.errors.append(exc)

        self.thread = threading.Thread(target=run)

    def __enter__(self) -> _HeldLeader:
        self.thread.start()
        assert self.writing.wait(30)
        return self

    def __exit__(self, *exc) -> None:
        self.release.set()
        self.thread.join(30)
        assert not self.errors


class _Stop(BaseException):
    """What a thread being stopped raises (KeyboardInterrupt, SystemExit): not an Exception."""


def _write_records(sessions, engine, names, fail: str | None = None,
                   error: type[BaseException] = ValueError) -> dict[str, object]:
    """One thread per name, each appending one audit record through the group; returns what
    each saw: 'seen' (its record committed when it returned) or its exception."""
    outcome: dict[str, object] = {}

    def writer(name: str) -> None:
        def work(s) -> None:
            audit.append(s, actor=name, action="test.write", subject=name, details={})
            if name == fail:
                raise error(f"{name}'s own work failed")
        try:
            group_commit.commit_together(sessions, work)
        except (ValueError, RuntimeError, _Stop) as exc:
            outcome[name] = exc
        else:
            outcome[name] = "seen" if _records(engine, name) == 1 else "not committed yet"

    threads = [threading.Thread(target=writer, args=(n,)) for n in names]
    for t in threads:
        t.start()
    return outcome, threads


def test_writers_queued_behind_a_write_commit_together(store_engine) -> None:
    sessions = db.make_sessionmaker(store_engine)
    before = group_commit.stats(store_engine)
    groups, members = before.groups, before.members
    names = [f"writer-{i}" for i in range(QUEUED)]
    with _HeldLeader(store_engine, sessions):
        outcome, threads = _write_records(sessions, store_engine, names)
        _wait_for_queue(store_engine, QUEUED)
        assert _records(store_engine, "writer-0") == 0  # nobody returned: they wait for the leader
    for t in threads:
        t.join(30)
    assert outcome == {n: "seen" for n in names}
    stats = group_commit.stats(store_engine)
    assert (stats.groups - groups, stats.members - members) == (2, QUEUED + 1)  # the leader alone, then the rest
    assert stats.largest >= QUEUED
    with db.transaction(store_engine, readonly=True) as s:
        report = audit.verify(s)
    assert report.ok and report.records == QUEUED + 1


def test_a_queue_longer_than_the_group_limit_is_written_in_turns(store_engine, monkeypatch) -> None:
    monkeypatch.setattr(group_commit, "GROUP_LIMIT", 2)
    sessions = db.make_sessionmaker(store_engine)
    groups = group_commit.stats(store_engine).groups
    names = [f"writer-{i}" for i in range(QUEUED)]
    with _HeldLeader(store_engine, sessions):
        outcome, threads = _write_records(sessions, store_engine, names)
        _wait_for_queue(store_engine, QUEUED)
    for t in threads:
        t.join(30)
    # every writer returned after its own commit, whichever leader took it
    assert outcome == {n: "seen" for n in names}
    assert group_commit.stats(store_engine).groups - groups == 1 + 3  # the leader, then 2 + 2 + 1


def test_a_failing_member_hears_of_it_alone_and_the_others_commit(store_engine) -> None:
    sessions = db.make_sessionmaker(store_engine)
    split = group_commit.stats(store_engine).split
    names = [f"writer-{i}" for i in range(QUEUED)]
    with _HeldLeader(store_engine, sessions):
        outcome, threads = _write_records(sessions, store_engine, names, fail="writer-2")
        _wait_for_queue(store_engine, QUEUED)
    for t in threads:
        t.join(30)
    failed = outcome.pop("writer-2")
    assert isinstance(failed, ValueError) and "writer-2's own work failed" in str(failed)
    assert outcome == {n: "seen" for n in names if n != "writer-2"}
    assert _records(store_engine, "writer-2") == 0  # its record went with its failure
    assert group_commit.stats(store_engine).split == split + 1
    with db.transaction(store_engine, readonly=True) as s:
        report = audit.verify(s)
    assert report.ok and report.records == QUEUED  # the leader's and four writers'


def test_a_stopped_leader_leaves_no_member_believing_it_committed(store_engine) -> None:
    sessions = db.make_sessionmaker(store_engine)
    names = [f"writer-{i}" for i in range(QUEUED)]
    with _HeldLeader(store_engine, sessions):
        outcome, threads = _write_records(sessions, store_engine, names, fail="writer-2", error=_Stop)
        _wait_for_queue(store_engine, QUEUED)
    for t in threads:
        t.join(30)
    kinds = sorted(type(e).__name__ for e in outcome.values())
    # the thread that led the group is stopped; every other member is told nothing was committed
    assert kinds == ["RuntimeError"] * (QUEUED - 1) + ["_Stop"]
    assert all("not committed" in str(e) for e in outcome.values() if isinstance(e, RuntimeError))
    assert sum(_records(store_engine, n) for n in names) == 0


@pytest.fixture
def region(eseal_home):
    _, ks, es_id = _region(eseal_home)
    return eseal_home, ks, es_id


def test_concurrent_sealings_share_a_commit_and_every_record_holds(region) -> None:
    home, ks, es_id = region
    engine = home.engine
    sessions = db.make_sessionmaker(engine)
    data = document()
    sealed: dict[int, bytes] = {}
    errors: list[BaseException] = []

    def seal(i: int) -> None:
        try:
            grant = sealing.authorise(home, ks, es_id, actor=f"clerk-{i}")
            sealed[i] = sealing.seal_document(home, ks, grant, data, x_mm=20 + i, y_mm=40, timestamp=False).data
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    with db.transaction(engine, readonly=True) as s:
        signs_before = s.execute(select(func.count()).select_from(AuditRecord)
                                 .where(AuditRecord.action == "seal.sign")).scalar()
    with _HeldLeader(engine, sessions):
        threads = [threading.Thread(target=seal, args=(i,)) for i in range(QUEUED)]
        for t in threads:
            t.start()
        _wait_for_queue(engine, QUEUED)
    for t in threads:
        t.join(60)
    assert not errors and sorted(sealed) == list(range(QUEUED))
    assert group_commit.stats(engine).largest >= QUEUED

    from seal.ofd.signing import verify_package
    from seal.structures import parse_signature, verify_signature_value

    for doc in sealed.values():
        (facts,) = verify_package(doc)
        assert verify_signature_value(parse_signature(facts.signed_value)).ok
    with db.transaction(engine, readonly=True) as s:
        report = audit.verify(s, public_key=_audit_key(home))
        signs = s.execute(select(AuditRecord.actor).where(AuditRecord.action == "seal.sign")).scalars().all()
        assert translog.verify_log(s) == []
    assert report.ok, report.findings
    assert len(signs) == signs_before + QUEUED
    assert {f"clerk-{i}" for i in range(QUEUED)} <= set(signs)
