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
from ca.workflow import Page
from cli.keys import (
    PASSPHRASE_ENV,
    _home_option,
    _open_home,
    _passphrase_option,
    _read_passphrase,
    _read_utf8,
    actor_option,
)
from cli.main import main
from cli.output import emit, json_option
from keystore.errors import KeyStoreAlreadyInitialised, KeyStoreError
from keystore.soft import SoftKeyStore
from store.db import make_sessionmaker
from store.errors import StoreError
from store.home import Home

_actor_option = actor_option
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
@click.option("--demo", is_flag=True, help="Also create a demo agency with its seal (license types are built in).")
@_passphrase_option
@_actor_option
@json_option
def init_command(home_path: Path, region_code: str, region_name: str, base_url: str, demo: bool,
                 passphrase_file: Path | None, actor: str, as_json: bool) -> None:
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
            agency = None
            if demo:
                from seal.demo import create_demo_agency
                from seal.errors import SealError

                try:
                    agency = create_demo_agency(home, store, actor=actor)
                except SealError as exc:
                    raise click.ClickException(str(exc)) from exc
        finally:
            store.lock()
    facts = {
        "region_code": info.region_code, "region_name": info.region_name, "home": home.path,
        "root_certificate": info.root_pem_path, "root_serial": info.root_serial,
        "issuing_serial": info.issuing_serial, "service_serials": dict(info.service_serials or {}),
        "admin_token_path": info.admin_token_path, "base_url": info.base_url,
        "demo": None if agency is None else {"agency": agency.agency, "name": agency.name, "es_id": agency.es_id,
                                             "signer_serial": agency.signer_serial},
    }
    emit(facts, as_json, _init_lines)


def _init_lines(f: dict) -> list[str]:
    lines = [f"region {f['region_code']} {f['region_name']} initialised in {f['home']}",
             f"root certificate: {f['root_certificate']} (serial {f['root_serial']})",
             f"issuing CA serial {f['issuing_serial']}; service certificates: "
             + ", ".join(f"{p} {serial}" for p, serial in f["service_serials"].items()),
             f"administrator API token: {f['admin_token_path']} (mode 0600; keep it secret)",
             f"URLs in certificates start with {f['base_url']}"]
    if f["demo"] is not None:
        lines.append(f"demo agency {f['demo']['name']} ({f['demo']['agency']}) with seal {f['demo']['es_id']}; "
                     "license types: eseal license types")
    return lines


@main.group("cert")
def cert() -> None:
    """Certificates: issue, apply/review/approve/reject, renew, rekey, suspend, resume, revoke."""


KEY_PASSPHRASE_ENV = "ESEAL_KEY_PASSPHRASE"


def _san(values: tuple[str, ...]) -> list[tuple[str, str]]:
    out = []
    for value in values:
        kind, sep, name = value.partition(":")
        if not sep or kind not in ("dns", "ip", "email"):
            raise click.UsageError(f"--san {value!r}: expected dns:NAME, ip:ADDRESS or email:ADDRESS")
        out.append((kind, name))
    return out


def _key_passphrase(path: Path | None) -> str | None:
    if path is not None:
        lines = [ln.strip() for ln in _read_utf8(path).splitlines() if ln.strip()]
        return lines[0] if lines else ""
    return os.environ.get(KEY_PASSPHRASE_ENV)


def _write_new(path: Path, data: bytes, mode: int = 0o600) -> None:
    """Write a private-key file readable by the owner only; never over an existing file."""
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    except FileExistsError:
        raise click.ClickException(f"{path} already exists; a key file is never overwritten") from None
    except OSError as exc:
        raise click.ClickException(f"cannot write {path}: {exc}") from exc
    with os.fdopen(fd, "wb") as handle:
        handle.write(data)


