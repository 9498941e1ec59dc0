"""``curate``: measure every sample once, then tag duplicates, conflicts, leaks and quality issues.

Work is incremental. Images are decoded only for samples without measurements of the current
analysis version; scores, tags, duplicate groups and saved views are then derived for the
whole dataset from the stored measurements, which costs arithmetic, not decoding, and only
changed values are written back.
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from concurrent.futures import Executor, ProcessPoolExecutor, ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from multiprocessing import get_context
from typing import TYPE_CHECKING, Any

from curata.config import CurationSection
from curata.curation.analysis import ANALYSIS_VERSION, analyse
from curata.curation.duplicates import DuplicateGroup, Member, find_groups
from curata.curation.quality import ISSUES
from curata.images import pixel_digest_of_file
from curata.progress import progress_bar
from curata.store import (
    CONFLICT_TAG,
    DUP_TAG,
    EXCLUDED_TAG,
    ISSUE_TAG_PREFIX,
    LEAK_TAG,
    REVIEWED_TAG,
    Store,
    undecided,
)

if TYPE_CHECKING:
    import fiftyone as fo

UNREADABLE_TAG = f"{ISSUE_TAG_PREFIX}unreadable"
HASH_FIELDS = ("phash", "dhash", "phash_mirror")
PROCESS_POOL_MIN = 64  # below this many images, threads beat starting worker processes


@dataclass
class CurationReport:
    analysed: int = 0
    reused: int = 0
    unreadable: list[str] = field(default_factory=list)
    rows: list[tuple[str, int, str]] = field(default_factory=list)  # (problem, samples, saved view)
    groups: list[DuplicateGroup] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, problem: str) -> int:
        return next((n for name, n, _ in self.rows if name == problem), 0)


def curate(store: Store, settings: CurationSection, progress: bool = True) -> CurationReport:
    dataset = store.dataset
    started = time.perf_counter()
    report = CurationReport()
    _ensure_fields(store)
    _measure(dataset, settings, report, progress)

    has_split = dataset.has_field("split")
    rows = _load_rows(dataset, has_split)
    measured = [r for r in rows if r["image_stats"] is not None]
    tags = _score_quality(dataset, settings, rows, measured)
    report.groups = find_groups(
        [_member(r, has_split) for r in measured], settings.near_duplicate_radius, settings.match_mirrored
    )
    tags |= _mark_duplicates(dataset, report.groups, rows)
    tags[UNREADABLE_TAG] = {r["id"] for r in rows if r["image_stats"] is None}
    for tag, ids in tags.items():
        store.retag(tag, ids)

    report.rows = _save_views(dataset, tags, has_split)
    report.seconds = time.perf_counter() - started
    dataset.info["curation"] = {
        "at": datetime.now(UTC).isoformat(),
        "analysis_version": ANALYSIS_VERSION,
        "settings": settings.model_dump(),
        "analysed": report.analysed,
        "reused": report.reused,
        "counts": {name: count for name, count, _ in report.rows},
        "seconds": round(report.seconds, 2),
    }
    dataset.save()
    return report


def _load_rows(dataset: fo.Dataset, has_split: bool) -> list[dict[str, Any]]:
    """Everything curation derives from, for every sample, in one query per field."""
    fields = [
        "id", "sha256", "pixel_sha256", "image_stats", "ground_truth.label", "label_conflicts", "tags",
        *HASH_FIELDS, *(issue.score_field for issue in ISSUES), "dup_group", "dup_keeper", "dup_kind",
    ]  # fmt: skip
    if has_split:
        fields.append("split")
    return [dict(zip(fields, values, strict=True)) for values in zip(*dataset.values(fields), strict=True)]


def _score_quality(
    dataset: fo.Dataset, settings: CurationSection, rows: list[dict], measured: list[dict]
) -> dict[str, set[str]]:
    """Write every issue's score where it changed; return the ids each issue tag should be on."""
    thresholds = settings.thresholds.model_dump()
    stats = [_stats_dict(r["image_stats"]) for r in measured]
    tags = {}
    for issue in ISSUES:
        scores = issue.scores(stats) if stats else []
        values = {r["id"]: round(float(s), 5) for r, s in zip(measured, scores, strict=True)}
        _write_changed(dataset, issue.score_field, values, {r["id"]: r[issue.score_field] for r in rows})
        tags[issue.tag] = {i for i, s in values.items() if s < thresholds[issue.name]}
    return tags


def _mark_duplicates(
    dataset: fo.Dataset, groups: list[DuplicateGroup], rows: list[dict]
) -> dict[str, set[str]]:
    """Write group, keeper and kind where they changed; return the ids for dup, conflict and leak tags."""
    group_of, keeper, kind = {}, {}, {}
    for group in groups:
        for member in group.members:
            group_of[member.id] = group.id
            keeper[member.id] = member is group.keeper
            kind[member.id] = "exact" if group.exact else "near"
    nobody = {r["id"]: None for r in rows}
    for name, values in (("dup_group", group_of), ("dup_keeper", keeper), ("dup_kind", kind)):
        _write_changed(dataset, name, nobody | values, {r["id"]: r[name] for r in rows})
    conflicts = {m.id for g in groups if len(g.labels) > 1 for m in g.members}
    return {
        DUP_TAG: {m.id for g in groups for m in g.members[1:]},
        CONFLICT_TAG: conflicts | {r["id"] for r in rows if r["label_conflicts"]},
        LEAK_TAG: {m.id for g in groups if len(g.splits) > 1 for m in g.members},
    }


def _ensure_fields(store: Store) -> None:
    import fiftyone as fo

    strings = {name: fo.StringField for name in (*HASH_FIELDS, "dup_group", "dup_kind", "pixel_sha256")}
    scores = {issue.score_field: fo.FloatField for issue in ISSUES}
    stats = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.DynamicEmbeddedDocument})
    store.ensure_fields({**strings, **scores, "dup_keeper": fo.BooleanField, "image_stats": stats})


