"""The audit log: append, checkpoints, and verify naming each kind of tampering (raw SQL)."""

from __future__ import annotations

import pytest
from sqlalchemy import Engine, select, text

from gm.sm2 import PrivateKey
from store import audit
from store.audit import FindingKind
from store.db import make_sessionmaker, transaction
from store.errors import AuditError
from store.models import AuditCheckpoint, AuditRecord
from store.testing import *  # noqa: F401,F403


@pytest.fixture(scope="module")
def audit_key() -> PrivateKey:
    return PrivateKey.generate()


def _fill(engine: Engine, n: int, signer: audit.AuditSigner | None = None, every: int = 1000) -> None:
    factory = make_sessionmaker(engine, audit_signer=signer, checkpoint_every=every)
    for i in range(n):
        with transaction(factory) as s:
            audit.append(
                s,
                actor="operator:alice",
                action="cert.issue",
                subject=f"cert:{i:04x}",
                details={"serial": f"{i:04x}", "profile": "personal", "名称": "广东省", "n": i},
            )


def _verify(engine: Engine, public_key=None) -> audit.AuditReport:
    with transaction(engine, readonly=True) as s:
        return audit.verify(s, public_key=public_key)


def _tamper(engine: Engine, *statements: str, **params) -> None:
    """Raw SQL as an attacker with DDL rights would run it: drop the append-only triggers first."""
    with engine.begin() as conn:
        if conn.dialect.name == "postgresql":
            for table in ("audit_record", "audit_checkpoint"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_append_only ON {table}")
        else:
            for table in ("audit_record", "audit_checkpoint"):
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_update")
                conn.exec_driver_sql(f"DROP TRIGGER IF EXISTS {table}_no_delete")
        for statement in statements:
            conn.execute(text(statement), params)


def _record(engine: Engine, seq: int) -> AuditRecord:
    with transaction(engine, readonly=True) as s:
        return s.get(AuditRecord, seq)


def test_clean_chain_verifies_and_links(store_engine: Engine) -> None:
    _fill(store_engine, 12)
    report = _verify(store_engine)
    assert report.ok and report.first is None
    assert (report.records, report.last_seq) == (12, 12)
    with transaction(store_engine, readonly=True) as s:
        rows = s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars().all()
    assert [r.seq for r in rows] == list(range(1, 13))
    assert rows[0].prev_hash == bytes(32)
    for before, after in zip(rows, rows[1:]):
        assert after.prev_hash == before.hash
    # the documented canonical encoding, recomputed independently of audit.record_hash
    r = rows[4]
    import json
    import struct

    from gm.sm3 import sm3

    def field(v: str) -> bytes:
        return struct.pack(">I", len(v.encode())) + v.encode()

    details = json.dumps(json.loads(r.details), sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    assert r.details == details and "广东省" in r.details
    encoded = (
        b"ESEAL-AUDIT-1"
        + struct.pack(">Q", 5)
        + field(r.recorded_at.strftime("%Y-%m-%dT%H:%M:%S.%fZ"))
        + field("operator:alice")
        + field("cert.issue")
        + field("cert:0004")
        + field(details)
    )
    assert sm3(rows[3].hash + encoded) == r.hash


def test_append_is_in_the_callers_transaction(store_engine: Engine) -> None:
    _fill(store_engine, 2)
    with pytest.raises(RuntimeError):
        with transaction(store_engine) as s:
            audit.append(s, actor="a", action="cert.revoke", subject="cert:1", details={})
            raise RuntimeError("the state change failed")
    _fill(store_engine, 1)
    report = _verify(store_engine)
    assert report.ok and report.last_seq == 3


def test_append_refuses_bad_input(store_engine: Engine) -> None:
    with transaction(store_engine) as s:
        with pytest.raises(AuditError, match="plain JSON"):
            audit.append(s, actor="a", action="cert.issue", subject="x", details={"k": b"bytes"})
        with pytest.raises(AuditError, match="lowercase"):
            audit.append(s, actor="a", action="Cert Issue", subject="x", details={})
        with pytest.raises(AuditError, match="empty"):
            audit.append(s, actor="", action="cert.issue", subject="x", details={})


def test_database_refuses_update_and_delete(store_engine: Engine) -> None:
    _fill(store_engine, 2)
    for statement in ("UPDATE audit_record SET actor = 'mallory' WHERE seq = 1", "DELETE FROM audit_record"):
        with pytest.raises(Exception, match="append-only"):
            with store_engine.begin() as conn:
                conn.exec_driver_sql(statement)
    assert _verify(store_engine).ok


def test_edited_field_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 10)
    _tamper(store_engine, "UPDATE audit_record SET subject = 'cert:ffff' WHERE seq = 6")
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.EDITED, 6)


def test_edited_details_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 10)
    _tamper(store_engine, "UPDATE audit_record SET details = :d WHERE seq = 4", d='{"n":3}')
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.EDITED, 4)


def test_deleted_row_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 10)
    _tamper(store_engine, "DELETE FROM audit_record WHERE seq = 5")
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.DELETED, 5)


def test_deleted_row_with_renumbering_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 10)
    shifts = [f"UPDATE audit_record SET seq = {k - 1} WHERE seq = {k}" for k in range(6, 11)]
    _tamper(
        store_engine,
        "DELETE FROM audit_record WHERE seq = 5",
        *shifts,
        "UPDATE audit_head SET seq = 9, hash = (SELECT hash FROM audit_record WHERE seq = 9)",
    )
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.DELETED, 5)


