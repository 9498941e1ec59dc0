"""Folder import on real photos and hostile files: validated, deduplicated, idempotent, bulk."""

from __future__ import annotations

import shutil

import pytest

from curata.errors import CurataError
from curata.store import CONFLICT_TAG
from tests.test_images import jpeg, png_claiming


def test_import_real_flowers(make_project, flowers):
    project = make_project()
    report = project.import_folder(flowers, progress=False)
    assert report.seen == 42 and report.added == 41 and report.duplicates == 1 and report.rejected == []
    assert report.conflicts == [("tulips/15922772266_1167a06620.jpg", "tulips", "roses")]
    counts = project.class_counts()
    assert counts == {"daisy": 8, "dandelion": 8, "roses": 9, "sunflowers": 8, "tulips": 8}
    conflicted = project.dataset.match_tags(CONFLICT_TAG)
    assert len(conflicted) == 1 and conflicted.first().label_conflicts == ["tulips"]
    sample = project.dataset.match(
        {"source.original_path": "daisy/" + sorted(p.name for p in (flowers / "daisy").iterdir())[0]}
    ).first()
    assert sample.source.engine == "folder" and sample.source.original_format == "JPEG"
    assert sample.metadata.width > 0 and "imported" in sample.tags
    assert project.dataset.info["imports"][-1]["added"] == 41


def test_reimport_is_idempotent(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    media_files = sorted((project.root / "media").rglob("*"))
    again = project.import_folder(flowers, progress=False)
    assert again.added == 0 and again.duplicates == 42 and again.conflicts == []
    assert len(project.dataset) == 41
    assert sorted((project.root / "media").rglob("*")) == media_files


def test_hostile_and_corrupt_files_are_reported_not_fatal(make_project, shared_data, tmp_path):
    folder = tmp_path / "incoming" / "daisy"
    folder.mkdir(parents=True)
    root = shared_data / "imagededup-tests"
    for name in (
        "formats_images/ukbench09380.svg",
        "formats_images/copyleft.tiff",
        "formats_images/Iggy.1024.ppm",
        "formats_images/giphy.gif",
        "mixed_images/ukbench09268_corrupt.jpg",
    ):
        shutil.copy(root / name, folder / name.split("/")[-1])
    (folder / "real.svg.jpg").write_bytes(
        b'<svg xmlns="http://www.w3.org/2000/svg"><script>x()</script></svg>'
    )
    (folder / "login.png").write_bytes(b"<!doctype html><html><body>Please log in</body></html>")
    (folder / "bomb.png").write_bytes(png_claiming(30_000, 30_000))
    (folder / "half.jpg").write_bytes(jpeg(size=(300, 300))[:400])
    (folder / "notes.txt").write_text("not an image")
    (folder / "empty.jpg").write_bytes(b"")
    (tmp_path / "incoming" / "stray.jpg").write_bytes(jpeg())
    project = make_project()
    report = project.import_folder(tmp_path / "incoming", progress=False)
    reasons = dict(report.rejected)
    assert set(reasons) == {
        "daisy/ukbench09268_corrupt.jpg",
        "daisy/real.svg.jpg",
        "daisy/login.png",
        "daisy/bomb.png",
        "daisy/half.jpg",
        "daisy/notes.txt",
        "daisy/empty.jpg",
        "stray.jpg",
    }
    assert "SVG" in reasons["daisy/real.svg.jpg"] and "HTML" in reasons["daisy/login.png"]
    assert "decompression bomb" in reasons["daisy/bomb.png"]
    assert "corrupt" in reasons["daisy/half.jpg"] and "class folder" in reasons["stray.jpg"]
    assert report.added == 4
    stored = sorted(p.suffix for p in (project.root / "media").rglob("*.*"))
    assert stored == [".gif", ".jpg", ".png", ".png"]  # TIFF and PPM were converted for the browser


def test_flat_folder_with_label(make_project, flowers):
    project = make_project()
    report = project.import_folder(flowers / "roses", label="roses", progress=False)
    assert report.added == 9 and project.class_counts()["roses"] == 9


def test_unknown_class_folder_is_a_clear_error(make_project, flowers):
    project = make_project(classes=("daisy", "roses"))
    with pytest.raises(CurataError, match="dandelion, sunflowers, tulips are not classes"):
        project.import_folder(flowers, progress=False)
    with pytest.raises(CurataError, match="'lilies' is not a class"):
        project.import_folder(flowers / "roses", label="lilies", progress=False)
    assert len(project.dataset) == 0


def test_missing_folder_is_a_clear_error(make_project, tmp_path):
    with pytest.raises(CurataError, match="is not a folder"):
        make_project().import_folder(tmp_path / "nope", progress=False)


def test_import_uses_bulk_writes(make_project, shared_data):
    """Hundreds of images in a handful of database round-trips, counted by the server itself."""
    from fiftyone.core.odm import get_db_client

    project = make_project()
    assert len(project.dataset) == 0  # connected before counting

    admin = get_db_client().admin

    def writes() -> int:
        commands = admin.command("serverStatus")["metrics"]["commands"]
        return sum(
            int(commands.get(name, {}).get("total", 0)) for name in ("insert", "update", "findAndModify")
        )

    before = writes()
    report = project.import_folder(shared_data / "tf-flowers-subset" / "images", progress=False)
    assert report.added == 603
    print("write commands:", writes() - before)
    assert writes() - before < 30, "import should insert samples in batches, not one by one"
