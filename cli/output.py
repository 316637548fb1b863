"""What a command prints, and the files it writes.

``--json`` (:data:`json_option`, :func:`emit`): human-readable text by default; with
``--json`` one JSON document on stdout and nothing else there (progress and notices go to
stderr). A command builds one dict of facts and hands it to :func:`emit` with a function
that turns the same dict into its lines of text, so both outputs say the same thing.

Writing files so that a crash never leaves half of one under the final name
(:func:`write_atomic`): the bytes go to a temporary file in the same folder, are flushed to
disk, and the file is renamed over the target in one step (``os.replace`` is atomic on
POSIX). A process killed midway leaves at most a ``.<name>.tmp-*`` file, never a truncated
certificate, CRL or sealed document where a user or a web server would pick it up.
"""
from __future__ import annotations

import datetime as dt
import json
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import click

from store.files import write_atomic  # noqa: F401  (re-exported: the CLI commands write their outputs with it)

__all__ = ["emit", "json_option", "write_atomic"]

json_option = click.option("--json", "as_json", is_flag=True, help="Print one JSON document (for scripts).")


def _plain(value: Any) -> Any:
    """JSON for the values facts hold besides str, int, bool, None, lists and dicts."""
    if isinstance(value, Path):
        return str(value)
    if isinstance(value, (dt.datetime, dt.date)):
        return value.isoformat()
    if isinstance(value, (set, frozenset)):
        return sorted(value)
    raise TypeError(f"{type(value).__name__} is not JSON serialisable")


def emit(facts: Any, as_json: bool, human: Callable[[Any], Iterable[str]] | None = None) -> None:
    """Print ``facts`` as one JSON document when ``as_json`` (or when the command has no text
    form: ``human`` None), else the lines ``human(facts)`` gives, on stdout."""
    if as_json or human is None:
        click.echo(json.dumps(facts, ensure_ascii=False, indent=2, default=_plain))
        return
    for line in human(facts):
        click.echo(line)
