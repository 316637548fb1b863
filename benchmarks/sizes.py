"""One operation measured at two sizes of the database, and the ratio (DESIGN: flat from
1 k to 1 M). Used by bench_scale and bench_translog."""
from __future__ import annotations

SIZES = (1_000, 1_000_000)
_MEANS: dict[tuple[str, str, str], dict[int, float]] = {}


def record_size(benchmark, what: str, kind: str, size: int, rows: str) -> None:
    """Note ``benchmark``'s mean for ``what`` on ``kind`` at ``size`` ``rows``; once both sizes
    ran, put the ratio in extra_info (``vs_1k``) and print both."""
    mean = benchmark.stats.stats.mean
    benchmark.extra_info.update({"database": kind, rows: size, "per_second": round(1 / mean, 1)})
    seen = _MEANS.setdefault((what, kind, rows), {})
    seen[size] = mean
    if len(seen) == len(SIZES):
        ratio = seen[SIZES[-1]] / seen[SIZES[0]]
        benchmark.extra_info["vs_1k"] = round(ratio, 2)
        print(f"\n{what} on {kind}: {seen[SIZES[0]] * 1e3:.2f} ms with 1k {rows}, "
              f"{seen[SIZES[-1]] * 1e3:.2f} ms with 1M ({ratio:.2f}x)")
