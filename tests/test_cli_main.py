"""cli.main loads a command's module only when the command is asked for; the table of
command names and modules must name every command, and only commands that exist."""
from __future__ import annotations

import subprocess
import sys

from click.testing import CliRunner

from cli.main import COMMAND_MODULES, load_all


def test_the_table_names_exactly_the_registered_commands() -> None:
    assert set(load_all().commands) == set(COMMAND_MODULES)


def test_one_command_loads_only_its_own_module() -> None:
    probe = ("import sys; from click.testing import CliRunner; from cli.main import main;"
             "r = CliRunner().invoke(main, ['verify', '--help']); assert r.exit_code == 0, r.output;"
             "print(sorted(m for m in sys.modules if m.startswith(('cli.', 'api', 'ca.service', 'seal.ofd.signing'))))")
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert "'cli.verify'" in loaded
    for other in ("'cli.ca'", "'cli.serve'", "'cli.sign'", "'api'"):
        assert other not in loaded, loaded


def test_help_lists_every_command() -> None:
    out = CliRunner().invoke(load_all(), ["--help"]).output
    for name in COMMAND_MODULES:
        assert f"  {name} " in out or f"  {name}\n" in out, name


def test_python_dash_m_runs_the_same_commands() -> None:
    """`python -m cli.main` (where the `eseal` script is not on the PATH) finds the commands:
    run as a script the module is `__main__`, and before it answered "No such command"."""
    run = subprocess.run([sys.executable, "-m", "cli.main", "verify", "--help"], capture_output=True, text=True)
    assert run.returncode == 0, run.stderr
    assert "Verify FILE (or the e-license --license)" in run.stdout