def test_inserted_row_is_named(store_engine: Engine) -> None:
    # The strongest insertion: make room by renumbering, and forge a row whose own hash is right.
    _fill(store_engine, 10)
    prev = _record(store_engine, 3)
    forged = _record(store_engine, 4)
    details = '{"forged":true}'
    forged_hash = audit.record_hash(
        prev.hash, 4, forged.recorded_at, "operator:mallory", "cert.issue", "cert:beef", details
    )
    shifts = [f"UPDATE audit_record SET seq = {k + 1} WHERE seq = {k}" for k in range(10, 3, -1)]
    _tamper(
        store_engine,
        *shifts,
        "INSERT INTO audit_record (seq, recorded_at, actor, action, subject, details, prev_hash, hash) "
        "SELECT 4, recorded_at, 'operator:mallory', 'cert.issue', 'cert:beef', :d, :p, :h "
        "FROM audit_record WHERE seq = 5",
        d=details,
        p=prev.hash,
        h=forged_hash,
    )
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.INSERTED, 4)


def test_row_appended_behind_the_apis_back_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 5)
    last = _record(store_engine, 5)
    forged_hash = audit.record_hash(last.hash, 6, last.recorded_at, "x", "cert.issue", "cert:1", "{}")
    _tamper(
        store_engine,
        "INSERT INTO audit_record (seq, recorded_at, actor, action, subject, details, prev_hash, hash) "
        "SELECT 6, recorded_at, 'x', 'cert.issue', 'cert:1', '{}', :p, :h FROM audit_record WHERE seq = 5",
        p=last.hash,
        h=forged_hash,
    )
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.INSERTED, 6)


def test_swapped_pair_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 10)
    _tamper(
        store_engine,
        "UPDATE audit_record SET seq = -1 WHERE seq = 7",
        "UPDATE audit_record SET seq = 7 WHERE seq = 8",
        "UPDATE audit_record SET seq = 8 WHERE seq = -1",
    )
    first = _verify(store_engine).first
    assert (first.kind, first.seq) == (FindingKind.SWAPPED, 7)


def test_checkpoints_are_written_every_n_and_verify_with_the_pinned_key(store_engine: Engine, audit_key) -> None:
    signer = audit.SM2AuditSigner(audit_key, key_id="audit-key-1")
    _fill(store_engine, 10, signer=signer, every=4)
    with transaction(store_engine) as s:
        final = audit.checkpoint(s, signer)  # "on shutdown"
        assert audit.checkpoint(s, signer) is None  # nothing new since
    assert final is not None and final.seq == 10
    with transaction(store_engine, readonly=True) as s:
        rows = s.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars().all()
    assert [c.seq for c in rows] == [4, 8, 10]
    message = audit.checkpoint_message(rows[0].seq, rows[0].head_hash, rows[0].signed_at, "audit-key-1")
    assert audit_key.public_key.verify(rows[0].signature, message)
    report = _verify(store_engine, public_key=audit_key.public_key)
    assert report.ok and report.key_pinned and report.last_valid_checkpoint == 10
    other = PrivateKey.generate().public_key
    report = _verify(store_engine, public_key=other.to_pem())
    assert report.first.kind == FindingKind.BAD_CHECKPOINT_SIGNATURE and report.first.seq == 4


def test_tampered_checkpoint_signature_is_caught(store_engine: Engine, audit_key) -> None:
    signer = audit.SM2AuditSigner(audit_key)
    _fill(store_engine, 9, signer=signer, every=3)
    with transaction(store_engine, readonly=True) as s:
        sig = bytearray(s.get(AuditCheckpoint, 6).signature)
    sig[-1] ^= 0x01
    _tamper(store_engine, "UPDATE audit_checkpoint SET signature = :s WHERE seq = 6", s=bytes(sig))
    report = _verify(store_engine, public_key=audit_key.public_key)
    assert [(f.kind, f.seq) for f in report.findings] == [(FindingKind.BAD_CHECKPOINT_SIGNATURE, 6)]


def test_truncated_tail_beyond_a_signed_checkpoint_is_caught(store_engine: Engine, audit_key) -> None:
    signer = audit.SM2AuditSigner(audit_key)
    _fill(store_engine, 8, signer=signer, every=4)
    # Remove the tail and make the head agree, as a careful attacker would.
    _tamper(
        store_engine,
        "DELETE FROM audit_record WHERE seq > 6",
        "UPDATE audit_head SET seq = 6, hash = (SELECT hash FROM audit_record WHERE seq = 6)",
    )
    report = _verify(store_engine, public_key=audit_key.public_key)
    assert (report.first.kind, report.first.seq) == (FindingKind.TRUNCATED, 7)


def test_rewritten_chain_is_caught_by_the_checkpoint(store_engine: Engine, audit_key) -> None:
    signer = audit.SM2AuditSigner(audit_key)
    _fill(store_engine, 6, signer=signer, every=6)
    # Edit record 3 and recompute every hash after it: the chain alone looks clean.
    statements, params = [], {}
    with transaction(store_engine, readonly=True) as s:
        rows = s.execute(select(AuditRecord).order_by(AuditRecord.seq)).scalars().all()
    prev = rows[1].hash
    for r in rows[2:]:
        subject = "cert:ffff" if r.seq == 3 else r.subject
        h = audit.record_hash(prev, r.seq, r.recorded_at, r.actor, r.action, subject, r.details)
        statements.append(
            f"UPDATE audit_record SET subject = :s{r.seq}, prev_hash = :p{r.seq}, hash = :h{r.seq} WHERE seq = {r.seq}"
        )
        params.update({f"s{r.seq}": subject, f"p{r.seq}": prev, f"h{r.seq}": h})
        prev = h
    statements.append("UPDATE audit_head SET hash = :head")
    _tamper(store_engine, *statements, head=prev, **params)
    report = _verify(store_engine, public_key=audit_key.public_key)
    assert [(f.kind, f.seq) for f in report.findings] == [(FindingKind.CHECKPOINT_MISMATCH, 6)]
