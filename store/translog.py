"""A transparency log of what the region issues, in the style of RFC 9162 (Certificate
Transparency 2.0), hashed with SM3 and with tree heads signed with SM2.

Every issued certificate, made seal and sealed document (a sealed e-license among them) is
appended (``append``) in the same transaction as the change that made it, so the log and the database cannot
disagree. A relying party in another region that holds an artefact asks this region for an
inclusion proof (``prove_inclusion``) against a signed tree head and checks it with nothing
but the artefact, the proof and the region's log key (``check_inclusion``); two tree heads
seen at different times are reconciled by a consistency proof (``prove_consistency`` /
``check_consistency``), so the region cannot rewrite history without being caught.

Leaf input (what the leaf hash covers), reproducible by any verifier::

    "eseal-log-v1" 0x00 kind 0x00 subject 0x00 logged_at (ISO 8601, UTC, seconds) 0x00 SM3(artefact)

Signed tree head: SM2 (signer ID 1234567812345678) over
``"eseal-sth-v1" 0x00 || size (8 bytes BE) || signed_at (ms since epoch, 8 bytes BE) || root``.
The signer is the region's audit key (the ``store.audit.AuditSigner`` protocol).
"""
from __future__ import annotations

import base64
from dataclasses import asdict
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from gm.records import frozen_record
from gm.sm2 import PublicKey
from gm.sm3 import sm3
from store import db, merkle
from store.db import HotStatement, connection_of, queue_for_end
from store.errors import StoreError
from store.models.translog import (  # noqa: F401  (re-exported for tools)
    TransLogEntry,
    TransLogHead,
    TransLogNode,
    TransLogState,
)
from store.translog_tree import StoredTree

__all__ = [
    "KINDS", "TransLogError", "SignedTreeHead", "InclusionProof", "ConsistencyProof", "append",
    "sign_tree_head", "latest_head", "prove_inclusion", "prove_consistency", "check_inclusion",
    "check_consistency", "verify_log", "verify_entries_since", "leaf_input",
]

KINDS = ("certificate", "seal", "sealed-document")  # an e-license is logged as its sealing
_LEAF_TAG = b"eseal-log-v1\x00"
_STH_TAG = b"eseal-sth-v1\x00"


class TransLogError(StoreError):
    """The log cannot answer (unknown subject, empty log, impossible sizes)."""


def _now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def _iso(t: datetime) -> str:
    return t.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def _b64(b: bytes) -> str:
    return base64.b64encode(b).decode("ascii")


def leaf_input(kind: str, subject: str, logged_at: datetime, artefact_sm3: bytes) -> bytes:
    return b"".join([_LEAF_TAG, kind.encode(), b"\x00", subject.encode("utf-8"), b"\x00",
                     _iso(logged_at).encode(), b"\x00", artefact_sm3])


# Takes the state row's lock (PostgreSQL row lock; SQLite's write lock is already held by
# BEGIN IMMEDIATE) and the next n indexes in one statement; plain SQL as in store.audit.append.
_TAKE_INDEXES = HotStatement("UPDATE translog_state SET size = size + :n WHERE id = 1 RETURNING size")
# Session.info key: the entries a pipelined transaction queued, (kind, subject, SM3, logged_at).
_QUEUED = "eseal.translog_queued"
_INSERT_ENTRY = HotStatement(
    "INSERT INTO translog_entries (idx, kind, subject, artefact_sm3, leaf_hash, logged_at) "
    "VALUES (:idx, :kind, :subject, :artefact_sm3, :leaf_hash, :logged_at)",
    binds={"logged_at": TransLogEntry.__table__.c.logged_at})


