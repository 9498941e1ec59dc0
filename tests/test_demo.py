"""`make demo`'s job on the bundled sample, run as a user would (its own project database)."""

from __future__ import annotations

import subprocess
import sys

from tests.conftest import REPO, cli_env


def test_bundled_sample_is_complete_and_credited():
    import csv

    photos = sorted(
        p.relative_to(REPO / "data" / "sample").as_posix()
        for p in (REPO / "data" / "sample" / "flowers").rglob("*.jpg")
    )
    with open(REPO / "data" / "sample" / "CREDITS.csv", newline="") as handle:
        credits = {row["file"]: row["credit"] for row in csv.DictReader(handle)}
    assert len(photos) == 100 and sorted(credits) == photos
    assert all(credit.startswith("CC-BY 2.0 by ") and "flickr.com" in credit for credit in credits.values())
    assert "Attribution 2.0" in (REPO / "data" / "sample" / "LICENSE.txt").read_text()


def test_demo_imports_the_sample_and_is_rerunnable(tmp_path):
    env = cli_env(FIFTYONE_DATABASE_URI=None, FIFTYONE_DATABASE_DIR=None)
    command = [sys.executable, "-m", "curata.demo", "--no-app", "--project", str(tmp_path / "demo")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert first.returncode == 0, first.stderr
    assert "97 new, 3 already stored, 1 label conflicts, 0 rejected" in first.stdout
    assert "97 samples (daisy 19, dandelion 19, roses 19, sunflowers 21, tulips 19)" in first.stdout
    second = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 0, second.stderr
    assert "0 new, 100 already stored" in second.stdout and "97 samples" in second.stdout
    assert (
        "97 images embedded with efficientnet-lite0/imagenet" in first.stdout and "UMAP map" in first.stdout
    )
    assert "0 images embedded with efficientnet-lite0/imagenet, 97 reused" in second.stdout
    assert "linear probe: test top-1" in first.stdout and "confusion_matrix.png" in first.stdout
    assert "a test photo filed as" in first.stdout
