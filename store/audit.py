"""Tamper-evident, append-only audit log: an SM3 hash chain with signed checkpoints.

Writing
    `append(session, actor=, action=, subject=, details=)` adds one record in the CALLER's
    transaction, so a state change and its audit record commit or roll back together.

Record hash (the canonical encoding, version 1)
    hash = SM3(prev_hash || canonical(record)), where prev_hash is the previous record's
    hash (32 zero bytes for seq 1) and

        canonical(record) = b"ESEAL-AUDIT-1"
                            || u64be(seq)
                            || field(time) || field(actor) || field(action)
                            || field(subject) || field(details)
        field(s)          = u32be(len(utf8(s))) || utf8(s)
        time              = recorded_at in UTC as "YYYY-MM-DDTHH:MM:SS.ffffffZ"
        details           = json.dumps(details, sort_keys=True, separators=(",", ":"),
                                       ensure_ascii=False, allow_nan=False)

    The `details` column stores exactly that JSON text, so anyone can recompute a hash
    from the raw row (e.g. with psql and `openssl dgst -sm3`).

Serialisation (one writer of the chain at a time, across processes and hosts)
    The single row of `audit_head` holds the newest seq and hash. `append` takes the next
    seq with `UPDATE audit_head SET seq = seq + 1 ... RETURNING seq, hash`: on PostgreSQL
    the UPDATE locks the row (a second writer waits on the row lock until the first
    commits, then updates the new head — READ COMMITTED re-reads the locked row); on SQLite
    every write transaction of `store.db` starts with `BEGIN IMMEDIATE`, which takes the
    database's single write lock up front. Two writers can therefore never read the same
    head, and a rolled-back transaction rolls back its records and its head update
    together: no fork, no gap, no lost record. In a pipelined transaction (a sealing's,
    `store.db.transaction(pipelined=True)`) the records are queued and take their seqs
    together at its end (`UPDATE ... SET seq = seq + n`), so the lock is held only for the
    transaction's last round trips.

Checkpoints
    A checkpoint is the region's audit key signing (SM2 with SM3, default signer ID)
        b"ESEAL-AUDIT-CHECKPOINT-1" || u64be(seq) || head_hash || field(time) || field(key_id)
    Sessions made by `store.db.make_sessionmaker(engine, audit_signer=S,
    checkpoint_every=N)` write one automatically when an append brings the log N records
    past the last checkpoint; `checkpoint(session, signer)` writes one explicitly (call it
    on shutdown). Signing goes through `AuditSigner` (keystore provides one that signs by
    key reference; `SM2AuditSigner` wraps a gm.sm2.PrivateKey). Signing a checkpoint must
    not itself append an audit record: the checkpoint row is the record of that key use.

Verifying
    `verify(session, public_key=None) -> AuditReport` walks the chain in seq order and
    names the first anomaly of the chain — `edited` (a record's hash does not match its
    content), `deleted` (a seq is missing, or later records were renumbered down over
    it), `inserted` (a record the next one does not link through), `swapped` (two
    adjacent records exchanged places), `broken_link` (a record no longer links to its
    predecessor, e.g. the predecessor was rewritten with a recomputed hash) — then checks
    the head row (`inserted` past the head, `truncated` before it) and every checkpoint
    (`bad_checkpoint_signature`, `truncated` when a signed checkpoint lies beyond the end
    of the log, `checkpoint_mismatch` when the chain was rewritten up to a signed seq).
    Findings are data (kind, seq, message), sorted by seq.

    What a hash chain cannot show: records appended after the last checkpoint by someone
    who can also write `audit_head` look genuine, and so does a whole chain recomputed
    after the last checkpoint. Checkpoints every N records and at shutdown bound that
    window; pin the audit public key (`public_key=`) or an attacker can re-sign, too.
"""

from __future__ import annotations

import json
import re
import struct
from collections.abc import Iterator
from dataclasses import field
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Protocol, runtime_checkable

from sqlalchemy import select, update
from sqlalchemy.orm import Session

from gm.records import frozen_record
from gm.sm3 import sm3
from store.db import AUDIT_POLICY_KEY, DEFAULT_CHECKPOINT_EVERY, HotStatement, connection_of, queue_for_end
from store.errors import AuditError
from store.models.audit import (
    ACTION_MAX,
    ACTOR_MAX,
    HASH_SIZE,
    KEY_ID_MAX,
    SUBJECT_MAX,
    AuditCheckpoint,
    AuditHead,
    AuditRecord,
)
from store.models.base import utcnow

