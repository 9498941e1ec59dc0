"""The shape of each class in embedding space: sub-kinds (clusters) and what does not belong (outliers)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

MAX_CLUSTERS = 6
MIN_CLUSTER_INPUT = 10  # fewer samples than this: one cluster
NEIGHBOURS = 5


def cluster_classes(vectors: np.ndarray, labels: Sequence[str | None], seed: int = 0) -> list[str | None]:
    """``"<class>:<k>"`` per sample: k-means per class, k (1-6) chosen by silhouette."""
    from sklearn.cluster import KMeans
    from sklearn.metrics import silhouette_score

    result: list[str | None] = [None] * len(labels)
    for label in sorted({x for x in labels if x is not None}):
        members = np.array([i for i, x in enumerate(labels) if x == label])
        assignment = np.zeros(len(members), dtype=int)
        if len(members) >= MIN_CLUSTER_INPUT:
            best = -1.0
            for k in range(2, min(MAX_CLUSTERS, len(members) // 5) + 1):
                fitted = KMeans(n_clusters=k, n_init=5, random_state=seed).fit(vectors[members])
                score = silhouette_score(
                    vectors[members],
                    fitted.labels_,
                    metric="cosine",
                    sample_size=min(2000, len(members)),
                    random_state=seed,
                )
                if score > best and score > 0.05:  # below that, no real sub-kinds
                    best, assignment = score, _by_size(fitted.labels_)
        for position, member in enumerate(members):
            result[member] = f"{label}:{assignment[position]}"
    return result


def _by_size(assignment: np.ndarray) -> np.ndarray:
    """Renumber clusters so 0 is the largest, which keeps names stable-ish from run to run."""
    order = np.argsort(-np.bincount(assignment), kind="stable")
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    return rank[assignment]


def outlier_scores(vectors: np.ndarray, labels: Sequence[str | None]) -> np.ndarray:
    """Robust z-score of each sample's distance to its nearest classmates, within its class.

    The distance is the mean cosine distance to the ``NEIGHBOURS`` nearest samples of the same
    class; the z-score compares it with the class's median and MAD. A photo of something else
    entirely sits far from every classmate and scores high; a class's sub-kinds do not.
    """
    from sklearn.neighbors import NearestNeighbors

    scores = np.full(len(labels), np.nan)
    for label in {x for x in labels if x is not None}:
        members = np.array([i for i, x in enumerate(labels) if x == label])
        if len(members) < 3:
            continue
        k = min(NEIGHBOURS, len(members) - 1)
        index = NearestNeighbors(n_neighbors=k + 1, metric="cosine").fit(vectors[members])
        distances, _ = index.kneighbors(vectors[members])  # column 0 is the sample itself
        distance = distances[:, 1:].mean(axis=1)
        median = np.median(distance)
        mad = np.median(np.abs(distance - median)) * 1.4826 or 1e-6
        scores[members] = (distance - median) / mad
    return scores
