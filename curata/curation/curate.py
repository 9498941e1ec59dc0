"""``curate``: measure every sample once, then tag duplicates, conflicts, leaks and quality issues.

Work is incremental. Images are decoded only for samples without measurements of the current
analysis version; scores, tags, duplicate groups and saved views are then derived for the
whole dataset from the stored measurements, which costs arithmetic, not decoding, and only
changed values are written back.
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.config import CurationSection
from curata.curation.analysis import ANALYSIS_VERSION, analyse
from curata.curation.duplicates import DuplicateGroup, Member, find_groups
from curata.curation.parallel import FileFailed, file_pool, map_files
from curata.curation.quality import ISSUES, ISSUES_BY_NAME
from curata.curation.sheets import Row, Tile, write_sheet
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
GRAYSCALE_TAG = ISSUES_BY_NAME["grayscale"].tag
HASH_FIELDS = ("phash", "dhash", "phash_mirror")
SHEETS_DIR = Path("reports") / "curate"  # under the project: the latest run's pictures
SHEET_GROUPS = 12  # duplicate groups drawn, label conflicts first, then the largest
SHEET_EXAMPLES = 8  # worst samples drawn per quality issue


@dataclass
class CurationReport:
    analysed: int = 0
    reused: int = 0
    unreadable: list[str] = field(default_factory=list)
    rows: list[tuple[str, int, str]] = field(default_factory=list)  # (problem, samples, saved view)
    groups: list[DuplicateGroup] = field(default_factory=list)
    sheets: dict[str, Path] = field(default_factory=dict)  # picture name -> PNG
    seconds: float = 0.0

    def count(self, problem: str) -> int:
        return next((n for name, n, _ in self.rows if name == problem), 0)


def curate(
    store: Store, settings: CurationSection, progress: bool = True, quality: bool | None = None
) -> CurationReport:
    """``quality=False`` (default: the ``quality_checks`` setting) only hashes and groups: a
    faster pass for a large scrape; quality tags stay as the last full pass left them."""
    dataset = store.dataset
    started = time.perf_counter()
    report = CurationReport()
    quality = settings.quality_checks if quality is None else quality
    _ensure_fields(store)
    _measure(dataset, settings, report, progress, quality)

    has_split = dataset.has_field("split")
    rows = _load_rows(dataset, has_split)
    measured = [r for r in rows if r["image_stats"] is not None]
    if quality:
        tags = _score_quality(dataset, settings, rows, measured)
    else:
        tags = {issue.tag: {r["id"] for r in rows if issue.tag in (r["tags"] or ())} for issue in ISSUES}
    report.groups = find_groups(
        [_member(r, has_split, r["id"] in tags[GRAYSCALE_TAG]) for r in measured],
        settings.near_duplicate_radius,
        settings.match_mirrored,
        settings.rotated_similarity if settings.match_rotated else None,
    )
    tags |= _mark_duplicates(dataset, report.groups, rows)
    tags[UNREADABLE_TAG] = {r["id"] for r in rows if r["image_stats"] is None}
    for tag, ids in tags.items():
        store.retag(tag, ids)

    report.rows = _save_views(dataset, tags, has_split)
    report.sheets = _draw_sheets(store.root / SHEETS_DIR, report.groups, rows, tags)
    report.seconds = time.perf_counter() - started
    dataset.info["curation"] = {
        "at": datetime.now(UTC).isoformat(),
        "analysis_version": ANALYSIS_VERSION,
        "quality_checks": quality,
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
        "id", "filepath", "sha256", "pixel_sha256", "image_stats", "ground_truth.label", "label_conflicts",
        "tags",
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
        for row in measured:  # the rows stay current for the contact sheets
            row[issue.score_field] = values[row["id"]]
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


def _draw_sheets(
    folder: Path, groups: list[DuplicateGroup], rows: list[dict], tags: dict[str, set[str]]
) -> dict[str, Path]:
    """The open duplicate groups and each issue's worst open samples as contact sheets, as the
    saved views show them: what a reviewer has settled stays out. Stale sheets are removed."""
    row_of = {r["id"]: r for r in rows}
    settled = {r["id"] for r in rows if {EXCLUDED_TAG, REVIEWED_TAG} & set(r["tags"] or ())}

    def size(sample_id: str) -> str:
        stats = _stats_dict(row_of[sample_id]["image_stats"])
        return f"{stats['width']}x{stats['height']}"

    drawn = {}
    open_groups = [g for g in groups if any(m.id not in settled for m in g.members)]
    shown = sorted(open_groups, key=lambda g: (len(g.labels) < 2, -len(g.members), g.id))[:SHEET_GROUPS]
    group_rows = [
        Row(
            f"{len(g.members)} {'identical' if g.exact else 'near'} copies"
            + (" — label conflict" if len(g.labels) > 1 else "")
            + (" — split leak" if len(g.splits) > 1 else ""),
            [
                Tile(
                    row_of[m.id]["filepath"],
                    f"{'keep' if m is g.keeper else 'copy'} {size(m.id)}",
                    m.label or "",
                    alert=len(g.labels) > 1,
                )
                for m in g.members
            ],
        )
        for g in shown
    ]
    issue_rows = []
    for issue in ISSUES:
        worst = sorted(
            tags.get(issue.tag, set()) - settled, key=lambda i: row_of[i][issue.score_field] or 0.0
        )
        if worst:
            tiles = [
                Tile(
                    row_of[i]["filepath"],
                    f"score {row_of[i][issue.score_field] or 0.0:.2f}",
                    row_of[i]["ground_truth.label"] or "",
                )
                for i in worst[:SHEET_EXAMPLES]
            ]
            count = f"{len(worst)} sample{'s' if len(worst) > 1 else ''}"
            issue_rows.append(Row(f"{issue.name}: {count}, worst first", tiles))
    for name, sheet_rows in (("duplicate-groups", group_rows), ("quality-issues", issue_rows)):
        target = folder / f"{name}.png"
        if sheet_rows:
            drawn[name.replace("-", " ")] = write_sheet(sheet_rows, target)
        else:
            target.unlink(missing_ok=True)
    return drawn


def _ensure_fields(store: Store) -> None:
    import fiftyone as fo

    strings = {name: fo.StringField for name in (*HASH_FIELDS, "dup_group", "dup_kind", "pixel_sha256")}
    scores = {issue.score_field: fo.FloatField for issue in ISSUES}
    stats = (fo.EmbeddedDocumentField, {"embedded_doc_type": fo.DynamicEmbeddedDocument})
    store.ensure_fields({**strings, **scores, "dup_keeper": fo.BooleanField, "image_stats": stats})


def _measure(
    dataset: fo.Dataset, settings: CurationSection, report: CurationReport, progress: bool, quality: bool
) -> None:
    """Decode only the samples without current measurements (or without a pixel digest)."""
    from fiftyone import ViewField as F

    stale = F("image_stats.version") != ANALYSIS_VERSION
    if quality:  # samples measured by a hashes-only pass need their quality measured too
        stale |= ~F("image_stats.sharpness").exists()
    ids, paths = dataset.match(stale).values(["id", "filepath"])
    digest_ids, digest_paths = dataset.match(~F("pixel_sha256").exists()).values(["id", "filepath"])
    report.analysed, report.reused = len(ids), len(dataset) - len(ids)
    if not ids and not digest_ids:
        return
    import fiftyone as fo

    jobs = len(ids) + len(digest_ids)
    with file_pool(jobs, settings.workers) as pool, progress_bar(jobs, "analyse images", progress) as advance:
        measure = analyse if quality else partial(analyse, quality=False)
        stats = dict(zip(ids, map_files(measure, paths, pool, settings.workers, advance), strict=True))
        digests = map_files(pixel_digest_of_file, digest_paths, pool, settings.workers, advance)
    good = {i: s for i, s in stats.items() if not isinstance(s, FileFailed)}
    failed = [i for i, s in stats.items() if isinstance(s, FileFailed)]
    path_of = dict(zip(ids, paths, strict=True))
    report.unreadable = [path_of[i] for i in failed]
    # An unreadable file's older measurements (another version, or hashes only) no longer hold.
    documents = {i: fo.DynamicEmbeddedDocument(**s.as_dict()) for i, s in good.items()}
    if documents or failed:
        dataset.set_values("image_stats", documents | dict.fromkeys(failed), key_field="id")
    if good:
        for name in HASH_FIELDS:
            dataset.set_values(name, {i: getattr(s, name) for i, s in good.items()}, key_field="id")
    digests = {i: d for i, d in zip(digest_ids, digests, strict=True) if not isinstance(d, FileFailed)}
    if digests:
        dataset.set_values("pixel_sha256", digests, key_field="id")


def _stats_dict(document: Any) -> dict:
    return document.to_dict() if hasattr(document, "to_dict") else dict(document)


def _member(row: dict, has_split: bool, grey: bool) -> Member:
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
        sharpness=float(stats.get("sharpness") or 0.0),  # none yet after a hashes-only pass
        grey=grey,
        polar=stats.get("polar"),
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
