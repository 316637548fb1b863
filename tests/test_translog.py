"""The transparency log on SQLite and PostgreSQL: proofs a remote verifier can check with only
the artefact and the region's key, and tampering found by verify_log and by the proofs."""
from __future__ import annotations

import dataclasses

import pytest
from sqlalchemy import Engine, text

from gm.sm2 import PrivateKey
from store import translog
from store.audit import SM2AuditSigner
from store.db import make_sessionmaker, transaction
from store.testing import *  # noqa: F401,F403


@pytest.fixture
def log_key() -> PrivateKey:
    return PrivateKey.generate()


def _fill(engine: Engine, n: int, start: int = 0) -> list[bytes]:
    sessions = make_sessionmaker(engine)
    artefacts = []
    for i in range(start, start + n):
        artefact = f"certificate DER #{i}".encode() * (i + 1)
        with transaction(sessions) as s:
            assert translog.append(s, kind="certificate", subject=f"cert:{i:x}", artefact=artefact) == i
        artefacts.append(artefact)
    return artefacts


def test_every_entry_is_provable_to_a_remote_verifier(store_engine: Engine, log_key: PrivateKey) -> None:
    artefacts = _fill(store_engine, 7)
    sessions = make_sessionmaker(store_engine)
    head = translog.sign_tree_head(sessions, SM2AuditSigner(log_key, "log"))
    assert head.size == 7 and head.verify(log_key.public_key)
    for i, artefact in enumerate(artefacts):
        proof = translog.prove_inclusion(sessions, f"cert:{i:x}")
        wire = translog.InclusionProof.from_dict(proof.to_dict())  # what crosses the network
        assert translog.check_inclusion(wire, artefact, log_key.public_key) == []
    proof = translog.prove_inclusion(sessions, "cert:3")
    assert translog.check_inclusion(proof, artefacts[3] + b"x", log_key.public_key) == [
        "the artefact is not the one logged (SM3 differs)",
        "the audit path does not lead from entry 3 to the signed root"]
    assert translog.check_inclusion(proof, artefacts[3], PrivateKey.generate().public_key) == [
        "the tree head's signature does not verify with the region's log key"]
    moved = dataclasses.replace(proof, index=2)
    assert "does not lead from entry 2" in translog.check_inclusion(moved, artefacts[3], log_key.public_key)[0]
    with pytest.raises(translog.TransLogError, match="cert:99 is not in the log at tree size 7"):
        translog.prove_inclusion(sessions, "cert:99")


def test_consistency_between_two_heads(store_engine: Engine, log_key: PrivateKey) -> None:
    sessions = make_sessionmaker(store_engine)
    signer = SM2AuditSigner(log_key, "log")
    _fill(store_engine, 5)
    old = translog.sign_tree_head(sessions, signer)
    _fill(store_engine, 6, start=5)
    new = translog.sign_tree_head(sessions, signer)
    proof = translog.prove_consistency(sessions, old.size, new.size)
    assert translog.check_consistency(proof, old, new, log_key.public_key) == []
    forged_old = dataclasses.replace(old, root=new.root)
    assert translog.check_consistency(proof, forged_old, new, log_key.public_key)[0] == \
        "the old tree head's signature does not verify"
    with pytest.raises(translog.TransLogError, match="the log has 11 entries, not 12"):
        translog.prove_consistency(sessions, 5, 12)


def test_verify_log_finds_an_altered_entry_and_a_rewritten_history(store_engine: Engine, log_key: PrivateKey) -> None:
    sessions = make_sessionmaker(store_engine)
    _fill(store_engine, 4)
    translog.sign_tree_head(sessions, SM2AuditSigner(log_key, "log"))
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s, log_key.public_key) == []
    with store_engine.begin() as c:  # an insider swaps the logged digest of entry 2
        c.execute(text("UPDATE translog_entries SET artefact_sm3 = :d WHERE idx = 2"), {"d": b"\x11" * 32})
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s) == [
            "log entry 2 (cert:2) was altered: its leaf hash does not match",
            "tree head #1 (size 4) does not match the entries: history was rewritten"]
    from store import merkle
    with store_engine.begin() as c:  # ... and recomputes the leaf hash to hide it
        row = c.execute(text("SELECT kind, subject, logged_at FROM translog_entries WHERE idx = 2")).one()
    with transaction(sessions, readonly=True) as s:
        entry = s.get(translog.TransLogEntry, 2)
        leaf = merkle.leaf_hash(translog.leaf_input(entry.kind, entry.subject, entry.logged_at, b"\x11" * 32))
    assert row.subject == "cert:2"
    with store_engine.begin() as c:
        c.execute(text("UPDATE translog_entries SET leaf_hash = :h WHERE idx = 2"), {"h": leaf})
    with transaction(sessions, readonly=True) as s:
        assert translog.verify_log(s) == [
            "tree head #1 (size 4) does not match the entries: history was rewritten"]


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"kind": "cookie", "subject": "cert:1", "artefact": b"x"}, "unknown log entry kind"),
    ({"kind": "seal", "subject": "", "artefact": b"x"}, "1-200 characters"),
    ({"kind": "seal", "subject": "seal:1", "artefact": b""}, "non-empty bytes"),
])
def test_bad_entries_are_refused(store_engine: Engine, kwargs, message: str) -> None:
    with transaction(make_sessionmaker(store_engine)) as s, pytest.raises(translog.TransLogError, match=message):
        translog.append(s, **kwargs)


def test_a_log_without_heads_says_so(store_engine: Engine) -> None:
    with pytest.raises(translog.TransLogError, match="no signed tree head yet"):
        translog.latest_head(make_sessionmaker(store_engine))
