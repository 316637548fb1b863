"""The Merkle tree of the transparency log against RFC 6962 / 9162 published vectors (SHA-256),
and every proof for every size up to 40 with SM3, with tampered inputs refused."""
from __future__ import annotations

import pytest

from store import merkle
from store.merkle import SHA256_HASH as H

# RFC 6962 reference leaves and roots (certificate-transparency test data, reproduced in many
# independent implementations).
LEAF_DATA = ["", "00", "10", "2021", "3031", "40414243", "5051525354555657", "606162636465666768696a6b6c6d6e6f"]
ROOTS = [
    "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
    "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
    "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
    "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
    "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
    "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
    "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
    "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
    "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
]
INCLUSION = [  # (leaf index, tree size, audit path)
    (0, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (5, 8, ["bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (1, 5, ["6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
CONSISTENCY = [  # (old size, new size, proof)
    (1, 1, []),
    (1, 8, ["96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4"]),
    (6, 8, ["0ebc5d3437fbe2db158b9f126a1d118e308181031d0a949f8dededebc558ef6a",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7"]),
    (2, 5, ["5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b"]),
]
LEAVES = [merkle.leaf_hash(bytes.fromhex(d), H) for d in LEAF_DATA]


@pytest.mark.parametrize("size", range(9))
def test_roots_match_rfc6962(size: int) -> None:
    assert merkle.root_hash(LEAVES[:size], H).hex() == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION)
def test_inclusion_proofs_match_rfc6962(index: int, size: int, path: list[str]) -> None:
    proof = merkle.inclusion_proof(index, LEAVES[:size], H)
    assert [p.hex() for p in proof] == path
    root = bytes.fromhex(ROOTS[size])
    assert merkle.verify_inclusion(index, size, LEAVES[index], proof, root, H)
    assert not merkle.verify_inclusion(index, size, LEAVES[index], proof, bytes.fromhex(ROOTS[size - 1]), H)


@pytest.mark.parametrize(("m", "n", "path"), CONSISTENCY)
def test_consistency_proofs_match_rfc6962(m: int, n: int, path: list[str]) -> None:
    proof = merkle.consistency_proof(m, LEAVES[:n], H)
    assert [p.hex() for p in proof] == path
    assert merkle.verify_consistency(m, n, proof, bytes.fromhex(ROOTS[m]), bytes.fromhex(ROOTS[n]), H)


def _flip(b: bytes) -> bytes:
    return bytes([b[0] ^ 1]) + b[1:]


def test_every_inclusion_proof_up_to_40_leaves_verifies_and_tampering_fails() -> None:
    leaves = [merkle.leaf_hash(i.to_bytes(2, "big") * (i % 5)) for i in range(40)]
    for n in range(1, 41):
        root = merkle.root_hash(leaves[:n])
        for i in range(n):
            proof = merkle.inclusion_proof(i, leaves[:n])
            assert merkle.verify_inclusion(i, n, leaves[i], proof, root)
            assert not merkle.verify_inclusion(i, n, _flip(leaves[i]), proof, root)
            if proof:
                assert not merkle.verify_inclusion(i, n, leaves[i], proof[:-1], root)
                assert not merkle.verify_inclusion(i, n, leaves[i], [_flip(proof[0])] + proof[1:], root)
            if n > 1:
                assert not merkle.verify_inclusion((i + 1) % n, n, leaves[i], proof, root)


def test_every_consistency_proof_up_to_24_leaves_verifies_and_a_rewritten_history_fails() -> None:
    leaves = [merkle.leaf_hash(bytes([i])) for i in range(24)]
    roots = [merkle.root_hash(leaves[:k]) for k in range(25)]
    for n in range(1, 25):
        for m in range(1, n + 1):
            proof = merkle.consistency_proof(m, leaves[:n])
            assert merkle.verify_consistency(m, n, proof, roots[m], roots[n])
            assert not merkle.verify_consistency(m, n, proof, _flip(roots[m]), roots[n])
            assert not merkle.verify_consistency(m, n, proof, roots[m], _flip(roots[n]))
            # a log that changed one of the first m leaves cannot prove it extends the old head
            forged = list(leaves[:n])
            forged[m - 1] = _flip(forged[m - 1])
            forged_proof = merkle.consistency_proof(m, forged)
            assert not merkle.verify_consistency(m, n, forged_proof, roots[m], merkle.root_hash(forged))


@pytest.mark.parametrize(("call", "message"), [
    (lambda: merkle.inclusion_proof(3, LEAVES[:3]), "outside a tree of 3"),
    (lambda: merkle.inclusion_proof(-1, LEAVES[:3]), "outside"),
    (lambda: merkle.consistency_proof(0, LEAVES[:3]), "0 < 0 <= 3"),
    (lambda: merkle.consistency_proof(4, LEAVES[:3]), "0 < 4 <= 3"),
])
def test_impossible_proofs_are_refused(call, message: str) -> None:
    with pytest.raises(merkle.ProofError, match=message):
        call()
