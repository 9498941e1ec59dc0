"""Embedding run throughput against the model's forward pass alone.

Data: the 606 flower JPEGs in ../shared/data/tf-flowers-subset. Anchor, same run, same batch
size: EfficientNet-Lite0's forward pass over tensors decoded and preprocessed beforehand (the
best the run could do). curata: `compute_embeddings` — decoding in DataLoader workers
overlapped with inference, caching and storing included, cache empty. The ratio says whether
decoding is the bottleneck (goal: at least 0.85). Run: .venv/bin/python benchmarks/embedding_throughput.py
"""

from __future__ import annotations

import sys
import time
from pathlib import Path

from _scratch import scratch_folder

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-flowers-subset" / "images"
BATCH = 32


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    import torch

    import curata
    from curata.embeddings.backends import EfficientNetLite0Backend
    from curata.embeddings.embed import compute_embeddings
    from curata.images import open_image

    backend = EfficientNetLite0Backend()
    with scratch_folder("curata-bench-embed-") as workdir:
        project = curata.init(workdir / "project", name="bench-embed", classes_from=DATA)
        project.import_folder(DATA, progress=False)
        paths = project.dataset.values("filepath")

        tensors = [backend.preprocess(open_image(p)) for p in paths]
        with torch.inference_mode():
            backend.embed_images(torch.stack(tensors[:BATCH]))  # warm-up
            started = time.perf_counter()
            for start in range(0, len(tensors), BATCH):
                backend.embed_images(torch.stack(tensors[start : start + BATCH]))
            forward_seconds = time.perf_counter() - started

        started = time.perf_counter()
        report = compute_embeddings(project.store, backend, batch_size=BATCH, progress=False)
        run_seconds = time.perf_counter() - started
        assert report.embedded == len(paths)

        print(f"images: {len(paths)}")
        print(f"forward_only_images_per_s: {len(paths) / forward_seconds:.1f}")
        print(f"embedding_run_images_per_s: {len(paths) / run_seconds:.1f}")
        print(f"run_vs_forward_ratio: {forward_seconds / run_seconds:.2f}x")


if __name__ == "__main__":
    main()
