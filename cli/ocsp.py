"""`eseal ocsp export`: pre-signed OCSP answers as files for a static web server or CDN.

Thin: unlocks the key store (ESEAL_PASSPHRASE or --passphrase-file) and calls
:func:`ca.ocsp_export.export`, whose module doc gives the file naming rule.
"""
from __future__ import annotations

from pathlib import Path

import click

from cli.ca import _actor_option, _errors, _unlocked
from cli.keys import _home_option, _open_home, _passphrase_option
from cli.main import main
from cli.output import emit, json_option

_HASH_CHOICES = {"sha1": ("sha1",), "sm3": ("sm3",), "both": ("sha1", "sm3")}


@main.group("ocsp")
def ocsp_group() -> None:
    """OCSP answers for static serving (RFC 5019)."""


@ocsp_group.command("export")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the answers and index.json to (created; keep it for the export only).")
@click.option("--hash", "hash_name", type=click.Choice(sorted(_HASH_CHOICES)), default="both", show_default=True,
              help="CertID hash of the requests answered: sha1 (RFC 5019), sm3, or both.")
@_passphrase_option
@_actor_option
@json_option
def export_command(home_path: Path, out: Path, hash_name: str, passphrase_file: Path | None, actor: str,
                   as_json: bool) -> None:
    """Sign the nonce-less OCSP answer of every certificate the region's CAs issued (good,
    revoked, on hold) and write each where a static server finds it from the RFC 5019 GET URL:
    OUT/<standard base64 of the request DER>, its '/' being directory levels. Re-run before
    nextUpdate and after every revocation or suspension."""
    from ca import ocsp_export

    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        result = ocsp_export.export(home, store, out, hashes=_HASH_CHOICES[hash_name], actor=actor)
    facts = {"out": result.out, "index": result.out / ocsp_export.INDEX, "hashes": list(result.hashes),
             "certificates": result.certificates, "files": result.files, "statuses": result.statuses,
             "this_update": result.this_update, "next_update": result.next_update,
             "issuers": result.issuers, "skipped": result.skipped, "removed": result.removed}
    emit(facts, as_json, _lines)


def _lines(f: dict) -> list[str]:
    counts = ", ".join(f"{n} {status}" for status, n in f["statuses"].items() if n)
    lines = [f"wrote {f['files']} answers ({', '.join(f['hashes'])}) for {f['certificates']} certificates "
             f"({counts or 'none'}) to {f['out']}; index {f['index']}",
             f"valid until {f['next_update'].isoformat()}: export again before then and after every revocation"]
    if f["removed"]:
        lines.append(f"removed {f['removed']} stale answer file(s) of an earlier export")
    lines += [f"skipped {why}" for why in f["skipped"].values()]
    return lines