def append(session: Session, *, kind: str, subject: str, artefact: bytes | None = None,
           artefact_sm3: bytes | None = None) -> int | None:
    """Log ``artefact`` in the caller's transaction; returns its leaf index (None in a
    pipelined transaction, which queues the entry and writes it at its end, as
    store.audit.append does).

    A caller that has just hashed the artefact (a sealing records the signature's SM3 in
    its audit record) passes ``artefact_sm3`` instead, so large artefacts are hashed once.

    Two plain statements on the session's connection (next index under the state row's
    lock, the entry): an append neither reads the tree nor signs a head. Tree heads are
    signed on demand (``sign_tree_head``: ``eseal log sign``), so the cost
    of a sealing does not grow with the log.
    """
    if kind not in KINDS:
        raise TransLogError(f"unknown log entry kind {kind!r}: expected one of {', '.join(KINDS)}")
    if not subject or len(subject) > 200:
        raise TransLogError("a log subject is 1-200 characters, e.g. 'cert:1f2e...'")
    if (artefact is None) == (artefact_sm3 is None):
        raise TransLogError("log an artefact or its SM3 digest (exactly one of artefact, artefact_sm3)")
    if artefact is not None and (not isinstance(artefact, (bytes, bytearray)) or not artefact):
        raise TransLogError("a logged artefact is non-empty bytes (the DER or the document)")
    if artefact_sm3 is not None and (not isinstance(artefact_sm3, (bytes, bytearray)) or len(artefact_sm3) != 32):
        raise TransLogError("artefact_sm3 is the 32-byte SM3 digest of the artefact")
    digest = sm3(bytes(artefact)) if artefact is not None else bytes(artefact_sm3)  # type: ignore[arg-type]
    if queue_for_end(session, _QUEUED, (kind, subject, digest, _now()), _send_queued):
        return None
    conn = connection_of(session)
    idx = _first_taken(_TAKE_INDEXES.run(conn, {"n": 1}), 1)
    _insert_entry(conn, idx, kind, subject, digest, _now())
    return idx


def _first_taken(sizes: list[Any], n: int) -> int:
    """The first of the ``n`` indexes _TAKE_INDEXES took, from its rows."""
    if not sizes:
        raise TransLogError("the translog_state row is missing: is the database migrated?")
    return sizes[0][0] - n


def _insert_entry(conn: Any, idx: int, kind: str, subject: str, digest: bytes, logged_at: datetime) -> None:
    _INSERT_ENTRY.run(conn, {"idx": idx, "kind": kind, "subject": subject, "artefact_sm3": digest,
                             "leaf_hash": merkle.leaf_hash(leaf_input(kind, subject, logged_at, digest)),
                             "logged_at": logged_at})


def _send_queued(conn: Any, queued: list[Any]) -> Any:
    """Take indexes for the queued entries (sent, not yet read); the returned call writes them."""
    sizes = _TAKE_INDEXES.send(conn, {"n": len(queued)})

    def write() -> None:
        for idx, (kind, subject, digest, logged_at) in enumerate(queued, _first_taken(sizes(), len(queued))):
            _insert_entry(conn, idx, kind, subject, digest, logged_at)
    return write


@frozen_record
class SignedTreeHead:
    size: int
    root: str  # base64
    signed_at: str  # ISO 8601
    key_id: str
    signature: str  # base64 DER

    def tbs(self) -> bytes:
        ms = int(datetime.fromisoformat(self.signed_at.replace("Z", "+00:00")).timestamp() * 1000)
        return _STH_TAG + self.size.to_bytes(8, "big") + ms.to_bytes(8, "big") + base64.b64decode(self.root)

    def verify(self, public_key: PublicKey) -> bool:
        try:
            return public_key.verify(base64.b64decode(self.signature), self.tbs())
        except ValueError:
            return False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _head(row: TransLogHead) -> SignedTreeHead:
    return SignedTreeHead(row.size, _b64(row.root), _iso(row.signed_at), row.key_id, _b64(row.signature))


def _logged(s: Session) -> int:
    """How many entries are logged (committed, as this transaction sees them)."""
    size = s.scalar(select(TransLogState.size).where(TransLogState.id == 1))
    if size is None:
        raise TransLogError("the translog_state row is missing: is the database migrated?")
    return size


def sign_tree_head(sessions: sessionmaker[Session], signer: Any) -> SignedTreeHead:
    """Sign the current tree with ``signer`` (store.audit.AuditSigner) and store the head."""
    with db.transaction(sessions, readonly=True) as s:
        tree = StoredTree(s, _logged(s))
        root = tree.root()
    tree.save(sessions)
    signed_at = _now()
    unsigned = SignedTreeHead(tree.size, _b64(root), _iso(signed_at), signer.key_id, "")
    signature = signer.sign(unsigned.tbs())
    with sessions.begin() as s:
        row = TransLogHead(size=tree.size, root=root, signed_at=signed_at, key_id=signer.key_id,
                           signature=signature)
        s.add(row)
        s.flush()
        return _head(row)


