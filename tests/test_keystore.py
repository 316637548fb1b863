"""SoftKeyStore on SQLite and PostgreSQL: no key material at rest, activation, PIN, policy."""
from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import inspect, select, text, update

import keystore.kmc as kmc_module
import keystore.soft as soft_module
from gm.sm2 import PrivateKey
from keystore import KeyPolicy, SoftKeyStore, Usage
from keystore.errors import (
    ActivationMethodUnavailable,
    CorruptShare,
    ForeignShare,
    InsufficientShares,
    KeyChanged,
    KeyDestroyed,
    KeyDisabled,
    KeyIntegrityError,
    KeyStoreLocked,
    PinLocked,
    PinRequired,
    PolicyDenied,
    WrongPassphrase,
    WrongPin,
)
from keystore.kmc import KeyManagementCentre
from keystore.shamir import Share, combine, split
from store import audit
from store.db import make_engine, make_sessionmaker, transaction
from store.models.audit import AuditRecord
from store.models.keys import KeyRecord
from store.testing import *  # noqa: F401,F403

PASSPHRASE = "correct horse battery staple"


@pytest.fixture
def sessions(migrated_database_url):
    engine = make_engine(migrated_database_url)
    yield make_sessionmaker(engine)
    engine.dispose()


@pytest.fixture
def initialised(sessions):
    return SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE, custodians=5, threshold=3)


def _actions(sessions, action=None, subject=None):
    with transaction(sessions, readonly=True) as s:
        stmt = select(AuditRecord).order_by(AuditRecord.seq)
        if action:
            stmt = stmt.where(AuditRecord.action == action)
        if subject:
            stmt = stmt.where(AuditRecord.subject == subject)
        return [(r.actor, r.action, r.subject, json.loads(r.details)) for r in s.scalars(stmt)]


def _audit_count(sessions):
    with transaction(sessions, readonly=True) as s:
        return s.query(AuditRecord).count()


# --- Shamir --------------------------------------------------------------------------------


@settings(max_examples=40, deadline=None)
@given(secret=st.binary(min_size=1, max_size=32), data=st.data())
def test_shamir_property_threshold_subsets(secret, data):
    count = data.draw(st.integers(2, 12))
    threshold = data.draw(st.integers(2, count))
    shares = split(secret, threshold, count)
    chosen = data.draw(st.lists(st.sampled_from(shares), min_size=threshold, max_size=count, unique=True))
    assert combine(chosen) == secret


def test_shamir_any_threshold_subset_rebuilds_and_fewer_do_not():
    secret = bytes(range(16))
    shares = split(secret, 3, 5)
    import itertools

    for subset in itertools.combinations(shares, 3):
        assert combine(list(subset)) == secret
    assert combine(shares) == secret
    for subset in itertools.combinations(shares, 2):
        assert combine(list(subset)) != secret


# --- nothing secret at rest ----------------------------------------------------------------


def test_raw_database_holds_no_private_key_and_no_pin(sessions, migrated_database_url, monkeypatch):
    generated: list[bytes] = []
    original = PrivateKey.generate

    def capture():
        key = original()
        generated.append(key.to_bytes())
        return key

    monkeypatch.setattr(soft_module.PrivateKey, "generate", staticmethod(capture))
    monkeypatch.setattr(kmc_module.PrivateKey, "generate", staticmethod(capture))

    result = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE, custodians=3, threshold=2)
    store = result.store
    pins = ["pin-Alice-7391", "pin-Bob-2846x"]
    ca = store.generate("root-ca", Usage.CA, actor="admin")
    alice = store.generate("alice-seal", Usage.PERSONAL_SEAL, actor="admin", pin=pins[0])
    bob = store.generate("bob-seal", Usage.PERSONAL_SEAL, actor="admin")
    store.reset_pin(bob, pins[1], actor="admin", role="key-admin")
    store.sign(ca, b"tbs", actor="ca-service", role="ca")
    store.sign(alice, b"doc", actor="alice", role="seal", pin=pins[0])
    with pytest.raises(WrongPin):  # a wrong PIN attempt must not leave the tried PIN either
        store.sign(bob, b"doc", actor="bob", role="seal", pin="pin-Wrong-0000")
    kmc_ref = KeyManagementCentre.create_kmc_key(store, actor="admin")
    kmc = KeyManagementCentre(store, sessions, kmc_ref)
    subscriber = PrivateKey.generate()
    kmc.issue_encryption_key(subscriber.public_key, subject="CN=alice", actor="ra")
    assert len(generated) == 6  # ca, alice, bob, kmc, subscriber (test key), escrowed encryption key
    secret_keys = [g for g in generated if g != subscriber.to_bytes()]

    needles_bytes = [store._kek, *secret_keys]  # the KEK itself must not be there either
    needles_text = [PASSPHRASE, "pin-Wrong-0000", *pins]
    for b in needles_bytes:
        needles_text += [b.hex(), b.hex().upper(), base64.b64encode(b).decode(), base64.urlsafe_b64encode(b).decode()]

    engine = make_engine(migrated_database_url)
    scanned = 0
    try:
        tables = inspect(engine).get_table_names()
        assert {"keystore_keys", "keystore_meta", "keystore_activation", "kmc_escrow", "audit_record"} <= set(tables)
        with engine.connect() as conn:
            for table in tables:
                for row in conn.execute(text(f'SELECT * FROM "{table}"')):
                    for value in row:
                        scanned += 1
                        if value is None:
                            continue
                        if isinstance(value, (bytes, bytearray, memoryview)):
                            raw = bytes(value)
                            as_text = raw.decode("latin-1")
                        else:
                            as_text = str(value)
                            raw = as_text.encode("utf-8")
                        for needle in needles_bytes:
                            assert needle not in raw, f"raw key material found in {table}"
                        for needle in needles_text:
                            assert needle not in as_text, f"secret text found in {table}"
    finally:
        engine.dispose()
    assert scanned > 50


