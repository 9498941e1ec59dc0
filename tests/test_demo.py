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


def test_demo_runs_the_whole_loop_and_is_rerunnable(tmp_path):
    env = cli_env(FIFTYONE_DATABASE_URI=None, FIFTYONE_DATABASE_DIR=None)
    command = [sys.executable, "-m", "curata.demo", "--no-app", "--project", str(tmp_path / "demo")]
    first = subprocess.run(command, capture_output=True, text=True, timeout=600, env=env)
    assert first.returncode == 0, first.stderr
    out = " ".join(first.stdout.split())  # rich wraps long lines
    assert (
        "daisy, dandelion, roses, tulips from data/sample/flowers: 77 files, 76 new, 1 already stored" in out
    )
    assert "conflict: 15922772266_1167a06620.jpg is filed as tulips but stored as roses" in out
    assert "local stand-in for the web search engines at http://127.0.0.1:" in out
    assert "24 downloaded and stored, 10 duplicates, 3 rejected, 0 failed; 24 sunflowers in all" in out
    assert "100 images analysed, 0 unchanged: duplicates 3, label conflicts 1" in out
    assert "duplicate-groups.png" in out and "quality-issues.png" in out
    assert "100 images embedded with efficientnet-lite0/imagenet" in out and "UMAP map" in out
    assert "linear probe: test top-1" in out and "confusion_matrix.png" in out
    assert "a scraped sunflowers photo from the test split:" in out
    assert "version 1.0.0: 100 images (train 69, validation 16, test 15)" in out
    assert "100 samples (daisy 19, dandelion 19, roses 19, sunflowers 24, tulips 19)" in out
    repository = tmp_path / "demo" / "published" / "curata-demo-flowers"
    assert f"published repository: {repository}" in out
    tags = subprocess.run(["git", "-C", str(repository), "tag"], capture_output=True, text=True, check=True)
    assert tags.stdout.split() == ["v1.0.0"] and (repository / "README.md").is_file()

    second = subprocess.run(command, capture_output=True, text=True, timeout=300, env=env)
    assert second.returncode == 0, second.stderr
    again = " ".join(second.stdout.split())
    assert "77 files, 0 new, 77 already stored" in again and "0 downloaded and stored" in again
    assert "0 images embedded with efficientnet-lite0/imagenet, 100 reused" in again
    assert "already has version 1.0.0" in again and "100 samples" in again
