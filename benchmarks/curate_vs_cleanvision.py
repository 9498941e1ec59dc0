"""The whole `curate` pass against cleanvision alone, on 10,000 images.

Data: 10,000 JPEGs made from the 606 flower photos in ../shared/data (random crops, sizes and
JPEG qualities, so near duplicates abound), written to a temporary folder. Anchor, in the same
run on the same files: cleanvision's `Imagelab(data_path).find_issues()` with its default
issue types (the quality checks plus exact and near duplicates). curata: `Project.curate()` on
the imported project — one decode per image shared by hashes and quality checks, a process per
core, multi-index near-duplicate search, fields, tags and saved views written to the database.
Import time is printed separately. Run: .venv/bin/python benchmarks/curate_vs_cleanvision.py [N]
"""

from __future__ import annotations

import os
import random
import sys
import time
from contextlib import redirect_stderr, redirect_stdout
from pathlib import Path

from _scratch import scratch_folder
from PIL import Image

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-flowers-subset" / "images"


def make_images(target: Path, count: int) -> None:
    sources = sorted(DATA.rglob("*.jpg"))
    rng = random.Random(0)
    for index in range(count):
        source = sources[index % len(sources)]
        with Image.open(source) as image:
            image = image.convert("RGB")
            w, h = image.size
            crop = rng.uniform(0.8, 1.0)
            left, top = rng.randint(0, int(w * (1 - crop))), rng.randint(0, int(h * (1 - crop)))
            image = image.crop((left, top, left + int(w * crop), top + int(h * crop)))
            scale = rng.uniform(0.6, 1.6)
            image = image.resize((max(32, int(image.width * scale)), max(32, int(image.height * scale))))
            folder = target / source.parent.name
            folder.mkdir(parents=True, exist_ok=True)
            image.save(folder / f"{index:05d}.jpg", quality=rng.randint(60, 95))


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 10_000
    with scratch_folder("curata-bench-curate-") as workdir:
        images = workdir / "images"
        make_images(images, count)

        from cleanvision import Imagelab

        started = time.perf_counter()
        with open(os.devnull, "w") as quiet, redirect_stdout(quiet), redirect_stderr(quiet):
            Imagelab(data_path=str(images)).find_issues()
        cleanvision_seconds = time.perf_counter() - started

        import curata

        project = curata.init(workdir / "project", name="bench-curate", classes_from=images)
        started = time.perf_counter()
        project.import_folder(images, progress=False)
        import_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = project.curate(progress=False)
        curate_seconds = time.perf_counter() - started

        print(f"images: {count}")
        print(f"cleanvision_seconds: {cleanvision_seconds:.1f}")
        print(f"curata_import_seconds: {import_seconds:.1f}")
        print(f"curata_curate_seconds: {curate_seconds:.1f}")
        print(f"curate_speedup_vs_cleanvision: {cleanvision_seconds / curate_seconds:.1f}x")
        print(f"curata_duplicate_groups: {len(report.groups)}")
        started = time.perf_counter()
        project.curate(progress=False)
        print(f"curata_rerun_seconds: {time.perf_counter() - started:.1f}")


if __name__ == "__main__":
    main()
