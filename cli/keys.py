"""`eseal keys ...`: key store set-up and activation. Thin: open the home, call keystore.

How a server process gets unlocked: `eseal serve` (and any worker) builds a locked
SoftKeyStore and, at start, unlocks it from ESEAL_PASSPHRASE or --passphrase-file when the
store has a passphrase; a store set up with custodians only stays locked until M custodians
present their shares to the running service (API activation endpoint). `eseal keys unlock`
runs in its own process: it proves that the given shares (or passphrase) rebuild this
store's key-encryption key -- a rehearsal or a check of a custodian's file -- and exits.
"""
from __future__ import annotations

import os
from pathlib import Path

import click

from cli.main import main
from cli.output import emit, json_option
from keystore.errors import KeyStoreError
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.errors import StoreError
from store.home import CONFIG_FILE, Home
from store.text import actor_problem

PASSPHRASE_ENV = "ESEAL_PASSPHRASE"

_home_option = click.option(
    "--home", "home_path", required=True, envvar="ESEAL_HOME",
    type=click.Path(file_okay=False, path_type=Path), help="The eseal data folder.",
)
_passphrase_option = click.option(
    "--passphrase-file", "passphrase_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
    help=f"File holding the key-store passphrase (default: the {PASSPHRASE_ENV} environment variable).",
)


def checked_actor(_ctx: click.Context, param: click.Parameter, value: str) -> str:
    """The --actor (or $USER) as every command records it: one line that fits the columns
    that store an actor, or a usage error before anything is done (PostgreSQL: a driver error)."""
    problem = actor_problem(value)
    if problem is not None:
        raise click.BadParameter(problem, param=param)
    return value


# Who runs a command, for the audit log: one option for every command that takes it.
actor_option = click.option(
    "--actor", default=lambda: os.environ.get("USER", "operator"), show_default="$USER",
    callback=checked_actor, help="Who runs the command (audit log).",
)


def _read_utf8(path: Path) -> str:
    """A passphrase file's text; a clear error when it is not UTF-8 (a GBK file, a binary)."""
    try:
        return path.read_text(encoding="utf-8")
    except UnicodeDecodeError:
        raise click.ClickException(f"{path} is not UTF-8 text; save the passphrase as UTF-8") from None
    except OSError as exc:
        raise click.ClickException(f"cannot read {path}: {exc.strerror or exc}") from None


def _read_passphrase(passphrase_file: Path | None) -> str | None:
    if passphrase_file is not None:
        text = _read_utf8(passphrase_file).rstrip("\r\n")
        if not text:
            raise click.ClickException(f"{passphrase_file} is empty")
        return text
    return os.environ.get(PASSPHRASE_ENV) or None


def _open_home(home_path: Path, *, create: bool = False) -> Home:
    try:
        if create and not (home_path / CONFIG_FILE).is_file():
            return Home.create(home_path)
        home = Home.open(home_path)
        home.migrate()
        return home
    except StoreError as exc:
        raise click.ClickException(str(exc)) from exc


@main.group("keys")
def keys() -> None:
    """Key store: initialise, unlock (activate), list keys."""


@keys.command("init")
@_home_option
@click.option("--custodians", type=int, help="Number of custodians (N): one share file each.")
@click.option("--threshold", type=int, help="Shares needed to unlock (M).")
@click.option("--shares-out", "shares_out", type=click.Path(file_okay=False, path_type=Path),
              help="Folder to write the share files to (created; must not hold share files).")
@_passphrase_option
@actor_option
@json_option
def init_command(home_path: Path, custodians: int | None, threshold: int | None, shares_out: Path | None,
                 passphrase_file: Path | None, actor: str, as_json: bool) -> None:
    """Create the key store: a passphrase (ESEAL_PASSPHRASE / --passphrase-file), M-of-N custodian
    shares (--custodians N --threshold M --shares-out DIR), or both."""
    passphrase = _read_passphrase(passphrase_file)
    if custodians is not None and shares_out is None:
        raise click.UsageError("--custodians needs --shares-out DIR to write the share files to")
    if passphrase is None and custodians is None:
        raise click.UsageError(f"give --custodians/--threshold/--shares-out, or a passphrase ({PASSPHRASE_ENV} "
                               "or --passphrase-file)")
    if shares_out is not None:
        try:
            shares_out.mkdir(mode=0o700, parents=True, exist_ok=True)
        except OSError as exc:
            raise click.ClickException(f"cannot create {shares_out}: {exc.strerror or exc}") from None
        if any(shares_out.glob("share-*.json")):
            raise click.ClickException(f"{shares_out} already holds share files; give an empty folder")
    home = _open_home(home_path, create=True)
    with home:
        try:
            result = SoftKeyStore.initialise(
                make_sessionmaker(home.engine), actor=actor, passphrase=passphrase,
                custodians=custodians, threshold=threshold,
            )
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from exc
        result.store.lock()
    shares = [{"index": share.index, "of": share.custodians,
               "path": share.write(shares_out / f"share-{share.index}-of-{share.custodians}.json")}  # type: ignore[operator]
              for share in result.shares]
    facts = {"store_id": result.store_id, "home": home.path, "passphrase": passphrase is not None,
             "custodians": custodians if shares else None, "threshold": threshold if shares else None,
             "shares": shares}
    emit(facts, as_json, _init_lines)


