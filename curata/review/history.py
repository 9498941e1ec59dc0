"""The change log: every review decision appended to the sample it changed, undone by batch.

A decision is one MongoDB pipeline update per group of samples that writes the new value, the
history entry (its ``from`` read from the same document in the same update) and
``last_modified_at`` together. Each sample's update is atomic, so two reviewers, or a reviewer
and a running stage, cannot lose each other's changes; and the App's own label edits, which are
conditional on ``last_modified_at``, are refused (and reloaded by the App) rather than allowed to
overwrite a decision they have not seen.

Edits made outside curata (the App's Annotate tab, or FiftyOne directly) are found by comparing
``ground_truth.label`` with ``logged_label``, the label as the log last saw it, and recorded as
``how="annotate"`` entries by :func:`record_outside_edits`.
"""

from __future__ import annotations

import secrets
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.errors import CurataError
from curata.store import (
    EXCLUDED_TAG,
    HISTORY_FIELD,
    LOGGED_LABEL_FIELD,
    NEEDS_REVIEW_TAG,
    REVIEWED_TAG,
)

if TYPE_CHECKING:
    import fiftyone as fo

LABEL = "label"
KEEPER = "keeper"
# a tag decision's two states, as the log shows them: (without the tag, with it)
TAG_STATES = {
    EXCLUDED_TAG: ("included", "excluded"),
    REVIEWED_TAG: ("unreviewed", "reviewed"),
    NEEDS_REVIEW_TAG: ("settled", "needs-review"),
}
KEEPER_STATES = ("duplicate", "keeper")
UNDO = "undo"
ANNOTATE = "annotate"


@dataclass(frozen=True)
class Change:
    """One entry of the log, with the sample it belongs to."""

    sample_id: str
    name: str  # where the image came from (its imported path or URL), else its media file
    what: str  # "label", "keeper", or a tag: "excluded", "reviewed", "needs-review"
    before: str | None
    after: str | None
    at: datetime
    how: str  # the decision: relabel, accept-suggestion, exclude, ..., annotate, undo
    via: str  # where it was made: app, cli, python
    note: str | None
    batch: str
    reverts: str | None = None


@dataclass
class Batch:
    """What one decision changed: ``counts[(what, from, to)]`` samples, and those left alone."""

    id: str
    how: str
    counts: Counter = field(default_factory=Counter)
    unchanged: int = 0

    @property
    def changed(self) -> int:
        return sum(self.counts.values())

    def count(self, what: str, after: str | None = None) -> int:
        return sum(n for (w, _, a), n in self.counts.items() if w == what and (after is None or a == after))

    def transitions(self, what: str) -> str:
        """``tulips → roses (8), daisy → roses (4)``, largest first."""
        pairs = Counter()
        for (w, before, after), n in self.counts.items():
            if w == what:
                pairs[(before or "(none)", after or "(none)")] += n
        return ", ".join(f"{b} → {a} ({n})" for (b, a), n in pairs.most_common())

    def describe(self) -> str:
        """``label: b → c (2); excluded: excluded → included (2)``"""
        whats = dict.fromkeys(w for w, _, _ in self.counts)
        return "; ".join(f"{w}: {self.transitions(w)}" for w in whats)


def new_batch_id() -> str:
    """Sortable by time, unique across processes."""
    return datetime.now(UTC).strftime("%Y%m%dT%H%M%S.%fZ") + "-" + secrets.token_hex(3)


def collection(dataset: fo.Dataset):
    """The samples' MongoDB collection: decisions need atomic pipeline updates FiftyOne does not offer."""
    return dataset._sample_collection


def object_ids(ids: Iterable[str]) -> list:
    from bson import ObjectId

    return [ObjectId(i) for i in ids]


def current_state(what: str) -> dict | str:
    """An aggregation expression for what ``what`` is now on a sample, as the log names it."""
    if what == LABEL:
        return {"$ifNull": ["$ground_truth.label", None]}
    if what == KEEPER:
        return {"$cond": [{"$eq": ["$dup_keeper", True]}, KEEPER_STATES[1], KEEPER_STATES[0]]}
    off, on = _tag_states(what)
    return {"$cond": [{"$in": [what, {"$ifNull": ["$tags", []]}]}, on, off]}


