"""Publishing 10,000 images: curata's publish to a local git target against 🤗 Datasets' own
parquet conversion of the same data.

Data: 10,000 distinct JPEGs made from the 606 flower photos in ../shared/data/tf-flowers-subset
(each photo re-encoded at up to 17 JPEG qualities), imported into a project (not timed).
Anchor, in the same run: the steps ``Dataset.push_to_hub`` takes before it uploads — a
``Dataset`` of image paths and labels, split into shards of at most 500 MB, the image bytes
embedded with ``embed_table_storage`` and each shard written with ``to_parquet`` — for the same
splits and files. curata: ``Project.publish`` to a new local git repository, which also writes
the card and manifest, checks every file's sha256, commits and tags; its parquet writing alone
is timed too. Prints seconds and images/s of each and the ratios;
run: .venv/bin/python benchmarks/publish.py [--images N]
"""

from __future__ import annotations

import argparse
import io
import sys
import tempfile
import time
from pathlib import Path

from _scratch import scratch_folder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tf-flowers-subset" / "images"
QUALITIES = range(95, 78, -1)  # 17 re-encodings per photo


def make_images(folder: Path, count: int) -> int:
    """``count`` distinct JPEGs in class folders, from the real photos."""
    from PIL import Image

    photos = sorted(DATA.glob("*/*.jpg"))
    written = 0
    for quality in QUALITIES:
        for photo in photos:
            if written == count:
                return written
            with Image.open(photo) as image:
                buffer = io.BytesIO()
                image.convert("RGB").save(buffer, "JPEG", quality=quality)
            target = folder / photo.parent.name / f"{photo.stem}-q{quality}.jpg"
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(buffer.getvalue())
            written += 1
    return written


def anchor(project, out: Path) -> float:
    """push_to_hub's conversion: path dataset -> shards -> embed_table_storage -> to_parquet."""
    import datasets
    from datasets.table import embed_table_storage
    from datasets.utils.py_utils import convert_file_size_to_int

    names = project.config.class_names
    features = datasets.Features({"image": datasets.Image(), "label": datasets.ClassLabel(names=names)})
    paths, labels, splits = project.dataset.values(["filepath", "ground_truth.label", "split"])
    started = time.perf_counter()
    for split in ("train", "val", "test"):
        rows = [
            (p, names.index(label)) for p, label, s in zip(paths, labels, splits, strict=True) if s == split
        ]
        ds = datasets.Dataset.from_dict(
            {"image": [p for p, _ in rows], "label": [label for _, label in rows]}, features=features
        )
        total = sum(Path(p).stat().st_size for p, _ in rows)
        shards = int(total / convert_file_size_to_int(datasets.config.MAX_SHARD_SIZE)) + 1  # as push_to_hub
        for index in range(shards):
            shard = ds.shard(num_shards=shards, index=index, contiguous=True).with_format("arrow")
            shard = shard.map(embed_table_storage, batched=True, batch_size=100, keep_in_memory=True)
            shard.with_format(None).to_parquet(out / f"{split}-{index:05d}.parquet", batch_size=100)
    return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=10_000)
    args = parser.parse_args()
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    import datasets

    datasets.disable_progress_bars()
    import curata

    with scratch_folder("curata-bench-publish-") as workdir:
        count = make_images(workdir / "images", args.images)
        project = curata.init(
            workdir / "project", name="bench-publish", classes=sorted(p.name for p in DATA.iterdir())
        )
        imported = project.import_folder(workdir / "images", progress=False)
        megabytes = sum(f.stat().st_size for f in (workdir / "images").rglob("*.jpg")) / 1e6
        print(f"prepared {count} images ({imported.added} imported), {megabytes:.0f} MB")

        from curata.hub.build import build_version
        from curata.training.splits import assign_splits

        assign_splits(project.dataset)
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            started = time.perf_counter()
            build_version(project.dataset, project.config.class_names, Path(scratch), 500, progress=False)
            build_seconds = time.perf_counter() - started
        started = time.perf_counter()
        report = project.publish("1.0.0", target=str(workdir / "published"), progress=False)
        publish_seconds = time.perf_counter() - started
        with tempfile.TemporaryDirectory(dir=workdir) as scratch:
            anchor_seconds = anchor(project, Path(scratch))

    print(f"rows published: {report.rows} in {report.shards} shards, {report.download_size / 1e6:.0f} MB")
    for name, seconds in (
        ("datasets conversion (push_to_hub's steps)", anchor_seconds),
        ("curata parquet build", build_seconds),
        ("curata publish (build, card, git commit and tag)", publish_seconds),
    ):
        print(f"{name}: {seconds:.1f} s, {report.rows / seconds:.0f} images/s")
    print(f"build_vs_datasets: {anchor_seconds / build_seconds:.1f}x")
    print(f"publish_vs_datasets: {anchor_seconds / publish_seconds:.1f}x")


if __name__ == "__main__":
    main()
