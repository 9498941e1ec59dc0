"""Suspected-mislabel detection against planted label noise: curata against cleanlab's Datalab.

Data: the 606 flower photos in ../shared/data/tf-flowers-subset (5 classes), embedded once with
the offline EfficientNet-Lite0 through `curata embed`'s own pipeline. For 10% and 20% noise,
labels are flipped to a random other class (seeds 0-9); precision and recall of the flagged
set against the flipped set are averaged over the seeds. Anchor, same features, same run:
cleanlab `Datalab(...).find_issues(features=..., issue_types={"label": {}})` with its defaults.
curata: `curata.embeddings.mislabels.find_mislabels`. Note that tf_flowers itself holds some
wrong or ambiguous labels, which count here as false positives.
Run: .venv/bin/python benchmarks/mislabels.py
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _scratch import scratch_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-flowers-subset" / "images"
SEEDS = range(10)


def flip(labels: np.ndarray, classes: list[str], rate: float, seed: int) -> tuple[np.ndarray, set[int]]:
    rng = np.random.default_rng(seed)
    noisy = labels.copy()
    chosen = rng.choice(len(labels), int(round(rate * len(labels))), replace=False)
    for index in chosen:
        noisy[index] = rng.choice([c for c in classes if c != labels[index]])
    return noisy, set(chosen.tolist())


def precision_recall(flagged: set[int], truth: set[int]) -> np.ndarray:
    hits = len(flagged & truth)
    return np.array([hits / max(len(flagged), 1), hits / len(truth)])


def datalab_flags(vectors: np.ndarray, labels: np.ndarray) -> set[int]:
    import pandas as pd
    from cleanlab import Datalab

    lab = Datalab(data=pd.DataFrame({"label": labels}), label_name="label", verbosity=0)
    lab.find_issues(features=vectors, issue_types={"label": {}})
    return set(np.nonzero(lab.get_issues("label")["is_label_issue"].to_numpy())[0].tolist())


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    warnings.filterwarnings("ignore")
    import curata
    from curata.embeddings.backends import EfficientNetLite0Backend
    from curata.embeddings.embed import compute_embeddings, embedding_matrix
    from curata.embeddings.mislabels import find_mislabels

    with scratch_folder("curata-bench-mislabels-") as workdir:
        project = curata.init(workdir / "project", name="bench-mislabels", classes_from=DATA)
        project.import_folder(DATA, progress=False)
        started = time.perf_counter()
        compute_embeddings(project.store, EfficientNetLite0Backend(), progress=False)
        embed_seconds = time.perf_counter() - started
        ids, vectors, _ = embedding_matrix(project.dataset)
        labels = np.array(project.dataset.select(ids, ordered=True).values("ground_truth.label"))
        classes = project.config.class_names
        print(f"images: {len(ids)}")
        print(f"embedding_seconds: {embed_seconds:.1f}")
        for rate in (0.1, 0.2):
            ours, anchor, seconds = [], [], []
            for seed in SEEDS:
                noisy, truth = flip(labels, classes, rate, seed)
                started = time.perf_counter()
                result = find_mislabels(ids, vectors, list(noisy), classes)
                seconds.append(time.perf_counter() - started)
                position = {sample_id: k for k, sample_id in enumerate(ids)}
                flagged = {position[i] for i, f in zip(result.ids, result.flagged, strict=True) if f}
                ours.append(precision_recall(flagged, truth))
                anchor.append(precision_recall(datalab_flags(vectors, noisy), truth))
            tag = f"noise_{int(rate * 100)}pct"
            (p, r), (ap, ar) = np.mean(ours, axis=0), np.mean(anchor, axis=0)
            print(f"{tag}_curata_precision: {p:.3f}")
            print(f"{tag}_curata_recall: {r:.3f}")
            print(f"{tag}_datalab_precision: {ap:.3f}")
            print(f"{tag}_datalab_recall: {ar:.3f}")
            print(f"{tag}_precision_ratio: {p / ap:.2f}x")
            print(f"{tag}_curata_seconds: {np.mean(seconds):.1f}")


if __name__ == "__main__":
    main()
