"""`eseal audit ...`: the tamper-evident audit log. Thin: open the home, call store.audit."""

from __future__ import annotations

from pathlib import Path

import click

from cli.main import main
from gm.sm2 import PublicKey
from gm.sm3 import sm3
from store import translog
from store.audit import verify
from store.db import transaction
from store.errors import StoreError
from store.home import Home


def _fingerprint(pem: bytes | None) -> str:
    """SM3 of the 65-byte public key point, as keystore records it (key.generate public_key_sm3)."""
    try:
        return sm3(PublicKey.from_pem(pem or b"").to_bytes()).hex()
    except Exception:  # verify() has already said whether the key is usable
        return "unreadable key"


def _public_key(pem: bytes | None) -> PublicKey | None:
    try:
        return PublicKey.from_pem(pem) if pem else None
    except ValueError:
        return None


@main.group("audit")
def audit() -> None:
    """Tamper-evident audit log."""


@audit.command("verify")
@click.option(
    "--home",
    "home_path",
    required=True,
    envvar="ESEAL_HOME",
    type=click.Path(file_okay=False, path_type=Path),
    help="The eseal data folder.",
)
@click.option(
    "--public-key",
    "public_key",
    type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help="PEM public key of the region's audit signer (default: HOME/audit-signer.pub.pem if present).",
)
def verify_command(home_path: Path, public_key: Path | None) -> None:
    """Check the hash chain, the signed checkpoints and the transparency log's tree.

    Exit status: 0 clean, 1 on any finding (each printed as FINDING ...), 2 when the home
    cannot be opened.
    """
    try:
        home = Home.open(home_path)
    except StoreError as exc:
        error = click.ClickException(str(exc))
        error.exit_code = 2  # could not verify at all: distinct from 1, "tampering found"
        raise error from exc
    with home:
        if public_key is None and home.audit_public_key_path.is_file():
            public_key = home.audit_public_key_path
        pem = public_key.read_bytes() if public_key is not None else None
        with transaction(home.engine, readonly=True) as session:
            report = verify(session, public_key=pem)
            log_problems = translog.verify_log(session, _public_key(pem))
    if public_key is not None:
        click.echo(f"checkpoint signatures checked against the pinned audit key {public_key} (SM3 {_fingerprint(pem)})")
    for finding in report.findings:
        click.echo(f"FINDING {finding}")
    for problem in log_problems:
        click.echo(f"FINDING transparency log: {problem}")
    for warning in report.warnings:
        click.echo(f"warning: {warning}", err=True)
    click.echo(
        f"{report.records} records, {report.checkpoints} checkpoints, "
        f"{len(report.findings)} finding(s): {'OK' if report.ok else 'TAMPERED'}"
    )
    click.echo(f"transparency log: {'OK' if not log_problems else 'TAMPERED'}")
    if not report.ok or log_problems:
        raise SystemExit(1)
