"""The soak in short (tests/soak/soak.py; `make soak` runs it for 10 minutes): a real
`eseal serve --workers 2` on SQLite sealing, verifying and answering OCSP at a steady rate
for ESEAL_SOAK_SECONDS (20 s). No errors, every verification PASSED, and the server's memory
grows by less than a bound over the run. No timing limits: latency is only recorded."""
from __future__ import annotations

import os

from tests.soak import soak

SECONDS = float(os.environ.get("ESEAL_SOAK_SECONDS", "20"))
# the workers import, warm caches and open connections in the first seconds; after that a
# short run at these rates must not add more than this much resident memory in total
MAX_GROWTH_MB = 60.0


def test_short_soak_has_no_errors_and_bounded_memory(tmp_path) -> None:
    rates = {"seal": 1.0, "verify": 2.0, "ocsp": 6.0}
    result = soak.run(SECONDS, interval=2.0, rates=rates, workers=2, warmup=0.25, folder=tmp_path)
    assert result.errors == 0, result.messages
    assert all(result.requests[op] > 0 for op in soak.OPERATIONS), result.requests
    assert result.growth_mb < MAX_GROWTH_MB, [(r["t_s"], r["rss_mb"]) for r in result.rows]
    soak.write_csv(result.rows, tmp_path / "soak.csv")
    soak.plot(result, tmp_path / "soak.png", "short soak")
    assert (tmp_path / "soak.png").read_bytes().startswith(b"\x89PNG")