# --- activation ----------------------------------------------------------------------------


def test_locked_store_refuses_and_passphrase_unlocks(sessions, initialised):
    ref = initialised.store.generate("issuing-ca", Usage.CA, actor="admin")
    store = SoftKeyStore(sessions)  # a fresh process: locked
    assert not store.is_unlocked
    with pytest.raises(KeyStoreLocked, match="locked"):
        store.sign(ref, b"tbs", actor="ca-service", role="ca")
    with pytest.raises(KeyStoreLocked):
        store.generate("other", Usage.CA, actor="admin")
    assert store.public_key(ref).to_bytes() == initialised.store.public_key(ref).to_bytes()  # public: fine
    with pytest.raises(WrongPassphrase, match="wrong passphrase"):
        store.unlock_with_passphrase("not the passphrase")
    assert not store.is_unlocked
    store.unlock_with_passphrase(PASSPHRASE)
    signature = store.sign(ref, b"tbs", actor="ca-service", role="ca")
    assert store.public_key(ref).verify(signature, b"tbs")
    assert not store.public_key(ref).verify(signature, b"other")
    store.lock()
    with pytest.raises(KeyStoreLocked):
        store.sign(ref, b"tbs", actor="ca-service", role="ca")
    actions = [a for _, a, _, _ in _actions(sessions) if a.startswith("keystore.")]
    assert actions == ["keystore.init", "keystore.unlock_failed", "keystore.unlock"]


def test_shares_unlock_and_bad_shares_are_named(sessions, initialised, tmp_path: Path):
    ref = initialised.store.generate("tsa", Usage.TSA, actor="admin")
    paths = [s.write(tmp_path / f"share-{s.index}.json") for s in initialised.shares]

    store = SoftKeyStore(sessions)
    store.unlock_with_shares([paths[0], paths[2], paths[4]])
    assert store.public_key(ref).verify(store.sign(ref, b"t", actor="tsa", role="tsa"), b"t")

    with pytest.raises(InsufficientShares, match="3 different custodian shares are needed"):
        SoftKeyStore(sessions).unlock_with_shares(paths[:2])
    with pytest.raises(InsufficientShares, match="given twice"):
        SoftKeyStore(sessions).unlock_with_shares([paths[0], paths[0], paths[1]])

    corrupted = tmp_path / "corrupted.json"
    doc = json.loads(paths[1].read_text())
    doc["share"] = ("0" if doc["share"][0] != "0" else "1") + doc["share"][1:]
    corrupted.write_text(json.dumps(doc))
    with pytest.raises(CorruptShare, match="corrupted.json: share 2 is corrupted") as info:
        SoftKeyStore(sessions).unlock_with_shares([paths[0], corrupted, paths[3]])
    assert info.value.source == str(corrupted)

    # a self-consistent forgery (tag recomputed) is still not the share issued for index 2
    forged = Share.create(initialised.store_id, 2, 3, 5, bytes(16))
    with pytest.raises(ForeignShare, match="not the share issued to custodian 2"):
        SoftKeyStore(sessions).unlock_with_shares([initialised.shares[0], forged, initialised.shares[3]])

    # a share of another store
    foreign = Share.create("00000000-0000-0000-0000-000000000000", 4, 3, 5, initialised.shares[3].value)
    with pytest.raises(ForeignShare, match="belongs to key store 00000000"):
        SoftKeyStore(sessions).unlock_with_shares([initialised.shares[0], initialised.shares[1], foreign])


