"""`eseal verify FILE`: verify a certificate, an OFD, a PDF, a CMS or an SES_Signature;
`eseal verify --home H --license ID`: an e-license of the home's directory, by its id.

Thin: builds a :class:`verify.engine.Verifier` from the options (trust from the home's
imported trust lists, --trust-list files, --anchor certificates; revocation online or
offline with --crl files; strict or --lenient policy), calls ``verify_bytes`` and prints
the report. Exit status: 0 PASSED, 1 FAILED, 2 INDETERMINATE; 3 when there is no verdict
(input that cannot be read, a usage error, a home or trust list that cannot be used).
"""
from __future__ import annotations

import datetime as dt
from pathlib import Path
from typing import Any

import click

from cli.main import main
from verify.errors import VerifyError

NO_VERDICT = 3


class _VerdictCommand(click.Command):
    """Exit statuses 0-2 are verdicts. Whatever leaves none exits 3, so that a script never
    reads a mistyped option (click's usage status is 2) as INDETERMINATE, or a home or a
    trust list that cannot be used (a ClickException's 1) as FAILED."""

    def make_context(self, *args: Any, **kwargs: Any) -> click.Context:
        try:
            return super().make_context(*args, **kwargs)
        except click.ClickException as exc:
            exc.exit_code = NO_VERDICT
            raise

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except click.ClickException as exc:
            exc.exit_code = NO_VERDICT
            raise


@main.command("verify", cls=_VerdictCommand)
@click.argument("file", required=False, type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--license", "license_id", help="Verify this e-license of the --home directory (its OFD as issued).")
@click.option("--json", "as_json", is_flag=True, help="Print the report as JSON.")
@click.option("--html", "html_out", type=click.Path(dir_okay=False, path_type=Path), help="Also write an HTML report.")
@click.option("--data", "data_file", type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="The signed data, for a detached CMS or an SES_Signature.")
@click.option("--trust-list", "trust_lists", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A signed regional trust list to trust (repeatable).")
@click.option("--anchor", "anchors", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A trust anchor certificate, PEM or DER (repeatable).")
@click.option("--home", "home_path", type=click.Path(file_okay=False, path_type=Path), envvar="ESEAL_HOME",
              help="Use this home's imported trust lists and its own root.")
@click.option("--offline", is_flag=True, help="Fetch nothing: revocation from --crl files only.")
@click.option("--crl", "crls", multiple=True, type=click.Path(exists=True, dir_okay=False, path_type=Path),
              help="A CRL file for the offline mode (repeatable).")
@click.option("--lenient", is_flag=True, help="Report encoding quirks as warnings instead of failures.")
@click.option("--at", "at_text", help="Validation time for a certificate (ISO 8601, default now).")
def verify_command(file: Path | None, license_id: str | None, as_json: bool, html_out: Path | None,
                   data_file: Path | None, trust_lists: tuple[Path, ...], anchors: tuple[Path, ...],
                   home_path: Path | None, offline: bool, crls: tuple[Path, ...], lenient: bool,
                   at_text: str | None) -> None:
    """Verify FILE (or the e-license --license) and print the verdict with every check made."""
    from seal.license.errors import LicenseError
    from verify.service import license_document, verifier_for_home

    if (file is None) == (license_id is None):
        raise click.UsageError("give a FILE or --license ID, one of the two")
    if license_id is not None and home_path is None:
        raise click.UsageError("--license needs --home (the directory that issued it)")

    at = None
    if at_text:
        try:
            at = dt.datetime.fromisoformat(at_text.replace("Z", "+00:00"))
        except ValueError:
            raise click.BadParameter(f"{at_text!r} is not an ISO 8601 time", param_hint="--at") from None
        if at.tzinfo is None:
            at = at.replace(tzinfo=dt.timezone.utc)
        try:
            at = at.astimezone(dt.timezone.utc)
        except OverflowError:   # 9999-12-31T23:00-05:00 is in the year 10000 in UTC
            raise click.BadParameter(f"{at_text!r} is out of range (after 9999 or before 0001 in UTC)",
                                     param_hint="--at") from None
    home = None
    try:
        if home_path is not None:
            from cli.keys import _open_home

            home = _open_home(home_path)
        verifier = verifier_for_home(home, lenient=lenient, online=not offline,
                                     crls=[p.read_bytes() for p in crls], trust_lists=trust_lists,
                                     anchors=[p.read_bytes() for p in anchors])
        name, data = license_document(home, license_id) if license_id is not None else (file.name, file.read_bytes())
        report = verifier.verify_bytes(data, name=name, at=at, detached=data_file.read_bytes() if data_file else None)
    except (VerifyError, LicenseError) as exc:
        raise click.ClickException(str(exc)) from None
    finally:
        if home is not None:
            home.close()
    if html_out is not None:
        try:
            html_out.write_text(report.html(), encoding="utf-8")
        except OSError as exc:
            raise click.ClickException(f"cannot write the HTML report {html_out}: {exc.strerror or exc}") from None
    if as_json:
        click.echo(report.json())
    else:
        _print(report)
    raise SystemExit(report.exit_code)


def _print(report: object) -> None:
    sub = f" ({report.sub_indication.value})" if report.sub_indication else ""
    click.echo(f"{report.input_name}: {report.indication.value}{sub}")
    for sig in report.signatures:
        s_sub = f" ({sig.sub_indication.value})" if sig.sub_indication else ""
        click.echo(f"  {sig.kind} {sig.id}: {sig.indication.value}{s_sub}")
        if sig.signer:
            click.echo(f"    signer: {sig.signer.subject}")
        for check in sig.checks:
            if check.result.value in ("PASSED", "INFO"):
                continue
            click.echo(f"    {check.result.value} {check.code}: {check.message}")
