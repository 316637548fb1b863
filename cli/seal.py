"""`eseal seal make|list|status|suspend|resume|revoke|grant|show`: the seal registry from the command line.

Thin: each command opens the home and calls one function of seal/service.py (or
seal/structures.py for `show`). Only `make` unlocks the key store (the seal maker signs).
Service errors become a one-line message and exit status 1.
"""
from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import click

from ca.errors import CAError
from cli.ca import _actor_option, _unlocked, _write
from cli.keys import _home_option, _open_home, _passphrase_option
from cli.main import main
from cli.output import emit, json_option
from keystore.errors import KeyStoreError
from seal import service, structures
from seal.errors import SealError
from seal.ofd.errors import OFDError
from store.errors import StoreError

# an unreadable OFD (sign): a message, never a traceback
_ERRORS = (SealError, OFDError, CAError, KeyStoreError, StoreError)
_SUFFIX_TYPES = {".png": "png", ".jpg": "jpg", ".jpeg": "jpg", ".svg": "svg", ".ofd": "ofd"}


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from exc


def _as_dict(info: service.SealInfo) -> dict[str, Any]:
    return {
        "es_id": info.es_id, "type": info.seal_type, "name": info.name, "agency": info.agency,
        "status": info.status, "valid_from": info.valid_from.isoformat(), "valid_to": info.valid_to.isoformat(),
        "maker_cert_serial": info.maker_cert_serial, "picture_type": info.picture_type, "bind_by": info.bind_by,
        "holders": list(info.holders), "agencies": list(info.agencies),
        "status_changed_at": info.status_changed_at.isoformat() if info.status_changed_at else None,
        "status_reason": info.status_reason,
    }


def _line(info: service.SealInfo) -> str:
    return (f"{info.es_id}  {info.status:<9} {info.seal_type:<12} {info.name}  "
            f"(agency {info.agency}; valid to {info.valid_to.date().isoformat()})")


def _echo(info: service.SealInfo, as_json: bool) -> None:
    """A seal after a change: its registry entry (--json) or its one line."""
    emit(_as_dict(info), as_json, lambda _: [_line(info)])


@main.group("seal")
def seal_group() -> None:
    """E-seals (GB/T 38540): make, list, status, suspend, resume, revoke, grant, show."""


@seal_group.command("make")
@_home_option
@_passphrase_option
@_actor_option
@click.option("--type", "seal_type", type=click.Choice(["organization", "personal"]), required=True,
              help="Organization seal (单位印章) or personal seal (个人印章).")
