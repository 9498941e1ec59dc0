"""The review's saved views: the order a reviewer works through them, and the views review adds.

The stages save one view per problem (they hide samples a reviewer has settled); review adds
``needs-review``, ``unreviewed`` (every flagged sample not yet settled) and ``excluded`` (to
restore from), puts them all in working order, and sets up the App's Annotate tab on
``ground_truth`` with the project's classes.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from curata.store import (
    CONFLICT_TAG,
    DUP_TAG,
    EXCLUDED_TAG,
    ISSUE_TAG_PREFIX,
    LEAK_TAG,
    MODEL_SUSPECT_TAG,
    NEEDS_REVIEW_TAG,
    OUTLIER_TAG,
    SUSPECT_TAG,
    undecided,
)

if TYPE_CHECKING:
    import fiftyone as fo

# Most telling first: what is wrong with the labels, then what is redundant, then what is odd.
WORKING_ORDER = (
    "suspected-mislabels",
    "model-disagreements",
    "label-conflicts",
    "duplicates",
    "leaky-splits",
    "outliers",
    ISSUE_TAG_PREFIX,  # every issue-* view, in the order curation saved them
    "needs-review",
    "unreviewed",
)
LABEL_FIELD = "ground_truth"


def prepare(dataset: fo.Dataset, class_names: list[str]) -> list[tuple[str, int, str]]:
    """Save review's own views, order every saved view for working through, enable Annotate.

    Returns (view, samples, description) in working order.
    """
    _save_review_views(dataset)
    names = order_views(dataset)
    enable_annotation(dataset, class_names)
    rows = []
    for name in names:
        info = dataset.get_saved_view_info(name)
        rows.append((name, len(dataset.load_saved_view(name)), info.get("description") or ""))
    return rows


PROBLEM_TAGS = [
    CONFLICT_TAG,
    DUP_TAG,
    LEAK_TAG,
    OUTLIER_TAG,
    SUSPECT_TAG,
    MODEL_SUSPECT_TAG,
    NEEDS_REVIEW_TAG,
]


def flagged(collection: fo.SampleCollection) -> fo.DatasetView:
    """Samples with any problem tag (issue:* included, whichever issues exist now or later)."""
    from fiftyone import ViewField as F

    problem = F().is_in(PROBLEM_TAGS) | F().starts_with(ISSUE_TAG_PREFIX)
    return collection.match(F("tags").filter(problem).length() > 0)


def _save_review_views(dataset: fo.Dataset) -> None:
    dataset.save_view(
        "needs-review",
        undecided(dataset).match_tags(NEEDS_REVIEW_TAG),
        description="samples a reviewer asked a second opinion on",
        overwrite=True,
    )
    dataset.save_view(
        "unreviewed",
        flagged(undecided(dataset)),
        description="every flagged sample nobody has reviewed or excluded yet",
        overwrite=True,
    )
    dataset.save_view(
        "excluded",
        dataset.match_tags(EXCLUDED_TAG),
        description="left out of training and publishing; restore from here",
        overwrite=True,
    )


def order_views(dataset: fo.Dataset) -> list[str]:
    """Put the saved views in working order (the App lists them as the dataset stores them).

    The dataset's list of saved views is reordered in place; deleting and re-saving the views
    instead would break the copies other processes (an open notebook, the App) hold.
    """
    current = dataset.list_saved_views()

    def rank(name: str) -> tuple[int, int]:
        for position, key in enumerate(WORKING_ORDER):
            if name == key or (key == ISSUE_TAG_PREFIX and name.startswith("issue-")):
                return (position, current.index(name))
        return (len(WORKING_ORDER), current.index(name))

    wanted = sorted(current, key=rank)
    if wanted != current:
        by_name = {doc.name: doc for doc in dataset._doc.saved_views}
        dataset._doc.saved_views = [by_name[name] for name in wanted]
        dataset.save()
    return wanted


def enable_annotation(dataset: fo.Dataset, class_names: list[str]) -> None:
    """Let the App's Annotate tab edit ``ground_truth`` with exactly the project's classes."""
    if not dataset.has_field(LABEL_FIELD) or not class_names:
        return
    schemas = dataset.label_schemas
    schema = schemas.get(LABEL_FIELD) or dataset.generate_label_schemas(LABEL_FIELD, scan_samples=False)
    wanted = {
        **schema,
        "classes": list(class_names),
        "component": "radio" if len(class_names) <= 5 else "dropdown",
    }
    if schemas.get(LABEL_FIELD) != wanted:
        dataset.update_label_schema(LABEL_FIELD, wanted)
    if LABEL_FIELD not in dataset.active_label_schemas:
        dataset.activate_label_schemas(LABEL_FIELD, prepend=True)
