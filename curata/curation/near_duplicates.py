"""Find all pairs of 64-bit hashes within a Hamming radius, fast enough for millions.

Small sets use a vectorised brute force. Larger ones use multi-index hashing (Norouzi et al.):
split the 64 bits into ``m = radius + k`` chunks; two hashes within ``radius`` bits differ in
at most ``radius`` chunks, so they agree exactly on at least ``k`` of them. Sorting by every
choice of ``k`` chunks brings each near pair next to each other in at least one ordering, and
only neighbours within equal keys are compared. ``k`` is chosen to balance the number of
orderings against the number of candidates. The search is exact: no near pair is missed.
"""

from __future__ import annotations

import itertools
from itertools import combinations
from math import comb, log2

import numpy as np

BITS = 64
BRUTE_FORCE_MAX = 4096


def hex_to_uint64(hexes) -> np.ndarray:
    return np.array([int(h, 16) for h in hexes], dtype=np.uint64)


def near_pairs(hashes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs ``(i, j)``, ``i < j``, of hashes at Hamming distance <= ``radius``."""
    hashes = np.asarray(hashes, dtype=np.uint64)
    if len(hashes) < 2:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    if len(hashes) <= BRUTE_FORCE_MAX:
        return brute_force_pairs(hashes, radius)
    unique, inverse = np.unique(hashes, return_inverse=True)
    first, second = multi_index_pairs(unique, radius)
    # Expand pairs of distinct values to their members, and pair up the members of each value.
    members = np.argsort(inverse, kind="stable")
    starts = np.searchsorted(inverse[members], np.arange(len(unique) + 1))
    out_i, out_j = [], []
    for a, b in zip(first.tolist(), second.tolist(), strict=True):
        left, right = members[starts[a] : starts[a + 1]], members[starts[b] : starts[b + 1]]
        out_i.append(np.repeat(left, len(right)))
        out_j.append(np.tile(right, len(left)))
    sizes = np.diff(starts)
    for value in np.nonzero(sizes > 1)[0]:
        group = members[starts[value] : starts[value + 1]]
        i, j = np.triu_indices(len(group), k=1)
        out_i.append(group[i])
        out_j.append(group[j])
    if not out_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i, j = np.concatenate(out_i), np.concatenate(out_j)
    return np.minimum(i, j), np.maximum(i, j)


def brute_force_pairs(hashes: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Every pair compared, a block of rows at a time (memory stays near 20 M distances)."""
    n = len(hashes)
    block = max(1, 20_000_000 // n)
    found_i, found_j = [], []
    for start in range(0, n, block):
        rows = hashes[start : start + block]
        distance = np.bitwise_count(rows[:, None] ^ hashes[None, :])
        i, j = np.nonzero(distance <= radius)
        i = i + start
        keep = j > i
        found_i.append(i[keep])
        found_j.append(j[keep])
    return np.concatenate(found_i).astype(np.int64), np.concatenate(found_j).astype(np.int64)


def multi_index_pairs(unique: np.ndarray, radius: int) -> tuple[np.ndarray, np.ndarray]:
    """Pairs among distinct hashes within ``radius``, by exact agreement on ``k`` of ``m`` chunks."""
    n = len(unique)
    m, k = plan(n, radius)
    chunk_masks = _chunk_masks(m)
    found_i, found_j = [], []
    for chosen in combinations(range(m), k):
        mask = np.uint64(0)
        for index in chosen:
            mask |= chunk_masks[index]
        keys = unique & mask
        order = np.argsort(keys, kind="stable")
        sorted_keys = keys[order]
        offset = 1
        while offset < n:
            same = sorted_keys[offset:] == sorted_keys[:-offset]
            if not same.any():
                break
            a, b = order[:-offset][same], order[offset:][same]
            close = np.bitwise_count(unique[a] ^ unique[b]) <= radius
            found_i.append(a[close])
            found_j.append(b[close])
            offset += 1
    if not found_i:
        return np.empty(0, np.int64), np.empty(0, np.int64)
    i, j = np.concatenate(found_i), np.concatenate(found_j)
    pairs = np.unique(np.stack([np.minimum(i, j), np.maximum(i, j)], axis=1), axis=0)
    return pairs[:, 0].astype(np.int64), pairs[:, 1].astype(np.int64)


def plan(n: int, radius: int) -> tuple[int, int]:
    """Chunks ``m`` and exact matches ``k`` with the least estimated work for ``n`` hashes."""
    best = None
    for k in range(1, 7):
        m = radius + k
        if m > BITS:
            break
        key_bits = BITS * k / m
        orderings = comb(m, k)
        cost = orderings * n * (log2(max(n, 2)) + n / 2**key_bits)
        if best is None or cost < best[0]:
            best = (cost, m, k)
    return best[1], best[2]


def _chunk_masks(m: int) -> list[np.uint64]:
    bounds = np.linspace(0, BITS, m + 1).round().astype(int)
    return [np.uint64(((1 << int(hi)) - 1) ^ ((1 << int(lo)) - 1)) for lo, hi in itertools.pairwise(bounds)]
