"""Group exact and near duplicates, and pick the copy to keep in each group.

Edges come from four relations: identical decoded pixels (the same image re-saved with other
metadata or another lossless encoding), pHashes within the radius, and — when asked — one
image's pHash within the radius of another's mirror-image pHash (a flipped copy), and polar
spectra that correlate at some angle (a turned copy, ``rotated.py``). Groups are the connected
components of that graph.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from scipy.sparse import coo_matrix
from scipy.sparse.csgraph import connected_components

from curata.curation.near_duplicates import hex_to_uint64, near_pairs
from curata.curation.rotated import rotated_pairs

# The pHash of every flat image (a blank page, a black frame): it says nothing about content, so
# flat images join groups only by identical pixels (they are low_information either way).
_FLAT_PHASHES = np.array([0x8000000000000000, 0], dtype=np.uint64)


@dataclass(frozen=True)
class Member:
    """What grouping needs to know about one sample."""

    id: str
    sha256: str
    phash: str
    phash_mirror: str
    pixel_sha256: str | None
    label: str | None
    split: str | None
    pixels: int  # width * height
    sharpness: float
    grey: bool = False  # no colour: a grey copy of a colour photo keeps less of it
    polar: str | None = None  # the polar spectrum, for turned copies
    excluded: bool = False  # a reviewer excluded it
    reviewed: bool = False  # a reviewer checked it (e.g. chose it as the copy to keep)


@dataclass(frozen=True)
class DuplicateGroup:
    id: str
    members: tuple[Member, ...]  # keeper first
    exact: bool  # every member has the same decoded pixels

    @property
    def keeper(self) -> Member:
        return self.members[0]

    @property
    def labels(self) -> set[str]:
        return {m.label for m in self.members if m.label}

    @property
    def splits(self) -> set[str]:
        return {m.split for m in self.members if m.split}


def find_groups(
    members: Sequence[Member],
    radius: int,
    match_mirrored: bool = True,
    rotated_similarity: float | None = None,
) -> list[DuplicateGroup]:
    """Duplicate groups (two or more members), largest first.

    ``rotated_similarity`` (0-1) also joins copies turned by any angle; None leaves them out.
    """
    n = len(members)
    if n < 2:
        return []
    phashes = hex_to_uint64(m.phash for m in members)
    hashed = np.nonzero(~np.isin(phashes, _FLAT_PHASHES))[0]
    searched = phashes[hashed]
    if match_mirrored:  # mirror hashes follow, at index + len(hashed)
        searched = np.concatenate([searched, hex_to_uint64(members[k].phash_mirror for k in hashed)])
    i, j = near_pairs(searched, radius)
    i, j = hashed[i % len(hashed)], hashed[j % len(hashed)]
    exact_i, exact_j = _equal_pixel_pairs(members)
    i, j = np.concatenate([i, exact_i]), np.concatenate([j, exact_j])
    if rotated_similarity is not None:
        turned_i, turned_j = rotated_pairs([m.polar for m in members], rotated_similarity, match_mirrored)
        i, j = np.concatenate([i, turned_i]), np.concatenate([j, turned_j])
    keep = i != j
    graph = coo_matrix((np.ones(keep.sum()), (i[keep], j[keep])), shape=(n, n))
    _, component = connected_components(graph, directed=False)
    sizes = np.bincount(component)
    groups = []
    for label in np.nonzero(sizes > 1)[0]:
        group = sorted((members[k] for k in np.nonzero(component == label)[0]), key=_keeper_order)
        exact = group[0].pixel_sha256 is not None and all(
            m.pixel_sha256 == group[0].pixel_sha256 for m in group
        )
        groups.append(DuplicateGroup(group[0].sha256[:16], tuple(group), exact))
    return sorted(groups, key=lambda g: (-len(g.members), g.id))


def _keeper_order(member: Member) -> tuple:
    """A reviewer's choice first (never an excluded copy), then the largest resolution, then a
    copy in colour, then the sharpest; sha256 breaks ties so the choice is stable."""
    return (
        member.excluded,
        not member.reviewed,
        -member.pixels,
        member.grey,
        -member.sharpness,
        member.sha256,
    )


def _equal_pixel_pairs(members: Sequence[Member]) -> tuple[np.ndarray, np.ndarray]:
    first_of: dict[str, int] = {}
    i, j = [], []
    for index, member in enumerate(members):
        if member.pixel_sha256 is None:
            continue
        if member.pixel_sha256 in first_of:
            i.append(first_of[member.pixel_sha256])
            j.append(index)
        else:
            first_of[member.pixel_sha256] = index
    return np.array(i, dtype=np.int64), np.array(j, dtype=np.int64)
