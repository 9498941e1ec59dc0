"""The Hamming search is exact: multi-index hashing finds exactly what brute force finds."""

from __future__ import annotations

import numpy as np
import pytest

from curata.curation.near_duplicates import brute_force_pairs, multi_index_pairs, near_pairs, plan


def planted(n: int, pairs: int, radius: int, seed: int = 0) -> tuple[np.ndarray, set[tuple[int, int]]]:
    rng = np.random.default_rng(seed)
    hashes = rng.integers(0, 2**64, size=n, dtype=np.uint64, endpoint=False)
    chosen = rng.choice(n, size=2 * pairs, replace=False)
    truth = set()
    for a, b in zip(chosen[::2], chosen[1::2], strict=True):
        value = hashes[a]
        for bit in rng.choice(64, size=rng.integers(1, radius + 1), replace=False):
            value ^= np.uint64(1) << np.uint64(bit)
        hashes[b] = value
        truth.add((int(min(a, b)), int(max(a, b))))
    return hashes, truth


@pytest.mark.parametrize("radius", [0, 3, 6, 10])
def test_multi_index_search_equals_brute_force(radius):
    hashes, _ = planted(6000, 100, max(radius, 1), seed=radius)
    hashes[10] = hashes[11] = hashes[12]  # exact repeats
    fast = set(zip(*[a.tolist() for a in near_pairs(hashes, radius)], strict=True))
    slow = set(zip(*[a.tolist() for a in brute_force_pairs(hashes, radius)], strict=True))
    assert fast == slow
    assert {(10, 11), (10, 12), (11, 12)} <= fast


def test_every_planted_pair_is_found_among_many():
    hashes, truth = planted(200_000, 500, 6, seed=7)
    found = set(zip(*[a.tolist() for a in near_pairs(hashes, 6)], strict=True))
    assert truth <= found
    assert len(found) - len(truth) < 5  # random 64-bit hashes are almost never within 6 bits


def test_plan_uses_longer_keys_for_larger_sets():
    small_m, small_k = plan(10_000, 6)
    large_m, large_k = plan(1_000_000, 6)
    assert small_m - small_k == 6 and large_m - large_k == 6
    assert 64 * large_k / large_m >= 64 * small_k / small_m


def test_distinct_values_only_in_multi_index_search():
    unique = np.array([0, 1, 3, 3 << 62], dtype=np.uint64)
    i, j = multi_index_pairs(unique, 1)
    assert set(zip(i.tolist(), j.tolist(), strict=True)) == {(0, 1), (1, 2)}
