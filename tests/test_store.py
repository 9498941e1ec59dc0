"""The store: content-addressed media, upsert by sha256, label conflicts, one dataset per project."""

from __future__ import annotations

import hashlib
import io

from PIL import Image

from curata.images import inspect_image
from curata.store import CONFLICT_TAG, MediaStore, NewImage


def new_image(color=(10, 200, 30), label="daisy", fmt="PNG") -> NewImage:
    buffer = io.BytesIO()
    Image.new("RGB", (20, 10), color).save(buffer, fmt)
    data = buffer.getvalue()
    info = inspect_image(data, max_pixels=10**8, max_bytes=10**8)
    return NewImage(hashlib.sha256(data).hexdigest(), info, label, {"engine": "test"}, tags=("t",))


def test_media_store_is_content_addressed_and_atomic(tmp_path):
    media = MediaStore(tmp_path)
    sha = hashlib.sha256(b"abc").hexdigest()
    path = media.put(sha, "jpg", b"abc")
    assert path == tmp_path / sha[:2] / f"{sha}.jpg" and path.read_bytes() == b"abc"
    assert media.put(sha, "jpg", b"abc") == path
    assert [p.name for p in path.parent.iterdir()] == [path.name]  # no temp files left behind


def test_same_bytes_twice_make_one_sample(make_project):
    project = make_project()
    first = project.store.add_images([new_image(), new_image()])
    again = project.store.add_images([new_image()])
    assert len(first.added) == 1 and len(first.duplicates) == 1
    assert again.added == [] and len(again.duplicates) == 1
    dataset = project.dataset
    assert len(dataset) == 1
    sample = dataset.first()
    assert sample.ground_truth.label == "daisy" and sample.tags == ["t"]
    assert sample.filepath == str(project.root / "media" / sample.sha256[:2] / f"{sample.sha256}.png")
    assert sample.metadata.width == 20 and sample.metadata.mime_type == "image/png"
    assert sample.source.engine == "test"


def test_same_bytes_under_another_class_is_a_recorded_conflict(make_project):
    project = make_project()
    result = project.store.add_images([new_image(label="roses"), new_image(label="tulips")])
    assert result.conflicts == [(new_image().sha256, "tulips", "roses")]
    again = project.store.add_images([new_image(label="tulips")])
    assert again.conflicts == []  # already recorded, nothing new
    sample = project.dataset.first()
    assert sample.ground_truth.label == "roses"
    assert sample.label_conflicts == ["tulips"] and CONFLICT_TAG in sample.tags


def test_sha256_is_unique_in_the_database(make_project):
    project = make_project()
    project.store.add_images([new_image()])
    indexes = project.dataset.get_index_information()
    assert any(spec.get("unique") and spec["key"] == [("sha256", 1)] for spec in indexes.values())


def test_reopening_finds_the_same_persistent_dataset(make_project):
    import curata

    project = make_project()
    project.store.add_images([new_image(), new_image(color=(1, 2, 3))])
    reopened = curata.open(project.root)
    assert len(reopened.dataset) == 2 and reopened.dataset.persistent
    assert reopened.dataset.default_classes == project.config.class_names
    assert reopened.class_counts() == {"daisy": 2, "dandelion": 0, "roses": 0, "sunflowers": 0, "tulips": 0}
