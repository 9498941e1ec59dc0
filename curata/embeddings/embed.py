"""Embed every sample once per model: batched, decode overlapped with inference, cached.

Decoding runs in DataLoader worker processes while the model runs in this one, so the model is
the bottleneck, not JPEG decoding. Vectors are cached on disk under
``.curata/cache/embeddings/<model>/<sha[:2]>/<sha256>.npy`` — keyed by the bytes and the
model, so a rerun, a re-import or switching back to an earlier model embeds only what is new —
and stored on the samples (``embedding``, with ``embedding_model``) where FiftyOne Brain uses
them for similarity and the App's embeddings panel.
"""

from __future__ import annotations

import os
import re
import tempfile
import time
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np

from curata.embeddings.backends import EmbeddingBackend
from curata.errors import CurataError
from curata.images import open_image
from curata.progress import progress_bar, quiet_logger
from curata.store import STATE_DIR, Store

if TYPE_CHECKING:
    import fiftyone as fo

    from curata.embeddings.signals import SignalReport

EMBEDDING_FIELD = "embedding"
MODEL_FIELD = "embedding_model"
VISUALIZATION_KEY = "embeddings_map"
SIMILARITY_KEY = "similarity"
WORKSPACE = "curata"


@dataclass
class EmbeddingReport:
    model_id: str
    embedded: int  # run through the model
    from_cache: int  # read from the on-disk cache
    unchanged: int  # already stored on the sample with this model
    failed: list[str]
    seconds: float
    map_method: str | None = None  # "umap" or "pca" when the embeddings map was computed
    signals: SignalReport | None = None  # clusters, outliers and suspects derived afterwards


class EmbeddingCache:
    """One .npy file per (model, sha256), written atomically."""

    def __init__(self, root: Path, model_id: str):
        self.folder = root / re.sub(r"[^A-Za-z0-9._-]+", "_", model_id)

    def path(self, sha256: str) -> Path:
        return self.folder / sha256[:2] / f"{sha256}.npy"

    def get(self, sha256: str) -> np.ndarray | None:
        try:
            return np.load(self.path(sha256))
        except (OSError, ValueError):
            return None

    def put(self, sha256: str, vector: np.ndarray) -> None:
        path = self.path(sha256)
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, suffix=".npy")
        with os.fdopen(fd, "wb") as handle:
            np.save(handle, vector.astype(np.float32))
        os.replace(tmp, path)


class _ImageFiles:
    """A map-style dataset of (index, tensor); unreadable files yield None and are reported."""

    def __init__(self, paths: list[str], preprocess):
        self.paths = paths
        self.preprocess = preprocess

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int):
        try:
            return index, self.preprocess(open_image(self.paths[index]))
        except Exception:  # damaged or missing media: reported, never fatal
            return index, None


def _collate(items):
    import torch

    good = [(i, t) for i, t in items if t is not None]
    bad = [i for i, t in items if t is None]
    tensors = torch.stack([t for _, t in good]) if good else None
    return [i for i, _ in good], tensors, bad


