"""The `eseal` command. Commands stay thin: each calls one service function.

Each command lives in its own module, which registers it on ``main`` when imported. The
group imports a module only when its command is asked for: `eseal verify` then loads the
verifier, not the CA, the web app and the OFD writer as well (each of them costs start-up
time on every call).
"""
from __future__ import annotations

import importlib
import os
from typing import Any

import click

# command name -> module of cli/ that registers it
COMMAND_MODULES = {
    "audit": "audit", "keys": "keys", "demo": "demo", "init": "ca", "cert": "ca", "ca": "ca", "crl": "ca",
    "serve": "serve", "token": "token", "license": "license", "seal": "seal", "sign": "sign", "log": "log",
    "verify": "verify", "tl": "tl", "ocsp": "ocsp",
}


class LazyGroup(click.Group):
    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UnicodeEncodeError as exc:
            # Python hands over an argument's bytes that are not UTF-8 as lone surrogates
            # (PEP 383); a file name may hold them, text cannot: the database, a CSR or a
            # PIN must encode it. One clear error instead of a traceback from wherever it fails.
            if not isinstance(exc.object, str) or "surrogates not allowed" not in str(exc):
                raise
            bad = exc.object[exc.start:exc.end]
            try:
                shown = f"the bytes {os.fsencode(bad)!r}"
            except UnicodeEncodeError:  # a surrogate from elsewhere (a JSON file's \ud800), not from bytes
                shown = ", ".join(f"U+{ord(c):04X}" for c in bad)
            raise click.ClickException(f"an argument is not UTF-8 text (it holds {shown}); "
                                       "give text arguments in UTF-8") from None

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(set(self.commands) | set(COMMAND_MODULES))

    def get_command(self, ctx: click.Context, name: str) -> click.Command | None:
        if name not in self.commands and name in COMMAND_MODULES:
            importlib.import_module(f"cli.{COMMAND_MODULES[name]}")
        return self.commands.get(name)


@click.group(cls=LazyGroup)
@click.version_option(package_name="eseal")
def main() -> None:
    """eseal: SM2/SM3 certification authority, e-seals and verification."""


def load_all() -> click.Group:
    """``main`` with every command registered (for tools that walk the command tree)."""
    for module in sorted(set(COMMAND_MODULES.values())):
        importlib.import_module(f"cli.{module}")
    return main


if __name__ == "__main__":  # pragma: no cover - `python -m cli.main`, tested in a subprocess
    # The command modules register on `cli.main.main`; run as a script this file is
    # `__main__`, a second module whose group would have no commands.
    from cli.main import main as registered

    registered()