def _measure(dataset: fo.Dataset, settings: CurationSection, report: CurationReport, progress: bool) -> None:
    """Decode only the samples without current measurements (or without a pixel digest)."""
    from fiftyone import ViewField as F

    stale = dataset.match(F("image_stats.version") != ANALYSIS_VERSION)
    ids, paths = stale.values(["id", "filepath"])
    no_digest = dataset.match(~F("pixel_sha256").exists())
    digest_ids, digest_paths = no_digest.values(["id", "filepath"])
    report.analysed, report.reused = len(ids), len(dataset) - len(ids)
    if not ids and not digest_ids:
        return
    import fiftyone as fo

    with (
        _pool(settings.workers, len(ids) + len(digest_ids)) as pool,
        progress_bar(len(ids) + len(digest_ids), "analyse images", progress) as advance,
    ):
        stats = dict(_run(pool, analyse, ids, paths, advance))
        digests = dict(_run(pool, pixel_digest_of_file, digest_ids, digest_paths, advance))
    good = {i: s for i, s in stats.items() if not isinstance(s, Exception)}
    path_of = dict(zip(ids, paths, strict=True))
    report.unreadable = [path_of[i] for i, s in stats.items() if isinstance(s, Exception)]
    if good:
        dataset.set_values(
            "image_stats",
            {i: fo.DynamicEmbeddedDocument(**s.as_dict()) for i, s in good.items()},
            key_field="id",
        )
        for name in HASH_FIELDS:
            dataset.set_values(name, {i: getattr(s, name) for i, s in good.items()}, key_field="id")
    digests = {i: d for i, d in digests.items() if not isinstance(d, Exception)}
    if digests:
        dataset.set_values("pixel_sha256", digests, key_field="id")


def _pool(workers: int, jobs: int) -> Executor:
    count = workers or os.cpu_count() or 1
    if jobs < PROCESS_POOL_MIN or count == 1:
        return ThreadPoolExecutor(max_workers=count)
    # spawn: the parent holds a database connection that must not be forked
    return ProcessPoolExecutor(max_workers=count, mp_context=get_context("spawn"))


def _run(
    pool: Executor, function: Callable, ids: list[str], paths: list[str], advance: Callable[[int], None]
) -> Iterable[tuple[str, Any]]:
    futures = [pool.submit(function, path) for path in paths]
    for sample_id, future in zip(ids, futures, strict=True):
        try:
            yield sample_id, future.result()
        except Exception as err:  # a media file deleted or damaged since import
            yield sample_id, err
        advance(1)


def _stats_dict(document: Any) -> dict:
    return document.to_dict() if hasattr(document, "to_dict") else dict(document)


def _member(row: dict, has_split: bool) -> Member:
    stats = _stats_dict(row["image_stats"])
    return Member(
        id=row["id"],
        sha256=row["sha256"],
        phash=row["phash"],
        phash_mirror=row["phash_mirror"],
        pixel_sha256=row["pixel_sha256"],
        label=row["ground_truth.label"],
        split=row.get("split") if has_split else None,
        pixels=int(stats["width"]) * int(stats["height"]),
        sharpness=float(stats["sharpness"]),
        excluded=EXCLUDED_TAG in (row["tags"] or ()),
        reviewed=REVIEWED_TAG in (row["tags"] or ()),
    )


def _write_changed(dataset: fo.Dataset, field_name: str, new: dict[str, Any], old: dict[str, Any]) -> None:
    changed = {i: v for i, v in new.items() if old.get(i) != v}
    if changed:
        dataset.set_values(field_name, changed, key_field="id")


def _save_views(
    dataset: fo.Dataset, tags: dict[str, set[str]], has_split: bool
) -> list[tuple[str, int, str]]:
    """One saved view per problem, worst first; returns the summary rows."""
    from fiftyone import ViewField as F

    rows = []
    open_cases = undecided(dataset)  # a reviewer's settled samples leave the views

    def save(name: str, problem: str, view: fo.DatasetView, description: str, count: int) -> None:
        dataset.save_view(name, view, description=description, overwrite=True)
        rows.append((problem, count, name))

    duplicates = open_cases.exists("dup_group")
    save(
        "duplicates",
        "duplicates",
        duplicates.group_by("dup_group", order_by="dup_keeper", reverse=True, sort_expr=F().length()),
        "near and exact duplicate groups, largest first, the keeper first in each",
        len(tags[DUP_TAG]),
    )
    save(
        "label-conflicts",
        "label conflicts",
        open_cases.match_tags(CONFLICT_TAG).sort_by("dup_group"),
        "the same image filed under different classes",
        len(tags[CONFLICT_TAG]),
    )
    if has_split:
        save(
            "leaky-splits",
            "split leaks",
            open_cases.match_tags(LEAK_TAG).sort_by("dup_group"),
            "duplicate groups whose members sit in different splits",
            len(tags[LEAK_TAG]),
        )
    for issue in ISSUES:
        save(
            f"issue-{issue.name.replace('_', '-')}",
            issue.name,
            open_cases.match_tags(issue.tag).sort_by(issue.score_field),
            f"{issue.description}; worst first",
            len(tags[issue.tag]),
        )
    if tags[UNREADABLE_TAG]:
        save(
            "issue-unreadable",
            "unreadable",
            open_cases.match_tags(UNREADABLE_TAG),
            "media files that could not be decoded",
            len(tags[UNREADABLE_TAG]),
        )
    elif dataset.has_saved_view("issue-unreadable"):
        dataset.delete_saved_view("issue-unreadable")
    return rows
