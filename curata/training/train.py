"""The training stage: splits, a classifier, an honest evaluation, and predictions back to review.

1. Splits are assigned (only to samples without one; see :mod:`curata.training.splits`).
2. The linear probe is fitted on the stored embeddings of included samples (train + val, its
   regularisation chosen by K-fold); ``finetune`` then trains the backbone's last blocks and a
   head started from the probe, keeping the epoch best on val. The test split only reports
   (with ``tta``, also averaged over each test image and its mirror image).
3. The report: top-1/3/5, per-class precision/recall/F1 and the confusion matrix (JSON + PNG),
   and with ``cv`` a stratified, group-aware K-fold over train + val (mean ± std).
4. Every included sample gets ``predictions`` from a linear probe that did not see it (K-fold),
   with confidence and logits — for either trainer, since only out-of-sample predictions show
   a reviewer where a label is doubtful; FiftyOne's ``evaluate_classifications`` and ``compute_mistakenness``
   run on them, and the view ``model-disagreements`` lists where model and label differ; the
   confident ones (mistakenness >= 0.7) are tagged ``model-suspect`` and so also appear in the
   review's ``suspected-mislabels`` view.
5. The model file (weights, classes, backbone, what it was trained on) is written to
   ``models/``: ``models/latest.pt`` is what ``curata predict`` uses by default.
"""

from __future__ import annotations

import contextlib
import hashlib
import io
import json
import shutil
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

from curata.config import Config
from curata.errors import CurataError
from curata.progress import quiet_logger
from curata.store import MODEL_SUSPECT_TAG, Store, included, remember_run, undecided
from curata.training.classifier import Classifier
from curata.training.metrics import Evaluation, evaluate, plot_confusion
from curata.training.probe import fit_head, fit_probe
from curata.training.splits import DEFAULT_SEED, SPLIT_FIELD, SplitReport, assign_splits

PREDICTIONS_FIELD = "predictions"
EVAL_KEY = "model_eval"
MODELS_DIR = "models"
REPORTS_DIR = "reports"
OUT_OF_FOLD = 5
# FiftyOne's mistakenness of a wrong prediction is (1 + exp(-entropy)) / 2: 0.7 ~ a confident one
MODEL_SUSPECT_MISTAKENNESS = 0.7
MIN_TRAIN_PER_CLASS = 2
TRAINERS = ("probe", "finetune")


@dataclass
class TrainReport:
    trainer: str
    model_path: Path
    report_path: Path
    confusion_path: Path
    test: Evaluation
    splits: SplitReport
    cv: dict | None = None  # {"folds": K, "top1": [...], "mean": m, "std": s}
    disagreements: int = 0
    seconds: float = 0.0
    details: dict = field(default_factory=dict)


