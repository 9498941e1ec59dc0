"""Perceptual hashing speed and agreement: curata's reduced decode against imagehash.

Data: the 606 flower JPEGs (240-500 px) and the 26 blur-triplets camera photos (2048 px) in
../shared/data. Anchor, measured in the same run on the same files: a plain loop of
`imagehash.phash(Image.open(path))`. curata, run as `curata curate` runs it (chunks of files
on a pool of one process per core, started before timing):

- hashes: `analyse(path, quality=False)`, as `curata curate --hashes-only` — one grey draft-mode
  decode at hash size, pHash, dHash and the mirror pHash;
- full pass: `analyse(path)`, as `curata curate` — one draft-mode decode at 512 px shared by the
  hashes and every quality measurement (sharpness needs the resolution, so small photos are
  decoded whole: the anchor's own cost).

Also prints how far curata's pHashes are from imagehash's (Hamming distance).
Run: .venv/bin/python benchmarks/hashing.py
"""

from __future__ import annotations

import os
import sys
import time
from functools import partial
from pathlib import Path

import imagehash
from PIL import Image

from curata.curation.analysis import analyse
from curata.curation.parallel import PROCESS_POOL_MIN, file_pool, map_files

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
SETS = {
    "flowers": sorted((DATA / "tf-flowers-subset" / "images").rglob("*.jpg")),
    "blur_triplets": sorted((DATA / "blur-triplets" / "images").iterdir()),
}
PASSES = {"hashes": partial(analyse, quality=False), "full_pass": analyse}


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    workers = os.cpu_count() or 1
    print(f"workers: {workers}")
    with file_pool(jobs=PROCESS_POOL_MIN, workers=workers) as pool:  # processes, as curate uses
        map_files(analyse, [str(SETS["flowers"][0])] * workers * 4, pool, workers)  # start the workers
        for name, files in SETS.items():
            paths = [str(p) for p in files]
            repeat = max(1, 600 // len(paths))  # the small set is timed over several passes
            started = time.perf_counter()
            for _ in range(repeat):
                reference = [imagehash.phash(Image.open(p)) for p in paths]
            anchor = (time.perf_counter() - started) / repeat
            print(f"{name}_images: {len(paths)}")
            print(f"{name}_imagehash_images_per_s: {len(paths) / anchor:.0f}")
            for kind, function in PASSES.items():
                started = time.perf_counter()
                for _ in range(repeat):
                    ours = map_files(function, paths, pool, workers)
                elapsed = (time.perf_counter() - started) / repeat
                distances = [imagehash.hex_to_hash(s.phash) - r for s, r in zip(ours, reference, strict=True)]
                within_2 = sum(d <= 2 for d in distances) / len(distances)
                print(f"{name}_{kind}_images_per_s: {len(paths) / elapsed:.0f}")
                print(f"{name}_{kind}_speedup: {anchor / elapsed:.1f}x")
                print(f"{name}_{kind}_phash_within_2_bits: {within_2:.1%}")
                print(f"{name}_{kind}_phash_distance_max: {max(distances)}")


if __name__ == "__main__":
    main()
