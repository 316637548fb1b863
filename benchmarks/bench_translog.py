"""The transparency log's reads at 1,000 and at 1,000,000 entries, SQLite and PostgreSQL:
DESIGN asks that the cost of an operation stay flat as the database grows. A region logs
every certificate and every sealing, so a million entries is months of a province's work.

Measured: an inclusion proof, a consistency proof and a tree head's root (signing left out),
through the stored subtree hashes; next to them, in the same run, what a proof cost before
store/translog_tree.py existed -- every leaf read and the tree built in memory.
"""
from __future__ import annotations

import os
import time
from pathlib import Path

import pytest

from benchmarks.sizes import SIZES, record_size


def _home(kind: str, folder: Path):
    from benchmarks.bench_seal import database_home

    return database_home(kind, folder)


@pytest.fixture(scope="module", params=[f"{k}-{n}" for k in ("sqlite", "postgresql") for n in SIZES])
def log_home(request, tmp_path_factory):
    from sqlalchemy.orm import sessionmaker

    from gm.sm2 import PrivateKey
    from store import translog
    from store.audit import SM2AuditSigner
    from store.testing import bulk_log_entries

    kind, size = request.param.split("-")
    if kind == "postgresql" and not os.environ.get("ESEAL_TEST_DATABASE_URL"):
        pytest.skip("ESEAL_TEST_DATABASE_URL is not set (PostgreSQL)")
    home, cleanup = _home(kind, tmp_path_factory.mktemp(f"bench-log-{request.param}"))
    t0 = time.perf_counter()
    bulk_log_entries(home.engine, int(size))
    filled = time.perf_counter() - t0
    sessions = sessionmaker(home.engine)
    t0 = time.perf_counter()
    translog.sign_tree_head(sessions, SM2AuditSigner(PrivateKey.generate(), "log"))   # the first head stores the nodes
    first_head = time.perf_counter() - t0
    print(f"\nlog of {int(size):,} entries on {kind}: bulk insert {filled:.1f} s, first tree head {first_head:.2f} s")
    yield kind, int(size), sessions
    cleanup()


def test_bench_inclusion_proof(benchmark, log_home) -> None:
    from store import translog

    kind, size, sessions = log_home
    head = translog.latest_head(sessions)
    subjects = iter([f"cert:{(i * 7919) % size:x}" for i in range(10**6)])
    proof = benchmark(lambda: translog.prove_inclusion(sessions, next(subjects), head=head))
    assert proof.head.size == size and len(proof.path) == (size - 1).bit_length()
    record_size(benchmark, "inclusion proof", kind, size, "entries")


def test_bench_consistency_proof(benchmark, log_home) -> None:
    from store import translog

    kind, size, sessions = log_home
    olds = iter([1 + (i * 7919) % (size - 1) for i in range(10**6)])
    proof = benchmark(lambda: translog.prove_consistency(sessions, next(olds), size))
    assert proof.new_size == size and proof.path
    record_size(benchmark, "consistency proof", kind, size, "entries")


def test_bench_tree_head_root(benchmark, log_home) -> None:
    from store import db
    from store.translog_tree import StoredTree

    kind, size, sessions = log_home

    def root() -> bytes:
        with db.transaction(sessions, readonly=True) as s:
            return StoredTree(s, size).root()
    assert len(benchmark(root)) == 32
    record_size(benchmark, "tree head root", kind, size, "entries")


def test_bench_peer_every_leaf_in_memory(benchmark, log_home) -> None:
    """The proof as it was made before the stored subtrees: every leaf read, the tree in memory."""
    from sqlalchemy import select

    from store import db, merkle
    from store.models.translog import TransLogEntry

    kind, size, sessions = log_home

    def proof() -> list[bytes]:
        with db.transaction(sessions, readonly=True) as s:
            leaves = [bytes(h) for h in s.scalars(select(TransLogEntry.leaf_hash).order_by(TransLogEntry.idx))]
        return merkle.inclusion_proof(size // 3, leaves)
    rounds = 3 if size > 10_000 else 50
    assert len(benchmark.pedantic(proof, rounds=rounds, iterations=1)) == (size - 1).bit_length()
    record_size(benchmark, "proof from every leaf (before)", kind, size, "entries")
