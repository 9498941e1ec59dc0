"""How well a classifier does, reported the way classifier builders report it: top-1/3/5 accuracy,
per-class precision, recall and F1, and a confusion matrix (as numbers and as a picture)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np


@dataclass(frozen=True)
class ClassScores:
    name: str
    precision: float
    recall: float
    f1: float
    support: int


@dataclass(frozen=True)
class Evaluation:
    samples: int
    top1: float
    top3: float
    top5: float
    macro_f1: float
    per_class: list[ClassScores]
    classes: list[str]
    confusion: list[list[int]]  # rows: true class, columns: predicted class

    def as_dict(self) -> dict:
        return asdict(self)


def top_k_accuracy(true_index: np.ndarray, probabilities: np.ndarray, k: int) -> float:
    """Share of samples whose true class is among the k most probable (k capped at the classes)."""
    k = min(k, probabilities.shape[1])
    best = np.argsort(-probabilities, axis=1, kind="stable")[:, :k]
    return (
        float(np.mean([t in row for t, row in zip(true_index, best, strict=True)]))
        if len(true_index)
        else 0.0
    )


def evaluate(true_labels: Sequence[str], probabilities: np.ndarray, classes: Sequence[str]) -> Evaluation:
    from sklearn.metrics import confusion_matrix, precision_recall_fscore_support

    classes = list(classes)
    index = {name: i for i, name in enumerate(classes)}
    true_index = np.array([index[label] for label in true_labels], dtype=int)
    predicted = probabilities.argmax(axis=1) if len(true_index) else np.array([], dtype=int)
    labels = list(range(len(classes)))
    precision, recall, f1, support = precision_recall_fscore_support(
        true_index, predicted, labels=labels, zero_division=0
    )
    per_class = [
        ClassScores(name, round(float(p), 4), round(float(r), 4), round(float(f), 4), int(s))
        for name, p, r, f, s in zip(classes, precision, recall, f1, support, strict=True)
    ]
    present = [c for c in per_class if c.support]
    return Evaluation(
        samples=len(true_index),
        top1=round(top_k_accuracy(true_index, probabilities, 1), 4),
        top3=round(top_k_accuracy(true_index, probabilities, 3), 4),
        top5=round(top_k_accuracy(true_index, probabilities, 5), 4),
        macro_f1=round(float(np.mean([c.f1 for c in present])) if present else 0.0, 4),
        per_class=per_class,
        classes=classes,
        confusion=confusion_matrix(true_index, predicted, labels=labels).tolist(),
    )


def plot_confusion(evaluation: Evaluation, path: Path, title: str = "Confusion matrix (test split)") -> Path:
    """Save the confusion matrix as a PNG: counts in the cells, rows normalised for colour."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    counts = np.array(evaluation.confusion, dtype=float)
    rows = counts.sum(axis=1, keepdims=True)
    shares = np.divide(counts, rows, out=np.zeros_like(counts), where=rows > 0)
    n = len(evaluation.classes)
    size = max(4.0, 0.6 * n + 2)
    figure, axis = plt.subplots(figsize=(size + 1, size), dpi=110)
    image = axis.imshow(shares, cmap="Blues", vmin=0, vmax=1)
    axis.set_xticks(range(n), evaluation.classes, rotation=45, ha="right")
    axis.set_yticks(range(n), evaluation.classes)
    axis.set_xlabel("predicted")
    axis.set_ylabel("true")
    axis.set_title(f"{title}\ntop-1 {evaluation.top1:.3f} on {evaluation.samples} samples")
    for i in range(n):
        for j in range(n):
            if counts[i, j]:
                axis.text(j, i, int(counts[i, j]), ha="center", va="center",
                          color="white" if shares[i, j] > 0.5 else "black", fontsize=9)  # fmt: skip
    figure.colorbar(image, ax=axis, fraction=0.046, label="share of the true class")
    figure.tight_layout()
    path.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(path)
    plt.close(figure)
    return path