def test_passphrase_only_store_refuses_shares(sessions):
    result = SoftKeyStore.initialise(sessions, actor="admin", passphrase=PASSPHRASE)
    assert result.shares == []
    with pytest.raises(ActivationMethodUnavailable, match="not set up for custodian shares"):
        SoftKeyStore(sessions).unlock_with_shares([])


# --- PIN -----------------------------------------------------------------------------------


def test_pin_lockout_after_five_failures_and_admin_reset(sessions, initialised):
    store = initialised.store
    ref = store.generate("zhang-san", Usage.PERSONAL_SEAL, actor="admin", pin="pin-Right-1234")
    with pytest.raises(PinRequired):
        store.sign(ref, b"doc", actor="zhang", role="seal")
    for attempt in range(1, 5):
        with pytest.raises(WrongPin) as info:
            store.sign(ref, b"doc", actor="zhang", role="seal", pin=f"pin-Wrong-{attempt}")
        assert info.value.remaining == 5 - attempt
    with pytest.raises(PinLocked, match="now locked"):
        store.sign(ref, b"doc", actor="zhang", role="seal", pin="pin-Wrong-5")
    # the 6th try, with the RIGHT PIN, is still refused
    with pytest.raises(PinLocked, match="administrator must reset"):
        store.sign(ref, b"doc", actor="zhang", role="seal", pin="pin-Right-1234")
    assert store.info(ref).pin_locked
    # also refused in another process (the lock is in the database, not in memory)
    other = SoftKeyStore(sessions)
    other.unlock_with_passphrase(PASSPHRASE)
    with pytest.raises(PinLocked):
        other.sign(ref, b"doc", actor="zhang", role="seal", pin="pin-Right-1234")

    with pytest.raises(PolicyDenied, match="may not reset the PIN"):
        store.reset_pin(ref, "pin-New-5678", actor="zhang", role="seal")
    store.reset_pin(ref, "pin-New-5678", actor="admin-li", role="key-admin")
    assert not store.info(ref).pin_locked
    with pytest.raises(WrongPin):
        store.sign(ref, b"doc", actor="zhang", role="seal", pin="pin-Right-1234")  # the old PIN is gone
    signature = store.sign(ref, b"doc", actor="zhang", role="seal", pin="pin-New-5678")
    assert store.public_key(ref).verify(signature, b"doc")

    failed = _actions(sessions, "key.pin_failed", ref)
    assert [d["failures"] for _, _, _, d in failed] == [1, 2, 3, 4, 5, 1]
    assert failed[4][3]["locked"] is True
    resets = _actions(sessions, "key.pin_reset", ref)
    assert len(resets) == 1 and resets[0][0] == "admin-li" and resets[0][3]["was_locked"] is True


def test_holder_changes_pin(sessions, initialised):
    store = initialised.store
    ref = store.generate("li-si", Usage.PERSONAL_SEAL, actor="admin", pin="pin-First-111")
    with pytest.raises(WrongPin):
        store.change_pin(ref, "pin-Nope-000", "pin-Second-222", actor="li", role="seal")
    store.change_pin(ref, "pin-First-111", "pin-Second-222", actor="li", role="seal")
    store.sign(ref, b"x", actor="li", role="seal", pin="pin-Second-222")


# --- policy, lifecycle, audit ---------------------------------------------------------------


