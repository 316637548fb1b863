"""`eseal license types|issue|batch|status|list|get|revoke`: e-licenses from the command line.

Thin: each command opens the home and calls seal/license (types, service, batch). ``issue``
and ``batch`` seal by default (issue #5): with ``--seal`` or else the one seal the issuing
agency may seal licenses with (``service.agency_seal``); ``--unsealed`` opts out, and only
then is the key store left locked. Errors of the service become a one-line message and exit
status 1.
"""
from __future__ import annotations

import json
import sys
from collections.abc import Iterator
from contextlib import contextmanager, nullcontext
from pathlib import Path
from typing import Any

import click

from cli.ca import _actor_option, _unlocked, _write, more_than_shown
from cli.keys import _home_option, _open_home, _passphrase_option
from cli.main import main
from cli.output import emit, json_option
from keystore.errors import KeyStoreError
from seal.errors import SealError
from seal.license import batch, service
from seal.license.errors import LicenseError, LicenseValidationError
from seal.license.types import load_types
from seal.tsa import TsaError
from store.errors import StoreError

_ERRORS = (LicenseError, SealError, TsaError, KeyStoreError, StoreError)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except LicenseValidationError as exc:
        raise click.ClickException("invalid license data:\n" + "\n".join(f"  {e}" for e in exc.errors)) from exc
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from exc


def _keystore(home: Any, seal_id: str | None, passphrase_file: Path | None, actor: str) -> Any:
    return _unlocked(home, passphrase_file, actor) if seal_id else nullcontext(None)


_type_option = click.option("--type", "type_code", required=True, help="License type code, e.g. YYZZ (营业执照).")
_agency_option = click.option("--agency", help="Issuing agency (发证机关); default: the seal's agency (with "
                                                  "--unsealed: the region's name).")
_seal_option = click.option("--seal", "seal_id",
                            help="Seal id to seal with; default: the one seal the issuing agency may seal licenses "
                                 "with (--agency; any agency's without it). Needs the key store.")
_unsealed_option = click.option("--unsealed", is_flag=True,
                                help="Issue without a seal and timestamp (needs no key store).")


def _seal_to_use(home: Any, type_code: str, agency: str | None, seal_id: str | None, unsealed: bool) -> str | None:
    """--seal, or the agency's one seal; None with --unsealed (service.seal_to_use)."""
    if unsealed and seal_id:
        raise click.UsageError("--seal and --unsealed exclude each other")
    with _errors():
        return service.seal_to_use(home, type_code, agency, seal_id, unsealed,
                                   how_to_choose="choose with --seal ID, or issue with --unsealed")


@main.group("license")
def license_group() -> None:
    """E-licenses (电子证照): types, issue, batch, status, list, get, revoke."""


@license_group.command("types")
@_home_option
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def types_command(home_path: Path, as_json: bool) -> None:
    """List the license types (built-in and H/license-types/*.toml|*.json) with their fields."""
    home = _open_home(home_path)
    with home, _errors():
        types = load_types(home)
    if as_json:
        click.echo(json.dumps([t.to_dict() for t in types.values()], ensure_ascii=False, indent=2))
        return
    for t in types.values():
        click.echo(f"{t.code}  {t.name_zh} / {t.name_en}  ({t.validity.describe()}; {t.source})")
        for f in t.fields:
            rule = f.validator or f.pattern or (", ".join(f.choices) if f.choices else "")
            click.echo(f"    {f.name:<22} {f.type:<6} {'required' if f.required else 'optional':<8} "
                       f"{f.label_zh} / {f.label_en}{'  [' + rule + ']' if rule else ''}")


