"""`eseal log ...`: the transparency log (store/translog.py). Thin: open, call, print.

`sign`, `head`, `prove` and `consistency` run at the region and print JSON (with or without
``--json``, which they accept like every command); `check` runs anywhere — a
verifier in another region with the artefact, the proof and the region's audit public key.
Exit status of `check`: 0 the artefact is in the log, 1 it is not (each reason printed).
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.keys import _home_option, _open_home, _passphrase_option, _read_passphrase
from cli.main import main
from cli.output import emit, json_option
from gm.sm2 import PublicKey
from keystore.errors import KeyStoreError
from keystore.region import audit_signer
from keystore.soft import SoftKeyStore
from store import translog
from store.db import make_sessionmaker


@main.group("log")
def log() -> None:
    """Transparency log of certificates, seals, sealed documents and e-licenses."""


@log.command("sign")
@_home_option
@_passphrase_option
@json_option
def sign_command(home_path: Path, passphrase_file: Path | None, as_json: bool) -> None:
    """Sign a tree head over the log as it is now (with the region's audit key)."""
    passphrase = _read_passphrase(passphrase_file)
    if passphrase is None:
        raise click.UsageError("the key store passphrase is needed: ESEAL_PASSPHRASE or --passphrase-file")
    with _open_home(home_path) as home:
        sessions = make_sessionmaker(home.engine)
        try:
            store = SoftKeyStore(sessions)
            store.unlock_with_passphrase(passphrase, actor="cli:log")
            head = translog.sign_tree_head(sessions, audit_signer(home, store))
        except KeyStoreError as exc:
            raise click.ClickException(str(exc)) from exc
    emit(head.to_dict(), as_json)


@log.command("head")
@_home_option
@json_option
def head_command(home_path: Path, as_json: bool) -> None:
    """Print the latest signed tree head."""
    with _open_home(home_path) as home:
        try:
            emit(translog.latest_head(make_sessionmaker(home.engine)).to_dict(), as_json)
        except translog.TransLogError as exc:
            raise click.ClickException(str(exc)) from exc


@log.command("prove")
@_home_option
@click.option("--subject", required=True, help='What to prove, e.g. "cert:1f2e..." or "seal:44000020260001X".')
@json_option
def prove_command(home_path: Path, subject: str, as_json: bool) -> None:
    """Print an inclusion proof of SUBJECT against the latest signed tree head (JSON)."""
    with _open_home(home_path) as home:
        try:
            emit(translog.prove_inclusion(make_sessionmaker(home.engine), subject).to_dict(), as_json)
        except translog.TransLogError as exc:
            raise click.ClickException(str(exc)) from exc


@log.command("consistency")
@_home_option
@click.option("--old", "old_size", type=int, required=True, help="Size of the earlier tree head.")
@click.option("--new", "new_size", type=int, required=True, help="Size of the later tree head.")
@json_option
def consistency_command(home_path: Path, old_size: int, new_size: int, as_json: bool) -> None:
    """Print a consistency proof between two tree sizes (JSON)."""
    with _open_home(home_path) as home:
        try:
            emit(translog.prove_consistency(make_sessionmaker(home.engine), old_size, new_size).to_dict(), as_json)
        except translog.TransLogError as exc:
            raise click.ClickException(str(exc)) from exc


@log.command("check")
@click.option("--proof", "proof_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--artefact", "artefact_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The certificate, seal or document the proof is about (as logged: DER for certificates and seals).")
@click.option("--public-key", "public_key_path", required=True,
              type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The region's audit signer public key (PEM), from its trust list or audit-signer.pub.pem.")
@json_option
def check_command(proof_path: Path, artefact_path: Path, public_key_path: Path, as_json: bool) -> None:
    """Check, offline, that an artefact is in a region's log."""
    try:
        proof = translog.InclusionProof.from_dict(json.loads(proof_path.read_text(encoding="utf-8")))
        key = PublicKey.from_pem(public_key_path.read_bytes())
    except (ValueError, translog.TransLogError) as exc:
        raise click.ClickException(f"cannot read the proof or key: {exc}") from exc
    except RecursionError:
        raise click.ClickException(f"cannot read the proof: {proof_path} is JSON nested too deeply") from None
    problems = translog.check_inclusion(proof, artefact_path.read_bytes(), key)
    facts = {"logged": not problems, "subject": proof.subject, "index": proof.index, "tree_size": proof.head.size,
             "signed_at": proof.head.signed_at, "problems": list(problems)}
    emit(facts, as_json, _check_lines)
    if problems:
        raise SystemExit(1)


def _check_lines(f: dict) -> list[str]:
    if not f["logged"]:
        return [f"NOT LOGGED: {problem}" for problem in f["problems"]]
    return [f"logged: {f['subject']} is entry {f['index']} of the tree of size {f['tree_size']} "
            f"signed at {f['signed_at']}"]