def latest_head(sessions: sessionmaker[Session]) -> SignedTreeHead:
    with sessions() as s:
        row = s.scalar(select(TransLogHead).order_by(TransLogHead.id.desc()).limit(1))
        if row is None:
            raise TransLogError("the log has no signed tree head yet")
        return _head(row)


@frozen_record
class InclusionProof:
    index: int
    kind: str
    subject: str
    logged_at: str
    artefact_sm3: str  # hex
    path: list[str]  # base64 node hashes
    head: SignedTreeHead

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> InclusionProof:
        """A proof as ``to_dict`` wrote it; TransLogError for anything else (a missing or
        mistyped field, a time that is not ISO 8601, a size that is not a tree size)."""
        try:
            head = data["head"]
            proof = cls(int(data["index"]), str(data["kind"]), str(data["subject"]), str(data["logged_at"]),
                        str(data["artefact_sm3"]), [str(p) for p in data["path"]],
                        SignedTreeHead(int(head["size"]), str(head["root"]), str(head["signed_at"]),
                                       str(head["key_id"]), str(head["signature"])))
            for name, value in (("logged_at", proof.logged_at), ("head.signed_at", proof.head.signed_at)):
                try:
                    datetime.fromisoformat(value.replace("Z", "+00:00"))
                except ValueError:
                    raise ValueError(f"{name} {value!r} is not an ISO 8601 time") from None
        except (KeyError, TypeError, ValueError) as exc:
            raise TransLogError(f"not an inclusion proof: {exc}") from None
        if not 0 <= proof.index < proof.head.size < 2 ** 64:
            raise TransLogError(f"not an inclusion proof: entry {proof.index} is not in a tree of size "
                                f"{proof.head.size}")
        return proof


def prove_inclusion(sessions: sessionmaker[Session], subject: str, *,
                    head: SignedTreeHead | None = None) -> InclusionProof:
    """The newest entry of ``subject`` proven against ``head`` (default: the latest head)."""
    head = head or latest_head(sessions)
    with db.transaction(sessions, readonly=True) as s:
        entry = s.scalar(select(TransLogEntry).where(TransLogEntry.subject == subject,
                                                     TransLogEntry.idx < head.size)
                         .order_by(TransLogEntry.idx.desc()).limit(1))
        if entry is None:
            raise TransLogError(f"{subject} is not in the log at tree size {head.size}")
        tree = StoredTree(s, head.size)
        path = tree.run(lambda mth: merkle.audit_path(entry.idx, head.size, mth))
        proof = InclusionProof(entry.idx, entry.kind, entry.subject, _iso(entry.logged_at),
                               bytes(entry.artefact_sm3).hex(), [_b64(p) for p in path], head)
    tree.save(sessions)
    return proof


@frozen_record
class ConsistencyProof:
    old_size: int
    new_size: int
    path: list[str]

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def prove_consistency(sessions: sessionmaker[Session], old_size: int, new_size: int) -> ConsistencyProof:
    if not 0 <= new_size < 2 ** 63:   # a bound the database can compare entry numbers with
        raise TransLogError(f"{new_size} is not a tree size")
    with db.transaction(sessions, readonly=True) as s:
        logged = _logged(s)
        if new_size > logged:
            raise TransLogError(f"the log has {logged} entries, not {new_size}")
        tree = StoredTree(s, new_size)
        try:
            path = tree.run(lambda mth: merkle.consistency_path(old_size, new_size, mth))
        except merkle.ProofError as exc:
            raise TransLogError(str(exc)) from None
    tree.save(sessions)
    return ConsistencyProof(old_size, new_size, [_b64(p) for p in path])


def check_inclusion(proof: InclusionProof, artefact: bytes, public_key: PublicKey) -> list[str]:
    """What is wrong with ``proof`` for ``artefact`` under the region's log key ([] = good)."""
    problems = []
    digest = sm3(artefact)
    if digest.hex() != proof.artefact_sm3:
        problems.append("the artefact is not the one logged (SM3 differs)")
    if not proof.head.verify(public_key):
        problems.append("the tree head's signature does not verify with the region's log key")
    logged_at = datetime.fromisoformat(proof.logged_at.replace("Z", "+00:00"))
    leaf = merkle.leaf_hash(leaf_input(proof.kind, proof.subject, logged_at, digest))
    try:
        path = [base64.b64decode(p) for p in proof.path]
        root = base64.b64decode(proof.head.root)
    except ValueError:
        return problems + ["the proof is not base64"]
    if not merkle.verify_inclusion(proof.index, proof.head.size, leaf, path, root):
        problems.append(f"the audit path does not lead from entry {proof.index} to the signed root")
    return problems


