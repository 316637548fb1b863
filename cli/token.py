"""`eseal token create|revoke|list`: API bearer tokens (store/tokens.py).

The token is printed once, at creation, on stdout alone (so `$(eseal token create ...)`
captures it); only its id is known afterwards.
"""
from __future__ import annotations

import json
from pathlib import Path

import click

from cli.keys import _home_option, _open_home
from cli.main import main
from cli.output import emit, json_option
from store.db import make_sessionmaker
from store.tokens import ROLES, TokenError, create_token, list_tokens, revoke_token


@main.group("token")
def token() -> None:
    """API tokens: create (shown once), revoke, list."""


@token.command("create")
@_home_option
@click.option("--role", required=True, type=click.Choice(ROLES), help="What the token may do.")
@click.option("--agency", help="The agency an agency token is scoped to.")
@click.option("--label", default="", help="A note saying who or what holds the token.")
@json_option
def create_command(home_path: Path, role: str, agency: str | None, label: str, as_json: bool) -> None:
    """Create a token and print it (the only time it is shown)."""
    home = _open_home(home_path)
    with home:
        try:
            secret, info = create_token(make_sessionmaker(home.engine), role=role, agency=agency, label=label)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    emit({"token": secret, "token_id": info.token_id, "role": info.role, "agency": info.agency, "label": info.label,
          "created_at": info.created_at}, as_json, lambda f: [f["token"]])
    click.echo(f"token {info.token_id} ({info.role}{', agency ' + info.agency if info.agency else ''}) created; "
               "store it now, it is not shown again", err=True)


@token.command("revoke")
@_home_option
@click.argument("token_id")
@json_option
def revoke_command(home_path: Path, token_id: str, as_json: bool) -> None:
    """Revoke the token with this id (the part after `esk_` in the token)."""
    home = _open_home(home_path)
    with home:
        try:
            info = revoke_token(make_sessionmaker(home.engine), token_id)
        except TokenError as exc:
            raise click.ClickException(str(exc)) from None
    emit({"token_id": info.token_id, "role": info.role, "agency": info.agency, "revoked_at": info.revoked_at},
         as_json, lambda f: [f"revoked token {f['token_id']} ({f['role']})"])


@token.command("list")
@_home_option
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
def list_command(home_path: Path, as_json: bool) -> None:
    """List tokens (ids, roles, state; never the secrets)."""
    home = _open_home(home_path)
    with home:
        rows = list_tokens(make_sessionmaker(home.engine))
    if as_json:
        click.echo(json.dumps([{"token_id": r.token_id, "role": r.role, "agency": r.agency, "label": r.label,
                                "created_at": r.created_at.isoformat(),
                                "revoked_at": r.revoked_at.isoformat() if r.revoked_at else None} for r in rows],
                              ensure_ascii=False))
        return
    for r in rows:
        state = f"revoked {r.revoked_at.isoformat()}" if r.revoked_at else "active"
        click.echo(f"{r.token_id}  {r.role:<11} {r.agency or '-':<12} {state:<30} {r.label}")
