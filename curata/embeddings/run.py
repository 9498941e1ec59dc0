"""The embed stage in one call: vectors, similarity index, map, workspace, then review signals."""

from __future__ import annotations

from curata.config import Config
from curata.embeddings.backends import load_backend
from curata.embeddings.embed import (
    SIMILARITY_KEY,
    VISUALIZATION_KEY,
    EmbeddingReport,
    compute_embeddings,
    compute_map,
    compute_similarity_index,
    record_class_texts,
    save_workspace,
)
from curata.embeddings.signals import compute_signals
from curata.store import Store


def embed(
    store: Store,
    config: Config,
    batch_size: int = 32,
    visualize: bool = True,
    map_method: str | None = None,
    signals: bool = True,
    progress: bool = True,
) -> EmbeddingReport:
    """Brain runs are recomputed only when vectors changed (or the run is missing)."""
    backend = load_backend(config.embeddings)
    report = compute_embeddings(store, backend, batch_size=batch_size, progress=progress)
    dataset = store.dataset
    if hasattr(backend, "embed_texts"):
        record_class_texts(dataset, backend, config.classes)
    changed = report.embedded or report.from_cache
    if changed or not dataset.has_brain_run(SIMILARITY_KEY):
        compute_similarity_index(dataset)
    if visualize and (changed or not dataset.has_brain_run(VISUALIZATION_KEY)):
        report.map_method = compute_map(dataset, method=map_method, progress=progress)
    if visualize:
        save_workspace(dataset)
    if signals:
        report.signals = compute_signals(store, config)
    return report
