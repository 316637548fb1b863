"""A timestamped OFD sealing commits once (seal.service.seal_with: keystore.sign(later=) and
seal.tsa.TsaClient.leaving_records), on SQLite and PostgreSQL.

* One sealing (after a warm-up one) is one database commit, counted with a "commit" event
  listener on the home's engine: it holds the seal key's use, the TSA key's use, the token
  row, tsa.timestamp, seal.sign and the log entry. The token in the output verifies over
  the signature value and is the one recorded; serials differ between sealings.
* A refusal inside that path falls back to the own transactions, which record it: a
  disabled TSA key raises KeyDisabled with key.denied recorded; a revoked TSA certificate
  raises TsaNotConfigured. No output, no token, no seal.sign, no log entry; the audit
  chain verifies.
* A failure after the token was made in the sealing's transaction (the database refuses
  the log insert, by a trigger) leaves no commit, no token row and no audit record.
* PDF and CMS sealings take the same one-commit path (seal.service.seal_with), and a refusal
  inside pyHanko still falls back and is recorded.
* The listener is not blind: a timestamp callable that cannot stamp in the sealing's
  transaction (the long way) shows 3 commits.
* The maker (signing, the token, the document) runs before that transaction: while it runs,
  after the seal key signed and the token was made, another connection takes SQLite's write
  lock, or the audit chain's row lock on PostgreSQL, without waiting.
"""
from __future__ import annotations

import io
import json
import zipfile
from contextlib import contextmanager

import pytest
from sqlalchemy import event, func, select
from sqlalchemy.exc import OperationalError

from ca import service as ca_service
from keystore.errors import KeyDisabled
from seal import sealing, service, tsa
from seal.structures import parse_signature
from store import audit
from store.db import transaction
from store.models.audit import AuditRecord
from store.models.translog import TransLogEntry
from store.models.tsa import TsaToken
from store.testing import *  # noqa: F401,F403
from tests.faults.seal_fast_worker import document
from tests.test_faults_kill_seal import _region


@contextmanager
def _commits(engine):
    """The number of transactions committed on ``engine`` inside the block (observed, not altered)."""
    seen: list[object] = []

    def on_commit(conn) -> None:
        seen.append(conn)

    event.listen(engine, "commit", on_commit)
    try:
        yield seen
    finally:
        event.remove(engine, "commit", on_commit)


def _records_after(home, seq: int) -> list[AuditRecord]:
    with transaction(home.engine, readonly=True) as s:
        return list(s.scalars(select(AuditRecord).where(AuditRecord.seq > seq).order_by(AuditRecord.seq)))


def _state(home) -> tuple[int, int, int]:
    """(last audit seq, token rows, log entries)."""
    with transaction(home.engine, readonly=True) as s:
        return (s.scalar(select(func.coalesce(func.max(AuditRecord.seq), 0))),
                s.scalar(select(func.count()).select_from(TsaToken)),
                s.scalar(select(func.count()).select_from(TransLogEntry)))


def _signed_value(ofd: bytes) -> bytes:
    with zipfile.ZipFile(io.BytesIO(ofd)) as z:
        (name,) = [n for n in z.namelist() if n.endswith("SignedValue.dat")]
        return z.read(name)


def _chain_ok(home) -> None:
    with transaction(home.engine, readonly=True) as s:
        report = audit.verify(s)
    assert report.ok, report.findings


@pytest.fixture
def region(eseal_home):
    _, ks, es_id = _region(eseal_home)
    return eseal_home, ks, es_id


def _seal(home, ks, es_id, data):
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    return grant, sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)


def test_timestamped_sealing_is_one_commit_with_all_its_records(region) -> None:
    home, ks, es_id = region
    data = document()
    tsa_key = ca_service.service_certificate(home, "tsa").key_ref
    _, warm = _seal(home, ks, es_id, data)  # caches the TSA identity, the seal's hash state, statements
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seq, tokens, logged = _state(home)

    with _commits(home.engine) as commits:
        sealed = sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)
    assert len(commits) == 1, f"{len(commits)} commits for one timestamped sealing"

    records = _records_after(home, seq)
    by_action = {r.action: r for r in records}
    assert [r.action for r in records] == ["key.sign_digest", "key.sign", "tsa.timestamp", "seal.sign"], \
        [r.action for r in records]
    assert by_action["key.sign_digest"].subject == grant.key_ref
    assert by_action["key.sign"].subject == tsa_key
    assert json.loads(by_action["seal.sign"].details)["timestamped"] is True
    assert _state(home)[1:] == (tokens + 1, logged + 1)

    sig = parse_signature(_signed_value(sealed.data))
    assert sig.timestamp is not None, "the sealed document carries no timestamp token"
    check = tsa.verify_token(sig.timestamp, sig.signature)
    assert check.ok, (check.failure, check.detail)
    assert not tsa.verify_token(sig.timestamp, sig.signature + b"\x00").ok  # the token is bound to this signature
    serial = format(check.serial, "x")
    assert by_action["tsa.timestamp"].subject == f"tst:{serial}"
    with transaction(home.engine, readonly=True) as s:
        row = s.scalars(select(TsaToken).where(TsaToken.serial == serial)).one()
    assert bytes(row.token) == sig.timestamp

    warm_sig = parse_signature(_signed_value(warm.data))
    warm_check = tsa.verify_token(warm_sig.timestamp, warm_sig.signature)
    assert warm_check.ok and warm_check.serial != check.serial, (warm_check.serial, check.serial)
    _chain_ok(home)


