"""The README's configuration reference is complete: every environment variable the code reads
(``ESEAL_...`` in the product's packages, and ``ESEAL_API_<SETTING>`` for each field of
api.config.ApiConfig) has a row in its table, and every row names a variable that exists."""
from __future__ import annotations

import re
from dataclasses import fields
from pathlib import Path

from api.config import ApiConfig

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("api", "ca", "cli", "gm", "keystore", "seal", "store", "verify")
NOT_VARIABLES = {"ESEAL_ARC"}  # ca.oids.ESEAL_ARC: an OID arc, not an environment variable


def _documented() -> set[str]:
    readme = (ROOT / "README.md").read_text(encoding="utf-8")
    return set(re.findall(r"^\| `(ESEAL_[A-Z0-9_]+)` \|", readme, flags=re.MULTILINE))


def _read_by_the_code() -> set[str]:
    names = set()
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            names |= set(re.findall(r"\bESEAL_[A-Z0-9_]*[A-Z0-9]\b", path.read_text(encoding="utf-8")))
    names = {n for n in names - NOT_VARIABLES if not n.startswith("ESEAL_API_")}  # the API's come from ApiConfig
    return names | {f"ESEAL_API_{f.name.upper()}" for f in fields(ApiConfig)}


def test_every_variable_the_code_reads_is_in_the_readme_table() -> None:
    missing = _read_by_the_code() - _documented()
    assert not missing, f"not in README's configuration table: {sorted(missing)}"


def test_every_variable_in_the_readme_table_is_read_by_the_code() -> None:
    stale = _documented() - _read_by_the_code()
    assert not stale, f"README documents variables nothing reads: {sorted(stale)}"
