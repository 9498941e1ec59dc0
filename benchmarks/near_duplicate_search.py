"""Near-duplicate search over 64-bit hashes: multi-index hashing against vectorised brute force.

Data: uniformly random 64-bit hashes with 1,000 planted pairs (1,000 pairs at 1 M, 100 at
100 k) that differ in 1 to 6 bits; search radius 6. Anchor, in the same run: the vectorised
brute force (`brute_force_pairs`, numpy XOR + popcount in blocks) at 100,000 hashes; brute force
at 1 M would take 100x that. curata: `near_pairs` (exact multi-index search) at 100,000 and at
1,000,000. Run: .venv/bin/python benchmarks/near_duplicate_search.py
"""

from __future__ import annotations

import time

import numpy as np

from curata.curation.near_duplicates import brute_force_pairs, near_pairs, plan

RADIUS = 6


def planted(n: int, pairs: int, seed: int) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    chosen = rng.choice(n, size=2 * pairs, replace=False)
    truth = set()
    for a, b in zip(chosen[::2], chosen[1::2], strict=True):
        value = hashes[a]
        for bit in rng.choice(64, size=rng.integers(1, RADIUS + 1), replace=False):
            value ^= np.uint64(1) << np.uint64(bit)
        hashes[b] = value
        truth.add((int(min(a, b)), int(max(a, b))))
    return hashes, truth


def timed(function, *args):
    started = time.perf_counter()
    i, j = function(*args)
    return time.perf_counter() - started, set(zip(i.tolist(), j.tolist(), strict=True))


def main() -> None:
    hashes, truth = planted(100_000, 100, seed=1)
    brute_seconds, brute_found = timed(brute_force_pairs, hashes, RADIUS)
    mih_seconds, mih_found = timed(near_pairs, hashes, RADIUS)
    assert mih_found == brute_found, "multi-index search must find exactly what brute force finds"
    print(f"brute_force_100k_seconds: {brute_seconds:.1f}")
    print(f"multi_index_100k_seconds: {mih_seconds:.2f}")
    print(f"speedup_at_100k: {brute_seconds / mih_seconds:.0f}x")
    print(f"brute_force_1m_estimated_seconds: {brute_seconds * 100:.0f}")

    hashes, truth = planted(1_000_000, 1_000, seed=2)
    seconds, found = timed(near_pairs, hashes, RADIUS)
    m, k = plan(len(hashes), RADIUS)
    print(f"multi_index_1m_plan: {m} chunks, {k} exact")
    print(f"multi_index_1m_seconds: {seconds:.1f}")
    print(f"multi_index_1m_planted_found: {len(truth & found)}/{len(truth)}")
    print(f"speedup_at_1m_vs_brute_force_estimate: {brute_seconds * 100 / seconds:.0f}x")


if __name__ == "__main__":
    main()
