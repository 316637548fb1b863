"""`eseal audit ...`: the tamper-evident audit log. Thin: open the home, call store.audit."""

from __future__ import annotations

from pathlib import Path

import click

from cli.keys import actor_option
from cli.main import main
from cli.output import emit, json_option
from gm.sm2 import PublicKey
from gm.sm3 import sm3
from store import audit_check
from store.errors import AuditError, StoreError
from store.home import Home


def _fingerprint(pem: bytes | None) -> str:
    """SM3 of the 65-byte public key point, as keystore records it (key.generate public_key_sm3)."""
    try:
        return sm3(PublicKey.from_pem(pem or b"").to_bytes()).hex()
    except Exception:  # verify() has already said whether the key is usable
        return "unreadable key"


def _cannot_verify(exc: Exception) -> click.ClickException:
    error = click.ClickException(str(exc))
    error.exit_code = 2  # could not verify at all: distinct from 1, "tampering found"
    return error


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
@actor_option
@json_option
def verify_command(home_path: Path, public_key: Path | None, actor: str, as_json: bool) -> None:
    """Check the hash chain, the signed checkpoints and the transparency log's tree, and
    record the verification in the log (an audit.verify record by --actor).

    Exit status: 0 clean, 1 on any finding (each printed as FINDING ...), 2 when the home
    cannot be opened.
    """
    try:
        home = Home.open(home_path)
    except StoreError as exc:
        raise _cannot_verify(exc) from exc
    with home:
        if public_key is None and home.audit_public_key_path.is_file():
            public_key = home.audit_public_key_path
        pem = public_key.read_bytes() if public_key is not None else None
        try:
            check = audit_check.full(home.engine, pem)
        except AuditError as exc:
            raise _cannot_verify(exc) from exc
        # a full verification is an event of the log: the console shows the latest one
        recorded_seq = audit_check.record(home.engine, check, actor)
    for warning in check["warnings"]:
        click.echo(f"warning: {warning}", err=True)
    log_problems = check["transparency_log"]["problems"]
    facts = {
        "ok": check["ok"],
        "public_key": public_key, "public_key_sm3": _fingerprint(pem) if public_key is not None else None,
        "records": check["records"], "last_seq": check["last_seq"], "checkpoints": check["checkpoints"],
        "last_valid_checkpoint": check["last_valid_checkpoint"], "audit_ok": not check["findings"],
        "findings": audit_check.finding_texts(check),
        "transparency_log_ok": not log_problems, "transparency_log_findings": list(log_problems),
        "warnings": list(check["warnings"]), "recorded_seq": recorded_seq,
    }
    emit(facts, as_json, _verify_lines)
    if not facts["ok"]:
        raise SystemExit(1)


def _verify_lines(f: dict) -> list[str]:
    lines = []
    if f["public_key"] is not None:
        lines.append(f"checkpoint signatures checked against the pinned audit key {f['public_key']} "
                     f"(SM3 {f['public_key_sm3']})")
    lines += [f"FINDING {finding}" for finding in f["findings"]]
    lines += [f"FINDING transparency log: {problem}" for problem in f["transparency_log_findings"]]
    lines.append(f"{f['records']} records, {f['checkpoints']} checkpoints, "
                 f"{len(f['findings'])} finding(s): {'OK' if f['audit_ok'] else 'TAMPERED'}")
    lines.append(f"transparency log: {'OK' if f['transparency_log_ok'] else 'TAMPERED'}")
    lines.append(f"verification recorded as audit record {f['recorded_seq']} (audit.verify)")
    return lines
