"""Deployment settings read from the environment that several packages share the shape of."""
from __future__ import annotations

import math
import os
from collections.abc import Mapping


def seconds_setting(name: str, environ: Mapping[str, str] | None = None) -> float | None:
    """``name`` as a number of seconds (0 or more), or None when unset or empty."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    try:
        seconds = float(raw)
    except ValueError:
        raise ValueError(f"{name} must be a number of seconds, not {raw!r}") from None
    if seconds < 0 or not math.isfinite(seconds):
        raise ValueError(f"{name} must be 0 or more seconds, not {raw!r}")
    return seconds