@license_group.command("issue")
@_home_option
@_type_option
@click.option("--data", "data_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="JSON object of field values.")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path), help="Where to write the OFD.")
@click.option("--external-id", help="Your system's id for this license (a repeat returns the same license).")
@_agency_option
@_seal_option
@_unsealed_option
@_passphrase_option
@_actor_option
@json_option
def issue_command(home_path: Path, type_code: str, data_path: Path, out: Path, external_id: str | None,
                  agency: str | None, seal_id: str | None, unsealed: bool, passphrase_file: Path | None,
                  actor: str, as_json: bool) -> None:
    """Issue one license, sealed with the agency's seal and timestamped; prints its identifier."""
    try:
        data = json.loads(data_path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise click.ClickException(f"{data_path} is not a JSON file: {exc}") from exc
    except RecursionError:
        raise click.ClickException(f"{data_path} is not a JSON file: nested too deeply to be read") from None
    home = _open_home(home_path)
    with home:
        seal_id = _seal_to_use(home, type_code, agency, seal_id, unsealed)
        with _keystore(home, seal_id, passphrase_file, actor) as store, _errors():
            issued = service.issue_license(home, store, type=type_code, data=data, agency=agency,
                                           seal_id=seal_id, external_id=external_id, actor=actor)
    license_id, ofd = issued
    _write(out, ofd)
    already = bool(getattr(issued, "already_issued", False))
    emit({"license_id": license_id, "out": out, "seal_id": seal_id, "external_id": external_id,
          "already_issued": already}, as_json, lambda f: [f["license_id"]])
    if already:
        click.echo(f"already issued for external id {external_id!r}; {out} holds that license", err=True)


@license_group.command("batch")
@_home_option
@_type_option
@click.option("--csv", "csv_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="CSV with a header row: external_id and the field names.")
@click.option("--out", "out_dir", required=True, type=click.Path(file_okay=False, path_type=Path),
              help="Folder for the OFD files and results.csv.")
@_agency_option
@_seal_option
@_unsealed_option
@_passphrase_option
@_actor_option
@json_option
def batch_command(home_path: Path, type_code: str, csv_path: Path, out_dir: Path, agency: str | None,
                  seal_id: str | None, unsealed: bool, passphrase_file: Path | None, actor: str,
                  as_json: bool) -> None:
    """Issue one license per CSV row, each sealed with the agency's seal and timestamped; idempotent by
    external_id; results in OUT/results.csv."""
    try:
        text = csv_path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise click.ClickException(f"{csv_path} is not UTF-8 text: {exc}") from exc
    home = _open_home(home_path)
    with home:
        seal_id = _seal_to_use(home, type_code, agency, seal_id, unsealed)
        with _keystore(home, seal_id, passphrase_file, actor) as store, _errors():
            rows = batch.read_rows(text)
            with click.progressbar(length=len(rows), label="issuing", file=sys.stderr) as bar:
                results = batch.issue_batch(home, store, type=type_code, rows=rows, agency=agency, out_dir=out_dir,
                                            actor=actor, seal_id=seal_id, progress=lambda _r: bar.update(1))
    counts = {s: sum(r.status == s for r in results) for s in ("issued", "already issued", "error")}
    facts = {"issued": counts["issued"], "already_issued": counts["already issued"], "errors": counts["error"],
             "results": out_dir / batch.RESULTS_FILE, "seal_id": seal_id,
             "rows": [{"row": r.row, "external_id": r.external_id, "status": r.status,
                       "license_id": r.license_id or None, "error": r.error or None} for r in results]}
    emit(facts, as_json, lambda f: [f"{f['issued']} issued, {f['already_issued']} already issued, "
                                    f"{f['errors']} errors; results in {f['results']}"])
    if facts["errors"]:
        raise SystemExit(1)


@license_group.command("status")
@_home_option
@click.argument("license_id")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def status_command(home_path: Path, license_id: str, as_json: bool) -> None:
    """Print a license's status: valid, revoked or expired."""
    home = _open_home(home_path)
    with home, _errors():
        status = service.license_status(home, license_id)
    if as_json:
        click.echo(json.dumps(status.to_dict(), ensure_ascii=False, indent=2))
        return
    line = f"{status.license_id} {status.status} {status.type_code} {status.holder_name}"
    line += f" valid to {status.valid_to.isoformat() if status.valid_to else '长期'}"
    if status.revoked_at:
        line += f" revoked {status.revoked_at.isoformat()} ({status.revoke_reason})"
    click.echo(line)


@license_group.command("list")
@_home_option
@click.option("--holder", "holder_id", help="Holder id (credit code or citizen ID).")
@click.option("--type", "type_code", help="License type code.")
@click.option("--status", type=click.Choice(["valid", "revoked", "expired"]), help="Only licenses in this status.")
@click.option("--agency", help="Only licenses issued by this agency (发证机关).")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most this many.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip this many first.")
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
def list_command(home_path: Path, holder_id: str | None, type_code: str | None, status: str | None,
                 agency: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List licenses, newest first (a page: --offset, --limit; stderr says when more remain)."""
    home = _open_home(home_path)
    with home, _errors():
        found = service.list_licenses(home, holder_id=holder_id, type_code=type_code, status=status, agency=agency,
                                      offset=offset, limit=limit)
    if as_json:
        click.echo(json.dumps([st.to_dict() for st in found], ensure_ascii=False, indent=2))
    else:
        for st in found:
            click.echo(f"{st.license_id} {st.status:<7} {st.type_code} {st.holder_id or '-'} {st.holder_name}")
    more_than_shown(found, offset)


@license_group.command("get")
@_home_option
@click.argument("license_id")
@click.option("--out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the license's OFD as issued.")
@json_option
def get_command(home_path: Path, license_id: str, out: Path, as_json: bool) -> None:
    """Write a license's OFD file as issued; prints its status."""
    home = _open_home(home_path)
    with home, _errors():
        info = service.get_license(home, license_id)
    _write(out, info.ofd)
    emit({**info.status.to_dict(), "ofd_sm3": info.ofd_sm3, "out": out}, as_json,
         lambda f: [f"{f['license_id']} {f['status']} sm3 {f['ofd_sm3']}"])


@license_group.command("revoke")
@_home_option
@click.argument("license_id")
@click.option("--reason", required=True, help="Why the license is revoked (recorded and shown to verifiers).")
@_actor_option
@json_option
def revoke_command(home_path: Path, license_id: str, reason: str, actor: str, as_json: bool) -> None:
    """Revoke a license (final)."""
    home = _open_home(home_path)
    with home, _errors():
        status = service.revoke_license(home, license_id, reason, actor=actor)
    emit(status.to_dict(), as_json, lambda f: [f"{f['license_id']} revoked"])
