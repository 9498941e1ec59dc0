"""``curata predict``: the top classes for new images, with their context, and "unknown" when the
model is not sure — photos of none of the classes are common."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from curata.errors import CurataError
from curata.training.classifier import Classifier

UNKNOWN = "unknown"
DEFAULT_THRESHOLD = 0.5


@dataclass(frozen=True)
class Prediction:
    path: str
    label: str  # the top class, or "unknown" below the threshold
    top: list[tuple[str, float]]  # (class, probability), most probable first
    description: str  # the top class's context from the config ("" for unknown)


def predict(
    model_path: Path, images: Sequence[str | Path], top_k: int = 3, threshold: float = DEFAULT_THRESHOLD
) -> list[Prediction]:
    missing = [str(p) for p in images if not Path(p).is_file()]
    if missing:
        raise CurataError(f"no such image file: {missing[0]}")
    classifier = Classifier.load(model_path)
    probabilities = classifier.predict(list(images))
    results = []
    for path, row in zip(images, probabilities, strict=True):
        order = np.argsort(-row, kind="stable")[:top_k]
        top = [(classifier.classes[i], round(float(row[i]), 4)) for i in order]
        label = top[0][0] if top[0][1] >= threshold else UNKNOWN
        results.append(Prediction(str(path), label, top, classifier.descriptions.get(label, "")))
    return results
