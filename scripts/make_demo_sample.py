"""Rebuild data/sample/ (the demo's flower photos) from the shared tf-flowers subset.

Picks photos evenly spread over each class's file list plus every member of the subset's
byte-identical groups (one of them filed under two classes), and writes each photo's credit
line beside it. Run from the repository root: python scripts/make_demo_sample.py [SHARED_DATA]
"""

from __future__ import annotations

import csv
import json
import shutil
import sys
from pathlib import Path

PER_CLASS = 19
REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    shared = Path(sys.argv[1]) if len(sys.argv) > 1 else REPO.parent / "shared" / "data"
    source = shared / "tf-flowers-subset"
    with open(source / "labels.csv", newline="") as handle:
        rows = list(csv.DictReader(handle))
    duplicates = {
        path
        for group in json.loads((source / "exact_duplicates.json").read_text())["exact_duplicate_groups_md5"]
        for path in group
    }
    chosen = []
    for label in sorted({row["label"] for row in rows}):
        members = [row for row in rows if row["label"] == label]
        step = len(members) / PER_CLASS
        picked = {members[int(i * step)]["file"] for i in range(PER_CLASS)}
        picked |= {row["file"] for row in members if row["file"] in duplicates}
        chosen += [row for row in members if row["file"] in picked]

    target = REPO / "data" / "sample"
    shutil.rmtree(target / "flowers", ignore_errors=True)
    with open(target / "CREDITS.csv", "w", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(["file", "class", "credit"])
        for row in chosen:
            relative = Path("flowers") / row["label"] / Path(row["file"]).name
            (target / relative).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(source / row["file"], target / relative)
            writer.writerow([relative.as_posix(), row["label"], row["attribution"]])
    print(f"{len(chosen)} photos written to {target}")


if __name__ == "__main__":
    main()
