"""Suspected mislabels: out-of-sample class probabilities, then confident learning (cleanlab).

A logistic regression on the embeddings is trained K times, each time without one fold, so
every sample's probabilities come from a model that never saw its label. cleanlab's
``find_label_issues`` then flags the samples whose given label is implausible under the
per-class noise rates it estimates. A second round retrains without the samples the first
round flagged, so wrong labels no longer pull the classifier towards them. With open_clip,
the zero-shot text prior (image-to-prompt similarity) is averaged in. The suggested label is
the most probable class.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

MIN_PER_CLASS = 2
REGULARISATION = 2.0  # logistic regression C
# cleanlab's rule for how many issues to take from each class: its estimated count of wrongly
# labelled members, the most doubtful first. Chosen on benchmarks/mislabels.py (10 noise seeds)
# over prune_by_noise_rate (the default) and "both", which trade recall for precision.
FILTER = "prune_by_class"


@dataclass(frozen=True)
class MislabelResult:
    ids: list[str]  # the samples that were scored (labelled with a class that has enough samples)
    scores: np.ndarray  # 1 - cleanlab's label quality (normalised margin): high = label doubtful
    suggested: list[str]  # most probable class
    flagged: np.ndarray  # bool: confident learning calls the given label an issue
    probabilities: np.ndarray  # (n, classes) out-of-sample
    classes: list[str]


def out_of_sample_probabilities(
    vectors: np.ndarray, labels: np.ndarray, folds: int = 5, seed: int = 0, exclude: np.ndarray | None = None
) -> np.ndarray:
    """K-fold probabilities; samples in ``exclude`` are scored but never trained on."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import StratifiedKFold

    smallest = min(Counter(labels.tolist()).values())
    splitter = StratifiedKFold(n_splits=max(2, min(folds, smallest)), shuffle=True, random_state=seed)
    classes = np.unique(labels)
    probabilities = np.zeros((len(labels), len(classes)))
    for train, test in splitter.split(vectors, labels):
        if exclude is not None and len(np.unique(labels[train[~exclude[train]]])) == len(classes):
            train = train[~exclude[train]]
        model = LogisticRegression(max_iter=3000, C=REGULARISATION).fit(vectors[train], labels[train])
        probabilities[test] = model.predict_proba(vectors[test])
    return probabilities


def find_mislabels(
    ids: Sequence[str],
    vectors: np.ndarray,
    labels: Sequence[str | None],
    classes: Sequence[str],
    text_prior: np.ndarray | None = None,
    folds: int = 5,
    seed: int = 0,
) -> MislabelResult:
    """Score every labelled sample; ``text_prior`` is (n, classes) zero-shot probabilities, if any."""
    from cleanlab.filter import find_label_issues
    from cleanlab.rank import get_label_quality_scores

    counts = Counter(label for label in labels if label is not None)
    usable = [c for c in classes if counts.get(c, 0) >= MIN_PER_CLASS]
    keep = [i for i, label in enumerate(labels) if label in usable]
    if len(usable) < 2 or not keep:
        return MislabelResult([], np.empty(0), [], np.empty(0, bool), np.empty((0, len(usable))), usable)
    index = {c: k for k, c in enumerate(usable)}
    y = np.array([index[labels[i]] for i in keep])
    prior = None
    if text_prior is not None:
        prior = text_prior[keep][:, [list(classes).index(c) for c in usable]]
        prior = prior / prior.sum(axis=1, keepdims=True)

    def probabilities_without(exclude: np.ndarray | None) -> np.ndarray:
        learned = out_of_sample_probabilities(vectors[keep], y, folds=folds, seed=seed, exclude=exclude)
        return learned if prior is None else (learned + prior) / 2

    first_round = find_label_issues(y, probabilities_without(None), filter_by=FILTER)
    probabilities = probabilities_without(first_round)
    flagged = find_label_issues(y, probabilities, filter_by=FILTER)
    quality = get_label_quality_scores(y, probabilities)
    suggested = [usable[k] for k in probabilities.argmax(axis=1)]
    flagged &= np.array([s != labels[i] for s, i in zip(suggested, keep, strict=True)])
    return MislabelResult([ids[i] for i in keep], 1.0 - quality, suggested, flagged, probabilities, usable)
