"""Folder import throughput: curata's import against the per-file loop it replaces.

Data: the 606 real JPEG flower photos in ../shared/data/tf-flowers-subset (5 class folders).
Anchor, measured in the same run on the same database: the usual notebook loop — read each
file, decode it with Pillow, hash it, copy it, and `dataset.add_sample` it one at a time.
curata: `Project.import_folder` (full decode + validation on a thread pool, bulk inserts).
curata does more work per file (full validation, EXIF-aware metadata, atomic fsynced media
writes, provenance), so on a local mongod, where a round-trip costs well under a millisecond,
the two run at similar speed; the figure that grows with database latency is the number of
write commands each sends, counted by the server. Prints images/s, the speed-up and the write
commands of both; run: .venv/bin/python benchmarks/import_throughput.py
"""

from __future__ import annotations

import hashlib
import sys
import time
from pathlib import Path

from _scratch import scratch_folder

REPO = Path(__file__).resolve().parents[1]
DATA = REPO.parent / "shared" / "data" / "tf-flowers-subset" / "images"


def anchor_import(dataset, folder: Path, media: Path) -> int:
    import fiftyone as fo
    from PIL import Image

    count = 0
    for path in sorted(folder.rglob("*.jpg")):
        data = path.read_bytes()
        with Image.open(path) as image:
            image.load()
        sha = hashlib.sha256(data).hexdigest()
        target = media / f"{sha}.jpg"
        target.write_bytes(data)
        dataset.add_sample(
            fo.Sample(
                filepath=str(target), sha256=sha, ground_truth=fo.Classification(label=path.parent.name)
            )
        )
        count += 1
    return count


def write_commands() -> int:
    from fiftyone.core.odm import get_db_client

    commands = get_db_client().admin.command("serverStatus")["metrics"]["commands"]
    return sum(int(commands.get(name, {}).get("total", 0)) for name in ("insert", "update", "findAndModify"))


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    import curata

    with scratch_folder("curata-bench-") as workdir:
        project = curata.init(workdir / "project", name="bench-import", classes_from=DATA)
        dataset = project.dataset  # starts the database before any timing

        import fiftyone as fo

        anchor_dataset = fo.Dataset("bench-import-anchor")
        (workdir / "anchor-media").mkdir()
        writes, started = write_commands(), time.perf_counter()
        anchor_count = anchor_import(anchor_dataset, DATA, workdir / "anchor-media")
        anchor_seconds, anchor_writes = time.perf_counter() - started, write_commands() - writes

        writes, started = write_commands(), time.perf_counter()
        report = project.import_folder(DATA, progress=False)
        curata_seconds, curata_writes = time.perf_counter() - started, write_commands() - writes
        assert len(dataset) == report.added

        print(f"images: {anchor_count}")
        print(f"anchor_per_file_loop_images_per_s: {anchor_count / anchor_seconds:.0f}")
        print(f"curata_import_images_per_s: {report.seen / curata_seconds:.0f}")
        print(f"curata_import_speedup: {anchor_seconds / curata_seconds:.1f}x")
        print(f"anchor_write_commands: {anchor_writes}")
        print(f"curata_write_commands: {curata_writes}")
        print(f"write_command_ratio: {anchor_writes / max(curata_writes, 1):.0f}x")


if __name__ == "__main__":
    main()
