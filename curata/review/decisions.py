"""A reviewer's decisions: relabel, accept suggestions, keep one duplicate, exclude, restore, review.

Each function changes the samples it is given (sample ids), logs every change in one batch (see
:mod:`curata.review.history`) and returns the :class:`Decision` with the sentence to show the
reviewer. The App's operators, the CLI and notebooks all call these.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

from curata.errors import CurataError
from curata.review import history
from curata.review.history import KEEPER, KEEPER_STATES, LABEL, TAG_STATES, Batch
from curata.store import EXCLUDED_TAG, HISTORY_FIELD, NEEDS_REVIEW_TAG, REVIEWED_TAG, ensure_review_fields

if TYPE_CHECKING:
    import fiftyone as fo

INCLUDED, EXCLUDED = TAG_STATES[EXCLUDED_TAG]
UNREVIEWED, REVIEWED = TAG_STATES[REVIEWED_TAG]
SETTLED, NEEDS_REVIEW = TAG_STATES[NEEDS_REVIEW_TAG]


@dataclass(frozen=True)
class Decision:
    """A logged decision: the batch (for ``curata history`` and ``curata undo``) and its summary."""

    batch: Batch
    message: str

    @property
    def changed(self) -> int:
        return self.batch.changed


def relabel(
    dataset: fo.Dataset, ids: Sequence[str], label: str, via: str = "python", note: str | None = None
) -> Decision:
    """Give the samples ``label`` (one of the project's classes); they count as reviewed."""
    _check_class(dataset, label)
    batch = _start(dataset, "relabel")
    history.apply(dataset, ids, LABEL, label, batch, via=via, note=note)
    history.apply(dataset, ids, REVIEWED_TAG, REVIEWED, batch, via=via, note=note)
    history.finish(dataset, batch, len(ids))
    moved = batch.count(LABEL)
    text = f"relabelled {_samples(moved)}"
    text += f": {batch.transitions(LABEL)}" if moved else f" (all were {label} already)"
    return Decision(batch, text)


def accept_suggestions(
    dataset: fo.Dataset, ids: Sequence[str], via: str = "python", note: str | None = None
) -> Decision:
    """Take each sample's ``suggested_label`` as its label (samples without one are left alone)."""
    from fiftyone import ViewField as F

    batch = _start(dataset, "accept-suggestion")
    with_suggestion = dataset.select(list(ids)).exists("suggested_label")
    differing = with_suggestion.match(F("suggested_label") != F("ground_truth.label")).values("id")
    suggested = {"$expr": "$suggested_label"}
    history.apply(dataset, differing, LABEL, suggested, batch, via=via, note=note)
    history.apply(dataset, with_suggestion.values("id"), REVIEWED_TAG, REVIEWED, batch, via=via, note=note)
    history.finish(dataset, batch, len(ids))
    moved = batch.count(LABEL)
    text = f"accepted the suggested label for {_samples(moved)}"
    text += f": {batch.transitions(LABEL)}" if moved else ""
    skipped = len(ids) - len(differing)
    if skipped:
        text += f" ({_samples(skipped)} had no different suggestion)"
    return Decision(batch, text)


def keep_duplicate(
    dataset: fo.Dataset, keeper_id: str, via: str = "python", note: str | None = None
) -> Decision:
    """Keep ``keeper_id`` as its duplicate group's copy and exclude every other member."""
    from fiftyone import ViewField as F

    group = dataset[keeper_id].get_field("dup_group") if dataset.has_field("dup_group") else None
    if not group:
        raise CurataError("this sample is in no duplicate group; run `curata curate` to find duplicates")
    members = dataset.match(F("dup_group") == group).values("id")
    others = [i for i in members if i != keeper_id]
    batch = _start(dataset, "keep-duplicate")
    note = note or f"duplicate group {group}"
    history.apply(dataset, [keeper_id], KEEPER, KEEPER_STATES[1], batch, via=via, note=note)
    history.apply(dataset, [keeper_id], EXCLUDED_TAG, INCLUDED, batch, via=via, note=note)
    history.apply(dataset, [keeper_id], REVIEWED_TAG, REVIEWED, batch, via=via, note=note)
    history.apply(dataset, others, KEEPER, KEEPER_STATES[0], batch, via=via, note=note)
    history.apply(dataset, others, EXCLUDED_TAG, EXCLUDED, batch, via=via, note=note)
    history.finish(dataset, batch, len(members))
    excluded = batch.count(EXCLUDED_TAG, EXCLUDED)
    return Decision(
        batch, f"kept 1 of the {len(members)} copies in group {group} and excluded {_samples(excluded)}"
    )


def exclude(
    dataset: fo.Dataset, ids: Sequence[str], via: str = "python", note: str | None = None
) -> Decision:
    """Leave the samples out of training and publishing; they stay in the store, restorable."""
    batch = _set_tag(dataset, ids, EXCLUDED_TAG, EXCLUDED, "exclude", via, note)
    return Decision(batch, f"excluded {_samples(batch.changed)}{_already(batch, 'excluded')}")


def restore(
    dataset: fo.Dataset, ids: Sequence[str], via: str = "python", note: str | None = None
) -> Decision:
    """Bring excluded samples back."""
    batch = _set_tag(dataset, ids, EXCLUDED_TAG, INCLUDED, "restore", via, note)
    return Decision(batch, f"restored {_samples(batch.changed)}{_already(batch, 'not excluded')}")


def mark_reviewed(
    dataset: fo.Dataset,
    ids: Sequence[str],
    needs_another_look: bool = False,
    via: str = "python",
    note: str | None = None,
) -> Decision:
    """Record that a person checked the samples and kept them as they are.

    A suggestion the sample carried is dismissed with it, so the embeddings stage does not raise it
    again. ``needs_another_look`` tags them ``needs-review`` instead, for a second opinion.
    """
    if needs_another_look:
        batch = _set_tag(dataset, ids, NEEDS_REVIEW_TAG, NEEDS_REVIEW, "needs-review", via, note)
        return Decision(batch, f"flagged {_samples(batch.changed)} for another look")
    batch = _start(dataset, "mark-reviewed")
    dismissed = {
        "$cond": [
            {"$and": [
                {"$ne": [{"$ifNull": ["$suggested_label", None]}, None]},
                {"$ne": ["$suggested_label", "$ground_truth.label"]},
                {"$not": [{"$in": ["$suggested_label", {"$ifNull": ["$dismissed_suggestions", []]}]}]},
            ]},
            "$suggested_label",
            None,
        ]
    }  # fmt: skip
    current = {"$ifNull": ["$dismissed_suggestions", []]}
    also = {
        "dismissed_suggestions": {
            "$cond": [{"$eq": [dismissed, None]}, current, {"$concatArrays": [current, [dismissed]]}]
        }
    }
    history.apply(
        dataset, ids, REVIEWED_TAG, REVIEWED, batch, via=via, note=note,
        also_set=also, entry_extra={"dismissed": dismissed},
    )  # fmt: skip
    history.apply(dataset, ids, NEEDS_REVIEW_TAG, SETTLED, batch, via=via, note=note)
    history.finish(dataset, batch, len(ids))
    return Decision(
        batch, f"marked {_samples(batch.count(REVIEWED_TAG))} reviewed{_already(batch, 'reviewed')}"
    )


def undo(dataset: fo.Dataset, via: str = "python") -> Decision | None:
    """Revert the newest decision not yet undone (None when there is none)."""
    ensure_review_fields(dataset)
    batch = history.undo(dataset, via=via)
    if batch is None:
        return None
    reverted = history.changes(dataset, batch=batch.id)
    target = reverted[0].reverts if reverted else None
    original = history.changes(dataset, batch=target) if target else []
    how = original[0].how if original else "the last decision"
    text = f"undid {how} ({target}) on {_samples(len({c.sample_id for c in reverted}))}"
    if batch.changed:
        text += f": {batch.describe()}"
    if batch.unchanged:
        text += f"; not reverted where the sample changed again since ({batch.unchanged})"
    return Decision(batch, text)


def _start(dataset: fo.Dataset, how: str) -> Batch:
    """A new batch, after logging any outside edits so they are not taken for this decision."""
    ensure_review_fields(dataset)
    history.record_outside_edits(dataset)
    return Batch(history.new_batch_id(), how)


def _set_tag(
    dataset: fo.Dataset, ids: Sequence[str], tag: str, state: str, how: str, via: str, note: str | None
) -> Batch:
    """A decision that puts one tag in one state: its own batch, logged and counted."""
    batch = _start(dataset, how)
    history.apply(dataset, ids, tag, state, batch, via=via, note=note)
    return history.finish(dataset, batch, len(ids))


def _check_class(dataset: fo.Dataset, label: str) -> None:
    classes = list(dataset.default_classes or [])
    if classes and label not in classes:
        raise CurataError(f"{label!r} is not one of the project's classes ({', '.join(classes)})")
    if not label:
        raise CurataError("a label cannot be empty")


def _samples(n: int) -> str:
    return f"{n} sample" if n == 1 else f"{n} samples"


def _already(batch: Batch, state: str) -> str:
    return f" ({batch.unchanged} already {state})" if batch.unchanged else ""


__all__ = [
    "Decision",
    "HISTORY_FIELD",
    "accept_suggestions",
    "exclude",
    "keep_duplicate",
    "mark_reviewed",
    "relabel",
    "restore",
    "undo",
]
