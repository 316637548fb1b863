"""`eseal sign`: seal a document (OFD, PDF) or any data (detached CMS) with a registered seal.

Thin: unlock, ``seal.sealing.authorise`` (every refusal is a specific error and an audit
record, and no output is written), ``seal.sealing.seal_document``, write the result
atomically. Exit 0 and the output path on success; 1 with the reason otherwise (2 for a
usage error, such as ``--sign-type sign`` for anything but an OFD, which writes nothing).
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from cli.ca import _actor_option, _unlocked
from cli.keys import _home_option, _open_home, _passphrase_option
from cli.main import main
from cli.output import emit, json_option, write_atomic
from cli.seal import _errors

PIN_ENV = "ESEAL_PIN"


@main.command("sign")
@_home_option
@_passphrase_option
@_actor_option
@click.option("--seal", "es_id", required=True, help="The seal id (esID) to seal with.")
@click.option("--in", "in_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--out", "out_path", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--agency", help="Seal as this agency (default: the seal's own agency).")
@click.option("--page", type=click.IntRange(1), default=1, show_default=True, help="Page for the stamp (OFD, PDF).")
@click.option("--x", "x_mm", type=float, default=20.0, show_default=True,
              help="Stamp's left edge, mm from the page's left.")
@click.option("--y", "y_mm", type=float, default=20.0, show_default=True,
              help="Stamp's top edge, mm from the page's top.")
@click.option("--cms", is_flag=True, help="A detached CMS SignedData over the file, whatever it is.")
@click.option("--pkcs7", is_flag=True, help="CMS with the PKCS#7 OIDs instead of GM/T 0010.")
@click.option("--no-timestamp", is_flag=True, help="Do not ask the region's TSA for a timestamp.")
@click.option("--sign-type", type=click.Choice(["seal", "sign"]), default="seal", show_default=True,
              help="OFD only: a Seal-type signature (the seal's SES_Signature and picture) or a Sign-type one "
                   "(a GM/T 0010 SignedData by the signer certificate, no seal picture).")
@json_option
def sign_command(home_path: Path, passphrase_file: Path | None, actor: str, es_id: str, in_path: Path,
                 out_path: Path, agency: str | None, page: int, x_mm: float, y_mm: float, cms: bool,
                 pkcs7: bool, no_timestamp: bool, sign_type: str, as_json: bool) -> None:
    """Seal IN with seal SEAL and write OUT (personal seals: the PIN from ESEAL_PIN)."""
    from seal import sealing

    data = in_path.read_bytes()
    refusal = sealing.sign_type_refusal(data, cms=cms, ofd_sign_type=sign_type.capitalize())
    if refusal is not None:
        raise click.UsageError(f"--sign-type sign with {'--cms' if cms else in_path.name}: {refusal}")
    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as keystore, _errors():
        grant = sealing.authorise(home, keystore, es_id, agency=agency, pin=os.environ.get(PIN_ENV), actor=actor)
        sealed = sealing.seal_document(home, keystore, grant, data, page=page - 1, x_mm=x_mm,
                                       y_mm=y_mm, cms=cms, flavour="pkcs7" if pkcs7 else "gmt0010",
                                       timestamp=not no_timestamp, ofd_sign_type=sign_type.capitalize())
        try:
            write_atomic(out_path, sealed.data)
        except OSError as exc:
            raise click.ClickException(f"cannot write {out_path}: {exc.strerror or exc}") from None
    emit({"out": out_path, "format": sealed.format, "es_id": sealed.es_id, "bytes": len(sealed.data)}, as_json,
         lambda f: [f"{f['out']}  ({f['format']}, seal {f['es_id']})"])