@click.option("--name", required=True, help="Name on the seal, e.g. 某某市人民政府.")
@click.option("--holder-cert", "holder_certs", multiple=True, required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Signer certificate (PEM or DER) the seal binds; repeat for several.")
@click.option("--picture", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="Seal picture (PNG, JPG, SVG or OFD); default: the red round official seal is drawn.")
@click.option("--agency", help="Agency that owns and uses the seal (default: the name).")
@click.option("--valid-days", type=int, default=service.DEFAULT_VALID_DAYS, show_default=True)
@click.option("--bind-by", type=click.Choice(["certificate", "digest"]), default="certificate", show_default=True)
@click.option("--size-mm", type=int, help="Picture width and height in mm (default 42 organization, 20 personal).")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write seal.esl.")
@json_option
def make_command(home_path: Path, passphrase_file: Path | None, actor: str, seal_type: str, name: str,
                 holder_certs: tuple[Path, ...], picture: Path | None, agency: str | None, valid_days: int,
                 bind_by: str, size_mm: int | None, out: Path, as_json: bool) -> None:
    """Make a seal signed by the region's seal maker; prints the seal id."""
    picture_bytes, picture_type = None, "png"
    if picture is not None:
        picture_type = _SUFFIX_TYPES.get(picture.suffix.lower(), "")
        if not picture_type:
            raise click.ClickException(f"{picture}: picture must be .png, .jpg, .svg or .ofd")
        picture_bytes = picture.read_bytes()
    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as keystore, _errors():
        es_id = service.make_seal(
            home, keystore, seal_type=seal_type, name=name, agency=agency or name,
            holder_certs=[p.read_bytes() for p in holder_certs], bind_by=bind_by, picture=picture_bytes,
            picture_type=picture_type, width_mm=size_mm, height_mm=size_mm, valid_days=valid_days, actor=actor)
        info = service.get_seal(home, es_id)
    _write(out, info.der)
    emit({**_as_dict(info), "out": out}, as_json, lambda f: [f["es_id"]])


@seal_group.command("list")
@_home_option
@click.option("--agency", help="Only the seals of this agency.")
@click.option("--status", type=click.Choice(["valid", "suspended", "revoked", "expired"]))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(home_path: Path, agency: str | None, status: str | None, as_json: bool) -> None:
    """List the region's seals."""
    home = _open_home(home_path)
    with home, _errors():
        seals = service.list_seals(home, agency=agency, status=status)
    if as_json:
        click.echo(json.dumps([_as_dict(s) for s in seals], ensure_ascii=False, indent=2))
        return
    for s in seals:
        click.echo(_line(s))


@seal_group.command("status")
@_home_option
@click.argument("es_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(home_path: Path, es_id: str, as_json: bool) -> None:
    """A seal's status now (valid, suspended, revoked or expired)."""
    home = _open_home(home_path)
    with home, _errors():
        info = service.seal_status(home, es_id)
    click.echo(json.dumps(_as_dict(info), ensure_ascii=False, indent=2) if as_json else _line(info))


def _status_change(name: str, fn: Any, help_text: str) -> None:
    @seal_group.command(name, help=help_text)
    @_home_option
    @_actor_option
    @click.argument("es_id")
    @click.option("--reason", default="", help="Why (kept in the registry and the audit log).")
    @json_option
    def command(home_path: Path, actor: str, es_id: str, reason: str, as_json: bool) -> None:
        home = _open_home(home_path)
        with home, _errors():
            info = fn(home, es_id, reason=reason, actor=actor)
        _echo(info, as_json)


_status_change("suspend", service.suspend_seal, "Suspend a seal: uses are refused until it is resumed.")
_status_change("resume", service.resume_seal, "Resume a suspended seal.")
_status_change("revoke", service.revoke_seal, "Revoke a seal (final).")


@seal_group.command("grant")
@_home_option
@_actor_option
@click.argument("es_id")
@click.option("--agency", required=True, help="Agency to authorise.")
@click.option("--withdraw", is_flag=True, help="Withdraw the authorisation instead.")
@json_option
def grant_command(home_path: Path, actor: str, es_id: str, agency: str, withdraw: bool, as_json: bool) -> None:
    """Authorise another agency to use a seal (or withdraw it)."""
    home = _open_home(home_path)
    with home, _errors():
        if withdraw:
            if not service.withdraw_use(home, es_id, agency=agency, actor=actor):
                raise click.ClickException(f"agency {agency!r} held no authorisation for seal {es_id}")
        else:
            service.grant_use(home, es_id, agency=agency, actor=actor)
        info = service.get_seal(home, es_id)
    _echo(info, as_json)


@seal_group.command("show")
@click.argument("path", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def show_command(path: Path, as_json: bool) -> None:
    """Read a seal (.esl) or a seal signature (SignedValue.dat) and check its signatures."""
    data = path.read_bytes()
    with _errors():
        try:
            sig = structures.parse_signature(data)
        except SealError:
            sig = None
        seal = sig.seal if sig is not None else structures.parse_seal(data)
        maker = structures.verify_seal_signature(seal)
        signer = structures.verify_signature_value(sig) if sig is not None else None
    facts: dict[str, Any] = {
        "version": seal.version, "es_id": seal.es_id, "name": seal.name, "type": seal.seal_type, "vid": seal.vid,
        "valid_start": seal.valid_start.isoformat() if seal.valid_start else None,
        "valid_end": seal.valid_end.isoformat() if seal.valid_end else None,
        "picture": f"{seal.picture.type} {seal.picture.width_mm}x{seal.picture.height_mm} mm",
        "bound_certificates": len(seal.certificates) + len(seal.cert_digests),
        "maker_signature": "ok" if maker.ok else f"FAILED: {maker.reason}",
        "quirks": [q.message for q in seal.quirks + maker.quirks],
    }
    if sig is not None and signer is not None:
        facts.update({
            "signed_at": sig.time_info.isoformat() if sig.time_info else None,
            "property_info": sig.property_info, "data_hash": sig.data_hash.hex(),
            "timestamped": sig.timestamp is not None, "signer_bound": sig.seal.binds(sig.signer_cert),
            "signer_signature": "ok" if signer.ok else f"FAILED: {signer.reason}",
        })
        facts["quirks"] += [q.message for q in sig.quirks + signer.quirks if q.message not in facts["quirks"]]
    if as_json:
        click.echo(json.dumps(facts, ensure_ascii=False, indent=2))
    else:
        for key, value in facts.items():
            click.echo(f"{key:<20} {value}")
    if not maker.ok or (signer is not None and not signer.ok):
        raise SystemExit(1)
