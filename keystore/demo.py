"""The end-to-end demo behind `make serve` until the HTTP API lands (issue 7).

It walks the path every later feature builds on: a data folder with its database, a key
store activated by passphrase, an agency seal key generated and used through the store by
reference, the signature checked with the public key alone, and the audit chain verified
against the region's audit key: the key labelled "audit" in the same key store, whose
public key is pinned at H/audit-signer.pub.pem. The work runs inside
`keystore.region.running`, so each run ends with a checkpoint signed by that key.
"""
from __future__ import annotations

from pathlib import Path

from gm.records import frozen_record
from keystore.errors import KeyNotFound
from keystore.region import ensure_audit_key, running
from keystore.soft import SoftKeyStore
from store import audit
from store.db import make_sessionmaker, transaction
from store.home import CONFIG_FILE, Home

SEAL_KEY_LABEL = "demo-agency-seal"
DOCUMENT = "电子证照 营业执照 440000-DEMO-0001".encode()


@frozen_record
class DemoResult:
    home: Path
    created: bool
    key_ref: str
    public_key_pem: str
    signature_hex: str
    signature_valid: bool
    tampered_document_rejected: bool
    audit_records: int
    audit_ok: bool
    audit_checkpoints: int = 0
    audit_last_checkpoint: int = 0  # seq of the newest checkpoint that verified
    audit_key_path: Path | None = None  # the pinned audit public key checked against


def run_demo(home_path: Path, passphrase: str) -> DemoResult:
    created = not (home_path / CONFIG_FILE).exists()
    home = Home.create(home_path) if created else Home.open(home_path)
    try:
        sessions = make_sessionmaker(home.engine)
        if created:
            keys = SoftKeyStore.initialise(sessions, actor="demo", passphrase=passphrase).store
        else:
            keys = SoftKeyStore(sessions)
            keys.unlock_with_passphrase(passphrase, actor="demo")
        ensure_audit_key(keys, home, actor="demo")
        with running(home, keys):  # leaving it signs a final checkpoint with the audit key
            try:
                key_ref = keys.find(SEAL_KEY_LABEL).key_ref
            except KeyNotFound:
                key_ref = keys.generate(SEAL_KEY_LABEL, "seal", actor="demo")
            signature = keys.sign(key_ref, DOCUMENT, actor="demo", role="seal")
            public_key = keys.public_key(key_ref)
        pinned = home.audit_public_key_path
        with transaction(home.engine, readonly=True) as session:
            report = audit.verify(session, public_key=pinned.read_bytes())
        return DemoResult(
            home=home_path,
            created=created,
            key_ref=key_ref,
            public_key_pem=public_key.to_pem().decode(),
            signature_hex=signature.hex(),
            signature_valid=public_key.verify(signature, DOCUMENT),
            tampered_document_rejected=not public_key.verify(signature, DOCUMENT + b" "),
            audit_records=report.records,
            audit_ok=report.ok and report.key_pinned and report.last_valid_checkpoint == report.last_seq,
            audit_checkpoints=report.checkpoints,
            audit_last_checkpoint=report.last_valid_checkpoint,
            audit_key_path=pinned,
        )
    finally:
        home.close()
