"""Perceptual hashing speed and agreement: curata's one-decode analysis against imagehash.

Data: the 606 flower JPEGs (240-500 px) and the 26 blur-triplets camera photos (2048 px) in
../shared/data. Anchor, measured in the same run on the same files: a plain loop of
`imagehash.phash(Image.open(path))`. curata: `curata.curation.analysis.analyse` over a pool of
one process per core, as `curata curate` runs it — a draft-mode decode shared by pHash, dHash,
the mirror pHash and all quality measurements. Also prints how far curata's pHashes are from
imagehash's (Hamming distance). Run: .venv/bin/python benchmarks/hashing.py
"""

from __future__ import annotations

import os
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from multiprocessing import get_context
from pathlib import Path

import imagehash
from PIL import Image

from curata.curation.analysis import analyse

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "flowers": sorted((DATA / "tf-flowers-subset" / "images").rglob("*.jpg")),
    "blur_triplets": sorted((DATA / "blur-triplets" / "images").iterdir()),
}


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    workers = os.cpu_count() or 1
    with ProcessPoolExecutor(max_workers=workers, mp_context=get_context("spawn")) as pool:
        list(pool.map(analyse, [str(SETS["flowers"][0])] * workers))  # start the workers before timing
        for name, files in SETS.items():
            paths = [str(p) for p in files]
            repeat = max(1, 600 // len(paths))  # the small set is timed over several passes
            started = time.perf_counter()
            for _ in range(repeat):
                reference = [imagehash.phash(Image.open(p)) for p in paths]
            anchor = (time.perf_counter() - started) / repeat
            started = time.perf_counter()
            for _ in range(repeat):
                ours = list(pool.map(analyse, paths, chunksize=8))
            elapsed = (time.perf_counter() - started) / repeat
            distances = [imagehash.hex_to_hash(s.phash) - r for s, r in zip(ours, reference, strict=True)]
            within_2 = sum(d <= 2 for d in distances) / len(distances)
            print(f"{name}_images: {len(paths)}")
            print(f"{name}_imagehash_images_per_s: {len(paths) / anchor:.0f}")
            print(f"{name}_curata_images_per_s: {len(paths) / elapsed:.0f}")
            print(f"{name}_speedup: {anchor / elapsed:.1f}x")
            print(f"{name}_phash_within_2_bits: {within_2:.1%}")
            print(f"{name}_phash_distance_max: {max(distances)}")


if __name__ == "__main__":
    main()
