"""Training on real photos: leak-free reproducible splits, exact metrics, the probe trainer end to
end, predictions back in the dataset, and a model file that reloads and predicts identically."""

from __future__ import annotations

from collections import Counter

import numpy as np
import pytest
from PIL import Image

import curata
from curata.errors import CurataError
from curata.training.classifier import Classifier
from curata.training.metrics import evaluate, top_k_accuracy
from curata.training.splits import assign_splits
from tests.conftest import run_cli


def splits_of(project) -> dict[str, str]:
    return dict(zip(*project.dataset.values(["sha256", "split"]), strict=True))


@pytest.fixture
def embedded(make_project, flowers):
    """The flower project, curated (duplicate groups known) and embedded with the offline model."""
    photo = sorted((flowers / "daisy").glob("*.jpg"))[0]
    with Image.open(photo) as image:  # a near copy, so one duplicate group must stay together
        image.resize((image.width // 2, image.height // 2)).save(flowers / "daisy" / "half-size-copy.jpg")
    project = make_project()
    project.import_folder(flowers, progress=False)
    project.curate(progress=False)
    project.embed(visualize=False, signals=False, progress=False)
    return project


def test_metrics_match_a_hand_computation():
    classes = ["a", "b", "c", "d"]
    probabilities = np.array([
        [0.7, 0.1, 0.1, 0.1],  # a: right
        [0.1, 0.6, 0.2, 0.1],  # a: wrong (b), a is 3rd -> in top 3
        [0.2, 0.5, 0.2, 0.1],  # b: right
        [0.4, 0.3, 0.2, 0.1],  # c: wrong (a), c is 3rd
        [0.1, 0.2, 0.3, 0.4],  # d: right
    ])  # fmt: skip
    truth = ["a", "a", "b", "c", "d"]
    result = evaluate(truth, probabilities, classes)
    assert result.top1 == 0.6 and result.top3 == 1.0 and result.top5 == 1.0
    scores = {c.name: c for c in result.per_class}
    assert (scores["a"].precision, scores["a"].recall, scores["a"].f1) == (0.5, 0.5, 0.5)
    assert (scores["b"].precision, scores["b"].recall) == (0.5, 1.0) and scores["b"].f1 == round(2 / 3, 4)
    assert (scores["c"].precision, scores["c"].recall, scores["c"].f1, scores["c"].support) == (0, 0, 0, 1)
    assert result.confusion == [[1, 1, 0, 0], [0, 1, 0, 0], [1, 0, 0, 0], [0, 0, 0, 1]]
    assert result.macro_f1 == round((0.5 + 2 / 3 + 0 + 1) / 4, 4)
    assert top_k_accuracy(np.array([3]), probabilities[:1], 2) == 0.0


def test_splits_are_stratified_reproducible_leak_free_and_incremental(embedded, tmp_path):
    project = embedded
    dataset = project.dataset
    dataset.select(dataset.match({"ground_truth.label": "tulips"}).first().id).tag_samples("excluded")
    report = assign_splits(dataset, seed=7)
    first = splits_of(project)
    assert report.assigned == len(dataset) - 1 and report.kept == 0
    excluded = dataset.match_tags("excluded").first()
    assert excluded.split is None, "excluded samples get no split"
    for label in project.config.class_names:  # 8-9 per class: about 6/1/1, never a class missing in train
        shares = Counter(dataset.match({"ground_truth.label": label}).exists("split").values("split"))
        assert shares["train"] >= 5 and shares["val"] >= 1 and shares["test"] >= 1, (label, shares)
    for group in dataset.exists("dup_group").distinct("dup_group"):
        assert len(set(dataset.match({"dup_group": group}).values("split"))) == 1, "a group straddles splits"

    dataset.clear_sample_field("split")
    assign_splits(dataset, seed=7)
    assert splits_of(project) == first, "same samples and seed: same splits"
    dataset.clear_sample_field("split")
    assign_splits(dataset, seed=8)
    assert splits_of(project) != first

    new = tmp_path / "more" / "roses"
    new.mkdir(parents=True)
    for i, colour in enumerate(((200, 30, 40), (190, 20, 60))):
        Image.new("RGB", (64, 48), colour).save(new / f"red-{i}.png")
    before = splits_of(project)
    project.import_folder(new.parent, progress=False)
    again = assign_splits(dataset, seed=8)
    assert again.assigned == 2 and again.kept == len(before) - 1
    after = splits_of(project)
    assert all(after[sha] == split for sha, split in before.items()), "existing splits never move"


def test_train_evaluates_writes_predictions_and_a_model_that_predicts_identically(embedded):
    project = embedded
    report = project.train(seed=3, cv=3, progress=False)

    assert report.test.samples >= 5 and 0 <= report.test.top1 <= report.test.top3 <= report.test.top5 == 1.0
    assert report.report_path.is_file() and report.confusion_path.stat().st_size > 10_000
    assert report.cv["folds"] == 3 and len(report.cv["top1"]) == 3
    dataset = project.dataset
    scored = dataset.exists("predictions")
    assert len(scored) == len(dataset)  # out of fold: every included sample
    sample = scored.first()
    assert len(sample.predictions.logits) == 5 and 0 < sample.predictions.confidence <= 1
    assert dataset.has_evaluation("model_eval") and dataset.has_field("mistakenness")
    disagree = dataset.load_saved_view("model-disagreements")
    assert len(disagree) == report.disagreements
    assert all(
        p != g for p, g in zip(*disagree.values(["predictions.label", "ground_truth.label"]), strict=True)
    )

    confident = set(dataset.match_tags("model-suspect").values("id"))
    assert confident and confident <= set(disagree.values("id"))
    assert all(m >= 0.7 for m in dataset.select(list(confident)).values("mistakenness"))
    project.embed(visualize=False, progress=False)  # the signals save the review's suspects view
    assert confident <= set(dataset.load_saved_view("suspected-mislabels").values("id"))

    model = Classifier.load(report.model_path)
    assert model.classes == project.config.class_names and model.trained_on["seed"] == 3

    test = dataset.match({"split": "test"})
    paths, vectors = test.values(["filepath", "embedding"])
    from_files = model.predict(paths)
    assert np.allclose(from_files, model.probabilities(np.asarray(vectors)), atol=1e-4)
    reloaded = Classifier.load(project.root / "models" / "latest.pt")
    assert np.array_equal(reloaded.weight, model.weight)
    assert max(model.predict(paths[:3]).max(axis=1)) > 0.5, "calibrated confidences are not flat"

    gone = dataset.first().id
    project.exclude([gone])
    project.train(seed=3, progress=False)
    assert dataset[gone].predictions is None, "excluded samples lose their stale predictions"


def test_predict_from_the_command_line_with_context_and_unknown(embedded):
    project = embedded
    project.train(progress=False)
    photo = project.dataset.match({"ground_truth.label": "sunflowers"}).first().filepath
    shown = run_cli("predict", photo, "-p", str(project.root), "--threshold", "0")
    assert shown.returncode == 0, shown.stderr
    assert "What a sunflowers is" in shown.stdout or "sunflowers" in shown.stdout
    unsure = run_cli("predict", photo, "-p", str(project.root), "--threshold", "1.01")
    assert ": unknown  (" in unsure.stdout
    missing = run_cli("predict", "no-such.jpg", "-p", str(project.root))
    assert missing.returncode == 1 and "no such image file: no-such.jpg" in missing.stderr


def test_a_file_that_is_not_a_model_is_refused(tmp_path):
    bogus = tmp_path / "model.pt"
    bogus.write_bytes(b"not a model")
    with pytest.raises(CurataError, match="is not a curata model file"):
        Classifier.load(bogus)
    with pytest.raises(CurataError, match="no model file"):
        Classifier.load(tmp_path / "absent.pt")


def test_training_needs_embeddings(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    with pytest.raises(CurataError, match="run `curata embed` first"):
        curata.open(project.root).train(progress=False)


def test_fine_tune_reports_against_the_probe_and_its_model_file_predicts_identically(embedded):
    project = embedded
    report = project.train(trainer="finetune", epochs=1, tta=True, progress=False)

    tuned = report.details["fine_tune"]
    assert [h["epoch"] for h in tuned["history"]] == [0, 1] and tuned["best_epoch"] in (0, 1)
    assert 0 <= report.details["tta"]["top1_with"] <= 1 and report.test.samples >= 5
    if tuned["best_epoch"] == 0:  # no epoch beat the starting head on validation: the probe stays
        assert tuned["kept"] == "probe" and report.test.top1 == report.details["probe_test_top1"]
    paths = project.dataset.match({"split": "test"}).values("filepath")
    model = Classifier.load(report.model_path)
    assert np.allclose(model.predict(paths), Classifier.load(report.model_path).predict(paths), atol=1e-5)


def test_fine_tuned_blocks_travel_in_the_model_file(embedded):
    from curata.config import EmbeddingsSection
    from curata.embeddings.backends import load_backend
    from curata.training.fine_tune import FineTuneSettings, fine_tune
    from curata.training.probe import fit_head

    project = embedded
    project.train(progress=False)  # splits
    dataset = project.dataset
    classes = project.config.class_names
    train = dataset.match({"split": "train"})
    paths, labels, vectors = train.values(["filepath", "ground_truth.label", "embedding"])
    head = fit_head(np.asarray(vectors), np.asarray(labels), classes, 4.0)
    targets = [classes.index(label) for label in labels]
    backend = load_backend(EmbeddingsSection(backend="efficientnet-lite0"))
    result = fine_tune(
        backend, (paths, targets), (paths[:8], targets[:8]), head,
        FineTuneSettings(epochs=1, keep_best=False), progress=False,
    )  # fmt: skip
    assert result.best_epoch == 1 and result.history[1]["train_loss"] > 0
    assert any(k.startswith("_blocks.15.") for k in result.backbone_state)
    assert not any(k.startswith("_blocks.0.") for k in result.backbone_state), "only the last blocks travel"
    tuned = Classifier(classes, result.weight, result.bias, {"backend": "efficientnet-lite0"},
                       kind="fine-tune", backbone_state=result.backbone_state)  # fmt: skip
    tuned.use_backend(backend)
    test_paths = dataset.match({"split": "test"}).values("filepath")
    in_memory = tuned.predict(test_paths)
    saved = tuned.save(project.root / "models" / "tuned.pt")
    reloaded = Classifier.load(saved)  # a fresh backbone with the stored blocks applied
    assert np.allclose(reloaded.predict(test_paths), in_memory, atol=1e-5)
    stored = np.asarray(dataset.match({"split": "test"}).values("embedding"))
    assert not np.allclose(reloaded.embed(test_paths), stored, atol=1e-3), "the backbone itself changed"
