"""Secret-independent control flow and memory access in the SM2 core, checked by valgrind memcheck
(ctgrind technique): the scalar is marked undefined, so a branch or an address that depends on it
is reported. A deliberately leaky control shows the check detects what it is meant to."""
from __future__ import annotations

import os
import shutil
import subprocess
import sysconfig
from pathlib import Path

import pytest

from tests.conftest import require

HERE = Path(__file__).parent


@pytest.fixture(scope="module")
def ct_binary(tmp_path_factory) -> Path:
    valgrind = shutil.which("valgrind")
    require(valgrind and Path("/usr/include/valgrind/memcheck.h").exists(), "valgrind with memcheck.h")
    out = tmp_path_factory.mktemp("ct") / "ct_check"
    libdir = sysconfig.get_config_var("LIBDIR")
    version = sysconfig.get_config_var("LDVERSION")
    subprocess.run(
        ["gcc", "-O2", "-g", "-std=gnu99", f"-I{sysconfig.get_paths()['include']}", str(HERE / "ct" / "ct_check.c"),
         f"-L{libdir}", f"-lpython{version}", f"-Wl,-rpath,{libdir}", "-o", str(out)],
        check=True, capture_output=True,
    )
    return out


def _memcheck(binary: Path, mode: str, no_adx: str = "0") -> subprocess.CompletedProcess:
    return subprocess.run(["valgrind", "--error-exitcode=99", "--track-origins=no", str(binary), mode],
                          capture_output=True, text=True, timeout=600, env={**os.environ, "SM2_FIELD_NO_ADX": no_adx})


@pytest.mark.parametrize("no_adx", ["0", "1"], ids=["best-field-code", "mulq-field-code"])
def test_signing_and_decryption_paths_do_not_branch_or_index_on_secrets(ct_binary, no_adx):
    """Both x86-64 field variants (mulx/adcx/adox where the CPU has them, and mulq)."""
    done = _memcheck(ct_binary, "sm2", no_adx)
    assert done.returncode == 0, done.stderr[-3000:]
    assert "ERROR SUMMARY: 0 errors" in done.stderr
    if no_adx == "1":
        assert "field backend: x86_64\n" in done.stderr or "field backend: c\n" in done.stderr


def test_the_check_detects_a_secret_dependent_branch(ct_binary):
    done = _memcheck(ct_binary, "leaky")
    assert done.returncode == 99
    assert "Conditional jump or move depends on uninitialised value" in done.stderr