def train(
    store: Store,
    config: Config,
    trainer: str = "probe",
    seed: int = DEFAULT_SEED,
    cv: int = 0,
    tta: bool = False,
    epochs: int = 8,
    progress: bool = True,
) -> TrainReport:
    if trainer not in TRAINERS:
        raise CurataError(f"unknown trainer {trainer!r}; choose from {', '.join(TRAINERS)}")
    started = time.perf_counter()
    dataset = store.dataset
    splits = assign_splits(dataset, seed=seed)
    data = _labelled_embeddings(dataset, config.class_names)
    classes = [
        c for c in config.class_names if np.sum(data.labels[data.split != "test"] == c) >= MIN_TRAIN_PER_CLASS
    ]
    if len(classes) < 2:
        raise CurataError(
            "training needs at least two classes with two or more embedded, labelled samples outside the "
            "test split; import or scrape more images, then run `curata embed`"
        )
    known = np.isin(data.labels, classes)
    train_mask = (data.split == "train") & known
    val_mask = (data.split == "val") & known
    test_mask = (data.split == "test") & known
    fit = fit_probe(
        data.vectors[train_mask], data.labels[train_mask], data.vectors[val_mask], data.labels[val_mask],
        classes, seed, groups=np.concatenate([data.groups[train_mask], data.groups[val_mask]]),
    )  # fmt: skip
    backbone = {**config.embeddings.model_dump(), "model_id": data.model_id}
    descriptions = {c.name: c.description.strip() for c in config.classes if c.name in classes}
    classifier = Classifier(classes, fit.weight, fit.bias, backbone, descriptions=descriptions)
    test_paths = data.paths[test_mask]
    test = evaluate(data.labels[test_mask], classifier.probabilities(data.vectors[test_mask]), classes)
    details: dict = {"probe_test_top1": test.top1}
    if trainer == "finetune":
        tuned, details["fine_tune"] = _fine_tune(
            config, data, classes, train_mask, val_mask, fit, epochs, seed, progress
        )
        if details["fine_tune"]["best_epoch"] > 0:
            classifier = tuned
            classifier.descriptions = descriptions
            test = evaluate(data.labels[test_mask], classifier.predict(test_paths), classes)
        else:  # no epoch beat its starting head on val: the probe (fitted on train + val) stays
            details["fine_tune"]["kept"] = "probe"
    if tta:
        with_tta = evaluate(data.labels[test_mask], classifier.predict(test_paths, tta=True), classes)
        details["tta"] = {"top1_without": test.top1, "top1_with": with_tta.top1}
    cv_result = (
        _cross_validate(data, known & ~test_mask, classes, fit.regularisation, cv, seed) if cv > 1 else None
    )

    oof = _out_of_fold(data, known, classes, fit.regularisation, seed)
    # Temperature scaling on the out-of-fold logits outside the test split: confidences that mean
    # what they say (for "unknown" in predict, and for mistakenness); rankings are unchanged.
    temperature = fit_temperature(oof[known & ~test_mask], data.labels[known & ~test_mask], classes)
    oof = oof / temperature
    if classifier.kind == "linear-probe":
        classifier.weight, classifier.bias = classifier.weight / temperature, classifier.bias / temperature
    details["temperature"] = round(temperature, 4)
    disagreements = _write_predictions(store, data.ids, known, oof, classes)

    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%SZ")
    report_dir = store.root / REPORTS_DIR / f"train-{stamp}"
    confusion_path = plot_confusion(test, report_dir / "confusion_matrix.png")
    classifier.trained_on = {
        "dataset": dataset.name,
        "fingerprint": _fingerprint(data, known),
        "samples": {s: int(np.sum((data.split == s) & known)) for s in ("train", "val", "test")},
        "seed": seed,
        "version": dataset.info.get("version"),
        "trained_at": datetime.now(UTC).isoformat(),
    }
    classifier.metrics = {
        "test": test.as_dict(),
        "cv": cv_result,
        "regularisation": fit.regularisation,
        **details,
    }
    model_path = classifier.save(store.root / MODELS_DIR / f"{dataset.name}-{trainer}-{stamp}.pt")
    shutil.copyfile(model_path, store.root / MODELS_DIR / "latest.pt")
    seconds = time.perf_counter() - started
    report = {
        "trainer": trainer,
        "model": str(model_path),
        "trained_on": classifier.trained_on,
        "regularisation": fit.regularisation,
        "selection_top1": fit.selection_top1,
        "test": test.as_dict(),
        "cv": cv_result,
        **details,
        "disagreements": disagreements,
        "seconds": round(seconds, 2),
    }
    report_path = report_dir / "report.json"
    report_path.write_text(json.dumps(report, indent=2))
    summary = {k: report[k] for k in ("trainer", "model", "cv", "seconds")} | {"top1": test.top1, "at": stamp}
    remember_run(dataset, "training", summary, keep=50)
    return TrainReport(
        trainer,
        model_path,
        report_path,
        confusion_path,
        test,
        splits,
        cv_result,
        disagreements,
        seconds,
        details,
    )