def apply(
    dataset: fo.Dataset,
    ids: Sequence[str],
    what: str,
    to: Any,
    batch: Batch,
    *,
    via: str,
    note: str | None = None,
    reverts: str | None = None,
    only_if: Any = None,
    also_set: dict[str, Any] | None = None,
    entry_extra: dict[str, Any] | None = None,
) -> int:
    """Set ``what`` to ``to`` on the samples ``ids`` where it differs, logging each change.

    ``to`` is a literal, or an aggregation expression such as ``"$suggested_label"`` when passed
    as ``{"$expr": ...}``. ``only_if`` (a literal state) restricts the change to samples in that
    state — how undo leaves alone what changed after the batch it reverts. Returns the number of
    samples changed.
    """
    if not ids:
        return 0
    target = to["$expr"] if isinstance(to, dict) and "$expr" in to else {"$literal": to}
    now = current_state(what)
    conditions = [{"$ne": [now, target]}]
    if only_if is not None:
        conditions.append({"$eq": [now, {"$literal": only_if}]})
    entry = {
        "_cls": "DynamicEmbeddedDocument",
        "what": what,
        "from": now,
        "to": target,
        "at": "$$NOW",
        "how": {"$literal": batch.how},
        "via": {"$literal": via},
        "note": {"$literal": note},
        "batch": {"$literal": batch.id},
    }
    if reverts:
        entry["reverts"] = {"$literal": reverts}
    entry.update(entry_extra or {})
    updates = {
        HISTORY_FIELD: {"$concatArrays": [{"$ifNull": [f"${HISTORY_FIELD}", []]}, [entry]]},
        "last_modified_at": "$$NOW",
        **_setter(what, target, to),
        **(also_set or {}),
    }
    if what == LABEL:
        _give_missing_labels_a_classification(dataset, ids)
    result = collection(dataset).update_many(
        {"_id": {"$in": object_ids(ids)}, "$expr": {"$and": conditions}}, [{"$set": updates}]
    )
    return result.modified_count


def finish(dataset: fo.Dataset, batch: Batch, asked: int) -> Batch:
    """Count what ``batch`` changed (from the log itself, so it is exact under concurrency)."""
    for row in collection(dataset).aggregate([
        {"$match": {f"{HISTORY_FIELD}.batch": batch.id}},
        {"$unwind": f"${HISTORY_FIELD}"},
        {"$match": {f"{HISTORY_FIELD}.batch": batch.id}},
        {"$group": {
            "_id": {"what": f"${HISTORY_FIELD}.what", "from": f"${HISTORY_FIELD}.from",
                    "to": f"${HISTORY_FIELD}.to"},
            "n": {"$sum": 1},
        }},
    ]):  # fmt: skip
        key = row["_id"]
        batch.counts[(key["what"], key.get("from"), key.get("to"))] += row["n"]
    touched = len(collection(dataset).distinct("_id", {f"{HISTORY_FIELD}.batch": batch.id}))
    batch.unchanged = max(asked - touched, 0)
    dataset.reload()
    return batch


def record_outside_edits(dataset: fo.Dataset, via: str = "app") -> Batch | None:
    """Log label edits made without curata (the App's Annotate tab, FiftyOne directly).

    Returns the batch they were logged under, or None when there were none.
    """
    samples = collection(dataset)
    label_now = {"$ifNull": ["$ground_truth.label", None]}
    # samples from before the log existed: what they carry now is where their log starts
    samples.update_many(
        {LOGGED_LABEL_FIELD: {"$exists": False}},
        [{"$set": {LOGGED_LABEL_FIELD: label_now, "last_modified_at": "$$NOW"}}],
    )
    edited = {"$expr": {"$ne": [label_now, {"$ifNull": [f"${LOGGED_LABEL_FIELD}", None]}]}}
    if samples.count_documents(edited, limit=1) == 0:
        return None
    batch = Batch(new_batch_id(), ANNOTATE)
    entry = {
        "_cls": "DynamicEmbeddedDocument",
        "what": LABEL,
        "from": {"$ifNull": [f"${LOGGED_LABEL_FIELD}", None]},
        "to": label_now,
        "at": {"$ifNull": ["$last_modified_at", "$$NOW"]},
        "how": ANNOTATE,
        "via": {"$literal": via},
        "note": "edited in the App or with FiftyOne",
        "batch": {"$literal": batch.id},
    }
    result = samples.update_many(
        edited,
        [{"$set": {
            HISTORY_FIELD: {"$concatArrays": [{"$ifNull": [f"${HISTORY_FIELD}", []]}, [entry]]},
            LOGGED_LABEL_FIELD: label_now,
            "last_modified_at": "$$NOW",
        }}],
    )  # fmt: skip
    return finish(dataset, batch, result.modified_count)


