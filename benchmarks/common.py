"""Timing helpers shared by the benchmarks."""

import time
from collections.abc import Callable


def best_seconds(fn: Callable[[], object], repeat: int = 3) -> float:
    """The fastest of `repeat` runs: the least disturbed by the rest of the machine."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        fn()
        best = min(best, time.perf_counter() - start)
    return best


def row(name: str, items: int, ours: float, bare: float | None, bare_name: str = "-") -> dict:
    """One result: items/s of ours and of the bare library on the same work (None: no bare side)."""
    return {
        "benchmark": name,
        "items": items,
        "ours_per_s": round(items / ours, 1),
        "bare": bare_name,
        "bare_per_s": round(items / bare, 1) if bare else None,
        "ratio_ours_to_bare": round(bare / ours, 3) if bare else None,
    }
