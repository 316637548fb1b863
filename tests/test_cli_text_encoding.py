"""An argument that is not UTF-8 is one clear error, not a traceback (cli.main.LazyGroup).

Python hands such bytes over as lone surrogates (PEP 383); where they reached the database
(a seal's id, a search) the command died with UnicodeEncodeError's traceback."""
from __future__ import annotations

from click.testing import CliRunner

from ca.testing import soft_region
from cli.main import main
from store.testing import *  # noqa: F401,F403

NOT_UTF8 = b"440000-\xff".decode("utf-8", "surrogateescape")   # what argv holds for these bytes


def test_an_argument_that_is_not_utf8_is_a_clear_error(eseal_home, monkeypatch) -> None:
    soft_region(eseal_home, "encoding test passphrase")
    monkeypatch.setenv("ESEAL_PASSPHRASE", "encoding test passphrase")
    result = CliRunner().invoke(main, ["seal", "status", "--home", str(eseal_home.path), NOT_UTF8])
    assert result.exit_code == 1, (result.exit_code, result.output, result.exception)
    assert "an argument is not UTF-8 text (it holds the bytes b'\\xff')" in result.output
    assert "Traceback" not in result.output
    good = CliRunner().invoke(main, ["seal", "status", "--home", str(eseal_home.path), "440000-2026-000099"])
    assert good.exit_code != 0 and "UTF-8" not in good.output      # an unknown seal: its own error


def test_a_surrogate_not_made_from_bytes_is_named_by_code_point() -> None:
    import click

    from cli.main import LazyGroup

    group = LazyGroup(name="g")

    @group.command("echo")
    @click.argument("text")
    def echo(text: str) -> None:
        text.encode("utf-8")

    result = CliRunner().invoke(group, ["echo", "a\ud800b"])
    assert result.exit_code == 1 and "it holds U+D800" in result.output, (result.output, result.exception)
