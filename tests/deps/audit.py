"""Known vulnerabilities in the installed dependencies, from PyPI's advisory data.

The data is what pip-audit's default service reads: the ``vulnerabilities`` of PyPI's JSON
API, fed from the OSV database. pip-audit asks the per-version document
(``/pypi/NAME/VERSION/json``); the PyPI reachable from this project's build machines answers
only the per-project document (``/pypi/NAME/json``), whose ``vulnerabilities`` are those of
the project's latest release (docs/reliability.md). So, per installed distribution:

1. the per-version document when PyPI answers it (what pip-audit does);
2. otherwise the per-project document, when the installed version is the latest release;
3. otherwise the distribution is *unchecked*: listed, and a failure with ``--strict``.

Exit status: 0 nothing known, 1 a known vulnerability (or with ``--strict`` an unchecked
distribution), 2 bad usage. ``--ignore-vuln ID`` skips one advisory (give the reason where
the option is written).
"""
from __future__ import annotations

import argparse
import json
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from importlib import metadata

from packaging.utils import canonicalize_name
from packaging.version import InvalidVersion, Version

INDEX = "https://pypi.org/pypi"
OWN_PROJECT = "eseal"

Fetch = Callable[[str], "dict | None"]  # URL -> parsed JSON, None for 404


class LookupFailed(Exception):
    """PyPI could not be asked (network, 5xx, not JSON)."""


DEADLINE_SECONDS = 180.0  # the whole audit: a PyPI that does not answer must not stall `make test`


def fetch_json(url: str, *, timeout: float = 15.0, tries: int = 3) -> dict | None:
    for attempt in range(tries):
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response:  # noqa: S310 (https only)
                return json.load(response)
        except urllib.error.HTTPError as exc:
            if exc.code == 404:
                return None
            error: Exception = exc
        except (urllib.error.URLError, OSError, ValueError) as exc:
            error = exc
        time.sleep(0.5 * (attempt + 1))
    raise LookupFailed(f"{url}: {error}")


@dataclass
class Finding:
    name: str
    version: str
    id: str
    aliases: list[str]
    fixed_in: list[str]
    summary: str


@dataclass
class Report:
    checked: list[tuple[str, str, str]] = field(default_factory=list)  # name, version, how
    findings: list[Finding] = field(default_factory=list)
    unchecked: list[tuple[str, str, str]] = field(default_factory=list)  # name, version, why

    def status(self, strict: bool) -> int:
        return 1 if self.findings or (strict and self.unchecked) else 0


def installed(exclude: Iterable[str] = (OWN_PROJECT,)) -> list[tuple[str, str]]:
    """(canonical name, version) of every distribution in this environment, once each."""
    skip = {canonicalize_name(n) for n in exclude}
    seen: dict[str, str] = {}
    for dist in metadata.distributions():
        name = dist.metadata.get("Name")
        if name and canonicalize_name(name) not in skip:
            seen.setdefault(canonicalize_name(name), dist.version)
    return sorted(seen.items())


def _same_version(a: str, b: str) -> bool:
    try:
        return Version(a) == Version(b)
    except InvalidVersion:
        return a == b


def _advisories(name: str, version: str, fetch: Fetch, index: str) -> tuple[list[dict] | None, str]:
    """The advisories PyPI holds for this exact version, and how they were found; None when it has none to give."""
    per_version = fetch(f"{index}/{name}/{version}/json")
    if per_version is not None:
        return per_version.get("vulnerabilities") or [], "per-version document"
    project = fetch(f"{index}/{name}/json")
    if project is None:
        return None, "not on PyPI"
    latest = str(project.get("info", {}).get("version", ""))
    if _same_version(latest, version):
        return project.get("vulnerabilities") or [], "latest release, per-project document"
    return None, f"not the latest release ({latest}); PyPI answered no per-version document"


def audit(packages: Iterable[tuple[str, str]], fetch: Fetch = fetch_json, *, index: str = INDEX,
          ignore: Iterable[str] = (), threads: int = 8, deadline_seconds: float = DEADLINE_SECONDS) -> Report:
    ignored = set(ignore)
    report = Report()
    packages = list(packages)
    deadline = time.monotonic() + deadline_seconds

    def look_up(package: tuple[str, str]) -> tuple[list[dict] | None, str]:
        if time.monotonic() > deadline:
            return None, f"not looked up: the audit's {deadline_seconds:g} s were over"
        try:
            return _advisories(*package, fetch, index)
        except LookupFailed as exc:
            return None, f"lookup failed: {exc}"

    with ThreadPoolExecutor(max_workers=threads) as pool:  # two round trips per package: in parallel
        answers = list(pool.map(look_up, packages))
    for (name, version), (advisories, how) in zip(packages, answers):
        if advisories is None:
            report.unchecked.append((name, version, how))
            continue
        report.checked.append((name, version, how))
        for adv in advisories:
            ids = {adv.get("id", "")} | set(adv.get("aliases") or [])
            if adv.get("withdrawn") or ids & ignored:
                continue
            report.findings.append(Finding(name, version, str(adv.get("id", "?")), list(adv.get("aliases") or []),
                                           list(adv.get("fixed_in") or []),
                                           str(adv.get("summary") or adv.get("details") or "")[:200]))
    return report


def render(report: Report) -> str:
    lines = [f"{len(report.checked)} distributions checked against PyPI's advisory data, "
             f"{len(report.findings)} known vulnerabilities, {len(report.unchecked)} unchecked"]
    for f in report.findings:
        fixed = ", ".join(f.fixed_in) or "no fixed release"
        aliases = f" ({', '.join(f.aliases)})" if f.aliases else ""
        lines.append(f"VULNERABLE {f.name} {f.version}: {f.id}{aliases}, fixed in {fixed}: {f.summary}")
    for name, version, why in report.unchecked:
        lines.append(f"unchecked {name} {version}: {why}")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--strict", action="store_true", help="an unchecked distribution fails the audit")
    parser.add_argument("--ignore-vuln", action="append", default=[], metavar="ID")
    parser.add_argument("--index", default=INDEX, help="PyPI's JSON API root")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args(argv)
    report = audit(installed(), index=args.index.rstrip("/"), ignore=args.ignore_vuln)
    if args.json:
        print(json.dumps({"checked": report.checked, "unchecked": report.unchecked,
                          "findings": [f.__dict__ for f in report.findings]}, indent=1))
    else:
        print(render(report))
    return report.status(args.strict)


if __name__ == "__main__":
    sys.exit(main())