def check_consistency(proof: ConsistencyProof, old: SignedTreeHead, new: SignedTreeHead,
                      public_key: PublicKey) -> list[str]:
    problems = []
    for name, head in (("old", old), ("new", new)):
        if not head.verify(public_key):
            problems.append(f"the {name} tree head's signature does not verify")
    if (old.size, new.size) != (proof.old_size, proof.new_size):
        problems.append("the proof is for other tree sizes than the two heads")
    elif not merkle.verify_consistency(old.size, new.size, [base64.b64decode(p) for p in proof.path],
                                       base64.b64decode(old.root), base64.b64decode(new.root)):
        problems.append(f"the tree of size {new.size} does not extend the tree of size {old.size}")
    return problems


def _altered(row: TransLogEntry) -> str:
    return f"log entry {row.idx} ({row.subject}) was altered: its leaf hash does not match"


def verify_entries_since(session: Session, start: int) -> tuple[int, list[str]]:
    """Check only the entries from index ``start`` on (those logged after a full
    ``verify_log`` that covered ``start`` entries): none missing, each leaf hash matching its
    entry, the state row counting them. Returns (entries read, problems); O(new entries).
    Subtree hashes and signed heads are ``verify_log``'s."""
    problems: list[str] = []
    expected = start
    if start and session.scalar(select(TransLogEntry.idx).where(TransLogEntry.idx == start - 1)) is None:
        problems.append(f"log entry {start - 1}, the last one the verification covered, is gone")
    for row in session.execute(select(TransLogEntry).where(TransLogEntry.idx >= start)
                               .order_by(TransLogEntry.idx)).scalars():
        if row.idx != expected:
            problems.append(f"log entry {expected} is missing (next is {row.idx})")
            break
        if merkle.leaf_hash(leaf_input(row.kind, row.subject, row.logged_at, bytes(row.artefact_sm3))) \
                != bytes(row.leaf_hash):
            problems.append(_altered(row))
        expected += 1
    else:
        size = _logged(session)
        if size != expected:
            problems.append(f"the log counts {size} entries but holds {expected}")
    return expected - start, problems


def verify_log(session: Session, public_key: PublicKey | None = None) -> list[str]:
    """Recompute every leaf hash, every stored subtree hash and every signed head's root, in
    one pass over the entries; [] when the log is intact."""
    problems: list[str] = []
    heads = list(session.execute(select(TransLogHead).order_by(TransLogHead.id)).scalars())
    stored = {(n.level, n.idx): bytes(n.hash) for n in session.execute(select(TransLogNode)).scalars()}
    roots = {h.size: None for h in heads}   # the root of each head's size, filled on the way
    frontier = merkle.Frontier()
    if 0 in roots:
        roots[0] = frontier.root()
    for row in session.execute(select(TransLogEntry).order_by(TransLogEntry.idx)).scalars():
        if row.idx != frontier.size:
            problems.append(f"log entry {frontier.size} is missing (next is {row.idx})")
            break
        leaf = merkle.leaf_hash(leaf_input(row.kind, row.subject, row.logged_at, bytes(row.artefact_sm3)))
        if leaf != bytes(row.leaf_hash):
            problems.append(_altered(row))
        for level, idx, node in frontier.append(leaf):
            kept = stored.pop((level, idx), None)
            if kept is not None and kept != node:
                problems.append(f"stored subtree hash (level {level}, index {idx}) does not match the entries")
        if frontier.size in roots:
            roots[frontier.size] = frontier.root()
    for level, idx in sorted(stored):
        problems.append(f"stored subtree hash (level {level}, index {idx}) covers entries the log does not have")
    for head in heads:
        root = roots[head.size]
        if root is None:
            problems.append(f"tree head #{head.id} covers {head.size} entries; the log has {frontier.size}")
        elif root != bytes(head.root):
            problems.append(f"tree head #{head.id} (size {head.size}) does not match the entries: history was rewritten")
        if public_key is not None and not _head(head).verify(public_key):
            problems.append(f"tree head #{head.id} has a bad signature")
    return problems