def _fine_tune(config, data, classes, train_mask, val_mask, fit, epochs, seed, progress):
    """Fine-tune the backbone's last blocks from a head fitted on train only (val stays unseen)."""
    from curata.embeddings.backends import load_backend
    from curata.training.fine_tune import FineTuneSettings, fine_tune

    head = fit_head(data.vectors[train_mask], data.labels[train_mask], classes, fit.regularisation, seed)
    index = {name: i for i, name in enumerate(classes)}
    backend = load_backend(config.embeddings)
    result = fine_tune(
        backend,
        (list(data.paths[train_mask]), [index[label] for label in data.labels[train_mask]]),
        (list(data.paths[val_mask]), [index[label] for label in data.labels[val_mask]]),
        head,
        FineTuneSettings(epochs=epochs),
        seed=seed,
        progress=progress,
    )
    classifier = Classifier(
        classes, result.weight, result.bias, {**config.embeddings.model_dump(), "model_id": data.model_id},
        kind="fine-tune", backbone_state=result.backbone_state,
    )  # fmt: skip
    classifier.use_backend(backend)
    summary = {"best_epoch": result.best_epoch, "history": result.history, "device": result.device,
               "seconds": round(result.seconds, 1)}  # fmt: skip
    return classifier, summary


@dataclass(frozen=True)
class _Data:
    ids: list[str]
    vectors: np.ndarray
    labels: np.ndarray
    split: np.ndarray
    groups: np.ndarray
    sha256: list[str]
    paths: np.ndarray
    model_id: str


def _labelled_embeddings(dataset, class_names: list[str]) -> _Data:
    from fiftyone import ViewField as F

    if not dataset.has_field("embedding"):
        raise CurataError("no embeddings yet; run `curata embed` first")
    view = included(dataset).exists("embedding").match(F("ground_truth.label").is_in(class_names))
    fields = ["id", "embedding", "embedding_model", "ground_truth.label", SPLIT_FIELD, "sha256", "filepath"]
    has_groups = dataset.has_field("dup_group")
    ids, vectors, models, labels, splits, shas, paths = view.values(fields)
    groups = view.values("dup_group") if has_groups else [None] * len(ids)
    if len(set(models)) > 1:
        raise CurataError("the embeddings come from different models; run `curata embed` to redo them")
    return _Data(
        ids=ids,
        vectors=np.asarray(vectors, dtype=np.float32).reshape(len(ids), -1),
        labels=np.asarray(labels, dtype=object),
        split=np.asarray([s or "" for s in splits], dtype=object),
        groups=np.asarray([g or s for g, s in zip(groups, shas, strict=True)], dtype=object),
        sha256=shas,
        paths=np.asarray(paths, dtype=object),
        model_id=models[0] if models else "",
    )


def _cross_validate(data: _Data, mask: np.ndarray, classes, c: float, folds: int, seed: int) -> dict:
    """Stratified K-fold over train + val, duplicate groups kept within one fold."""
    from sklearn.model_selection import StratifiedGroupKFold

    vectors, labels, groups = data.vectors[mask], data.labels[mask], data.groups[mask]
    folds = min(folds, int(min(np.unique(labels, return_counts=True)[1])))
    if folds < 2:
        return {"folds": 0, "top1": [], "mean": None, "std": None}
    scores = []
    for train_index, test_index in StratifiedGroupKFold(folds, shuffle=True, random_state=seed).split(
        vectors, labels, groups
    ):
        weight, bias = fit_head(vectors[train_index], labels[train_index], classes, c, seed)
        predicted = np.asarray(classes)[(vectors[test_index] @ weight.T + bias).argmax(axis=1)]
        scores.append(float(np.mean(predicted == labels[test_index])))
    return {"folds": folds, "top1": [round(s, 4) for s in scores], "mean": round(float(np.mean(scores)), 4),
            "std": round(float(np.std(scores)), 4)}  # fmt: skip


def _out_of_fold(data: _Data, mask: np.ndarray, classes, c: float, seed: int) -> np.ndarray:
    """Logits for every sample in ``mask`` from a head that never saw it."""
    from sklearn.model_selection import StratifiedGroupKFold

    logits = np.zeros((len(data.ids), len(classes)), dtype=np.float32)
    index = np.nonzero(mask)[0]
    labels = data.labels[index]
    folds = min(OUT_OF_FOLD, int(min(np.unique(labels, return_counts=True)[1])))
    if folds < 2:
        weight, bias = fit_head(data.vectors[index], labels, classes, c, seed)
        logits[index] = data.vectors[index] @ weight.T + bias
        return logits
    splitter = StratifiedGroupKFold(folds, shuffle=True, random_state=seed)
    for train_index, test_index in splitter.split(data.vectors[index], labels, data.groups[index]):
        weight, bias = fit_head(data.vectors[index[train_index]], labels[train_index], classes, c, seed)
        logits[index[test_index]] = data.vectors[index[test_index]] @ weight.T + bias
    return logits