def changes(dataset: fo.Dataset, since: datetime | None = None, batch: str | None = None) -> list[Change]:
    """Every logged change, oldest first (``since`` and ``batch`` narrow it)."""
    match: dict[str, Any] = {}
    if since is not None:
        match[f"{HISTORY_FIELD}.at"] = {"$gte": since}
    if batch is not None:
        match[f"{HISTORY_FIELD}.batch"] = batch
    pipeline = [
        {"$match": {f"{HISTORY_FIELD}.0": {"$exists": True}, **match}},
        {"$project": {"filepath": 1, "source.original_path": 1, "source.image_url": 1, HISTORY_FIELD: 1}},
        {"$unwind": f"${HISTORY_FIELD}"},
    ]
    if match:
        pipeline.append({"$match": match})
    pipeline.append({"$sort": {f"{HISTORY_FIELD}.at": 1, f"{HISTORY_FIELD}.batch": 1, "_id": 1}})
    rows = []
    for doc in collection(dataset).aggregate(pipeline):
        entry = doc[HISTORY_FIELD]
        rows.append(
            Change(
                sample_id=str(doc["_id"]),
                name=_sample_name(doc),
                what=entry.get("what"),
                before=entry.get("from"),
                after=entry.get("to"),
                at=_aware(entry.get("at")),
                how=entry.get("how"),
                via=entry.get("via", ""),
                note=entry.get("note"),
                batch=entry.get("batch"),
                reverts=entry.get("reverts"),
            )
        )
    return rows


def last_undoable_batch(dataset: fo.Dataset) -> str | None:
    """The newest batch that is not itself an undo and has not been undone."""
    rows = list(
        collection(dataset).aggregate([
            {"$match": {f"{HISTORY_FIELD}.0": {"$exists": True}}},
            {"$unwind": f"${HISTORY_FIELD}"},
            {"$group": {
                "_id": f"${HISTORY_FIELD}.batch",
                "how": {"$first": f"${HISTORY_FIELD}.how"},
                "reverts": {"$addToSet": f"${HISTORY_FIELD}.reverts"},
            }},
        ])
    )  # fmt: skip
    undone = {r for row in rows for r in row["reverts"] if r}
    candidates = [row["_id"] for row in rows if row["how"] != UNDO and row["_id"] not in undone]
    return max(candidates) if candidates else None


def undo(dataset: fo.Dataset, via: str) -> Batch | None:
    """Revert the newest decision not yet undone; None when there is nothing to undo.

    Samples changed again since that decision keep their newer state (and are counted as
    unchanged), so an undo never silently discards someone else's later work.
    """
    record_outside_edits(dataset)
    target = last_undoable_batch(dataset)
    if target is None:
        return None
    entries = [c for c in changes(dataset, batch=target) if c.batch == target]
    batch = Batch(new_batch_id(), UNDO)
    groups: dict[tuple[str, str | None, str | None], list[str]] = {}
    for change in entries:
        groups.setdefault((change.what, change.before, change.after), []).append(change.sample_id)
    dismissed = _dismissed_in(dataset, target)
    for (what, before, after), ids in groups.items():
        also = {}
        if what == REVIEWED_TAG and after == TAG_STATES[REVIEWED_TAG][1]:
            also = _undismiss(ids, dismissed)
        apply(
            dataset,
            ids,
            what,
            before,
            batch,
            via=via,
            note=f"undo of {target}",
            reverts=target,
            only_if=after,
            also_set=also,
        )
    finish(dataset, batch, len({c.sample_id for c in entries}))
    batch.unchanged = len(entries) - batch.changed  # entries, not samples: what was left as it is
    return batch


