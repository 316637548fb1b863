"""The log's proofs and heads through stored subtree hashes (store/translog_tree.py), on SQLite
and PostgreSQL: the same answers as the in-memory tree of RFC 9162 (whose published vectors
tests/test_merkle.py checks), and a warm proof that reads one block of leaves, not the log."""
from __future__ import annotations

import random

import pytest
from sqlalchemy import Engine, event, func, select, text

from gm.sm2 import PrivateKey
from store import merkle, translog
from store.audit import SM2AuditSigner
from store.db import make_sessionmaker, transaction
from store.models.translog import TransLogEntry, TransLogNode
from store.testing import *  # noqa: F401,F403
from store.translog_tree import STRIDE, StoredTree


def _fill(engine: Engine, n: int) -> None:
    with transaction(make_sessionmaker(engine)) as s:
        for i in range(n):
            translog.append(s, kind="certificate", subject=f"cert:{i:x}", artefact=f"DER #{i}".encode())


def _leaves(engine: Engine) -> list[bytes]:
    with transaction(make_sessionmaker(engine), readonly=True) as s:
        return [bytes(h) for h in s.scalars(select(TransLogEntry.leaf_hash).order_by(TransLogEntry.idx))]


def _stored(engine: Engine) -> int:
    with transaction(make_sessionmaker(engine), readonly=True) as s:
        return s.scalar(select(func.count()).select_from(TransLogNode))


def test_proofs_and_roots_match_the_in_memory_tree(store_engine: Engine) -> None:
    """Every size up to 300 against the list-based tree, with the stored nodes growing as the
    proofs are asked (cold, partly warm and warm reads all happen)."""
    _fill(store_engine, 300)
    leaves = _leaves(store_engine)
    sessions = make_sessionmaker(store_engine)
    rng = random.Random(7)
    for size in [*range(1, 40), 255, 256, 257, 271, 300, *rng.sample(range(40, 300), 25)]:
        with transaction(sessions, readonly=True) as s:
            tree = StoredTree(s, size)
            assert tree.root() == merkle.root_hash(leaves[:size])
            for index in {0, size - 1, rng.randrange(size)}:
                assert merkle.audit_path(index, size, tree.range_hash) == merkle.inclusion_proof(index, leaves[:size])
            for m in {1, size, rng.randint(1, size)}:
                assert merkle.consistency_path(m, size, tree.range_hash) == \
                    merkle.consistency_proof(m, leaves[:size])
        if rng.random() < 0.5:
            tree.save(sessions)
    assert _stored(store_engine) > 0
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s) == []


def test_a_warm_proof_reads_one_block_of_leaves_not_the_log(store_engine: Engine) -> None:
    """Log of 4,096 entries, nodes stored by a first head. Then every leaf hash outside entry
    1234's block of 2**STRIDE is overwritten: the proof and the signed root come out as before,
    because they are read from the stored subtrees (reading the leaves gave a wrong proof),
    while verify_log, which reads everything, finds each altered entry."""
    n, index = 4096, 1234
    _fill(store_engine, n)
    leaves = _leaves(store_engine)
    sessions = make_sessionmaker(store_engine)
    key = PrivateKey.generate()
    signer = SM2AuditSigner(key, "log")
    assert translog.sign_tree_head(sessions, signer).root == translog._b64(merkle.root_hash(leaves))
    assert _stored(store_engine) == n // 16 + n // 256 + n // 4096
    block = index >> STRIDE
    with transaction(sessions) as s:
        s.execute(text("UPDATE translog_entries SET leaf_hash = :zero WHERE idx < :lo OR idx >= :hi"),
                  {"zero": bytes(32), "lo": block << STRIDE, "hi": (block + 1) << STRIDE})
    statements: list[str] = []

    def seen(_conn, _cursor, statement, *_rest) -> None:
        statements.append(statement)
    event.listen(store_engine, "before_cursor_execute", seen)
    try:
        proof = translog.prove_inclusion(sessions, f"cert:{index:x}")
        head = translog.sign_tree_head(sessions, signer)
    finally:
        event.remove(store_engine, "before_cursor_execute", seen)
    assert proof.path == [translog._b64(p) for p in merkle.inclusion_proof(index, leaves)]
    assert translog.check_inclusion(proof, f"DER #{index}".encode(), key.public_key) == []
    assert head.root == translog._b64(merkle.root_hash(leaves))
    tree_reads = [q for q in statements if "translog_entries" in q or "translog_nodes" in q]
    assert len(tree_reads) == 4, tree_reads   # the entry by subject, its leaves and nodes; the head's nodes
    with transaction(sessions, readonly=True) as s:
        problems = translog.verify_log(s)
    assert len([p for p in problems if "was altered" in p]) == n - 16


def test_verify_log_checks_the_stored_subtrees(store_engine: Engine) -> None:
    _fill(store_engine, 40)
    sessions = make_sessionmaker(store_engine)
    translog.sign_tree_head(sessions, SM2AuditSigner(PrivateKey.generate(), "log"))
    assert _stored(store_engine) == 2   # the level-4 subtrees of entries 0-15 and 16-31
    with transaction(sessions) as s:
        s.execute(text("UPDATE translog_nodes SET hash = :h WHERE level = 4 AND idx = 1"), {"h": bytes(32)})
        s.add(TransLogNode(level=4, idx=2, hash=bytes(32)))   # 32-47: only 40 entries are logged
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s) == [
            "stored subtree hash (level 4, index 1) does not match the entries",
            "stored subtree hash (level 4, index 2) covers entries the log does not have"]


def test_two_readers_saving_the_same_nodes_do_not_clash(store_engine: Engine) -> None:
    _fill(store_engine, 64)
    sessions = make_sessionmaker(store_engine)
    trees = []
    for _ in range(2):   # both compute before either saves, as two workers answering at once
        with transaction(sessions, readonly=True) as s:
            tree = StoredTree(s, 64)
            tree.root()
            trees.append(tree)
    for tree in trees:
        tree.save(sessions)
    assert _stored(store_engine) == 4
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s) == []


def test_a_missing_entry_is_named(store_engine: Engine) -> None:
    _fill(store_engine, 20)
    sessions = make_sessionmaker(store_engine)
    with transaction(sessions) as s:
        s.execute(text("DELETE FROM translog_entries WHERE idx = 5"))
    with pytest.raises(Exception, match="log entry 5 is missing"):
        translog.prove_consistency(sessions, 3, 20)
