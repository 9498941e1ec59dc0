"""The linear probe: a logistic regression on the stored embeddings — seconds on a CPU.

The regularisation strength is chosen by K-fold accuracy over train + validation, the head is
then fitted on both, and the test split is touched only to report.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

SELECTION_FOLDS = 5
C_GRID = (1.0, 4.0, 16.0, 64.0, 256.0)  # the vectors are L2-normalised: logits need large C


@dataclass(frozen=True)
class ProbeFit:
    weight: np.ndarray  # (classes, dim)
    bias: np.ndarray  # (classes,)
    regularisation: float  # the C chosen on validation
    selection_top1: float | None  # K-fold accuracy of the chosen C over train + val


def fit_head(vectors: np.ndarray, labels: np.ndarray, classes: Sequence[str], c: float, seed: int = 0):
    """(weight, bias) over every class in ``classes`` (a class absent from ``labels`` gets -inf bias)."""
    from sklearn.linear_model import LogisticRegression

    model = LogisticRegression(C=c, max_iter=2000, random_state=seed)
    model.fit(vectors, labels)
    weight = np.zeros((len(classes), vectors.shape[1]), dtype=np.float32)
    bias = np.full(len(classes), -1e9, dtype=np.float32)
    fitted = list(model.classes_)
    if len(fitted) == 2:  # sklearn keeps one row for two classes: the second class's logit
        coef = np.vstack([-model.coef_[0] / 2, model.coef_[0] / 2])
        intercept = np.array([-model.intercept_[0] / 2, model.intercept_[0] / 2])
    else:
        coef, intercept = model.coef_, model.intercept_
    for row, name in enumerate(fitted):
        weight[list(classes).index(name)] = coef[row]
        bias[list(classes).index(name)] = intercept[row]
    return weight, bias


def fit_probe(
    train_vectors: np.ndarray,
    train_labels: np.ndarray,
    val_vectors: np.ndarray,
    val_labels: np.ndarray,
    classes: Sequence[str],
    seed: int = 0,
    groups: np.ndarray | None = None,
) -> ProbeFit:
    """Choose C by K-fold accuracy over train + val (steadier than one small val split), then fit
    on train + val. ``groups`` keeps duplicate groups within one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    vectors = np.concatenate([train_vectors, val_vectors])
    labels = np.concatenate([train_labels, val_labels])
    groups = np.arange(len(labels)) if groups is None else groups
    folds = min(SELECTION_FOLDS, int(min(np.unique(labels, return_counts=True)[1])))
    best_c, best_score = C_GRID[1], None
    if folds >= 2:
        splits = list(
            StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(vectors, labels, groups)
        )
        for c in C_GRID:
            correct = 0
            for train_index, test_index in splits:
                weight, bias = fit_head(vectors[train_index], labels[train_index], classes, c, seed)
                predicted = np.asarray(classes)[(vectors[test_index] @ weight.T + bias).argmax(axis=1)]
                correct += int(np.sum(predicted == labels[test_index]))
            score = correct / len(labels)
            if best_score is None or score > best_score:
                best_c, best_score = c, score
    weight, bias = fit_head(vectors, labels, classes, best_c, seed)
    return ProbeFit(weight, bias, best_c, best_score)
