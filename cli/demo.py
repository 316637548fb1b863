"""`eseal demo`: the end-to-end walk-through run by `make serve` until the API lands."""
from __future__ import annotations

import dataclasses
import os
from pathlib import Path

import click

from cli.main import main
from cli.output import emit, json_option
from keystore.demo import run_demo
from keystore.errors import KeyStoreError
from store.errors import StoreError


@main.command("demo")
@click.option("--home", "home_path", default="var/demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="The demo data folder (created on first run).")
@json_option
def demo_command(home_path: Path, as_json: bool) -> None:
    """Create (or reopen) a demo region home, seal a document with a stored key, verify it."""
    passphrase = os.environ.get("ESEAL_PASSPHRASE", "demo passphrase - change me")
    try:
        result = run_demo(home_path, passphrase)
    except (KeyStoreError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    facts = {**dataclasses.asdict(result),
             "ok": result.signature_valid and result.tampered_document_rejected and result.audit_ok}
    emit(facts, as_json, _lines)
    if not facts["ok"]:
        raise SystemExit(1)


def _lines(f: dict) -> list[str]:
    return [
        f"{'created' if f['created'] else 'reopened'} {f['home']} (SQLite, key store unlocked by passphrase)",
        f"seal key {f['key_ref']}:\n{f['public_key_pem'].strip()}",
        f"SM2 signature over the document: {f['signature_hex']}",
        f"signature verifies with the public key: {'yes' if f['signature_valid'] else 'NO'}",
        f"an edited document is rejected: {'yes' if f['tampered_document_rejected'] else 'NO'}",
        f"audit chain: {f['audit_records']} records, {'verified' if f['audit_ok'] else 'BROKEN'}",
        f"audit checkpoints: {f['audit_checkpoints']}, the last at seq {f['audit_last_checkpoint']}, "
        f"signed by the key store's audit key (pinned: {f['audit_key_path']})",
    ]
