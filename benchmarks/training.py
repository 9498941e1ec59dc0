"""Classifier accuracy on tf-flowers with the offline model, over five split seeds.

Data: the 606 flower photos in ../shared/data/tf-flowers-subset (5 classes), imported, curated
(so duplicate groups stay within one split) and embedded with EfficientNet-Lite0 through
curata's own pipeline. For seeds 0-4 the splits are assigned afresh (70/15/15, stratified) and
`curata train`'s trainer runs; the test-split top-1 is averaged. Goal: top-1 >= 0.90. Anchor,
same features and splits: scikit-learn's LogisticRegression with its defaults, fitted on train.
With `--finetune` the fine-tune (last 3 blocks + head, at most FINETUNE_EPOCHS epochs) also runs
on each seed's splits; the goal is "not worse than the probe". It takes minutes per seed on CPU.
Run: .venv/bin/python benchmarks/training.py [--finetune]
"""

from __future__ import annotations

import sys
import time
import warnings
from pathlib import Path

import numpy as np
from _scratch import scratch_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-flowers-subset" / "images"
SEEDS = range(5)
FINETUNE_EPOCHS = 4


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    warnings.filterwarnings("ignore")
    from sklearn.linear_model import LogisticRegression

    import curata

    with scratch_folder("curata-bench-training-") as workdir:
        project = curata.init(workdir / "project", name="bench-training", classes_from=DATA)
        config = project.root / "curata.toml"
        config.write_text(
            config.read_text().replace('backend = "open_clip"', 'backend = "efficientnet-lite0"')
        )
        project = curata.open(project.root)
        project.import_folder(DATA, progress=False)
        project.curate(progress=False)
        started = time.perf_counter()
        project.embed(visualize=False, signals=False, progress=False)
        print(f"images: {len(project.dataset)}")
        print(f"embedding_seconds: {time.perf_counter() - started:.1f}")
        ours, anchor, seconds, tuned, tuned_seconds = [], [], [], [], []
        with_finetune = "--finetune" in sys.argv
        for seed in SEEDS:
            if project.dataset.has_field("split"):  # fresh splits for each seed
                project.dataset.clear_sample_field("split")
            started = time.perf_counter()
            report = project.train(seed=seed, progress=False)
            seconds.append(time.perf_counter() - started)
            ours.append(report.test.top1)
            dataset = project.dataset
            vectors, labels, splits = dataset.values(["embedding", "ground_truth.label", "split"])
            vectors, labels, splits = np.asarray(vectors), np.asarray(labels), np.asarray(splits)
            train, test = splits == "train", splits == "test"
            baseline = LogisticRegression(max_iter=2000).fit(vectors[train], labels[train])
            anchor.append(float(np.mean(baseline.predict(vectors[test]) == labels[test])))
            print(
                f"seed_{seed}_probe_top1: {report.test.top1:.3f} "
                f"(test {report.test.samples}, anchor {anchor[-1]:.3f})"
            )
            if with_finetune:  # the same splits: they are assigned once per seed
                started = time.perf_counter()
                fine = project.train(trainer="finetune", seed=seed, epochs=FINETUNE_EPOCHS, progress=False)
                tuned_seconds.append(time.perf_counter() - started)
                tuned.append(fine.test.top1)
                best = fine.details["fine_tune"]["best_epoch"]
                print(f"seed_{seed}_finetune_top1: {fine.test.top1:.3f} (best epoch {best})", flush=True)
        print(f"probe_top1_mean: {np.mean(ours):.3f}")
        print(f"probe_top1_std: {np.std(ours):.3f}")
        print(f"anchor_logreg_top1_mean: {np.mean(anchor):.3f}")
        print(f"probe_vs_anchor: {np.mean(ours) / np.mean(anchor):.3f}x")
        print(f"probe_train_seconds: {np.mean(seconds):.1f}")
        print(f"goal_top1_0.90: {'met' if np.mean(ours) >= 0.90 else 'not met'}")
        if with_finetune:
            print(f"finetune_top1_mean: {np.mean(tuned):.3f}")
            print(f"finetune_top1_std: {np.std(tuned):.3f}")
            print(f"finetune_vs_probe: {np.mean(tuned) / np.mean(ours):.3f}x")
            print(f"finetune_train_seconds: {np.mean(tuned_seconds):.0f}")


if __name__ == "__main__":
    main()