def compute_embeddings(
    store: Store,
    backend: EmbeddingBackend,
    batch_size: int = 32,
    workers: int | None = None,
    progress: bool = True,
) -> EmbeddingReport:
    """Store ``backend``'s embedding on every sample that lacks one from this model."""
    import fiftyone as fo
    import torch
    from fiftyone import ViewField as F

    dataset = store.dataset
    started = time.perf_counter()
    store.ensure_fields({EMBEDDING_FIELD: fo.VectorField, MODEL_FIELD: fo.StringField})
    cache = EmbeddingCache(store.root / STATE_DIR / "cache" / "embeddings", backend.model_id)
    todo = dataset.match(F(MODEL_FIELD) != backend.model_id)
    ids, shas, paths = todo.values(["id", "sha256", "filepath"])
    unchanged = len(dataset) - len(ids)

    vectors: dict[str, np.ndarray] = {}
    missing: list[int] = []
    for position, sha in enumerate(shas):
        cached = cache.get(sha)
        if cached is not None and cached.shape == (backend.dim,):
            vectors[ids[position]] = cached
        else:
            missing.append(position)
    from_cache = len(vectors)

    failed: list[str] = []
    if missing:
        device = "cuda" if torch.cuda.is_available() else "cpu"
        backend.to(device)
        workers = min(2, os.cpu_count() or 1) if workers is None else workers
        loader = torch.utils.data.DataLoader(
            _ImageFiles([paths[p] for p in missing], backend.preprocess),
            batch_size=batch_size,
            num_workers=workers if len(missing) > batch_size else 0,
            collate_fn=_collate,
            pin_memory=device == "cuda",
        )
        with (
            torch.inference_mode(),
            progress_bar(len(missing), f"embed ({backend.model_id})", progress) as advance,
        ):
            for indices, batch, bad in loader:
                if batch is not None:
                    if device == "cuda":
                        with torch.autocast("cuda"):
                            out = backend.embed_images(batch)
                    else:
                        out = backend.embed_images(batch)
                    for index, vector in zip(indices, out.numpy(), strict=True):
                        position = missing[index]
                        cache.put(shas[position], vector)
                        vectors[ids[position]] = vector
                failed.extend(paths[missing[i]] for i in bad)
                advance(len(indices) + len(bad))

    if vectors:
        dataset.set_values(
            EMBEDDING_FIELD, {i: v.astype(np.float32) for i, v in vectors.items()}, key_field="id"
        )
        dataset.set_values(MODEL_FIELD, {i: backend.model_id for i in vectors}, key_field="id")
    dataset.info["embeddings"] = {
        **backend.settings(),
        "at": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    dataset.save()
    return EmbeddingReport(
        backend.model_id,
        len(missing) - len(failed),
        from_cache,
        unchanged,
        failed,
        time.perf_counter() - started,
    )


def record_class_texts(dataset: fo.Dataset, backend: EmbeddingBackend, classes) -> None:
    """Store each class's prompt embedding (CLIP backends) for zero-shot priors later.

    Prompts use the class name and the first sentence of its description from the config, the
    cultural or domain context that tells similar classes apart.
    """
    texts = {}
    for spec in classes:
        first_sentence = spec.description.strip().split(". ")[0].strip().rstrip(".")
        prompts = [f"a photo of {spec.name}."] + (
            [f"a photo of {spec.name}: {first_sentence}."] if first_sentence else []
        )
        vectors = backend.embed_texts(prompts).numpy().mean(axis=0)
        texts[spec.name] = (vectors / np.linalg.norm(vectors)).round(6).tolist()
    dataset.info["embeddings"] = {**dataset.info.get("embeddings", {}), "class_text_embeddings": texts}
    dataset.save()


def embedding_matrix(dataset: fo.Dataset | fo.DatasetView) -> tuple[list[str], np.ndarray, str]:
    """(ids, vectors, model id) of every embedded sample; an error if two models are mixed."""
    from fiftyone import ViewField as F

    embedded = dataset.match(F(MODEL_FIELD).exists())
    models = embedded.distinct(MODEL_FIELD)
    if not models:
        raise CurataError("no embeddings yet: run `curata embed` first")
    if len(models) > 1:
        raise CurataError(
            f"the samples hold embeddings of {len(models)} models ({', '.join(models)}); "
            "run `curata embed` so every sample is embedded with the configured model"
        )
    ids, vectors = embedded.values(["id", EMBEDDING_FIELD])
    return ids, np.stack(vectors), models[0]


def compute_map(dataset: fo.Dataset, method: str | None = None, progress: bool = True) -> str:
    """The 2-D map behind the App's embeddings panel: UMAP when installed, else PCA."""
    import fiftyone.brain as fob

    ids, _, _ = embedding_matrix(dataset)  # also refuses mixed models
    if method is None:
        try:
            import umap  # noqa: F401

            method = "umap"
        except ImportError:
            method = "pca"
    if len(ids) < 5:
        method = "pca"
    if dataset.has_brain_run(VISUALIZATION_KEY):
        dataset.delete_brain_run(VISUALIZATION_KEY)
    # a stable layout from run to run; umap-learn's own timestamped log lines stay out of the output
    options = {"seed": 51, "verbose": False} if method == "umap" else {}
    with quiet_logger("fiftyone.brain"), warnings.catch_warnings():  # no "Generating visualization..."
        warnings.filterwarnings("ignore", message="n_jobs value", category=UserWarning)  # seeded UMAP
        fob.compute_visualization(
            dataset.select(ids, ordered=True),
            embeddings=EMBEDDING_FIELD,
            method=method,
            brain_key=VISUALIZATION_KEY,
            progress=progress,
            **options,
        )
    return method


def compute_similarity_index(dataset: fo.Dataset) -> None:
    """FiftyOne Brain's similarity index on the stored vectors: "sort by similarity" in the App."""
    import fiftyone.brain as fob

    ids, _, _ = embedding_matrix(dataset)  # also refuses mixed models
    if dataset.has_brain_run(SIMILARITY_KEY):
        dataset.delete_brain_run(SIMILARITY_KEY)
    fob.compute_similarity(
        dataset.select(ids, ordered=True),
        embeddings=EMBEDDING_FIELD,
        brain_key=SIMILARITY_KEY,
        backend="sklearn",
        metric="cosine",
    )


def save_workspace(dataset: fo.Dataset) -> None:
    """The App layout `curata review` opens with: the sample grid beside the embeddings map."""
    import fiftyone as fo

    embeddings = fo.Panel(
        type="Embeddings", state={"brainResult": VISUALIZATION_KEY, "colorByField": "ground_truth.label"}
    )
    layout = fo.Space(children=[fo.Panel(type="Samples"), embeddings], orientation="horizontal")
    dataset.save_workspace(
        WORKSPACE, layout, description="samples beside the embeddings map, coloured by label", overwrite=True
    )
