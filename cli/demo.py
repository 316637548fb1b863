"""`eseal demo`: the end-to-end walk-through run by `make serve` until the API lands."""
from __future__ import annotations

import os
from pathlib import Path

import click

from cli.main import main
from keystore.demo import run_demo
from keystore.errors import KeyStoreError
from store.errors import StoreError


@main.command("demo")
@click.option("--home", "home_path", default="var/demo", show_default=True,
              type=click.Path(file_okay=False, path_type=Path), help="The demo data folder (created on first run).")
def demo_command(home_path: Path) -> None:
    """Create (or reopen) a demo region home, seal a document with a stored key, verify it."""
    passphrase = os.environ.get("ESEAL_PASSPHRASE", "demo passphrase - change me")
    try:
        result = run_demo(home_path, passphrase)
    except (KeyStoreError, StoreError) as exc:
        raise click.ClickException(str(exc)) from None
    click.echo(f"{'created' if result.created else 'reopened'} {result.home} (SQLite, key store unlocked by passphrase)")
    click.echo(f"seal key {result.key_ref}:\n{result.public_key_pem.strip()}")
    click.echo(f"SM2 signature over the document: {result.signature_hex}")
    click.echo(f"signature verifies with the public key: {'yes' if result.signature_valid else 'NO'}")
    click.echo(f"an edited document is rejected: {'yes' if result.tampered_document_rejected else 'NO'}")
    click.echo(f"audit chain: {result.audit_records} records, {'verified' if result.audit_ok else 'BROKEN'}")
    click.echo(
        f"audit checkpoints: {result.audit_checkpoints}, the last at seq {result.audit_last_checkpoint}, "
        f"signed by the key store's audit key (pinned: {result.audit_key_path})"
    )
    if not (result.signature_valid and result.tampered_document_rejected and result.audit_ok):
        raise SystemExit(1)