def test_policy_roles_operations_and_lifecycle(sessions, initialised):
    store = initialised.store
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    enc = store.generate(
        "agency-enc", Usage.ENCRYPTION,
        KeyPolicy(operations={"decrypt"}, roles={"holder"}), actor="admin",
    )
    before = _audit_count(sessions)
    sig = store.sign(ref, b"tbs", actor="seal-svc", role="seal")
    assert _audit_count(sessions) == before + 1  # exactly one record per use
    record = _actions(sessions, "key.sign", ref)[-1]
    assert record[0] == "seal-svc" and record[3]["role"] == "seal"
    assert store.public_key(ref).verify(sig, b"tbs")
    uid = b"agency@example.gov.cn"
    sig_uid = store.sign(ref, b"tbs", uid, actor="seal-svc", role="seal")
    assert store.public_key(ref).verify(sig_uid, b"tbs", uid)
    assert not store.public_key(ref).verify(sig_uid, b"tbs")
    e = store.public_key(ref).digest(b"tbs")
    assert store.public_key(ref).verify_digest(store.sign_digest(ref, e, actor="seal-svc", role="seal"), e)

    with pytest.raises(PolicyDenied, match="role 'ca' may not use this key"):
        store.sign(ref, b"tbs", actor="someone", role="ca")
    with pytest.raises(PolicyDenied, match="operation 'decrypt' is not allowed"):
        store.decrypt(ref, store.public_key(ref).encrypt(b"x"), actor="seal-svc", role="seal")
    with pytest.raises(PolicyDenied, match="operation 'sign' is not allowed"):
        store.sign(enc, b"tbs", actor="holder", role="holder")
    assert store.decrypt(enc, store.public_key(enc).encrypt(b"secret"), actor="h", role="holder") == b"secret"
    assert len(_actions(sessions, "key.denied")) == 3

    with pytest.raises(PolicyDenied, match="may not disable"):
        store.disable(ref, actor="seal-svc", role="seal")
    store.disable(ref, actor="admin", role="key-admin", reason="agency merged")
    with pytest.raises(KeyDisabled, match="disabled"):
        store.sign(ref, b"tbs", actor="seal-svc", role="seal")
    store.enable(ref, actor="admin", role="key-admin")
    store.sign(ref, b"tbs", actor="seal-svc", role="seal")
    store.destroy(ref, actor="admin", role="key-admin", reason="end of life")
    with pytest.raises(KeyDestroyed, match="destroyed"):
        store.sign(ref, b"tbs", actor="seal-svc", role="seal")
    with transaction(sessions, readonly=True) as s:
        row = s.get(KeyRecord, ref)
        assert row.status == "destroyed" and row.encrypted_private_key is None and row.wrapped_dek is None
    assert store.info(ref).status == "destroyed"
    assert store.public_key(ref).verify(sig, b"tbs")  # the public key stays for verification
    assert [i.label for i in store.list()] == ["agency-seal", "agency-enc"]

    with transaction(sessions, readonly=True) as s:
        assert audit.verify(s).ok


def test_tampered_rows_do_not_authenticate(sessions, initialised):
    store = initialised.store
    a = store.generate("key-a", Usage.CA, actor="admin")
    b = store.generate("key-b", Usage.CA, actor="admin")
    c = store.generate("key-c", Usage.SEAL, actor="admin")
    with transaction(sessions) as s:
        row_a, row_b = s.get(KeyRecord, a), s.get(KeyRecord, b)
        blob_a, dek_a = row_a.encrypted_private_key, row_a.wrapped_dek
        s.execute(update(KeyRecord).where(KeyRecord.id == b).values(encrypted_private_key=blob_a, wrapped_dek=dek_a))
        # widen key-c's policy to a role it was not generated for
        policy = json.loads(s.get(KeyRecord, c).policy)
        policy["roles"] = ["ca", "seal"]
        s.execute(update(KeyRecord).where(KeyRecord.id == c).values(policy=json.dumps(policy, sort_keys=True, separators=(",", ":"))))
        del row_b
    with pytest.raises(KeyIntegrityError, match="altered or swapped"):
        store.sign(b, b"x", actor="ca-svc", role="ca")
    with pytest.raises(KeyIntegrityError):
        store.sign(c, b"x", actor="intruder", role="ca")
    store.sign(a, b"x", actor="ca-svc", role="ca")  # the untouched key still works


# --- signing now, recording in the caller's transaction; unwrapped keys kept while unlocked ------


def test_refusals_when_recording_later_write_nothing_and_pin_keys_are_refused(sessions, initialised):
    store = initialised.store
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    personal = store.generate("zhang-san", Usage.PERSONAL_SEAL, actor="admin", pin="135790")
    before = _audit_count(sessions)
    later: list = []
    with pytest.raises(PolicyDenied, match="role 'ca' may not use this key"):
        store.sign(ref, b"x", actor="intruder", role="ca", later=later)
    with pytest.raises(PolicyDenied, match="own transaction"):
        store.sign(personal, b"x", actor="holder", role="seal", pin="135790", later=later)
    assert later == [] and _audit_count(sessions) == before  # the caller repeats without later to record
    with pytest.raises(PolicyDenied):
        store.sign(ref, b"x", actor="intruder", role="ca")
    assert _actions(sessions)[-1][1] == "key.denied"


