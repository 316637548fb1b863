"""Benchmarks measure; `make test` (which runs with --benchmark-disable) does not time.

Under --benchmark-disable every benchmark is skipped here, in one place, instead of each
module guarding its reads of ``benchmark.stats``: what a benchmark asserts about results is
asserted by the tests in tests/, and `make bench` / `make compare` run the measurements.
"""
from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not config.getoption("benchmark_disable", default=False):
        return
    skip = pytest.mark.skip(reason="a measurement: run with `make bench` (benchmarks are disabled)")
    for item in items:
        if "benchmark" in getattr(item, "fixturenames", ()) and "/benchmarks/" in str(item.fspath):
            item.add_marker(skip)