def parse_since(text: str) -> datetime:
    """``2h``, ``3d``, ``45m``, ``2026-11-20`` or a full ISO time → an aware datetime."""
    from datetime import timedelta

    text = text.strip()
    units = {"m": "minutes", "h": "hours", "d": "days", "w": "weeks"}
    if text[:-1].isdigit() and text[-1:] in units:
        return datetime.now(UTC) - timedelta(**{units[text[-1]]: int(text[:-1])})
    try:
        return _aware(datetime.fromisoformat(text))
    except ValueError:
        raise CurataError(
            f"--since {text!r} is neither a duration (45m, 2h, 3d, 1w) nor a date (2026-11-20)"
        ) from None


def _setter(what: str, target: Any, to: Any) -> dict[str, Any]:
    if what == LABEL:
        return {
            "ground_truth": {"$mergeObjects": ["$ground_truth", {"label": target}]},
            LOGGED_LABEL_FIELD: target,
        }
    if what == KEEPER:
        return {"dup_keeper": {"$eq": [target, KEEPER_STATES[1]]}}
    off, on = _tag_states(what)
    if to not in (off, on):
        raise ValueError(f"{what} is {off!r} or {on!r}, not {to!r}")
    tags = {"$ifNull": ["$tags", []]}
    if to == on:
        return {"tags": {"$cond": [{"$in": [what, tags]}, tags, {"$concatArrays": [tags, [what]]}]}}
    return {"tags": {"$filter": {"input": tags, "cond": {"$ne": ["$$this", what]}}}}


def _tag_states(what: str) -> tuple[str, str]:
    try:
        return TAG_STATES[what]
    except KeyError:
        raise ValueError(f"no such decision: {what!r}") from None


def _give_missing_labels_a_classification(dataset: fo.Dataset, ids: Sequence[str]) -> None:
    """Unlabelled samples get an empty Classification first, so a label can be merged into it."""
    from bson import ObjectId

    samples = collection(dataset)
    for doc in samples.find({"_id": {"$in": object_ids(ids)}, "ground_truth": None}, {"_id": 1}):
        samples.update_one(
            {"_id": doc["_id"], "ground_truth": None},
            {"$set": {"ground_truth": {"_id": ObjectId(), "_cls": "Classification", "tags": [],
                                       "label": None},
                      "last_modified_at": datetime.now(UTC)}},
        )  # fmt: skip


def _dismissed_in(dataset: fo.Dataset, batch: str) -> dict[str, str]:
    """sample id → the suggestion a review in ``batch`` dismissed."""
    found = {}
    for doc in collection(dataset).aggregate([
        {"$match": {f"{HISTORY_FIELD}.batch": batch}},
        {"$unwind": f"${HISTORY_FIELD}"},
        {"$match": {f"{HISTORY_FIELD}.batch": batch, f"{HISTORY_FIELD}.dismissed": {"$ne": None}}},
        {"$project": {"d": f"${HISTORY_FIELD}.dismissed"}},
    ]):  # fmt: skip
        found[str(doc["_id"])] = doc["d"]
    return found


def _undismiss(ids: list[str], dismissed: dict[str, str]) -> dict[str, Any]:
    """Take back the suggestions this review dismissed (per sample, inside the one update)."""
    if not any(i in dismissed for i in ids):
        return {}
    branches = [
        {"case": {"$eq": ["$_id", oid]}, "then": dismissed[i]}
        for i, oid in zip(ids, object_ids(ids), strict=True)
        if i in dismissed
    ]
    value = {"$switch": {"branches": branches, "default": None}}
    current = {"$ifNull": ["$dismissed_suggestions", []]}
    return {"dismissed_suggestions": {"$filter": {"input": current, "cond": {"$ne": ["$$this", value]}}}}


def _sample_name(doc: dict) -> str:
    source = doc.get("source") or {}
    return source.get("original_path") or source.get("image_url") or Path(doc.get("filepath", "")).name


def _aware(moment: datetime | None) -> datetime | None:
    if moment is not None and moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment
