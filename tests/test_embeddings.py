"""Embedding backends and the embedding run: real offline weights, a tiny open_clip model, the cache."""

from __future__ import annotations

import json
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


@pytest.fixture
def tiny_clip(tmp_path):
    """A randomly initialised open_clip model saved to a local weights file."""
    import open_clip
    import torch

    config = {
        "embed_dim": 32,
        "vision_cfg": {"image_size": 64, "layers": 2, "width": 64, "patch_size": 16, "head_width": 32},
        "text_cfg": {"context_length": 77, "vocab_size": 49408, "width": 64, "heads": 2, "layers": 2},
    }
    (tmp_path / "curata-tiny-clip.json").write_text(json.dumps(config))
    open_clip.add_model_config(tmp_path / "curata-tiny-clip.json")
    model = open_clip.create_model("curata-tiny-clip", pretrained=None)
    weights = tmp_path / "tiny-clip.pt"
    torch.save(model.state_dict(), weights)
    return "curata-tiny-clip", weights


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


def test_open_clip_loads_a_local_weights_file(tiny_clip, shared_data):
    import torch

    arch, weights = tiny_clip
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
    assert project.dataset.info["embeddings"]["model_id"] == "efficientnet-lite0/imagenet"
    assert len(project.dataset.exists("embedding")) == 9