def _init_lines(f: dict) -> list[str]:
    lines = [f"key store {f['store_id']} initialised in {f['home']}"]
    if f["passphrase"]:
        lines.append("activation: passphrase (PBKDF2-HMAC-SM3)")
    lines += [f"wrote custodian share {s['index']} of {s['of']}: {s['path']}" for s in f["shares"]]
    if f["shares"]:
        lines.append(f"any {f['threshold']} of the {f['custodians']} shares unlock the store; hand one file to each "
                     "custodian and delete them from this machine")
    return lines


@keys.command("unlock")
@_home_option
@click.option("--share", "shares", multiple=True, type=click.Path(dir_okay=False, path_type=Path),
              help="A custodian share file (repeat: M of them).")
@_passphrase_option
@json_option
def unlock_command(home_path: Path, shares: tuple[Path, ...], passphrase_file: Path | None, as_json: bool) -> None:
    """Check that the shares (or the passphrase) rebuild this store's key-encryption key.

    Exit status 0 when they do; 1 with the reason (too few shares, a corrupted or foreign
    share named by file, a wrong passphrase) when they do not.
    """
    home = _open_home(home_path)
    with home:
        store = SoftKeyStore.from_home(home)
        try:
            if shares:
                store.unlock_with_shares(list(shares), actor="custodians")
                method = "shares"
            else:
                passphrase = _read_passphrase(passphrase_file)
                if passphrase is None:
                    raise click.UsageError(
                        f"give --share files, or a passphrase ({PASSPHRASE_ENV} or --passphrase-file)")
                store.unlock_with_passphrase(passphrase, actor=os.environ.get("USER", "operator"))
                method = "passphrase"
        except KeyStoreError as exc:
            raise click.ClickException(f"unlock failed: {exc}") from exc
        finally:
            store.lock()
    emit({"ok": True, "store_id": store.store_id, "method": method, "shares": len(shares)}, as_json, _unlock_lines)


def _unlock_lines(f: dict) -> list[str]:
    how = f"{f['shares']} custodian shares" if f["method"] == "shares" else "the passphrase"
    return [f"unlock OK: {how} rebuild the key-encryption key of key store {f['store_id']}"]


@keys.command("list")
@_home_option
@json_option
def list_command(home_path: Path, as_json: bool) -> None:
    """List the keys (no activation needed: public information only)."""
    home = _open_home(home_path)
    with home:
        store = SoftKeyStore.from_home(home)
        try:
            infos = store.list()
            methods = store.activation_methods()
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from exc
    facts = {"store_id": store.store_id, "activation": dict(sorted(methods.items())), "keys": [
        {"key_ref": i.key_ref, "label": i.label, "usage": i.usage, "algorithm": i.algorithm, "status": i.status,
         "roles": sorted(i.policy.roles), "operations": sorted(i.policy.operations),
         "require_pin": i.policy.require_pin, "pin_set": i.pin_set, "pin_locked": i.pin_locked,
         "public_key": i.public_key.hex(), "created_at": i.created_at} for i in infos]}
    emit(facts, as_json, _list_lines)


def _list_lines(f: dict) -> list[str]:
    lines = [f"key store {f['store_id']}; activation: " + ", ".join(f"{m} {p}" for m, p in f["activation"].items())]
    for k in f["keys"]:
        flags = []
        if k["require_pin"]:
            flags.append("pin-locked" if k["pin_locked"] else ("pin" if k["pin_set"] else "pin-not-set"))
        lines.append(f"{k['key_ref']}  {k['label']}  {k['usage']}  {k['status']}  roles={','.join(k['roles'])}"
                     + (f"  {' '.join(flags)}" if flags else ""))
    if not f["keys"]:
        lines.append("no keys")
    return lines