def test_disabled_tsa_key_is_refused_and_recorded(region) -> None:
    home, ks, es_id = region
    data = document()
    tsa_key = ca_service.service_certificate(home, "tsa").key_ref
    _seal(home, ks, es_id, data)
    ks.disable(tsa_key, actor="admin", role="key-admin", reason="compromise suspected")
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seq, tokens, logged = _state(home)

    sealed = None
    with pytest.raises(KeyDisabled, match="disabled"):
        sealed = sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)
    assert sealed is None

    records = _records_after(home, seq)
    # the one-commit attempt rolled back unrecorded; the own transactions recorded the seal
    # key's use and the TSA key's refusal, and nothing of a sealing
    assert [(r.action, r.subject) for r in records] == [("key.sign_digest", grant.key_ref), ("key.denied", tsa_key)]
    assert json.loads(records[1].details)["reason"] == "KeyDisabled"
    assert _state(home)[1:] == (tokens, logged)
    _chain_ok(home)


def test_revoked_tsa_certificate_is_refused(region) -> None:
    home, ks, es_id = region
    data = document()
    _seal(home, ks, es_id, data)  # the TSA identity is cached now: a revocation must still stop it
    ca_service.revoke(home, ca_service.service_certificate(home, "tsa").serial, "keyCompromise", actor="admin")
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seq, tokens, logged = _state(home)

    with pytest.raises(tsa.TsaNotConfigured, match="no TSA certificate"):
        sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)

    # the seal key's use is recorded by the fallback's own transaction; no TSA key use, token or sealing
    assert [(r.action, r.subject) for r in _records_after(home, seq)] == [("key.sign_digest", grant.key_ref)]
    assert _state(home)[1:] == (tokens, logged)
    _chain_ok(home)


def test_counter_sees_the_long_way(region) -> None:
    """The commit listener is not blind: with a timestamp callable that cannot stamp in the
    sealing's transaction (a plain function), the key store, the TSA and record_sealing each
    commit their own: three commits."""
    home, ks, es_id = region
    client = tsa.tsa_callable(home, ks, actor="clerk")
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    with _commits(home.engine) as commits:
        service.make_signature(home, ks, grant, b"\x01" * 32, "Doc_0/Signs/Sign_0/Signature.xml",
                               timestamp=lambda value: client(value))
    assert len(commits) == 3, len(commits)


def _pdf() -> bytes:
    from tests.soak.soak import _pdf as soak_pdf

    return soak_pdf()


def _signer_info_signature(sealed: sealing.Sealed) -> tuple[bytes, bytes | None]:
    """(SignerInfo signature, its signatureTimeStampToken) of a sealed PDF or CMS."""
    from asn1crypto import cms

    if sealed.format == "pdf":
        from pyhanko.pdf_utils.reader import PdfFileReader

        signed = PdfFileReader(io.BytesIO(sealed.data)).embedded_signatures[0].signed_data
    else:
        signed = cms.ContentInfo.load(sealed.data)["content"]
    info = signed["signer_infos"][0]
    token = None
    for attr in info["unsigned_attrs"] or []:
        if attr["type"].dotted == "1.2.840.113549.1.9.16.2.14":
            token = attr["values"][0].dump()
    return info["signature"].native, token


