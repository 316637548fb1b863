"""Helpers for e-license tests that need other processes (multiprocessing spawn workers
import this module, so the worker is a top-level function here, not in a test file)."""
from __future__ import annotations

from pathlib import Path
from typing import Any


def batch_worker(home_path: str, csv_text: str, out_dir: str, actor: str, start: Any = None) -> None:
    """Open the home, wait at the barrier, run one unsealed batch of YYZZ licenses."""
    from seal.license import batch
    from store.home import Home

    with Home.open(home_path) as home:
        rows = batch.read_rows(csv_text)
        if start is not None:
            start.wait()
        batch.issue_batch(home, None, type="YYZZ", rows=rows, agency="局", out_dir=Path(out_dir), actor=actor)
