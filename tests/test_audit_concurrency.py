"""Four processes appending at once leave one unbroken chain with every record, on both databases."""

from __future__ import annotations

import multiprocessing
from collections import Counter

from sqlalchemy import select

from gm.sm2 import PrivateKey
from store import audit
from store.db import make_engine, transaction
from store.models import AuditCheckpoint, AuditRecord
from store.testing import *  # noqa: F401,F403
from store.testing import append_records

WORKERS = 4
PER_WORKER = 50


def test_four_concurrent_writers_keep_the_chain(migrated_database_url: str) -> None:
    key = PrivateKey.generate()
    ctx = multiprocessing.get_context("spawn")
    start = ctx.Barrier(WORKERS)  # all four begin appending at the same moment
    workers = [
        ctx.Process(
            target=append_records,
            args=(migrated_database_url, f"worker-{w}", PER_WORKER, key.to_bytes(), 25, start, 0.003),
        )
        for w in range(WORKERS)
    ]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(timeout=240)
    assert [worker.exitcode for worker in workers] == [0] * WORKERS

    engine = make_engine(migrated_database_url)
    try:
        with transaction(engine, readonly=True) as s:
            report = audit.verify(s, public_key=key.public_key)
            rows = s.execute(
                select(AuditRecord.seq, AuditRecord.actor, AuditRecord.subject).order_by(AuditRecord.seq)
            ).all()
            checkpoints = s.execute(select(AuditCheckpoint.seq).order_by(AuditCheckpoint.seq)).scalars().all()
    finally:
        engine.dispose()
    assert report.ok, report.findings
    assert report.records == WORKERS * PER_WORKER
    assert [r.seq for r in rows] == list(range(1, WORKERS * PER_WORKER + 1))
    assert Counter(r.actor for r in rows) == {f"worker-{w}": PER_WORKER for w in range(WORKERS)}
    assert {r.subject for r in rows} == {f"worker-{w}/{i}" for w in range(WORKERS) for i in range(PER_WORKER)}
    # the writers really overlapped: with no overlap there would be exactly WORKERS - 1 changes of actor
    assert sum(1 for a, b in zip(rows, rows[1:]) if a.actor != b.actor) > 2 * WORKERS
    assert checkpoints == list(range(25, WORKERS * PER_WORKER + 1, 25))
    assert report.last_valid_checkpoint == WORKERS * PER_WORKER
