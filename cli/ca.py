"""`eseal init`, `eseal cert issue|revoke|suspend|resume`, `eseal ca chain`, `eseal crl`.

Thin: each command opens the home, unlocks the key store when it signs (ESEAL_PASSPHRASE or
--passphrase-file) and calls one function of ca/service.py. Errors of the service (typed
ca.errors, key store and store errors) become a one-line message and exit status 1.
"""
from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import click

from ca import service
from ca.errors import CAError
from cli.keys import PASSPHRASE_ENV, _home_option, _open_home, _passphrase_option, _read_passphrase
from cli.main import main
from keystore.errors import KeyStoreAlreadyInitialised, KeyStoreError
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.errors import StoreError
from store.home import Home

_actor_option = click.option(
    "--actor", default=lambda: os.environ.get("USER", "operator"), show_default="$USER",
    help="Who runs the command (audit log).",
)
_ERRORS = (CAError, KeyStoreError, StoreError)


@contextmanager
def _errors() -> Iterator[None]:
    try:
        yield
    except _ERRORS as exc:
        raise click.ClickException(str(exc)) from exc


def _need_passphrase(passphrase_file: Path | None) -> str:
    passphrase = _read_passphrase(passphrase_file)
    if passphrase is None:
        raise click.UsageError(f"the key store passphrase is needed: set {PASSPHRASE_ENV} or give --passphrase-file")
    return passphrase


@contextmanager
def _unlocked(home: Home, passphrase_file: Path | None, actor: str) -> Iterator[SoftKeyStore]:
    store = SoftKeyStore.from_home(home)
    with _errors():
        store.unlock_with_passphrase(_need_passphrase(passphrase_file), actor=actor)
    try:
        yield store
    finally:
        store.lock()


def _write(path: Path, data: bytes) -> None:
    try:
        path.write_bytes(data)
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc}") from exc


@main.command("init")
@_home_option
@click.option("--region-code", required=True, help="GB/T 2260 code of the region, e.g. 440000.")
@click.option("--region-name", required=True, help="Name of the region, e.g. 广东省.")
@click.option("--base-url", default="http://localhost:8080", show_default=True,
              help="Public URL of this service (written into certificates: CRL, OCSP, CA issuers).")
@_passphrase_option
@_actor_option
def init_command(home_path: Path, region_code: str, region_name: str, base_url: str,
                 passphrase_file: Path | None, actor: str) -> None:
    """Create the home, the key store (passphrase from ESEAL_PASSPHRASE) and the region's CA
    hierarchy: root CA, issuing CA, service certificates (OCSP, TSA, seal maker, audit signer)
    and the initial administrator's API token. Never overwrites a region."""
    passphrase = _need_passphrase(passphrase_file)
    home = _open_home(home_path, create=True)
    with home, _errors():
        sessions = make_sessionmaker(home.engine)
        try:
            store = SoftKeyStore.initialise(sessions, actor=actor, passphrase=passphrase).store
        except KeyStoreAlreadyInitialised:
            store = SoftKeyStore(sessions)
            store.unlock_with_passphrase(passphrase, actor=actor)
        try:
            info = service.init_region(home, store, region_code=region_code, region_name=region_name,
                                       base_url=base_url, actor=actor)
        finally:
            store.lock()
    click.echo(f"region {info.region_code} {info.region_name} initialised in {home.path}")
    click.echo(f"root certificate: {info.root_pem_path} (serial {info.root_serial})")
    click.echo(f"issuing CA serial {info.issuing_serial}; service certificates: "
               + ", ".join(f"{p} {serial}" for p, serial in (info.service_serials or {}).items()))
    click.echo(f"administrator API token: {info.admin_token_path} (mode 0600; keep it secret)")
    click.echo(f"URLs in certificates start with {info.base_url}")


@main.group("cert")
def cert() -> None:
    """Certificates: issue from a CSR, suspend, resume, revoke."""


@cert.command("issue")
@_home_option
@click.option("--profile", required=True, help="personal, organization, device, seal_maker, tsa, tls_server, ...")
@click.option("--csr", "csr_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PKCS#10 request (PEM or DER), SM2 with SM3.")
@click.option("--subject", help='Subject DN "C=CN,O=...,CN=..." (default: the subject of the CSR).')
@click.option("--id-number", help="Citizen ID number (18 characters, check digit verified).")
@click.option("--credit-code", help="Unified social credit code (18) or organization code (9).")
@click.option("--uid", default="1234567812345678", show_default=True,
              help="SM2 signer ID the applicant used to sign the CSR.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the certificate (PEM).")
@_passphrase_option
@_actor_option
def issue_command(home_path: Path, profile: str, csr_path: Path, subject: str | None, id_number: str | None,
                  credit_code: str | None, uid: str, days: int | None, out: Path,
                  passphrase_file: Path | None, actor: str) -> None:
    """Issue a certificate; prints its serial number in hex."""
    from ca.certificate import to_pem

    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        serial, certificate = service.issue_certificate(
            home, store, profile=profile, csr_pem=csr_path.read_bytes(), subject=subject,
            id_number=id_number, credit_code=credit_code, uid=uid.encode("utf-8"), days=days, actor=actor)
    _write(out, to_pem(certificate))
    click.echo(serial)


@cert.command("revoke")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@click.option("--reason", default="unspecified", show_default=True,
              help="RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, ...")
@click.option("--invalidity-date", type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
              help="When the key is known or suspected to have become invalid (UTC).")
@_actor_option
def revoke_command(home_path: Path, serial: str, reason: str, invalidity_date, actor: str) -> None:
    """Revoke a certificate (final)."""
    import datetime as dt

    when = invalidity_date.replace(tzinfo=dt.timezone.utc) if invalidity_date else None
    home = _open_home(home_path)
    with home, _errors():
        row = service.revoke(home, serial, reason, invalidity_date=when, actor=actor)
    click.echo(f"revoked {row.serial} ({row.reason}) at {row.revoked_at.isoformat()}")


@cert.command("suspend")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@_actor_option
def suspend_command(home_path: Path, serial: str, actor: str) -> None:
    """Suspend a certificate (certificateHold)."""
    home = _open_home(home_path)
    with home, _errors():
        row = service.suspend(home, serial, actor=actor)
    click.echo(f"suspended {row.serial}")


@cert.command("resume")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@_actor_option
def resume_command(home_path: Path, serial: str, actor: str) -> None:
    """Resume a suspended certificate."""
    home = _open_home(home_path)
    with home, _errors():
        row = service.resume(home, serial, actor=actor)
    click.echo(f"resumed {row.serial}")


@main.group("ca")
def ca_group() -> None:
    """The region's certification authorities."""


@ca_group.command("chain")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the chain (PEM, issuing CA first, root last).")
def chain_command(home_path: Path, out: Path) -> None:
    """Write the region's CA certificates, root last."""
    home = _open_home(home_path)
    with home, _errors():
        data = service.ca_chain(home)
    _write(out, data)
    click.echo(f"wrote {out}")


@main.command("crl")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the CRL (DER).")
@click.option("--delta", is_flag=True, help="A delta CRL against the last full CRL.")
@_passphrase_option
@_actor_option
def crl_command(home_path: Path, out: Path, delta: bool, passphrase_file: Path | None, actor: str) -> None:
    """Sign the issuing CA's next CRL (full, or --delta)."""
    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        der = service.generate_crl(home, store, delta=delta, actor=actor)
    _write(out, der)
    click.echo(f"wrote {'delta ' if delta else ''}CRL {out}")
