"""A full verification of the audit log is an event of the log, and a page view checks only
what came after it.

``full`` runs ``audit.verify`` and ``translog.verify_log`` in one snapshot: every record,
checkpoint, log entry and tree head, so its cost grows with the region's history (docs/audit.md
has the measured numbers). ``record`` appends the outcome as an
``audit.verify`` record (who, ok, how many findings, what it covered: the head seq and hash
of the chain, the log's size), so the verification itself is in the tamper-evident chain
and the next full verification covers that record too.

``since_last`` is what a page can afford on every view: the latest ``audit.verify`` record
and a check of the records and log entries appended after what it covered
(``audit.verify_since``, ``translog.verify_entries_since``): O(new records), not O(history).
"""
from __future__ import annotations

import json
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from store import audit, db, translog
from store.models.audit import AuditRecord

ACTION = "audit.verify"
SUBJECT = "audit:chain"
KEPT_FINDINGS = 20  # a failed verification's first findings are kept in its record


def full(sessions: sessionmaker[Session], public_key_pem: bytes | None) -> dict[str, Any]:
    """The chain, its checkpoints and the transparency log, checked now in one snapshot (what
    ``GET /api/v1/audit/verify`` answers, plus the head and log size it covered)."""
    from gm.sm2 import PublicKey

    try:
        key = PublicKey.from_pem(public_key_pem) if public_key_pem else None
    except ValueError:
        key = None  # audit.verify reports an unusable pinned key
    with db.transaction(sessions, readonly=True) as s:
        report = audit.verify(s, public_key=public_key_pem)
        log_problems = translog.verify_log(s, key)
        log_size = s.scalar(select(translog.TransLogState.size).where(translog.TransLogState.id == 1)) or 0
        head_hash = s.scalar(select(AuditRecord.hash).where(AuditRecord.seq == report.last_seq))
    return {"ok": report.ok and not log_problems, "records": report.records, "last_seq": report.last_seq,
            "head_hash": bytes(head_hash).hex() if head_hash is not None else bytes(audit.HASH_SIZE).hex(),
            "log_entries": log_size,
            "checkpoints": report.checkpoints, "last_valid_checkpoint": report.last_valid_checkpoint,
            "key_pinned": report.key_pinned,
            "findings": [{"kind": f.kind.value, "seq": f.seq, "message": f.message} for f in report.findings],
            "warnings": list(report.warnings),
            "transparency_log": {"ok": not log_problems, "problems": list(log_problems)}}


def finding_texts(check: dict[str, Any]) -> list[str]:
    """The chain's findings of ``check`` as ``audit.Finding`` prints them."""
    return [str(audit.Finding(audit.FindingKind(f["kind"]), f["seq"], f["message"])) for f in check["findings"]]


def record(sessions: sessionmaker[Session], check: dict[str, Any], actor: str) -> int:
    """Append ``check`` (from ``full``) as an ``audit.verify`` record by ``actor``; its seq."""
    problems = finding_texts(check) + [f"transparency log: {p}" for p in check["transparency_log"]["problems"]]
    details = {"ok": check["ok"], "findings": len(problems), "first_findings": problems[:KEPT_FINDINGS],
               "records": check["records"], "head_seq": check["last_seq"], "head_hash": check["head_hash"],
               "log_entries": check["log_entries"], "checkpoints": check["checkpoints"],
               "key_pinned": check["key_pinned"]}
    with db.transaction(sessions) as s:
        written = audit.append(s, actor=actor, action=ACTION, subject=SUBJECT, details=details)
    return written.seq


def since_last(sessions: sessionmaker[Session]) -> dict[str, Any] | None:
    """The latest recorded verification and what was appended after it, checked now; None
    when no verification was ever recorded (nothing is checked then: that is a full one)."""
    with db.transaction(sessions, readonly=True) as s:
        last = _latest(s)
        if last is None:
            return None
        if last.get("unreadable"):
            return {"last": last, "since": None}
        report = audit.verify_since(s, last["head_seq"], bytes.fromhex(last["head_hash"]))
        entries, log_problems = translog.verify_entries_since(s, last["log_entries"])
    problems = [str(f) for f in report.findings] + [f"transparency log: {p}" for p in log_problems]
    return {"last": last, "since": {"ok": not problems, "records": report.records, "first_seq": last["head_seq"] + 1,
                                    "last_seq": report.last_seq, "log_entries": entries,
                                    "first_entry": last["log_entries"], "problems": problems}}


def _latest(s: Session) -> dict[str, Any] | None:
    """The newest audit.verify record's details, with its seq, time and actor. The action's
    index finds the (few) verification records; their seqs are sorted, not the log's."""
    row = s.execute(select(AuditRecord.seq, AuditRecord.recorded_at, AuditRecord.actor, AuditRecord.details)
                    .where(AuditRecord.action == ACTION).order_by(AuditRecord.seq.desc()).limit(1)).first()
    if row is None:
        return None
    try:
        details = json.loads(row.details)
        details["head_seq"], details["log_entries"] = int(details["head_seq"]), int(details["log_entries"])
        bytes.fromhex(details["head_hash"])
    except (ValueError, KeyError, TypeError):
        # a hand-written or edited record: say so rather than trust it (the chain check finds the edit)
        details = {"ok": False, "unreadable": True, "findings": 1,
                   "first_findings": ["the verification record is unreadable"]}
    return {**details, "seq": row.seq, "recorded_at": row.recorded_at, "actor": row.actor}
