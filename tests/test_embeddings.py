"""Embedding backends and the embedding run: real offline weights, a tiny open_clip model, the cache."""

from __future__ import annotations

import time

import numpy as np
import pytest

from curata.embeddings.backends import EfficientNetLite0Backend, OpenClipBackend
from curata.embeddings.embed import MODEL_FIELD, VISUALIZATION_KEY, compute_embeddings, embedding_matrix
from curata.errors import CurataError
from curata.images import open_image


@pytest.fixture(scope="module")
def efficientnet():
    return EfficientNetLite0Backend()


def test_efficientnet_embeds_real_photos_by_class(efficientnet, shared_data):
    import torch

    root = shared_data / "tf-flowers-subset" / "images"
    classes = ("daisy", "sunflowers")
    paths = [(c, p) for c in classes for p in sorted((root / c).glob("*.jpg"))[:6]]
    with torch.inference_mode():
        vectors = efficientnet.embed_images(
            torch.stack([efficientnet.preprocess(open_image(p)) for _, p in paths])
        )
    assert vectors.shape == (12, 1280)
    assert np.allclose(vectors.norm(dim=1).numpy(), 1.0, atol=1e-5)
    similarity = (vectors @ vectors.T).numpy()
    same = np.array([[a == b for b, _ in paths] for a, _ in paths]) & ~np.eye(12, dtype=bool)
    different = np.array([[a != b for b, _ in paths] for a, _ in paths])
    assert similarity[same].mean() > similarity[different].mean() + 0.05


def test_open_clip_loads_a_local_weights_file(tiny_open_clip, shared_data):
    import torch

    arch, weights = tiny_open_clip
    backend = OpenClipBackend(arch, str(weights))
    assert backend.model_id == f"open_clip/{arch}/tiny-clip.pt" and backend.dim == 32
    photo = next((shared_data / "tf-flowers-subset" / "images" / "roses").glob("*.jpg"))
    with torch.inference_mode():
        images = backend.embed_images(torch.stack([backend.preprocess(open_image(photo))] * 2))
    texts = backend.embed_texts(["a photo of roses", "a photo of tulips", "a photo of daisy"])
    assert images.shape == (2, 32) and texts.shape == (3, 32)
    zero_shot = (images @ texts.T).softmax(dim=1)
    assert zero_shot.shape == (2, 3) and torch.allclose(zero_shot.sum(dim=1), torch.ones(2))


def test_open_clip_fails_fast_without_weights_offline():
    started = time.perf_counter()
    with pytest.raises(CurataError, match="efficientnet-lite0") as caught:
        OpenClipBackend("ViT-B-32", "laion2b_s34b_b79k")
    assert time.perf_counter() - started < 10
    assert "HF_HUB_OFFLINE" in str(caught.value)
    with pytest.raises(CurataError, match="no pretrained weights 'nonsense'"):
        OpenClipBackend("ViT-B-32", "nonsense")


def test_embedding_run_is_cached_and_refuses_mixed_models(make_project, flowers, efficientnet):
    project = make_project()
    project.import_folder(flowers / "daisy", label="daisy", progress=False)
    project.import_folder(flowers / "roses", label="roses", progress=False)
    first = compute_embeddings(project.store, efficientnet, batch_size=8, progress=False)
    assert first.embedded == len(project.dataset) == 17 and first.from_cache == 0 and not first.failed
    again = compute_embeddings(project.store, efficientnet, progress=False)
    assert again.embedded == 0 and again.unchanged == 17

    project.dataset.set_values(MODEL_FIELD, [None] * 17)  # as if another model had been used since
    cached = compute_embeddings(project.store, efficientnet, progress=False)
    assert cached.embedded == 0 and cached.from_cache == 17
    ids, vectors, model = embedding_matrix(project.dataset)
    assert vectors.shape == (17, 1280) and model == efficientnet.model_id

    sample = project.dataset.first()
    sample[MODEL_FIELD] = "open_clip/ViT-B-32/laion2b_s34b_b79k"
    sample.save()
    with pytest.raises(CurataError, match="embeddings of 2 models"):
        embedding_matrix(project.dataset)


