"""The `eseal` command. Commands stay thin: each calls one service function."""
from __future__ import annotations

import click


@click.group()
@click.version_option(package_name="eseal")
def main() -> None:
    """eseal: SM2/SM3 certification authority, e-seals and verification."""


from cli import audit as _audit_commands  # noqa: E402,F401  registers `eseal audit` on main
from cli import keys as _keys_commands  # noqa: E402,F401  registers `eseal keys` on main
from cli import demo as _demo_commands  # noqa: E402,F401  registers `eseal demo` on main
from cli import ca as _ca_commands  # noqa: E402,F401  registers `eseal init`, `cert`, `ca`, `crl` on main
from cli import serve as _serve_commands  # noqa: E402,F401  registers `eseal serve` on main
from cli import token as _token_commands  # noqa: E402,F401  registers `eseal token` on main
from cli import license as _license_commands  # noqa: E402,F401  registers `eseal license` on main
from cli import seal as _seal_commands  # noqa: E402,F401  registers `eseal seal` on main
from cli import sign as _sign_commands  # noqa: E402,F401  registers `eseal sign` on main
from cli import log as _log_commands  # noqa: E402,F401  registers `eseal log` on main
from cli import verify as _verify_commands  # noqa: E402,F401  registers `eseal verify` on main
from cli import tl as _tl_commands  # noqa: E402,F401  registers `eseal tl` on main

if __name__ == "__main__":  # pragma: no cover
    main()
