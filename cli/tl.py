"""`eseal tl publish|lotl|import|refresh|signer`: trust lists (verify/trustlist/service.py).

Thin: each command opens the home, unlocks the key store when it signs, and calls one
service function. Errors become a one-line message and exit status 1.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.ca import _actor_option, _errors, _unlocked, _write
from cli.keys import _home_option, _open_home, _passphrase_option
from cli.main import main
from cli.output import emit, json_option
from verify.errors import InputError, VerifyError
from verify.path import load_certificate


def _cert_file(path: str) -> object:
    try:
        return load_certificate(Path(path).read_bytes())
    except (OSError, InputError) as exc:
        raise click.BadParameter(f"{path}: {exc}") from exc


@main.group("tl")
def tl_group() -> None:
    """Trust lists: a region's TL, the national list of lists, import and refresh."""


@tl_group.command("publish")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write tl.json.")
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366), help="Days until next update.")
@_passphrase_option
@_actor_option
@json_option
def publish_command(home_path: Path, out: Path, days: int, passphrase_file: Path | None, actor: str,
                    as_json: bool) -> None:
    """Sign the region's next trust list (root and issuing CAs, OCSP, TSA, seal maker)."""
    import datetime as dt

    from verify.trustlist.service import publish_region_tl

    home = _open_home(home_path)
    try:
        with _unlocked(home, passphrase_file, actor) as ks, _errors(), _verify_errors():
            doc = publish_region_tl(home, ks, actor=actor, validity=dt.timedelta(days=days))
        _write(out, doc)
        emit(_list_facts("tl", out, doc), as_json, lambda f: [f"trust list written to {f['out']}"])
    finally:
        home.close()


@tl_group.command("lotl")
@_home_option
@click.option("--add", "adds", multiple=True, metavar="URL,SIGNER.pem",
              help="A regional TL URL and the certificate that signs it (repeatable).")
@click.option("--withdraw", "withdraws", multiple=True, metavar="URL", help="Withdraw a region (repeatable).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@click.option("--days", default=30, show_default=True, type=click.IntRange(1, 366))
@_passphrase_option
@_actor_option
@json_option
def lotl_command(home_path: Path, adds: tuple[str, ...], withdraws: tuple[str, ...], out: Path, days: int,
                 passphrase_file: Path | None, actor: str, as_json: bool) -> None:
    """Sign the next national list of lists (earlier regions are carried over)."""
    import datetime as dt

    from verify.trustlist.service import PointerSpec, build_lotl

    specs = []
    for item in adds:
        url, sep, pem = item.rpartition(",")
        if not sep or not url:
            raise click.BadParameter(f"--add {item!r}: expected URL,SIGNER.pem")
        specs.append(PointerSpec(url, _cert_file(pem)))
    home = _open_home(home_path)
    try:
        with _unlocked(home, passphrase_file, actor) as ks, _errors(), _verify_errors():
            doc = build_lotl(home, ks, specs, withdraw=withdraws, actor=actor, validity=dt.timedelta(days=days))
        _write(out, doc)
        emit(_list_facts("lotl", out, doc), as_json, lambda f: [f"national list written to {f['out']}"])
    finally:
        home.close()


@tl_group.command("import")
@_home_option
@click.option("--lotl", "source", required=True, help="URL or file of the national list of lists.")
@click.option("--pin", "pin", required=True, type=click.Path(exists=True, dir_okay=False),
              help="The national signer's certificate (PEM or DER), obtained out of band.")
@_actor_option
@json_option
def import_command(home_path: Path, source: str, pin: str, actor: str, as_json: bool) -> None:
    """Verify the national list with the pinned certificate and import every regional TL."""
    from verify.trustlist.service import import_lotl

    home = _open_home(home_path)
    try:
        with _errors(), _verify_errors():
            result = import_lotl(home, source, _cert_file(pin), actor=actor)
        _print_result(result, as_json)
    finally:
        home.close()


@tl_group.command("refresh")
@_home_option
@click.option("--pin", "pin", required=True, type=click.Path(exists=True, dir_okay=False))
@click.option("--force", is_flag=True, help="Re-import even when no list is due.")
@_actor_option
@json_option
def refresh_command(home_path: Path, pin: str, force: bool, actor: str, as_json: bool) -> None:
    """Re-import the national list when an imported list is due (run it from cron)."""
    from verify.trustlist.service import refresh_lotl

    home = _open_home(home_path)
    try:
        with _errors(), _verify_errors():
            result = refresh_lotl(home, _cert_file(pin), actor=actor, force=force)
        if result is None:
            emit({"refreshed": False}, as_json, lambda f: ["nothing due"])
        else:
            _print_result(result, as_json, refreshed=True)
    finally:
        home.close()


@tl_group.command("signer")
@_home_option
@click.option("--kind", type=click.Choice(["tl", "lotl"]), default="tl", show_default=True)
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path))
@_passphrase_option
@_actor_option
@json_option
def signer_command(home_path: Path, kind: str, out: Path, passphrase_file: Path | None, actor: str,
                   as_json: bool) -> None:
    """Write this home's list-signer certificate (PEM), made on first use: what the
    national operator names in the LOTL (tl) or what relying parties pin (lotl)."""
    from ca.certificate import to_pem
    from verify.trustlist.service import list_signer

    home = _open_home(home_path)
    try:
        with _unlocked(home, passphrase_file, actor) as ks, _errors(), _verify_errors():
            key_ref, cert = list_signer(home, ks, kind, actor=actor)
        _write(out, to_pem(cert))
        emit({"kind": kind, "out": out, "serial": format(cert.serial_number, "x"), "key_ref": key_ref}, as_json,
             lambda f: [f"{f['kind']} signer certificate written to {f['out']}"])
    finally:
        home.close()


def _list_facts(kind: str, out: Path, doc: bytes) -> dict:
    """What a signed list says about itself (the document the service returned, signed JSON)."""
    body = json.loads(doc)["list"]
    return {"kind": kind, "out": out, "sequence_number": body["sequence_number"],
            "territory": body["scheme_territory"], "issue_date": body["issue_date"],
            "next_update": body["next_update"]}


def _print_result(result: object, as_json: bool, **extra: object) -> None:
    facts = {**extra, "lotl_sequence": result.lotl_sequence,
             "imported": [{"url": url, "territory": territory, "sequence_number": seq}
                          for url, territory, seq in result.imported],
             "failures": [{"url": url, "reason": reason} for url, reason in result.failures]}
    emit(facts, as_json, _result_lines)
    for url, reason in result.failures:
        click.echo(f"  FAILED {url}: {reason}", err=True)
    if result.failures:
        raise click.ClickException(f"{len(result.failures)} regional list(s) could not be imported")


def _result_lines(f: dict) -> list[str]:
    return ([f"national list #{f['lotl_sequence']}: {len(f['imported'])} regional list(s) imported"]
            + [f"  {i['territory']} #{i['sequence_number']} {i['url']}" for i in f["imported"]])


class _verify_errors:  # noqa: N801 - used like a context manager function
    def __enter__(self) -> None:
        return None

    def __exit__(self, exc_type: object, exc: BaseException | None, tb: object) -> bool:
        if isinstance(exc, VerifyError):
            raise click.ClickException(str(exc)) from exc
        return False
