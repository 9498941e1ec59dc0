"""From stored embeddings to review signals: clusters, outliers and suspected mislabels.

Results are fields (``cluster``, ``outlier_score``, ``mislabel_score``, ``suggested_label``),
tags (``outlier``, ``suspect``) and saved views, so the App can show them and later stages can
read them. A reviewer's decision is respected: a suggestion listed in a sample's
``dismissed_suggestions`` is never raised again for it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from curata.config import Config
from curata.embeddings.embed import embedding_matrix
from curata.embeddings.mislabels import find_mislabels
from curata.embeddings.structure import cluster_classes, outlier_scores
from curata.store import MODEL_SUSPECT_TAG, OUTLIER_TAG, SUSPECT_TAG, Store, undecided

if TYPE_CHECKING:
    import fiftyone as fo

OUTLIER_THRESHOLD = 3.0  # robust z-score of the distance to the nearest classmates
CLIP_LOGIT_SCALE = 100.0


@dataclass
class SignalReport:
    model_id: str
    clusters: int = 0
    outliers: int = 0
    suspects: int = 0
    rows: list[tuple[str, int, str]] = field(default_factory=list)  # (signal, samples, saved view)


def class_text_prior(dataset: fo.Dataset, model_id: str, class_names: list[str], vectors: np.ndarray):
    """Zero-shot class probabilities from the class prompts stored at embedding time (CLIP only)."""
    stored = dataset.info.get("embeddings", {})
    texts = stored.get("class_text_embeddings")
    if stored.get("model_id") != model_id or not texts or sorted(texts) != sorted(class_names):
        return None
    text = np.array([texts[name] for name in class_names], dtype=np.float32)
    logits = CLIP_LOGIT_SCALE * vectors @ text.T
    logits -= logits.max(axis=1, keepdims=True)
    probabilities = np.exp(logits)
    return probabilities / probabilities.sum(axis=1, keepdims=True)


def compute_signals(store: Store, config: Config) -> SignalReport:
    dataset = store.dataset
    _ensure_fields(store)
    ids, vectors, model_id = embedding_matrix(dataset)
    view = dataset.select(ids, ordered=True)
    labels, dismissed = view.values(["ground_truth.label", "dismissed_suggestions"])
    report = SignalReport(model_id)

    clusters = cluster_classes(vectors, labels)
    view.set_values("cluster", clusters)
    report.clusters = len({c for c in clusters if c})

    outliers = outlier_scores(vectors, labels)
    view.set_values("outlier_score", [None if np.isnan(s) else round(float(s), 3) for s in outliers])
    outlier_ids = {i for i, s in zip(ids, outliers, strict=True) if s > OUTLIER_THRESHOLD}

    prior = class_text_prior(dataset, model_id, config.class_names, vectors)
    result = find_mislabels(ids, vectors, labels, config.class_names, text_prior=prior)
    position = {i: k for k, i in enumerate(ids)}
    scores = {i: None for i in ids}
    suggestions = {i: None for i in ids}
    suspect_ids = set()
    for sample_id, score, suggested, flagged in zip(
        result.ids, result.scores, result.suggested, result.flagged, strict=True
    ):
        scores[sample_id] = round(float(score), 4)
        suggestions[sample_id] = suggested  # the model's view for every sample; suspects are tagged
        if flagged and suggested not in (dismissed[position[sample_id]] or []):
            suspect_ids.add(sample_id)
    dataset.set_values("mislabel_score", scores, key_field="id")
    dataset.set_values("suggested_label", suggestions, key_field="id")

    store.retag(OUTLIER_TAG, outlier_ids)
    store.retag(SUSPECT_TAG, suspect_ids)
    report.outliers, report.suspects = len(outlier_ids), len(suspect_ids)
    report.rows = _save_views(dataset, report)
    dataset.info["signals"] = {
        "model_id": model_id,
        "clusters": report.clusters,
        "outliers": report.outliers,
        "suspects": report.suspects,
        "text_prior": prior is not None,
    }
    dataset.save()
    return report


def _save_views(dataset: fo.Dataset, report: SignalReport) -> list[tuple[str, int, str]]:
    from fiftyone import ViewField as F

    dataset.save_view(
        "suspected-mislabels",
        undecided(dataset)
        .match_tags([SUSPECT_TAG, MODEL_SUSPECT_TAG])
        .sort_by("mislabel_score", reverse=True),
        description="labels the embeddings (or, after training, the model) doubt, worst first; "
        "suggested_label says what the embeddings see, predictions what the model sees",
        overwrite=True,
    )
    dataset.save_view(
        "outliers",
        undecided(dataset).match_tags(OUTLIER_TAG).sort_by("outlier_score", reverse=True),
        description="far from every other sample of their class, worst first",
        overwrite=True,
    )
    dataset.save_view(
        "clusters",
        dataset.exists("cluster").group_by("cluster", sort_expr=F().length(), reverse=True),
        description="the sub-kinds within each class, largest first",
        overwrite=True,
    )
    return [
        ("suspected mislabels", report.suspects, "suspected-mislabels"),
        ("outliers", report.outliers, "outliers"),
        ("clusters", report.clusters, "clusters"),
    ]


def _ensure_fields(store: Store) -> None:
    import fiftyone as fo

    store.ensure_fields({
        "cluster": fo.StringField,
        "suggested_label": fo.StringField,
        "outlier_score": fo.FloatField,
        "mislabel_score": fo.FloatField,
        "dismissed_suggestions": (fo.ListField, {"subfield": fo.StringField}),
    })  # fmt: skip