@cert.command("issue")
@_home_option
@click.option("--profile", required=True, help="personal, organization, device, seal_maker, tsa, tls_server, ...")
@click.option("--csr", "csr_path", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PKCS#10 request (PEM or DER), SM2 with SM3 (or --generate-key).")
@click.option("--subject", help='Subject DN "C=CN,O=...,CN=..." (default: the subject of the CSR).')
@click.option("--id-number", help="Citizen ID number (18 characters, check digit verified).")
@click.option("--credit-code", help="Unified social credit code (18) or organization code (9).")
@click.option("--san", multiple=True, help="Subject alternative name dns:NAME, ip:ADDR or email:ADDR (repeatable).")
@click.option("--uid", default="1234567812345678", show_default=True,
              help="SM2 signer ID the applicant used to sign the CSR.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@click.option("--generate-key", is_flag=True,
              help="Generate the key pair here (no CSR); the private key goes to --key-out, never stored.")
@click.option("--key-out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --generate-key: encrypted PKCS#8 PEM, or a GM/T 0009 envelope (DER) with --key-recipient.")
@click.option("--key-passphrase-file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help=f"Passphrase for the PKCS#8 key (first line; default: ${KEY_PASSPHRASE_ENV}).")
@click.option("--key-recipient", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="SM2 public key (PEM/DER) to envelope the generated key for, instead of a passphrase.")
@click.option("--dual", is_flag=True, help="Also an encryption certificate with a KMC-generated, escrowed key.")
@click.option("--enc-out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --dual: the encryption private key as a GM/T 0009 envelope (DER) under the CSR's key.")
@click.option("--enc-cert-out", type=click.Path(dir_okay=False, path_type=Path),
              help="With --dual: the encryption certificate (PEM).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the certificate (PEM).")
@_passphrase_option
@_actor_option
@json_option
def issue_command(home_path: Path, profile: str, csr_path: Path | None, subject: str | None,
                  id_number: str | None, credit_code: str | None, san: tuple[str, ...], uid: str,
                  days: int | None, generate_key: bool, key_out: Path | None, key_passphrase_file: Path | None,
                  key_recipient: Path | None, dual: bool, enc_out: Path | None, enc_cert_out: Path | None,
                  out: Path, passphrase_file: Path | None, actor: str, as_json: bool) -> None:
    """Issue a certificate; prints its serial number in hex (with --dual, then the encryption
    certificate's serial on a second line)."""
    from ca import keygen
    from ca.certificate import to_pem

    if generate_key == (csr_path is not None):
        raise click.UsageError("give either --csr or --generate-key")
    if generate_key and (key_out is None or dual):
        raise click.UsageError("--generate-key needs --key-out (and does not combine with --dual)")
    if dual and (enc_out is None or enc_cert_out is None):
        raise click.UsageError("--dual needs --enc-out and --enc-cert-out")
    if generate_key and not subject:
        raise click.UsageError("--generate-key needs --subject")
    key_passphrase = None
    if generate_key and key_recipient is None:
        key_passphrase = _key_passphrase(key_passphrase_file)
        if key_passphrase is None:
            raise click.UsageError(f"the generated key needs a passphrase: set {KEY_PASSPHRASE_ENV}, "
                                   "give --key-passphrase-file, or --key-recipient")
    common = dict(profile=profile, subject=subject, id_number=id_number, credit_code=credit_code,
                  san=_san(san), days=days, actor=actor)
    for path in (key_out, enc_out):
        if path is not None and path.exists():
            raise click.ClickException(f"{path} already exists; a key file is never overwritten")
    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        if generate_key:
            made = keygen.issue_with_generated_key(
                home, store, passphrase=key_passphrase,
                recipient=key_recipient.read_bytes() if key_recipient else None, **common)
            serials, certificate = [made.serial], made.certificate
            _write_new(key_out, made.key_pem if made.key_pem is not None else made.envelope)
        elif dual:
            pair = keygen.issue_dual(home, store, csr_pem=csr_path.read_bytes(), uid=uid.encode("utf-8"), **common)
            serials, certificate = [pair.signing_serial, pair.encryption_serial], pair.signing_certificate
            _write_new(enc_out, pair.envelope)
            _write(enc_cert_out, to_pem(pair.encryption_certificate))
        else:
            serial, certificate = service.issue_certificate(
                home, store, csr_pem=csr_path.read_bytes(), uid=uid.encode("utf-8"), **common)
            serials = [serial]
    _write(out, to_pem(certificate))
    facts = {"serial": serials[0], "encryption_serial": serials[1] if dual else None, "profile": profile,
             "out": out, "key_out": key_out, "enc_out": enc_out, "enc_cert_out": enc_cert_out}
    emit(facts, as_json, lambda f: [s for s in (f["serial"], f["encryption_serial"]) if s])


@cert.command("revoke")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@click.option("--reason", default="unspecified", show_default=True,
              help="RFC 5280 reason: keyCompromise, affiliationChanged, superseded, cessationOfOperation, ...")
@click.option("--invalidity-date", type=click.DateTime(["%Y-%m-%dT%H:%M:%SZ", "%Y-%m-%d"]),
              help="When the key is known or suspected to have become invalid (UTC).")
@_actor_option
@json_option
def revoke_command(home_path: Path, serial: str, reason: str, invalidity_date, actor: str, as_json: bool) -> None:
    """Revoke a certificate (final)."""
    import datetime as dt

    when = invalidity_date.replace(tzinfo=dt.timezone.utc) if invalidity_date else None
    home = _open_home(home_path)
    with home, _errors():
        row = service.revoke(home, serial, reason, invalidity_date=when, actor=actor)
    emit(_status_facts(row), as_json, lambda f: [f"revoked {f['serial']} ({f['reason']}) at {f['revoked_at']}"])


def _status_facts(row: object) -> dict:
    """A certificate's state after revoke, suspend or resume."""
    return {"serial": row.serial, "status": row.status, "reason": row.reason,
            "revoked_at": row.revoked_at.isoformat() if row.revoked_at else None,
            "invalidity_date": row.invalidity_date.isoformat() if row.invalidity_date else None}


@cert.command("suspend")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@_actor_option
@json_option
def suspend_command(home_path: Path, serial: str, actor: str, as_json: bool) -> None:
    """Suspend a certificate (certificateHold)."""
    home = _open_home(home_path)
    with home, _errors():
        row = service.suspend(home, serial, actor=actor)
    emit(_status_facts(row), as_json, lambda f: [f"suspended {f['serial']}"])


@cert.command("resume")
@_home_option
@click.option("--serial", required=True, help="Serial number in hex.")
@_actor_option
@json_option
def resume_command(home_path: Path, serial: str, actor: str, as_json: bool) -> None:
    """Resume a suspended certificate."""
    home = _open_home(home_path)
    with home, _errors():
        row = service.resume(home, serial, actor=actor)
    emit(_status_facts(row), as_json, lambda f: [f"resumed {f['serial']}"])


@cert.command("renew")
@_home_option
@click.option("--serial", required=True, help="Serial number (hex) of the certificate to renew.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new certificate (PEM).")
@_passphrase_option
@_actor_option
@json_option
def renew_command(home_path: Path, serial: str, days: int | None, out: Path, passphrase_file: Path | None,
                  actor: str, as_json: bool) -> None:
    """Renew: same key and content, new serial and validity; prints the new serial."""
    from ca import renewal
    from ca.certificate import to_pem

    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        new_serial, certificate = renewal.renew(home, store, serial, days=days, actor=actor)
    _write(out, to_pem(certificate))
    emit({"serial": new_serial, "replaces": serial, "out": out}, as_json, lambda f: [f["serial"]])


@cert.command("rekey")
@_home_option
@click.option("--serial", required=True, help="Serial number (hex) of the certificate to replace.")
@click.option("--csr", "csr_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="PKCS#10 request for the new key.")
@click.option("--uid", default="1234567812345678", show_default=True, help="SM2 signer ID of the CSR.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the new certificate (PEM).")
@_passphrase_option
@_actor_option
@json_option
def rekey_command(home_path: Path, serial: str, csr_path: Path, uid: str, days: int | None, out: Path,
                  passphrase_file: Path | None, actor: str, as_json: bool) -> None:
    """Rekey: a new certificate for a new key; the old one is revoked (superseded)."""
    from ca import renewal
    from ca.certificate import to_pem

    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        new_serial, certificate = renewal.rekey(home, store, serial, csr_pem=csr_path.read_bytes(),
                                                uid=uid.encode("utf-8"), days=days, actor=actor)
    _write(out, to_pem(certificate))
    emit({"serial": new_serial, "replaces": serial, "out": out}, as_json, lambda f: [f["serial"]])


@cert.command("apply")
@_home_option
@click.option("--profile", required=True, help="personal, organization, device, ...")
@click.option("--csr", "csr_path", required=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The applicant's PKCS#10 request.")
@click.option("--subject", help='Subject DN "C=CN,O=...,CN=..." (default: the subject of the CSR).')
@click.option("--id-number", help="Citizen ID number.")
@click.option("--credit-code", help="Unified social credit code or organization code.")
@click.option("--san", multiple=True, help="dns:NAME, ip:ADDR or email:ADDR (repeatable).")
@click.option("--uid", default="1234567812345678", show_default=True, help="SM2 signer ID of the CSR.")
@click.option("--days", type=int, help="Validity in days (default: the profile's).")
@_actor_option
@json_option
def apply_command(home_path: Path, profile: str, csr_path: Path, subject: str | None, id_number: str | None,
                  credit_code: str | None, san: tuple[str, ...], uid: str, days: int | None, actor: str,
                  as_json: bool) -> None:
    """Submit a certificate application (you are recorded as its operator); prints its id."""
    from ca import workflow

    home = _open_home(home_path)
    with home, _errors():
        app_id = workflow.submit_application(
            home, profile=profile, csr_pem=csr_path.read_bytes(), subject=subject, id_number=id_number,
            credit_code=credit_code, san=_san(san), uid=uid.encode("utf-8"), days=days, operator=actor)
    emit({"id": app_id, "profile": profile}, as_json, lambda f: [str(f["id"])])


@cert.command("review")
@_home_option
@click.option("--id", "app_id", required=True, type=int, help="Application id.")
@click.option("--note", default="", help="What was checked.")
@_actor_option
@json_option
def review_command(home_path: Path, app_id: int, note: str, actor: str, as_json: bool) -> None:
    """Mark an application reviewed."""
    from ca import workflow

    home = _open_home(home_path)
    with home, _errors():
        info = workflow.review_application(home, app_id, reviewer=actor, note=note)
    emit(_application_facts(info), as_json, lambda f: [f"application {f['id']} {f['status']}"])


@cert.command("approve")
@_home_option
@click.option("--id", "app_id", required=True, type=int, help="Application id.")
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the certificate (PEM).")
@_passphrase_option
@_actor_option
@json_option
def approve_command(home_path: Path, app_id: int, out: Path, passphrase_file: Path | None, actor: str,
                    as_json: bool) -> None:
    """Approve a reviewed application: issues the certificate, prints its serial."""
    from ca import workflow
    from ca.certificate import to_pem

    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        serial, certificate = workflow.approve_application(home, store, app_id, approver=actor)
    _write(out, to_pem(certificate))
    emit({"id": app_id, "serial": serial, "out": out}, as_json, lambda f: [f["serial"]])


@cert.command("reject")
@_home_option
@click.option("--id", "app_id", required=True, type=int, help="Application id.")
@click.option("--reason", required=True, help="Why (the applicant is told).")
@_actor_option
@json_option
def reject_command(home_path: Path, app_id: int, reason: str, actor: str, as_json: bool) -> None:
    """Reject an application that is submitted or reviewed."""
    from ca import workflow

    home = _open_home(home_path)
    with home, _errors():
        info = workflow.reject_application(home, app_id, actor=actor, reason=reason)
    emit(_application_facts(info), as_json,
         lambda f: [f"application {f['id']} {f['status']}: {f['rejection_reason']}"])


def _application_facts(info: object) -> dict:
    return {"id": info.id, "status": info.status, "profile": info.profile, "operator": info.operator,
            "subject": info.subject, "serial": info.serial, "reviewer": info.reviewer,
            "decided_by": info.decided_by, "rejection_reason": info.rejection_reason,
            "created_at": info.created_at, "updated_at": info.updated_at}


def more_than_shown(found: Page, offset: int) -> None:
    """On stderr, when a page does not reach the end: how many match and how to get the next page."""
    shown_to = offset + len(found)
    if shown_to < found.total:
        click.echo(f"{offset + 1}-{shown_to} of {found.total}; next page: --offset {shown_to}", err=True)


@cert.command("applications")
@_home_option
@click.option("--status", type=click.Choice(["submitted", "reviewed", "rejected", "issued"]),
              help="Only applications in this state.")
@click.option("--limit", type=click.IntRange(1, 10_000), default=100, show_default=True, help="At most this many.")
@click.option("--offset", type=click.IntRange(0), default=0, show_default=True, help="Skip this many first.")
@json_option
def applications_command(home_path: Path, status: str | None, limit: int, offset: int, as_json: bool) -> None:
    """List certificate applications, oldest first: id, status, profile, operator, subject, serial
    (a page: --offset, --limit; stderr says when more remain)."""
    from ca import workflow

    home = _open_home(home_path)
    with home, _errors():
        rows = workflow.list_applications(home, status=status, offset=offset, limit=limit)
    emit([_application_facts(r) for r in rows], as_json,
         lambda found: ["\t".join([str(r["id"]), r["status"], r["profile"], r["operator"], r["subject"],
                                   r["serial"] or "-"]) for r in found])
    more_than_shown(rows, offset)


@main.group("ca")
def ca_group() -> None:
    """The region's certification authorities."""


@ca_group.command("chain")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the chain (PEM, issuing CA first, root last).")
@json_option
def chain_command(home_path: Path, out: Path, as_json: bool) -> None:
    """Write the region's CA certificates, root last."""
    home = _open_home(home_path)
    with home, _errors():
        data = service.ca_chain(home)
    _write(out, data)
    emit({"out": out, "certificates": data.count(b"-----BEGIN CERTIFICATE-----")}, as_json,
         lambda f: [f"wrote {f['out']}"])


@main.command("crl")
@_home_option
@click.option("--out", "out", required=True, type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the CRL (DER).")
@click.option("--delta", is_flag=True, help="A delta CRL against the last full CRL.")
@_passphrase_option
@_actor_option
@json_option
def crl_command(home_path: Path, out: Path, delta: bool, passphrase_file: Path | None, actor: str,
                as_json: bool) -> None:
    """Sign the issuing CA's next CRL (full, or --delta)."""
    home = _open_home(home_path)
    with home, _unlocked(home, passphrase_file, actor) as store, _errors():
        der = service.generate_crl(home, store, delta=delta, actor=actor)
    _write(out, der)
    emit(_crl_facts(der, out, delta), as_json, lambda f: [f"wrote {'delta ' if f['delta'] else ''}CRL {f['out']}"])


def _crl_facts(der: bytes, out: Path, delta: bool) -> dict:
    from asn1crypto import crl

    signed = crl.CertificateList.load(der)
    tbs = signed["tbs_cert_list"]
    return {"out": out, "delta": delta, "crl_number": signed.crl_number_value.native,
            "this_update": tbs["this_update"].native, "next_update": tbs["next_update"].native,
            "revoked": len(tbs["revoked_certificates"])}