def test_sign_now_record_later_writes_the_use_in_the_callers_transaction(sessions, initialised):
    """``later=``: the signature is made now, its record only when the caller runs what was left
    in its own transaction -- and not at all when that transaction rolls back."""
    store = initialised.store
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    e = store.public_key(ref).digest(b"tbs")
    before = _audit_count(sessions)
    later: list = []
    sig = store.sign_digest(ref, e, actor="seal-svc", role="seal", later=later)
    assert store.public_key(ref).verify_digest(sig, e) and len(later) == 1
    assert _audit_count(sessions) == before                      # nothing written yet
    with pytest.raises(RuntimeError), transaction(sessions) as s:
        later[0](s)
        raise RuntimeError("the caller fails before committing")
    assert _audit_count(sessions) == before
    with transaction(sessions) as s:
        later[0](s)
        audit.append(s, actor="seal-svc", action="seal.sign", subject="seal:1", details={})
    records = _actions(sessions)[before:]
    assert [r[1] for r in records] == ["key.sign_digest", "seal.sign"]
    assert records[0][3] == {"label": "agency-seal", "operation": "sign_digest", "role": "seal", "e": e.hex()}


@pytest.mark.parametrize("pipelined", [False, True], ids=["plain", "pipelined"])
def test_a_key_changed_between_use_and_record_is_not_recorded(sessions, initialised, migrated_database_url,
                                                              pipelined):
    """Disabled by another process after the signature was made and before it is recorded:
    the record raises KeyChanged and writes nothing (the caller repeats the use, which is
    then refused and recorded as such); refusals at use time leave nothing behind. In a
    pipelined transaction (a sealing's) the row is compared at the transaction's end."""
    store = initialised.store
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    later: list = []
    store.sign(ref, b"x", actor="seal-svc", role="seal", later=later)
    other_engine = make_engine(migrated_database_url)
    try:
        SoftKeyStore(make_sessionmaker(other_engine)).disable(ref, actor="admin", role="key-admin",
                                                              reason="compromise suspected")
    finally:
        other_engine.dispose()
    before = _audit_count(sessions)
    with pytest.raises(KeyChanged), transaction(sessions, pipelined=pipelined) as s:
        later[0](s)
    assert _audit_count(sessions) == before
    refused: list = []
    with pytest.raises(KeyDisabled):
        store.sign(ref, b"x", actor="seal-svc", role="seal", later=refused)
    with pytest.raises(PolicyDenied):
        store.sign(store.generate("ca-key", Usage.CA, actor="admin"), b"x", actor="x", role="seal", later=refused)
    assert refused == [] and _audit_count(sessions) == before + 1   # + the ca-key's key.generate


def test_a_key_used_before_is_refused_at_once_when_disabled_or_altered(sessions, initialised, migrated_database_url):
    store = initialised.store
    ref = store.generate("agency-seal", Usage.SEAL, actor="admin")
    store.sign(ref, b"x", actor="seal-svc", role="seal")
    store.sign(ref, b"x", actor="seal-svc", role="seal", later=[])  # the unwrapped key is now kept
    # another process (its own engine and key store object) disables the key
    other_engine = make_engine(migrated_database_url)
    try:
        other = SoftKeyStore(make_sessionmaker(other_engine))
        other.disable(ref, actor="admin", role="key-admin", reason="compromise suspected")
    finally:
        other_engine.dispose()
    with pytest.raises(KeyDisabled):
        store.sign(ref, b"x", actor="seal-svc", role="seal", later=[])
    with pytest.raises(KeyDisabled):
        store.sign(ref, b"x", actor="seal-svc", role="seal")
    store.enable(ref, actor="admin", role="key-admin")
    # a swapped ciphertext is not covered by the kept key: the row is authenticated again
    donor = store.generate("donor", Usage.SEAL, actor="admin")
    with transaction(sessions) as s:
        row = s.get(KeyRecord, donor)
        s.execute(update(KeyRecord).where(KeyRecord.id == ref)
                  .values(encrypted_private_key=row.encrypted_private_key, wrapped_dek=row.wrapped_dek))
    with pytest.raises(KeyIntegrityError):
        store.sign(ref, b"x", actor="seal-svc", role="seal", later=[])
    with pytest.raises(KeyIntegrityError):
        store.sign(ref, b"x", actor="seal-svc", role="seal")
    store.lock()
    with pytest.raises(KeyStoreLocked):
        store.sign(donor, b"x", actor="seal-svc", role="seal", later=[])
