"""Benchmark-image lookup: cauldron.decontaminate.HammingIndex against a numpy Hamming scan.

Both answer the same radius queries over the same random 64-bit codes; half of the queries
are planted near an indexed code, so the answers are not all empty.
"""

import numpy as np

from benchmarks.common import best_seconds, row
from cauldron.decontaminate import PHASH_RADIUS, HammingIndex, brute_force_pairs

CODES = 100_000
QUERIES = 10_000
MIN_RATIO = 10.0


def _codes(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(seed)
    codes = rng.integers(0, 2**64, size=CODES, dtype=np.uint64, endpoint=False)
    queries = rng.integers(0, 2**64, size=QUERIES, dtype=np.uint64, endpoint=False)
    planted = QUERIES // 2
    flips = np.zeros(planted, np.uint64)
    for _ in range(PHASH_RADIUS // 2):
        flips ^= np.uint64(1) << rng.integers(0, 64, planted).astype(np.uint64)
    queries[:planted] = codes[rng.integers(0, CODES, planted)] ^ flips
    return codes, queries


def run() -> list[dict]:
    codes, queries = _codes()
    index = HammingIndex(codes)
    assert index.search(queries, PHASH_RADIUS) == brute_force_pairs(codes, queries, PHASH_RADIUS)
    ours = best_seconds(lambda: index.search(queries, PHASH_RADIUS), repeat=3)
    bare = best_seconds(lambda: brute_force_pairs(codes, queries, PHASH_RADIUS), repeat=2)
    assert bare / ours >= MIN_RATIO, f"index only {bare / ours:.1f}x faster than the scan"
    name = f"hamming_index ({QUERIES} q x {CODES} codes, r={PHASH_RADIUS})"
    return [row(name, QUERIES, ours, bare, "numpy popcount scan")]


if __name__ == "__main__":
    for result in run():
        print(result)
