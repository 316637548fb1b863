"""Merkle tree hashing, inclusion and consistency proofs as RFC 9162 §2.1 defines them.

The transparency log hashes with SM3 (``SM3_HASH``); the functions take any hash so that the
published RFC 6962 / 9162 SHA-256 test vectors check the tree arithmetic itself. Leaves are
hashed with a 0x00 prefix and interior nodes with 0x01 (second-preimage protection), and a
tree of n leaves splits at the largest power of two smaller than n.

Proofs are generated through a function giving the hash of any range of leaves (a list of
leaf hashes in memory; stored subtree hashes for the log, store/translog_tree.py) and
verified with the iterative algorithms of RFC 9162 §2.1.3.2 and §2.1.4.2, which never build
the tree: a verifier in another region needs only the proof, the sizes and the roots.
"""
from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence

from gm.sm3 import sm3

__all__ = [
    "HashFn", "SM3_HASH", "SHA256_HASH", "leaf_hash", "node_hash", "root_hash", "SubtreeHash", "audit_path",
    "consistency_path", "inclusion_proof", "consistency_proof", "Frontier", "verify_inclusion",
    "verify_consistency", "ProofError",
]

HashFn = Callable[[bytes], bytes]
SM3_HASH: HashFn = sm3


def SHA256_HASH(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


class ProofError(ValueError):
    """A proof asked for sizes or an index the tree does not have."""


def leaf_hash(data: bytes, h: HashFn = SM3_HASH) -> bytes:
    return h(b"\x00" + data)


def node_hash(left: bytes, right: bytes, h: HashFn = SM3_HASH) -> bytes:
    return h(b"\x01" + left + right)


def _split(n: int) -> int:
    """The largest power of two strictly smaller than n (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


def root_hash(leaves: Sequence[bytes], h: HashFn = SM3_HASH) -> bytes:
    """MTH of a list of leaf hashes; the empty tree's root is the hash of nothing."""
    if not leaves:
        return h(b"")
    level = list(leaves)
    # bottom-up: pairing left to right and carrying an odd last node up unchanged gives
    # the same tree as RFC 9162's recursive split at the largest power of two.
    while len(level) > 1:
        nxt = [node_hash(level[i], level[i + 1], h) for i in range(0, len(level) - 1, 2)]
        if len(level) % 2:
            nxt.append(level[-1])
        level = nxt
    return level[0]


SubtreeHash = Callable[[int, int], bytes]
"""``mth(a, b)``: the hash of the leaves [a, b) (RFC 9162's MTH(D[a:b])), b - a >= 1."""


def _list_subtrees(leaves: Sequence[bytes], h: HashFn) -> SubtreeHash:
    return lambda a, b: root_hash(leaves[a:b], h)


def audit_path(index: int, size: int, mth: SubtreeHash) -> list[bytes]:
    """PATH(index, D[0:size]) of RFC 9162 §2.1.3.1, asking ``mth`` for the subtrees it needs
    (about log2(size) of them), so a log kept in a database need not read every leaf."""
    if not 0 <= index < size:
        raise ProofError(f"leaf index {index} is outside a tree of {size} leaves")
    path: list[bytes] = []
    a, b = 0, size
    while b - a > 1:   # the recursion of §2.1.3.1, unrolled; nodes come out root first
        k = _split(b - a)
        if index < a + k:
            path.append(mth(a + k, b))
            b = a + k
        else:
            path.append(mth(a, a + k))
            a += k
    path.reverse()
    return path


def consistency_path(m: int, size: int, mth: SubtreeHash) -> list[bytes]:
    """PROOF(m, D[0:size]) of RFC 9162 §2.1.4.1, through ``mth`` as ``audit_path``."""
    if not 0 < m <= size:
        raise ProofError(f"a consistency proof needs 0 < {m} <= {size}")
    path: list[bytes] = []
    a, b, complete = 0, size, True
    while m != b - a:
        k = _split(b - a)
        if m <= k:
            path.append(mth(a + k, b))
            b = a + k
        else:
            path.append(mth(a, a + k))
            m -= k
            a += k
            complete = False
    if not complete:
        path.append(mth(a, b))
    path.reverse()
    return path


def inclusion_proof(index: int, leaves: Sequence[bytes], h: HashFn = SM3_HASH) -> list[bytes]:
    """The audit path of leaf ``index`` in the tree of ``leaves`` (RFC 9162 §2.1.3.1)."""
    return audit_path(index, len(leaves), _list_subtrees(leaves, h))


def consistency_proof(m: int, leaves: Sequence[bytes], h: HashFn = SM3_HASH) -> list[bytes]:
    """Proof that the tree of the first ``m`` leaves is a prefix of the tree of all (§2.1.4.1)."""
    return consistency_path(m, len(leaves), _list_subtrees(leaves, h))


class Frontier:
    """The tree's right edge as leaves stream in: one hash per complete subtree (at most
    log2(n)), so the root of every prefix comes out of one pass over the log (a log audit
    checking a thousand signed heads reads the leaves once, not once per head)."""

    def __init__(self, h: HashFn = SM3_HASH) -> None:
        self._h = h
        self._stack: list[tuple[int, bytes]] = []   # (level, hash), levels strictly falling
        self.size = 0

    def append(self, leaf: bytes) -> list[tuple[int, int, bytes]]:
        """Add a leaf hash; return the subtrees it completed as (level, index, hash)."""
        completed = []
        node, level = leaf, 0
        while self._stack and self._stack[-1][0] == level:
            node = node_hash(self._stack.pop()[1], node, self._h)
            level += 1
            completed.append((level, ((self.size + 1) >> level) - 1, node))
        self._stack.append((level, node))
        self.size += 1
        return completed

    def root(self) -> bytes:
        if not self._stack:
            return self._h(b"")
        node = self._stack[-1][1]
        for _, left in reversed(self._stack[:-1]):
            node = node_hash(left, node, self._h)
        return node


def verify_inclusion(index: int, size: int, leaf: bytes, proof: Sequence[bytes], root: bytes,
                     h: HashFn = SM3_HASH) -> bool:
    """RFC 9162 §2.1.3.2: does ``proof`` put ``leaf`` at ``index`` of the tree with ``root``?"""
    if not 0 <= index < size:
        return False
    fn, sn = index, size - 1
    r = leaf
    for p in proof:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            r = node_hash(p, r, h)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p, h)
        fn >>= 1
        sn >>= 1
    return sn == 0 and r == root


def verify_consistency(m: int, n: int, proof: Sequence[bytes], root_m: bytes, root_n: bytes,
                       h: HashFn = SM3_HASH) -> bool:
    """RFC 9162 §2.1.4.2: is the tree of size ``m`` with ``root_m`` a prefix of (n, ``root_n``)?"""
    if not 0 < m <= n:
        return False
    if m == n:
        return not proof and root_m == root_n
    path = list(proof)
    if m & (m - 1) == 0:  # m is a power of two: the old root is itself a node of the new tree
        path.insert(0, root_m)
    if not path:
        return False
    fn, sn = m - 1, n - 1
    while fn & 1:
        fn >>= 1
        sn >>= 1
    fr = sr = path[0]
    for c in path[1:]:
        if sn == 0:
            return False
        if fn & 1 or fn == sn:
            fr = node_hash(c, fr, h)
            sr = node_hash(c, sr, h)
            if not fn & 1:
                while fn and not fn & 1:
                    fn >>= 1
                    sn >>= 1
        else:
            sr = node_hash(sr, c, h)
        fn >>= 1
        sn >>= 1
    return fr == root_m and sr == root_n and sn == 0
