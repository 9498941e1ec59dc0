"""Review decisions on a real project: every change logged, undoable, and safe under concurrency."""

from __future__ import annotations

import multiprocessing
from datetime import UTC, datetime, timedelta

import fiftyone as fo
import pytest
from PIL import Image

import curata
from curata.errors import CurataError
from curata.review import history
from curata.store import EXCLUDED_TAG, REVIEWED_TAG, included
from tests.conftest import cli_env, run_cli


def labels_of(project, ids):
    by_id = dict(zip(*project.dataset.values(["id", "ground_truth.label"]), strict=True))
    return [by_id[i] for i in ids]


def entries(project, sample_id):
    return [c for c in project.history() if c.sample_id == sample_id]


def test_relabel_is_logged_with_from_to_when_how_and_note(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    tulips = project.dataset.match_tags("imported").match({"ground_truth.label": "tulips"}).values("id")[:3]
    before = datetime.now(UTC)

    decision = project.relabel(tulips, "roses", note="petals say roses")

    assert decision.message == "relabelled 3 samples: tulips → roses (3)"
    assert labels_of(project, tulips) == ["roses"] * 3
    log = entries(project, tulips[0])
    assert [(c.what, c.before, c.after, c.how, c.via, c.note) for c in log] == [
        ("label", "tulips", "roses", "relabel", "python", "petals say roses"),
        ("reviewed", "unreviewed", "reviewed", "relabel", "python", "petals say roses"),
    ]
    assert before - timedelta(seconds=1) <= log[0].at <= datetime.now(UTC) + timedelta(seconds=1)
    assert log[0].batch == log[1].batch == decision.batch.id

    again = project.relabel(tulips, "roses")  # nothing to change: nothing logged
    assert again.batch.count("label") == 0 and len(entries(project, tulips[0])) == 2
    with pytest.raises(CurataError, match="not one of the project's classes"):
        project.relabel(tulips, "orchids")
    assert labels_of(project, tulips) == ["roses"] * 3


def test_accept_suggestions_takes_each_samples_own_suggestion(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.values("id")[:4]
    original = labels_of(project, ids)
    project.store.ensure_fields({"suggested_label": fo.StringField})
    project.dataset.set_values(
        "suggested_label", {ids[0]: "daisy", ids[1]: "sunflowers", ids[2]: original[2]}, key_field="id"
    )
    project.dataset.reload()

    decision = project.accept_suggestions(ids)

    assert labels_of(project, ids)[:2] == ["daisy", "sunflowers"]
    assert labels_of(project, ids)[2:] == original[2:]  # already agreed / had no suggestion
    assert decision.batch.count("label") == sum(
        1 for o, s in zip(original[:2], ["daisy", "sunflowers"], strict=True) if o != s
    )
    tags = dict(zip(*project.dataset.values(["id", "tags"]), strict=True))
    assert all(REVIEWED_TAG in tags[i] for i in ids[:3]) and REVIEWED_TAG not in tags[ids[3]]
    assert "had no different suggestion" in decision.message


def test_keeping_a_duplicate_excludes_the_rest_and_curate_respects_it(make_project, flowers):
    photo = sorted((flowers / "daisy").glob("*.jpg"))[0]
    with Image.open(photo) as image:
        image.resize((image.width // 2, image.height // 2)).save(flowers / "daisy" / "half-size-copy.jpg")
    project = make_project()
    project.import_folder(flowers, progress=False)
    project.curate(progress=False)
    group = project.dataset.exists("dup_group")
    assert len(group) == 2
    small = group.match({"source.original_path": "daisy/half-size-copy.jpg"}).first()
    large = group.match({"source.original_path": {"$ne": "daisy/half-size-copy.jpg"}}).first()
    assert large.dup_keeper and not small.dup_keeper  # curate's choice: the larger copy

    decision = project.keep_duplicate(small.id, note="the crop I want")

    assert decision.message == f"kept 1 of the 2 copies in group {small.dup_group} and excluded 1 sample"
    small.reload(), large.reload()
    assert small.dup_keeper and EXCLUDED_TAG not in small.tags and REVIEWED_TAG in small.tags
    assert not large.dup_keeper and EXCLUDED_TAG in large.tags
    assert large.id not in included(project.dataset).values("id")
    assert len(project.dataset) == 42  # excluded samples stay in the store

    project.curate(progress=False)  # a rerun keeps the reviewer's choice
    small.reload(), large.reload()
    assert small.dup_keeper and not large.dup_keeper
    assert len(project.dataset.load_saved_view("duplicates")) == 0  # settled: out of the view


def test_exclude_restore_and_mark_reviewed_dismisses_the_suggestion(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.values("id")[:5]
    assert project.exclude(ids[:3]).message == "excluded 3 samples"
    assert project.exclude(ids[:4]).message == "excluded 1 sample (3 already excluded)"
    assert len(included(project.dataset)) == len(project.dataset) - 4
    assert project.restore(ids[:2]).message == "restored 2 samples"
    assert len(included(project.dataset)) == len(project.dataset) - 2

    project.store.ensure_fields({"suggested_label": fo.StringField})
    label = labels_of(project, [ids[4]])[0]
    other = "roses" if label != "roses" else "daisy"
    project.dataset.set_values("suggested_label", {ids[4]: other}, key_field="id")
    project.dataset.reload()
    assert project.mark_reviewed([ids[4]]).message == "marked 1 sample reviewed"
    sample = project.dataset[ids[4]]
    assert sample.dismissed_suggestions == [other] and REVIEWED_TAG in sample.tags
    assert labels_of(project, [ids[4]]) == [label]

    undone = project.undo()  # takes back the review and the dismissal
    assert undone.message.startswith("undid mark-reviewed")
    sample.reload()
    assert sample.dismissed_suggestions == [] and REVIEWED_TAG not in sample.tags

    flagged = project.mark_reviewed([ids[4]], needs_another_look=True)
    assert flagged.message == "flagged 1 sample for another look"
    project.review_views()
    assert project.dataset.load_saved_view("needs-review").values("id") == [ids[4]]


def test_undo_walks_back_batch_by_batch(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.match({"ground_truth.label": "daisy"}).values("id")[:4]
    relabel = project.relabel(ids, "roses")
    exclude = project.exclude(ids[:2])
    sample = project.dataset[ids[0]]
    sample.ground_truth.label = "tulips"  # an edit in the App, logged when undo looks
    sample.save()

    outside = project.undo()
    assert outside.message.startswith("undid annotate") and labels_of(project, ids[:1]) == ["roses"]
    assert (
        project.undo().message
        == f"undid exclude ({exclude.batch.id}) on 2 samples: excluded: excluded → included (2)"
    )
    assert len(included(project.dataset)) == len(project.dataset)
    assert project.undo().message.startswith(f"undid relabel ({relabel.batch.id}) on 4 samples")
    assert labels_of(project, ids) == ["daisy"] * 4
    assert project.undo() is None  # undos are not undone in turn; the log is complete
    log = project.history()
    assert [c.how for c in log].count("undo") == 1 + 2 + 8  # the edit, 2 exclusions, 4 labels + 4 reviews
    assert all(c.before != c.after for c in log)


def test_undo_leaves_samples_changed_since_in_their_newer_state(make_project, flowers, monkeypatch):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.match({"ground_truth.label": "daisy"}).values("id")[:3]
    project.relabel(ids, "roses")
    # an edit lands after undo has checked for outside edits, before it reverts
    monkeypatch.setattr(history, "record_outside_edits", lambda dataset, via="app": None)
    sample = project.dataset[ids[0]]
    sample.ground_truth.label = "tulips"
    sample.save()

    undone = project.undo()

    assert labels_of(project, ids) == ["tulips", "daisy", "daisy"]
    assert undone.message.endswith("; not reverted where the sample changed again since (1)")


def test_outside_label_edits_join_the_history(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    sample = project.dataset.match({"ground_truth.label": "daisy"}).first()
    sample.ground_truth.label = "sunflowers"
    sample.save()
    (change,) = project.history()  # reading the history logs what changed behind its back
    assert (change.what, change.before, change.after, change.how) == (
        "label",
        "daisy",
        "sunflowers",
        "annotate",
    )
    assert project.history() == [change]  # logged once


def test_history_and_undo_from_the_command_line(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.match({"ground_truth.label": "dandelion"}).values("id")[:2]
    project.relabel(ids, "sunflowers", note="yellow heads")
    project.dataset.reload()
    shown = run_cli("history", "-p", str(project.root), env=cli_env())
    assert shown.returncode == 0, shown.stderr
    assert "label: dandelion → sunflowers" in shown.stdout and "yellow heads" in shown.stdout
    assert "relabel (python)" in shown.stdout and "4 changes" in shown.stdout
    assert "4 changes" in run_cli("history", "-p", str(project.root), "--since", "1h").stdout
    later = (datetime.now() + timedelta(days=1)).strftime("%Y-%m-%d")
    assert "no changes recorded" in run_cli("history", "-p", str(project.root), "--since", later).stdout
    bad = run_cli("history", "-p", str(project.root), "--since", "yesterday-ish")
    assert bad.returncode == 1 and "neither a duration" in bad.stderr

    undone = run_cli("undo", "-p", str(project.root))
    assert undone.returncode == 0 and "undid relabel" in undone.stdout, undone.stderr
    assert labels_of(curata.open(project.root), ids) == ["dandelion", "dandelion"]
    assert "nothing to undo" in run_cli("undo", "-p", str(project.root)).stdout


def _relabel_in_turns(root: str, ids: list[str], labels: list[str], rounds: int) -> None:
    """Another reviewer: relabels the same samples back and forth from its own process."""
    project = curata.open(root)
    for round_ in range(rounds):
        project.relabel(ids, labels[round_ % len(labels)], note=f"reviewer {labels[0]}")


def test_two_reviewers_at_once_lose_no_change(make_project, flowers):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.values("id")[:10]
    context = multiprocessing.get_context("spawn")
    reviewers = [
        context.Process(target=_relabel_in_turns, args=(str(project.root), ids, labels, 15))
        for labels in (["roses", "tulips"], ["daisy", "sunflowers"])
    ]
    for reviewer in reviewers:
        reviewer.start()
    for reviewer in reviewers:
        reviewer.join(timeout=300)
        assert reviewer.exitcode == 0
    final = dict(zip(ids, labels_of(project, ids), strict=True))
    for sample_id in ids:
        chain = [c for c in project.history() if c.sample_id == sample_id and c.what == "label"]
        assert len(chain) >= 15, "every effective change is logged"
        assert all(a.after == b.before for a, b in zip(chain, chain[1:], strict=False)), (
            "the log is one unbroken chain"
        )
        assert chain[-1].after == final[sample_id], "the last entry is the label the sample has"
        assert {c.note for c in chain} == {"reviewer roses", "reviewer daisy"}


def test_curate_while_reviewing_keeps_the_reviewers_changes(make_project, flowers, monkeypatch):
    project = make_project()
    project.import_folder(flowers, progress=False)
    ids = project.dataset.values("id")[:6]
    from curata.store import Store

    original_retag = Store.retag
    reviewed = {}

    def retag_after_a_reviewer(self, tag, wanted):
        if not reviewed:  # curate has read every sample; a reviewer acts before it writes its tags
            other = curata.open(project.root)
            reviewed["relabel"] = other.relabel(ids[:3], "tulips")
            reviewed["exclude"] = other.exclude(ids[3:])
        return original_retag(self, tag, wanted)

    monkeypatch.setattr(Store, "retag", retag_after_a_reviewer)
    project.curate(progress=False)
    monkeypatch.undo()

    assert labels_of(project, ids[:3]) == ["tulips"] * 3
    tags = dict(zip(*project.dataset.values(["id", "tags"]), strict=True))
    assert all(EXCLUDED_TAG in tags[i] for i in ids[3:])
    assert all(REVIEWED_TAG in tags[i] for i in ids[:3])
    assert all(s is not None for s in project.dataset.values("blurry_score")), (
        "curate's results are all there"
    )
    assert len([c for c in project.history() if c.what == "label"]) == 3