def test_project_embed_stores_vectors_and_the_map(make_project, flowers):
    project = make_project()
    text = (
        (project.root / "curata.toml")
        .read_text()
        .replace('backend = "open_clip"', 'backend = "efficientnet-lite0"')
    )
    (project.root / "curata.toml").write_text(text)
    project = type(project)(project.root)
    project.import_folder(flowers / "tulips", label="tulips", progress=False)
    report = project.embed(map_method="pca", progress=False)
    assert report.embedded == 9 and report.map_method == "pca"
    assert project.dataset.has_brain_run(VISUALIZATION_KEY)
    similar = project.dataset.sort_by_similarity(project.dataset.first().id, k=3, brain_key="similarity")
    assert len(similar) == 3 and similar.first().id == project.dataset.first().id
    assert project.dataset.info["embeddings"]["model_id"] == "efficientnet-lite0/imagenet"
    assert len(project.dataset.exists("embedding")) == 9


def test_signals_find_planted_mislabels_and_irrelevant_images(make_project, shared_data, tmp_path):
    """Real photos, two labels flipped on purpose and one image of nothing relevant."""
    import shutil

    from curata.embeddings.signals import OUTLIER_TAG, SUSPECT_TAG

    root = shared_data / "tf-flowers-subset" / "images"
    folder = tmp_path / "photos"
    for name in ("daisy", "sunflowers", "tulips"):
        (folder / name).mkdir(parents=True)
        for photo in sorted((root / name).glob("*.jpg"))[:24]:
            shutil.copy(photo, folder / name / photo.name)
    flipped = sorted((root / "sunflowers").glob("*.jpg"))[30:32]
    for photo in flipped:  # sunflowers filed as daisies
        shutil.copy(photo, folder / "daisy" / photo.name)
    # the "photo no longer available" placeholder that image searches return
    shutil.copy(
        shared_data / "cleanvision-tests" / "images" / "image_588.png", folder / "tulips" / "gone.png"
    )

    project = make_project(classes=("daisy", "sunflowers", "tulips"))
    text = (
        (project.root / "curata.toml")
        .read_text()
        .replace('backend = "open_clip"', 'backend = "efficientnet-lite0"')
    )
    (project.root / "curata.toml").write_text(text)
    project = type(project)(project.root)
    project.import_folder(folder, progress=False)
    report = project.embed(map_method="pca", progress=False)
    signals = report.signals
    dataset = project.dataset

    suspects = dataset.load_saved_view("suspected-mislabels")
    suspect_files = set(suspects.values("source.original_path"))
    assert {f"daisy/{p.name}" for p in flipped} <= suspect_files
    for sample in suspects.match({"source.original_path": {"$in": [f"daisy/{p.name}" for p in flipped]}}):
        assert sample.suggested_label == "sunflowers" and sample.mislabel_score > 0.5
    assert len(suspects) == signals.suspects <= 8
    assert len(dataset.exists("suggested_label")) == len(dataset.exists("mislabel_score")) == len(dataset)
    scores = suspects.values("mislabel_score")
    assert scores == sorted(scores, reverse=True)

    outliers = dataset.load_saved_view("outliers")
    assert outliers.first().source.original_path == "tulips/gone.png"
    assert outliers.first().outlier_score > 3.0 and len(outliers) == signals.outliers <= 4
    assert set(dataset.match_tags(OUTLIER_TAG).values("id")) == set(outliers.values("id"))
    assert len(dataset.exists("cluster")) == len(dataset) and signals.clusters >= 3

    # a reviewer dismissed a suggestion: it is not raised again
    dismissed = suspects.first()
    dismissed.dismissed_suggestions = [dismissed.suggested_label]
    dismissed.save()
    again = project.embed(map_method="pca", progress=False)
    assert again.embedded == 0 and again.signals.suspects == signals.suspects - 1
    assert SUSPECT_TAG not in dataset[dismissed.id].tags
    assert dataset[dismissed.id].suggested_label == dismissed.suggested_label  # still the model's view


def test_clip_class_prompts_give_a_zero_shot_prior(make_project, tiny_open_clip, flowers):
    import numpy as np

    from curata.embeddings.embed import compute_embeddings, embedding_matrix, record_class_texts
    from curata.embeddings.signals import class_text_prior

    arch, weights = tiny_open_clip
    project = make_project()
    project.import_folder(flowers / "roses", label="roses", progress=False)
    backend = OpenClipBackend(arch, str(weights))
    compute_embeddings(project.store, backend, progress=False)
    record_class_texts(project.dataset, backend, project.config.classes)
    ids, vectors, model = embedding_matrix(project.dataset)
    prior = class_text_prior(project.dataset, model, project.config.class_names, vectors)
    assert prior.shape == (len(ids), 5) and np.allclose(prior.sum(axis=1), 1.0, atol=1e-5)
    assert class_text_prior(project.dataset, "another/model", project.config.class_names, vectors) is None