@pytest.mark.parametrize("kind", ["pdf", "cms"])
def test_a_timestamped_pdf_or_cms_sealing_is_one_commit_too(region, kind) -> None:
    home, ks, es_id = region
    data, cms_flag = (_pdf(), False) if kind == "pdf" else (b"raw data to seal " * 64, True)
    tsa_key = ca_service.service_certificate(home, "tsa").key_ref
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    sealing.seal_document(home, ks, grant, data, cms=cms_flag)  # warm
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seq, tokens, logged = _state(home)
    with _commits(home.engine) as commits:
        sealed = sealing.seal_document(home, ks, grant, data, cms=cms_flag)
    assert sealed.format == kind
    assert len(commits) == 1, f"{len(commits)} commits for one timestamped {kind} sealing"
    records = _records_after(home, seq)
    assert [(r.action, r.subject) for r in records] == [
        ("key.sign", grant.key_ref), ("key.sign", tsa_key), ("tsa.timestamp", records[2].subject),
        ("seal.sign", f"seal:{es_id}")]
    assert json.loads(records[3].details)["format"] == kind
    assert _state(home)[1:] == (tokens + 1, logged + 1)
    signature, token = _signer_info_signature(sealed)
    assert token is not None
    check = tsa.verify_token(token, signature)
    assert check.ok, (check.failure, check.detail)
    assert records[2].subject == f"tst:{format(check.serial, 'x')}"
    _chain_ok(home)


@pytest.mark.parametrize("kind", ["pdf", "cms"])
def test_a_refusal_inside_pdf_or_cms_sealing_is_recorded_by_the_long_way(region, kind) -> None:
    """pyHanko wraps what the signer raises; the refusal must still send the sealing down the
    long way, which records it, and come out as the key store's error."""
    home, ks, es_id = region
    data, cms_flag = (_pdf(), False) if kind == "pdf" else (b"raw data", True)
    tsa_key = ca_service.service_certificate(home, "tsa").key_ref
    sealing.seal_document(home, ks, sealing.authorise(home, ks, es_id, actor="clerk"), data, cms=cms_flag)
    ks.disable(tsa_key, actor="admin", role="key-admin", reason="compromise suspected")
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seq, tokens, logged = _state(home)
    with pytest.raises(Exception) as raised:
        sealing.seal_document(home, ks, grant, data, cms=cms_flag)
    assert "disabled" in str(raised.value), raised.value
    records = _records_after(home, seq)
    assert [(r.action, r.subject) for r in records] == [("key.sign", grant.key_ref), ("key.denied", tsa_key)]
    assert _state(home)[1:] == (tokens, logged)
    _chain_ok(home)


# The database refuses the transparency-log insert -- the last write of a sealing, after the
# token row, tsa.timestamp and seal.sign -- as a full disk would: an OperationalError, not a
# refusal the sealing falls back on. The trigger also looks whether the sealing's transaction
# holds a new token row at that moment (HotStatements bypass SQLAlchemy's execute events):
# PostgreSQL puts the count in its message; SQLite fails with "malformed JSON" (an
# OperationalError, raised at run time) only if it does, else with RAISE (an IntegrityError).
def _refuse_log(dialect: str, tokens: int) -> list[str]:
    if dialect == "sqlite":
        return ["CREATE TRIGGER refuse_log BEFORE INSERT ON translog_entries BEGIN SELECT CASE "
                f"WHEN (SELECT count(*) FROM tsa_tokens) = {tokens + 1} THEN json('log refused ' || NEW.idx) "
                "ELSE RAISE(ABORT, 'log refused without a new token') END; END"]
    return ["CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION USING "
            "MESSAGE = 'log refused, tokens: ' || (SELECT count(*) FROM tsa_tokens), ERRCODE = 'disk_full'; END $$",
            "CREATE TRIGGER refuse_log BEFORE INSERT ON translog_entries FOR EACH ROW EXECUTE FUNCTION refuse_log()"]


_ALLOW_LOG = {"sqlite": ["DROP TRIGGER refuse_log"],
              "postgresql": ["DROP TRIGGER refuse_log ON translog_entries", "DROP FUNCTION refuse_log()"]}


def _ddl(home, statements) -> None:
    with home.engine.begin() as conn:
        for sql in statements:
            conn.exec_driver_sql(sql)


def _refused_commits(dialect: str) -> int:
    """COMMITs a sealing whose log insert fails sends: none on SQLite; on PostgreSQL its
    pipelined transaction (store.db) learns of the queued insert's failure from the COMMIT
    sent with it, which the server refuses -- the audit, token and log counts show that
    nothing landed."""
    return 0 if dialect == "sqlite" else 1


def _warm_and_authorised(region):
    """After one sealing (a warm-up), a use grant for the next and the audit/token/log counts."""
    home, ks, es_id = region
    data = document()
    _seal(home, ks, es_id, data)
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    return home, ks, es_id, data, home.engine.dialect.name, grant, _state(home)