def _write_predictions(store: Store, ids: list[str], mask: np.ndarray, logits: np.ndarray, classes) -> int:
    """``predictions`` on every scored sample, FiftyOne's evaluation and mistakenness, the view."""
    import fiftyone as fo
    import fiftyone.brain as fob
    from fiftyone import ViewField as F

    dataset = store.dataset
    shifted = logits - logits.max(axis=1, keepdims=True)
    probabilities = np.exp(shifted) / np.exp(shifted).sum(axis=1, keepdims=True)
    predictions = {}
    for i in np.nonzero(mask)[0]:
        best = int(probabilities[i].argmax())
        predictions[ids[i]] = fo.Classification(
            label=classes[best],
            confidence=float(probabilities[i, best]),
            logits=logits[i].astype(float).tolist(),
        )
    scored = dataset.select(list(predictions))
    scored.set_values(PREDICTIONS_FIELD, [predictions[i] for i in scored.values("id")])
    stale = set(dataset.exists(PREDICTIONS_FIELD).values("id")) - set(predictions)  # e.g. excluded since
    if stale:
        dataset.set_values(PREDICTIONS_FIELD, dict.fromkeys(stale), key_field="id")
    if dataset.has_evaluation(EVAL_KEY):
        dataset.delete_evaluation(EVAL_KEY)
    scored.evaluate_classifications(PREDICTIONS_FIELD, gt_field="ground_truth", eval_key=EVAL_KEY)
    if dataset.has_brain_run("mistakenness"):
        dataset.delete_brain_run("mistakenness")
    with contextlib.redirect_stdout(io.StringIO()), quiet_logger("fiftyone.brain"):  # it narrates each step
        fob.compute_mistakenness(scored, PREDICTIONS_FIELD, label_field="ground_truth", use_logits=True,
                                 progress=False)  # fmt: skip
    disagree = (
        undecided(dataset)
        .exists(PREDICTIONS_FIELD)
        .match(F(f"{PREDICTIONS_FIELD}.label") != F("ground_truth.label"))
    )
    # the confident disagreements join the review's suspected-mislabels view
    confident = disagree.match(F("mistakenness") >= MODEL_SUSPECT_MISTAKENNESS).values("id")
    store.retag(MODEL_SUSPECT_TAG, set(confident))
    dataset.save_view(
        "model-disagreements",
        disagree.sort_by("mistakenness", reverse=True),
        description="the trained model predicts another class (out of fold); most mistaken first",
        overwrite=True,
    )
    return len(disagree)


def fit_temperature(logits: np.ndarray, labels: np.ndarray, classes) -> float:
    """The T minimising the negative log-likelihood of softmax(logits / T) (1 when it cannot be fitted)."""
    from scipy.optimize import minimize_scalar

    if len(labels) < 2:
        return 1.0
    target = np.array([list(classes).index(label) for label in labels])

    def nll(log_t: float) -> float:
        scaled = logits / np.exp(log_t)
        scaled = scaled - scaled.max(axis=1, keepdims=True)
        log_probs = scaled - np.log(np.exp(scaled).sum(axis=1, keepdims=True))
        return float(-log_probs[np.arange(len(target)), target].mean())

    result = minimize_scalar(nll, bounds=(-5.0, 5.0), method="bounded")
    return float(np.exp(result.x)) if result.success else 1.0


def _fingerprint(data: _Data, mask: np.ndarray) -> str:
    """Identifies the labelled data a model saw: the same images, labels and splits give the same value."""
    rows = sorted(
        f"{sha}:{label}:{split}"
        for sha, label, split, keep in zip(data.sha256, data.labels, data.split, mask, strict=True)
        if keep
    )
    return hashlib.sha256("\n".join(rows).encode()).hexdigest()[:16]