GENESIS_HASH = bytes(HASH_SIZE)
RECORD_TAG = b"ESEAL-AUDIT-1"
CHECKPOINT_TAG = b"ESEAL-AUDIT-CHECKPOINT-1"
_ACTION_RE = re.compile(r"^[a-z][a-z0-9_]*(?:[.-][a-z0-9_]+)*$")
_HEAD_ID = 1


# --------------------------------------------------------------------- canonical encoding


def _field(value: str) -> bytes:
    data = value.encode("utf-8")
    return struct.pack(">I", len(data)) + data


def format_time(moment: datetime) -> str:
    """UTC ISO-8601 with microseconds and a Z, as hashed: 2026-11-23T09:41:23.123456Z."""
    if moment.tzinfo is None:
        raise AuditError("audit times must be timezone-aware")
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def canonical_details(details: dict[str, Any]) -> str:
    """The canonical JSON text of a details mapping (sorted keys, no spaces, UTF-8)."""
    if not isinstance(details, dict):
        raise AuditError(f"audit details must be a dict, not {type(details).__name__}")
    try:
        return json.dumps(details, sort_keys=True, separators=(",", ":"), ensure_ascii=False, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise AuditError(
            f"audit details must be plain JSON (str keys; str, int, float, bool, None, list, dict values): {exc}"
        ) from None


def canonical_record(seq: int, recorded_at: datetime, actor: str, action: str, subject: str, details: str) -> bytes:
    """canonical(record) of the module docstring; `details` is the canonical JSON text."""
    return (
        RECORD_TAG
        + struct.pack(">Q", seq)
        + _field(format_time(recorded_at))
        + _field(actor)
        + _field(action)
        + _field(subject)
        + _field(details)
    )


def record_hash(
    prev_hash: bytes, seq: int, recorded_at: datetime, actor: str, action: str, subject: str, details: str
) -> bytes:
    """SM3(prev_hash || canonical(record))."""
    return sm3(bytes(prev_hash) + canonical_record(seq, recorded_at, actor, action, subject, details))


def checkpoint_message(seq: int, head_hash: bytes, signed_at: datetime, key_id: str) -> bytes:
    """The bytes the audit key signs for a checkpoint."""
    return CHECKPOINT_TAG + struct.pack(">Q", seq) + bytes(head_hash) + _field(format_time(signed_at)) + _field(key_id)


# --------------------------------------------------------------------------- signing


@runtime_checkable
class AuditSigner(Protocol):
    """The region's audit key, as seen by the audit log. Keystore provides the real one."""

    @property
    def key_id(self) -> str:
        """A stable name of the key (the keystore key_ref)."""

    @property
    def public_key_bytes(self) -> bytes:
        """The SM2 public key, 65-byte uncompressed point 04 || x || y."""

    def sign(self, data: bytes) -> bytes:
        """DER SM2 signature over `data` (SM3 with Z_A, signer ID 1234567812345678)."""


class SM2AuditSigner:
    """An AuditSigner over an in-memory gm.sm2.PrivateKey (tests, single-operator tools)."""

    def __init__(self, private_key: Any, key_id: str = "audit") -> None:
        self._key = private_key
        self._key_id = key_id

    @property
    def key_id(self) -> str:
        return self._key_id

    @property
    def public_key_bytes(self) -> bytes:
        return self._key.public_key.to_bytes()

    def sign(self, data: bytes) -> bytes:
        return self._key.sign(data)


@frozen_record
class AuditPolicy:
    """Automatic checkpoints for sessions of a factory (see store.db.make_sessionmaker)."""

    signer: AuditSigner
    every: int = DEFAULT_CHECKPOINT_EVERY

    def __post_init__(self) -> None:
        if not isinstance(self.every, int) or isinstance(self.every, bool) or self.every < 1:
            raise AuditError(f"checkpoint_every must be a positive int, not {self.every!r}")
        if not isinstance(self.signer, AuditSigner):
            raise AuditError("the audit signer needs key_id, public_key_bytes and sign(data)")


# --------------------------------------------------------------------------- writing


def _check_text(value: object, name: str, limit: int) -> str:
    if not isinstance(value, str):
        raise AuditError(f"audit {name} must be a str, not {type(value).__name__}")
    if not value:
        raise AuditError(f"audit {name} must not be empty")
    if len(value) > limit:
        raise AuditError(f"audit {name} is {len(value)} characters; the limit is {limit}")
    if "\x00" in value:
        raise AuditError(f"audit {name} must not contain NUL characters")
    return value


def _lock_head(session: Session) -> AuditHead:
    if session.get_bind().dialect.name == "sqlite":
        # Take (or confirm) SQLite's write lock before reading the head.
        session.execute(update(AuditHead).where(AuditHead.id == _HEAD_ID).values(seq=AuditHead.seq))
    head = session.execute(
        select(AuditHead).where(AuditHead.id == _HEAD_ID).with_for_update().execution_options(populate_existing=True)
    ).scalar_one_or_none()
    if head is None:
        raise AuditError("the audit_head row is missing: is the database migrated (store.migrate)?")
    return head


_RECORD_COLUMNS = AuditRecord.__table__.c
# One statement takes the head's lock and the next n seqs: PostgreSQL locks the row (a second
# writer waits, then re-reads the committed row under READ COMMITTED); on SQLite the write
# transaction already holds the database's write lock (BEGIN IMMEDIATE) and the UPDATE
# confirms it. RETURNING gives the new seq and the still-unchanged hash of the newest record.
_TAKE_SEQS = HotStatement("UPDATE audit_head SET seq = seq + :n WHERE id = 1 RETURNING seq, hash, checkpoint_seq")
_INSERT_RECORD = HotStatement(
    "INSERT INTO audit_record (seq, recorded_at, actor, action, subject, details, prev_hash, hash) "
    "VALUES (:seq, :recorded_at, :actor, :action, :subject, :details, :prev_hash, :hash)",
    binds={"recorded_at": _RECORD_COLUMNS.recorded_at})
_SET_HEAD_HASH = HotStatement("UPDATE audit_head SET hash = :head_hash WHERE id = 1")
# A later append in the same transaction already holds the head's lock and knows the head
# (a sealing appends two to four records): it writes the next seq and hash in one statement.
_SET_HEAD = HotStatement("UPDATE audit_head SET seq = :seq, hash = :head_hash WHERE id = 1")
# Session.info key: (transaction, savepoint, seq, hash, checkpoint_seq) of this session's last
# append. Valid only while the connection is in that same transaction and savepoint: one
# rolled back or released, or a new one begun, and the head is read again under its lock.
_KNOWN_HEAD = "eseal.audit_known_head"
# Session.info key: the records a pipelined transaction queued, (recorded_at, actor, action,
# subject, details text) each, written at its end by _send_queued.
_QUEUED = "eseal.audit_queued"


@frozen_record
class Appended:
    """An audit_record row's columns: the record `append` wrote, or one `verify` reads."""

    seq: int
    recorded_at: datetime
    actor: str
    action: str
    subject: str
    details: str
    prev_hash: bytes
    hash: bytes

    def hash_as(self, seq: int) -> bytes:
        """The record's hash were it at position ``seq`` of the chain."""
        return record_hash(self.prev_hash, seq, self.recorded_at, self.actor, self.action, self.subject, self.details)

    def hashed_seq(self) -> int | None:
        """The seq this row's content was hashed under: its own, or a neighbour's if moved."""
        for candidate in (self.seq, self.seq + 1, self.seq - 1):
            if candidate >= 1 and self.hash_as(candidate) == self.hash:
                return candidate
        return None


def append(session: Session, *, actor: str, action: str, subject: str, details: dict[str, Any]) -> Appended | None:
    """Append one record to the chain in the session's current transaction and return it.

    In a pipelined transaction (`store.db.transaction(pipelined=True)`: a sealing's) the
    record is checked and queued instead, and None returned: the queued records take their
    seqs together and are written at the end of the transaction, so the head's lock is held
    only for its last round trips (`store.db.at_end`).

    `action` is a lowercase dotted name such as "cert.issue" or "key.sign"; `subject`
    names the thing acted on ("cert:1f2e…", "key:ab12"); `details` is plain JSON.

    Written with three plain statements on the session's connection (take the next seq
    under the head lock, insert the record, set the head hash; `store.db.HotStatement`),
    not through the ORM: this runs two to four times per sealing, and SQLAlchemy's
    bookkeeping cost twenty times the SQL. A further append in the same transaction (and
    savepoint) knows the head it wrote and holds its lock: two statements (insert, set seq
    and hash). It returns the written row's values, not an ORM object.
    """
    _check_text(actor, "actor", ACTOR_MAX)
    _check_text(action, "action", ACTION_MAX)
    _check_text(subject, "subject", SUBJECT_MAX)
    if not _ACTION_RE.match(action):
        raise AuditError(f"audit action {action!r} must be lowercase words joined by '.', e.g. 'cert.issue'")
    details_text = canonical_details(details)

    session.flush()  # the caller's pending rows go first, as they did when this used the ORM
    if queue_for_end(session, _QUEUED, (utcnow(), actor, action, subject, details_text),
                     lambda conn, queued: _send_queued(session, conn, queued)):
        return None
    conn = connection_of(session)
    transaction, savepoint = conn.get_transaction(), conn.get_nested_transaction()
    known = session.info.pop(_KNOWN_HEAD, None)
    if known is not None and known[0] is transaction and known[1] is savepoint and transaction is not None:
        seq, prev_hash, checkpoint_seq = known[2] + 1, known[3], known[4]
    else:
        known = None
        seq, prev_hash, checkpoint_seq = _taken(_TAKE_SEQS.run(conn, {"n": 1}))
    recorded_at = utcnow()
    digest = record_hash(prev_hash, seq, recorded_at, actor, action, subject, details_text)
    values = {"seq": seq, "recorded_at": recorded_at, "actor": actor, "action": action, "subject": subject,
              "details": details_text, "prev_hash": prev_hash, "hash": digest}
    _INSERT_RECORD.run(conn, values)
    if known is None:
        _SET_HEAD_HASH.run(conn, {"head_hash": digest})
    else:
        _SET_HEAD.run(conn, {"seq": seq, "head_hash": digest})

    if not _checkpoint_if_due(session, seq, checkpoint_seq):   # a checkpoint changes the head row
        session.info[_KNOWN_HEAD] = (transaction, savepoint, seq, digest, checkpoint_seq)
    return Appended(**values)


def _taken(heads: list[Any]) -> tuple[int, bytes, int]:
    """(last seq taken, hash of the record before the first, checkpoint seq) from _TAKE_SEQS's rows."""
    if not heads:
        raise AuditError("the audit_head row is missing: is the database migrated (store.migrate)?")
    return heads[0][0], bytes(heads[0][1]), heads[0][2]


def _checkpoint_if_due(session: Session, seq: int, checkpoint_seq: int) -> bool:
    """Sign a checkpoint when the session's audit policy says one is due at ``seq``."""
    policy: AuditPolicy | None = session.info.get(AUDIT_POLICY_KEY)
    if policy is None or seq - checkpoint_seq < policy.every:
        return False
    checkpoint(session, policy.signer)
    return True


_ROWS_PER_INSERT = 16  # well under the databases' parameter limits; a sealing queues two to four
_INSERT_RECORDS: dict[int, HotStatement] = {}


def _insert_records(n: int) -> HotStatement:
    """One INSERT of ``n`` records (parameters seq0, recorded_at0, ... seq1, ...)."""
    statement = _INSERT_RECORDS.get(n)
    if statement is None:
        rows = ", ".join(f"(:seq{i}, :recorded_at{i}, :actor{i}, :action{i}, :subject{i}, :details{i}, "
                         f":prev_hash{i}, :hash{i})" for i in range(n))
        statement = _INSERT_RECORDS[n] = HotStatement(
            f"INSERT INTO audit_record (seq, recorded_at, actor, action, subject, details, prev_hash, hash) "
            f"VALUES {rows}", binds={f"recorded_at{i}": _RECORD_COLUMNS.recorded_at for i in range(n)})
    return statement


def _send_queued(session: Session, conn: Any, queued: list[Any]) -> Any:
    """Take seqs for the queued records (sent, not yet read); the returned call writes them."""
    session.info.pop(_KNOWN_HEAD, None)
    heads = _TAKE_SEQS.send(conn, {"n": len(queued)})

    def write() -> None:
        last, prev_hash, checkpoint_seq = _taken(heads())
        seq = last - len(queued)
        for start in range(0, len(queued), _ROWS_PER_INSERT):  # a statement costs ~60 µs of psycopg's CPU
            chunk = queued[start:start + _ROWS_PER_INSERT]
            values: dict[str, Any] = {}
            for i, (recorded_at, actor, action, subject, details_text) in enumerate(chunk):
                seq += 1
                digest = record_hash(prev_hash, seq, recorded_at, actor, action, subject, details_text)
                values.update({f"seq{i}": seq, f"recorded_at{i}": recorded_at, f"actor{i}": actor,
                               f"action{i}": action, f"subject{i}": subject, f"details{i}": details_text,
                               f"prev_hash{i}": prev_hash, f"hash{i}": digest})
                prev_hash = digest
            _insert_records(len(chunk)).run(conn, values)
        _SET_HEAD_HASH.run(conn, {"head_hash": prev_hash})
        _checkpoint_if_due(session, last, checkpoint_seq)
    return write


def checkpoint(session: Session, signer: AuditSigner) -> AuditCheckpoint | None:
    """Sign the current head in the caller's transaction; None if nothing new since the last one."""
    if not isinstance(signer, AuditSigner):
        raise AuditError("the audit signer needs key_id, public_key_bytes and sign(data)")
    key_id = _check_text(signer.key_id, "checkpoint key_id", KEY_ID_MAX)
    session.info.pop(_KNOWN_HEAD, None)
    head = _lock_head(session)
    if head.seq == 0 or head.seq == head.checkpoint_seq:
        return None
    signed_at = utcnow()
    signature = signer.sign(checkpoint_message(head.seq, head.hash, signed_at, key_id))
    row = AuditCheckpoint(
        seq=head.seq,
        head_hash=bytes(head.hash),
        signed_at=signed_at,
        key_id=key_id,
        public_key=bytes(signer.public_key_bytes),
        signature=bytes(signature),
    )
    session.add(row)
    head.checkpoint_seq = head.seq
    session.flush()
    return row


# ------------------------------------------------------------------------- verifying


class FindingKind(StrEnum):
    EDITED = "edited"
    DELETED = "deleted"
    INSERTED = "inserted"
    SWAPPED = "swapped"
    BROKEN_LINK = "broken_link"
    TRUNCATED = "truncated"
    BAD_CHECKPOINT_SIGNATURE = "bad_checkpoint_signature"
    CHECKPOINT_MISMATCH = "checkpoint_mismatch"


@frozen_record
class Finding:
    kind: FindingKind
    seq: int
    message: str

    def __str__(self) -> str:
        return f"{self.kind.value} at seq {self.seq}: {self.message}"


@frozen_record
class AuditReport:
    records: int  # rows in audit_record
    last_seq: int  # highest seq present (0 when empty)
    checkpoints: int
    last_valid_checkpoint: int  # seq of the newest checkpoint that verified (0: none)
    key_pinned: bool  # checkpoint signatures were checked against a caller-given key
    findings: tuple[Finding, ...] = ()
    warnings: tuple[str, ...] = field(default=())

    @property
    def ok(self) -> bool:
        return not self.findings

    @property
    def first(self) -> Finding | None:
        return self.findings[0] if self.findings else None


def _rows(session: Session, after: int = 0) -> Iterator[Appended]:
    """The records past seq ``after`` in seq order (the primary key's order: O(rows read))."""
    columns = (
        AuditRecord.seq,
        AuditRecord.recorded_at,
        AuditRecord.actor,
        AuditRecord.action,
        AuditRecord.subject,
        AuditRecord.details,
        AuditRecord.prev_hash,
        AuditRecord.hash,
    )
    query = select(*columns).order_by(AuditRecord.seq)
    if after:
        query = query.where(AuditRecord.seq > after)
    result = session.execute(query.execution_options(yield_per=2000))
    for row in result:
        yield Appended(row[0], row[1], row[2], row[3], row[4], row[5], bytes(row[6]), bytes(row[7]))


def _classify(row: Appended, nxt: Appended | None, expected_seq: int, prev: bytes) -> Finding | None:
    """The finding at `row` (None when it is a good link of the chain)."""
    e = expected_seq
    if row.seq > e:
        missing = f"{e}" if row.seq == e + 1 else f"{e}..{row.seq - 1}"
        return Finding(
            FindingKind.DELETED, e, f"record(s) {missing} missing: the log jumps from seq {e - 1} to {row.seq}"
        )
    own = row.hash_as(row.seq) == row.hash
    linked = row.prev_hash == prev
    if own and linked and (nxt is None or nxt.prev_hash != prev):
        return None
    hashed = row.hashed_seq()
    if (
        nxt is not None
        and nxt.seq == e + 1
        and hashed == e + 1
        and nxt.hashed_seq() == e
        and nxt.prev_hash == prev
        and row.prev_hash == nxt.hash
    ):
        return Finding(FindingKind.SWAPPED, e, f"records {e} and {e + 1} were swapped (each holds the other's content)")
    if nxt is not None and nxt.prev_hash == prev and nxt.prev_hash != row.hash:
        return Finding(
            FindingKind.INSERTED, e, f"record {e} was inserted: the following record links to record {e - 1}, not to it"
        )
    if hashed == e + 1 and not linked:
        return Finding(
            FindingKind.DELETED,
            e,
            f"record {e} was deleted and the later records renumbered (record now at {e} was hashed as {e + 1})",
        )
    if not own:
        what = "prev_hash" if not linked else "content"
        return Finding(FindingKind.EDITED, e, f"record {e} was edited: its hash does not match its {what}")
    return Finding(
        FindingKind.BROKEN_LINK,
        e,
        f"record {e} does not link to record {e - 1} (one of them was rewritten with a recomputed hash)",
    )


def _as_public_key(public_key: Any) -> Any:
    from gm.sm2 import PublicKey

    if public_key is None or isinstance(public_key, PublicKey):
        return public_key
    if isinstance(public_key, (bytes, bytearray)):
        from gm.errors import GMError

        data = bytes(public_key)
        try:
            return PublicKey.from_pem(data) if data.lstrip().startswith(b"-----BEGIN") else PublicKey.from_bytes(data)
        except GMError as exc:
            raise AuditError("the pinned audit public key is not an SM2 public key (PEM or SEC1 point): "
                             f"{exc}") from None
    raise AuditError(f"public_key must be a gm.sm2.PublicKey, a SEC1 point or PEM, not {type(public_key).__name__}")


def _signature_ok(key: Any, message: bytes, signature: bytes) -> bool:
    from gm.errors import GMError

    try:
        return bool(key.verify(signature, message))
    except GMError:
        return False


def _walk(rows: Iterator[Appended], after: int, prev: bytes, keep: Any = (),
          seen: dict[int, bytes] | None = None) -> tuple[Finding | None, int, int, bytes]:
    """Walk the chain from the record after seq ``after`` (whose hash is ``prev``): the first
    finding, the records read, the last seq and its hash. The hashes of the seqs in ``keep``
    go into ``seen`` (the checkpointed ones)."""
    finding: Finding | None = None
    expected, count, last_seq, last_hash = after + 1, 0, after, prev
    row = next(rows, None)
    while row is not None:
        nxt = next(rows, None)
        count += 1
        if seen is not None and row.seq in keep:
            seen[row.seq] = row.hash
        if finding is None:
            finding = _classify(row, nxt, expected, prev)
        expected, prev = row.seq + 1, row.hash
        last_seq, last_hash = row.seq, row.hash
        row = nxt
    return finding, count, last_seq, last_hash


def _head_findings(head: AuditHead | None, last_seq: int, last_hash: bytes) -> list[Finding]:
    """Whether the head row agrees with the last record of the chain."""
    findings: list[Finding] = []
    if head is None:
        findings.append(Finding(FindingKind.DELETED, 0, "the audit_head row is missing"))
    elif head.seq < last_seq:
        findings.append(
            Finding(
                FindingKind.INSERTED,
                head.seq + 1,
                f"records {head.seq + 1}..{last_seq} lie beyond the head (seq {head.seq}): "
                "written outside the audit API",
            )
        )
    elif head.seq > last_seq:
        findings.append(
            Finding(
                FindingKind.TRUNCATED,
                last_seq + 1,
                f"the log ends at seq {last_seq} but the head says {head.seq}: records removed from the end",
            )
        )
    elif bytes(head.hash) != last_hash:
        findings.append(
            Finding(FindingKind.EDITED, last_seq, f"the last record {last_seq} does not match the head hash")
        )

    return findings


def verify_since(session: Session, seq: int, head_hash: bytes) -> AuditReport:
    """Check only what was appended after record ``seq``, which a full verification found with
    hash ``head_hash``: that record still holds that hash, every later record links and
    hashes, and the head row agrees. Reads the records past ``seq`` and no other (O(new
    records)); what lies before ``seq`` is the full verification's word. Checkpoints are not
    checked here: `verify` checks them all."""
    findings: list[Finding] = []
    prev = GENESIS_HASH
    if seq:
        kept = session.scalar(select(AuditRecord.hash).where(AuditRecord.seq == seq))
        if kept is None:
            findings.append(Finding(FindingKind.DELETED, seq,
                                    f"record {seq}, the last one the verification covered, is gone"))
        elif bytes(kept) != bytes(head_hash):
            findings.append(Finding(FindingKind.EDITED, seq, f"record {seq} no longer has the hash the verification "
                                                           "covered: it or the chain up to it was rewritten"))
        prev = bytes(head_hash)
    chain_finding, count, last_seq, last_hash = _walk(_rows(session, after=seq), seq, prev)
    if chain_finding is not None:
        findings.append(chain_finding)
    findings += _head_findings(session.get(AuditHead, _HEAD_ID), last_seq, last_hash)
    return AuditReport(records=count, last_seq=last_seq, checkpoints=0, last_valid_checkpoint=0, key_pinned=False,
                       findings=tuple(sorted(findings, key=lambda f: f.seq)))


def verify(session: Session, public_key: Any = None) -> AuditReport:
    """Check the chain, the head and every checkpoint; never raises for tampering.

    Run it in one snapshot (`store.db.transaction(engine, readonly=True)`) so concurrent
    appends cannot look like tampering. `public_key` (gm.sm2.PublicKey, SEC1 bytes or PEM)
    pins the audit key; without it each checkpoint is checked against the key stored
    with it, which proves integrity against accidents but not against someone who can
    write the database (a warning says so).
    """
    from gm.errors import GMError
    from gm.sm2 import PublicKey

    pinned = _as_public_key(public_key)
    findings: list[Finding] = []
    warnings: list[str] = []
    head = session.get(AuditHead, _HEAD_ID)
    checkpoints = {c.seq: c for c in session.execute(select(AuditCheckpoint).order_by(AuditCheckpoint.seq)).scalars()}
    seen_hash: dict[int, bytes] = {}

    chain_finding, count, last_seq, last_hash = _walk(_rows(session), 0, GENESIS_HASH, checkpoints, seen_hash)
    if chain_finding is not None:
        findings.append(chain_finding)
    findings += _head_findings(head, last_seq, last_hash)

    last_valid = 0
    for seq, cp in checkpoints.items():
        try:
            key = pinned if pinned is not None else PublicKey.from_bytes(bytes(cp.public_key))
        except GMError:
            key = None
        message = checkpoint_message(cp.seq, bytes(cp.head_hash), cp.signed_at, cp.key_id)
        if key is None or not _signature_ok(key, message, bytes(cp.signature)):
            findings.append(
                Finding(
                    FindingKind.BAD_CHECKPOINT_SIGNATURE,
                    seq,
                    f"the checkpoint at seq {seq} (key {cp.key_id!r}) has a bad signature",
                )
            )
            continue
        if seq > last_seq:
            findings.append(
                Finding(
                    FindingKind.TRUNCATED,
                    last_seq + 1,
                    f"a signed checkpoint covers seq {seq} but the log ends at seq {last_seq}",
                )
            )
        elif seq in seen_hash and seen_hash[seq] != bytes(cp.head_hash):
            findings.append(
                Finding(
                    FindingKind.CHECKPOINT_MISMATCH,
                    seq,
                    f"record {seq} differs from the signed checkpoint: the chain up to it was rewritten",
                )
            )
        else:
            last_valid = max(last_valid, seq)

    if pinned is None and checkpoints:
        warnings.append(
            "no audit public key pinned: checkpoint signatures were checked against the key stored with each checkpoint"
        )
    if last_seq > last_valid:
        warnings.append(f"records {last_valid + 1}..{last_seq} are not yet covered by a signed checkpoint")

    order = list(FindingKind)
    findings.sort(key=lambda f: (f.seq, order.index(f.kind)))
    return AuditReport(
        records=count,
        last_seq=last_seq,
        checkpoints=len(checkpoints),
        last_valid_checkpoint=last_valid,
        key_pinned=pinned is not None,
        findings=tuple(findings),
        warnings=tuple(warnings),
    )