def test_failure_after_the_token_rolls_everything_back(region) -> None:
    home, ks, es_id, data, dialect, grant, (seq, tokens, logged) = _warm_and_authorised(region)
    _ddl(home, _refuse_log(dialect, tokens))

    with _commits(home.engine) as commits, pytest.raises(OperationalError) as failed:
        sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)
    # the log insert failed while the sealing's transaction held its new token row
    assert ("malformed JSON" if dialect == "sqlite" else f"log refused, tokens: {tokens + 1}") in str(failed.value)
    assert len(commits) == _refused_commits(dialect), f"{len(commits)} commits tried in a failed sealing"
    assert _records_after(home, seq) == []
    assert _state(home) == (seq, tokens, logged)
    _chain_ok(home)

    _ddl(home, _ALLOW_LOG[dialect])
    _, sealed = _seal(home, ks, es_id, data)
    assert parse_signature(_signed_value(sealed.data)).timestamp is not None
    _chain_ok(home)


# A constraint the log insert breaks (not a token serial clash) ends the sealing at once: no
# second signing by the long way, which would record a key use and a token and then fail alike.
_CONSTRAINT_ON_LOG = {
    "sqlite": ["CREATE TRIGGER refuse_log BEFORE INSERT ON translog_entries BEGIN "
               "SELECT RAISE(ABORT, 'log entry refused by a constraint'); END"],
    "postgresql": ["CREATE FUNCTION refuse_log() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION USING "
                   "MESSAGE = 'log entry refused by a constraint', ERRCODE = 'check_violation'; END $$",
                   "CREATE TRIGGER refuse_log BEFORE INSERT ON translog_entries FOR EACH ROW "
                   "EXECUTE FUNCTION refuse_log()"],
}


def test_a_constraint_failure_that_is_not_a_serial_clash_is_not_retried(region) -> None:
    from sqlalchemy.exc import IntegrityError

    home, ks, es_id, data, dialect, grant, (seq, tokens, logged) = _warm_and_authorised(region)
    _ddl(home, _CONSTRAINT_ON_LOG[dialect])
    with _commits(home.engine) as commits, pytest.raises(IntegrityError, match="refused by a constraint"):
        sealing.seal_document(home, ks, grant, data, x_mm=120, y_mm=200)
    assert len(commits) == _refused_commits(dialect)
    assert _records_after(home, seq) == [] and _state(home) == (seq, tokens, logged)
    _ddl(home, _ALLOW_LOG[dialect])
    _chain_ok(home)


def _writer_is_free(home) -> bool:
    """Whether another connection can take the lock a sealing's records need, at once:
    SQLite's one writer (BEGIN IMMEDIATE, no busy wait), the audit head row on PostgreSQL
    (FOR UPDATE NOWAIT)."""
    if home.engine.dialect.name == "sqlite":
        import sqlite3

        conn = sqlite3.connect(home.engine.url.database, timeout=0, isolation_level=None)
        try:
            conn.execute("BEGIN IMMEDIATE")
            conn.execute("ROLLBACK")
            return True
        except sqlite3.OperationalError:
            return False
        finally:
            conn.close()
    from sqlalchemy import create_engine, text

    other = create_engine(home.engine.url)
    try:
        with other.connect() as conn:
            conn.execute(text("SELECT seq FROM audit_head WHERE id = 1 FOR UPDATE NOWAIT"))
            conn.rollback()
        return True
    except OperationalError:
        return False
    finally:
        other.dispose()


def test_the_maker_runs_without_holding_the_writer(region) -> None:
    home, ks, es_id = region
    _seal(home, ks, es_id, document())      # warm, and the audit head row exists
    grant = sealing.authorise(home, ks, es_id, actor="clerk")
    seen: list[bool] = []

    def make(use: service.KeyUse) -> service.Made:
        signature = use.sign_digest(b"\x01" * 32)
        token = use.stamp(signature)
        seen.append(_writer_is_free(home))
        return service.Made(token, signature, "ses", True, {})

    seq, tokens, logged = _state(home)
    with _commits(home.engine) as commits:
        token = service.seal_with(home, ks, grant, tsa.tsa_callable(home, ks, actor="clerk"), make)
    assert seen == [True], "the maker ran while the sealing held the database's writer lock"
    assert len(commits) == 1
    assert [r.action for r in _records_after(home, seq)] == ["key.sign_digest", "key.sign", "tsa.timestamp",
                                                             "seal.sign"]
    assert _state(home)[1:] == (tokens + 1, logged + 1) and token[:1] == b"\x30"
    assert _writer_is_free(home)
    _chain_ok(home)
