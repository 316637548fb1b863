"""The log's Merkle tree read through stored subtree hashes, so a proof or a tree head costs
O(log n) small reads however long the log grows.

A complete subtree never changes once its leaves are logged (entries are append-only), so
its hash is a fact that can be kept. ``translog_nodes`` keeps the subtrees whose level is a
multiple of ``STRIDE`` (about one row per fifteen entries); any other subtree is folded from
at most 2**(STRIDE-1) stored nodes or leaves read in one range query. Nodes are computed
the first time a proof or a head needs them and written in a transaction of their own
(``save``), so an append, on the sealing path, never touches them; an existing log fills
its table on its first proof. ``store.translog.verify_log`` checks every stored node
against the entries.
"""
from __future__ import annotations

from collections.abc import Callable
from typing import Any, TypeVar

from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session, sessionmaker

from store import db, merkle
from store.errors import StoreError
from store.models.translog import TransLogEntry, TransLogNode

__all__ = ["STRIDE", "StoredTree"]

STRIDE = 4
_CHUNK = 4096   # rows a range read asks for at most: a first proof over a long log reads in chunks
_T = TypeVar("_T")


class StoredTree:
    """The tree of the first ``size`` entries, read in ``session``; nodes computed on the way
    are kept in ``new`` until ``save``."""

    def __init__(self, session: Session, size: int) -> None:
        self._s = session
        self.size = size
        self.new: dict[tuple[int, int], bytes] = {}
        self._read: dict[tuple[int, int], bytes] = {}   # (level, idx) -> hash; leaves at level 0

    def root(self) -> bytes:
        return self.run(lambda mth: mth(0, self.size)) if self.size else merkle.SM3_HASH(b"")

    def run(self, algorithm: Callable[[merkle.SubtreeHash], _T]) -> _T:
        """``algorithm(range_hash)`` with everything it will read fetched first in two
        queries: the proof algorithms ask for the same ranges whatever the hashes are, so a
        dry run with blank hashes lists them. A proof then costs two reads, not one per level."""
        wanted: list[tuple[int, int]] = []

        def note(a: int, b: int) -> bytes:
            wanted.append((a, b))
            return bytes(32)
        algorithm(note)
        self._prefetch([block for a, b in wanted for block in self._blocks(a, b)])
        return algorithm(self.range_hash)

    def _blocks(self, a: int, b: int) -> list[tuple[int, int, int]]:
        """The (level, lo, hi) row ranges ``range_hash(a, b)`` reads when every node is kept."""
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:
            level = n.bit_length() - 1
            base = level - level % STRIDE
            return [(base, a >> base, b >> base)]
        k = 1 << ((n - 1).bit_length() - 1)
        return self._blocks(a, a + k) + self._blocks(a + k, b)

    def _prefetch(self, blocks: list[tuple[int, int, int]]) -> None:
        leaves = [and_(TransLogEntry.idx >= lo, TransLogEntry.idx < hi) for level, lo, hi in blocks if level == 0]
        if leaves:
            for idx, leaf in self._s.execute(select(TransLogEntry.idx, TransLogEntry.leaf_hash).where(or_(*leaves))):
                self._read[(0, idx)] = bytes(leaf)
        nodes = [and_(TransLogNode.level == level, TransLogNode.idx >= lo, TransLogNode.idx < hi)
                 for level, lo, hi in blocks if level > 0]
        if nodes:
            for level, idx, node in self._s.execute(
                    select(TransLogNode.level, TransLogNode.idx, TransLogNode.hash).where(or_(*nodes))):
                self._read[(level, idx)] = bytes(node)

    def range_hash(self, a: int, b: int) -> bytes:
        """MTH of the leaves [a, b) (a ``merkle.SubtreeHash``)."""
        if not 0 <= a < b <= self.size:
            raise merkle.ProofError(f"leaves [{a}, {b}) are not in a tree of {self.size}")
        n = b - a
        if n & (n - 1) == 0 and a % n == 0:
            return self._perfect(n.bit_length() - 1, a // n)
        k = 1 << ((n - 1).bit_length() - 1)
        return merkle.node_hash(self.range_hash(a, a + k), self.range_hash(a + k, b))

    def _perfect(self, level: int, idx: int) -> bytes:
        base = level - level % STRIDE
        width = level - base
        return _fold(self._row(base, idx << width, (idx + 1) << width))

    def _row(self, level: int, lo: int, hi: int) -> list[bytes]:
        """The hashes of the level-``level`` subtrees lo..hi-1 (leaves at level 0)."""
        out: list[bytes] = []
        for start in range(lo, hi, _CHUNK):
            out += self._chunk(level, start, min(hi, start + _CHUNK))
        return out

    def _chunk(self, level: int, lo: int, hi: int) -> list[bytes]:
        read = [self._read.get((level, i)) for i in range(lo, hi)]
        if None not in read:
            return read  # type: ignore[return-value]
        if level == 0:
            rows = self._s.execute(select(TransLogEntry.idx, TransLogEntry.leaf_hash)
                                   .where(TransLogEntry.idx >= lo, TransLogEntry.idx < hi)
                                   .order_by(TransLogEntry.idx)).all()
            if len(rows) != hi - lo:
                found = {r.idx for r in rows}
                missing = next(i for i in range(lo, hi) if i not in found)
                raise StoreError(f"log entry {missing} is missing from translog_entries")
            return [bytes(r.leaf_hash) for r in rows]
        known = {r.idx: bytes(r.hash) for r in self._s.execute(
            select(TransLogNode.idx, TransLogNode.hash)
            .where(TransLogNode.level == level, TransLogNode.idx >= lo, TransLogNode.idx < hi))}
        missing = []
        for i in range(lo, hi):
            if i not in known:
                if (level, i) in self.new:
                    known[i] = self.new[(level, i)]
                else:
                    missing.append(i)
        if missing:   # computed from the level below, read in one go for the whole gap
            first, last = missing[0], missing[-1] + 1
            below = self._row(level - STRIDE, first << STRIDE, last << STRIDE)
            for i in missing:
                offset = (i - first) << STRIDE
                known[i] = self.new[(level, i)] = _fold(below[offset:offset + (1 << STRIDE)])
        return [known[i] for i in range(lo, hi)]

    def save(self, sessions: sessionmaker[Session]) -> None:
        """Keep the nodes computed so far; a node another process wrote meanwhile is left."""
        if not self.new:
            return
        rows = [{"level": lv, "idx": i, "hash": h} for (lv, i), h in sorted(self.new.items())]
        with db.transaction(sessions) as s:
            insert = _insert_ignoring_duplicates(s)
            for start in range(0, len(rows), _CHUNK):
                s.execute(insert, rows[start:start + _CHUNK])
        self.new.clear()


def _fold(nodes: list[bytes]) -> bytes:
    """The root of a perfect subtree from its 2**k equal subtrees, left to right."""
    while len(nodes) > 1:
        nodes = [merkle.node_hash(nodes[i], nodes[i + 1]) for i in range(0, len(nodes), 2)]
    return nodes[0]


def _insert_ignoring_duplicates(session: Session) -> Any:
    if session.get_bind().dialect.name == "postgresql":
        from sqlalchemy.dialects.postgresql import insert
    else:
        from sqlalchemy.dialects.sqlite import insert
    return insert(TransLogNode).on_conflict_do_nothing(index_elements=["level", "idx"])
