"""Build the files of one version: parquet shards as the Hub lays them out, and curata's manifest.

The rows are the included samples (excluded ones stay in the store but out of the release),
with the original image bytes embedded, the label as a ``ClassLabel``, and columns for where
each image came from and what curation and review said about it. Shards are written straight
from the media store with pyarrow, in a fixed order and with 🤗 Datasets' own schema metadata,
so ``load_dataset`` reads them as a ``DatasetDict`` and the same data always gives the same
bytes (which is what lets an interrupted Hub upload resume).
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.errors import CurataError
from curata.progress import progress_bar
from curata.store import (
    CONFLICT_TAG,
    DUP_TAG,
    EXCLUDED_TAG,
    HISTORY_FIELD,
    ISSUE_TAG_PREFIX,
    LEAK_TAG,
    MODEL_SUSPECT_TAG,
    NEEDS_REVIEW_TAG,
    OUTLIER_TAG,
    REVIEWED_TAG,
    SUSPECT_TAG,
)

if TYPE_CHECKING:
    import datasets
    import fiftyone as fo

MANIFEST = "curata-manifest.json"
DATA_DIR = "data"
# The store's split names, and the names the Hub and 🤗 Datasets give them.
HUB_SPLITS = {"train": "train", "val": "validation", "test": "test"}
ROW_GROUP_SIZE = 100  # what 🤗 Datasets uses for image data, so the Hub's viewer can page through it
PROBLEM_TAGS = (DUP_TAG, CONFLICT_TAG, LEAK_TAG, OUTLIER_TAG, SUSPECT_TAG, MODEL_SUSPECT_TAG)
SOURCE_COLUMNS = ("engine", "query", "page_url", "image_url", "licence", "title")


def features(class_names: list[str]) -> datasets.Features:
    """The published columns: image and label first, then provenance, then curation."""
    from datasets import ClassLabel, Features, Image, List, Value

    text = Value("string")
    return Features(
        {
            "image": Image(),
            "label": ClassLabel(names=class_names),
            "sha256": text,
            "width": Value("int32"),
            "height": Value("int32"),
            **{name: text for name in SOURCE_COLUMNS},
            "fetched_at": text,
            "phash": text,
            "dup_group": text,
            "review_status": text,  # reviewed, needs-review or unreviewed
            "original_label": text,  # the label before review changed it; empty when unchanged
            "open_issues": List(text),  # problems curation flagged that no reviewer has settled
        }
    )


@dataclass
class Build:
    """What was written, for the card, the manifest and the summary."""

    folder: Path
    counts: dict[str, Counter] = field(default_factory=dict)  # Hub split -> class -> rows
    shards: dict[str, list[str]] = field(default_factory=dict)  # Hub split -> files, relative
    num_bytes: dict[str, int] = field(default_factory=dict)  # Hub split -> bytes of its arrow data
    download_size: int = 0  # bytes of parquet
    samples: dict[str, list[str]] = field(default_factory=dict)  # sha256 -> [label, split]
    left_out: Counter = field(default_factory=Counter)  # reason -> samples
    open_issues: Counter = field(default_factory=Counter)  # problem -> published rows carrying it
    excluded_for: Counter = field(default_factory=Counter)  # problem flagged on excluded samples
    relabelled: int = 0  # published rows whose label a reviewer changed
    reviewed: int = 0
    engines: Counter = field(default_factory=Counter)  # where published rows came from
    queries: dict[str, Counter] = field(default_factory=dict)  # class -> search query -> rows
    licences: Counter = field(default_factory=Counter)  # the engines' licence hints
    fetched: list[str] = field(default_factory=list)  # first and last fetch (ISO dates)

    @property
    def rows(self) -> int:
        return sum(sum(c.values()) for c in self.counts.values())

    def add(self, row: dict[str, Any], label: str, split: str) -> None:
        """Count a published row into what the card and the manifest report."""
        self.counts.setdefault(split, Counter())[label] += 1
        self.samples[row["sha256"]] = [label, split]
        self.open_issues.update(row["open_issues"])
        self.relabelled += row["original_label"] is not None
        self.reviewed += row["review_status"] == "reviewed"
        self.engines[row["engine"] or "unknown"] += 1
        if row["query"]:
            self.queries.setdefault(label, Counter())[row["query"]] += 1
        self.licences[row["licence"] or "none given"] += 1
        if row["fetched_at"]:
            day = row["fetched_at"][:10]
            self.fetched = (
                [min(self.fetched[0], day), max(self.fetched[1], day)] if self.fetched else [day, day]
            )


def build_version(
    dataset: fo.Dataset, class_names: list[str], folder: Path, shard_mb: float, progress: bool = True
) -> Build:
    """Write ``folder/data/<split>-NNNNN-of-NNNNN.parquet`` for the included samples."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    build = Build(folder=folder)
    rows_by_split = _rows(dataset, class_names, build)
    schema = features(class_names).arrow_schema
    compression = _compression(schema)
    (folder / DATA_DIR).mkdir(parents=True, exist_ok=True)
    batches: list[tuple[str, str, list[dict]]] = []  # (split, shard file, rows): a row group each
    for split, rows in rows_by_split.items():
        shards = max(1, math.ceil(sum(row["_size"] for row in rows) / (shard_mb * 1e6)))
        per_shard = math.ceil(len(rows) / shards)
        build.shards[split] = [f"{DATA_DIR}/{split}-{i:05d}-of-{shards:05d}.parquet" for i in range(shards)]
        build.num_bytes[split] = 0
        for index, name in enumerate(build.shards[split]):
            chunk = rows[index * per_shard : (index + 1) * per_shard]
            batches += [
                (split, name, chunk[at : at + ROW_GROUP_SIZE]) for at in range(0, len(chunk), ROW_GROUP_SIZE)
            ]
    writer, writing = None, None
    with (
        ThreadPoolExecutor(max_workers=4) as pool,
        progress_bar(build.rows, "write parquet", progress) as advance,
    ):
        try:
            # The next row group's files are read and checked while this one is written.
            ahead = pool.map(_with_image, batches[0][2]) if batches else iter(())
            for index, (split, name, _) in enumerate(batches):
                rows = list(ahead)
                if index + 1 < len(batches):
                    ahead = pool.map(_with_image, batches[index + 1][2])
                if name != writing:
                    if writer:
                        writer.close()
                    writer, writing = pq.ParquetWriter(folder / name, schema, compression=compression), name
                columns = {key: [row[key] for row in rows] for key in schema.names}
                table = pa.Table.from_pydict(columns, schema=schema)
                writer.write_table(table, row_group_size=ROW_GROUP_SIZE)
                build.num_bytes[split] += table.nbytes
                advance(len(rows))
        finally:
            if writer:
                writer.close()
    build.download_size = sum(
        (folder / name).stat().st_size for files in build.shards.values() for name in files
    )
    return build


def _compression(schema) -> dict[str, str]:
    """Snappy for every column but the image bytes: JPEG and PNG are compressed already, so
    compressing them again costs time and saves nothing."""
    import io

    import pyarrow.parquet as pq

    empty = io.BytesIO()
    pq.write_table(schema.empty_table(), empty)
    columns = pq.ParquetFile(io.BytesIO(empty.getvalue())).schema
    return {columns.column(i).path: "snappy" for i in range(len(columns))} | {"image.bytes": "none"}


def _rows(dataset: fo.Dataset, class_names: list[str], build: Build) -> dict[str, list[dict]]:
    """The published rows without image bytes, per Hub split, in a fixed order."""
    fields = [
        "sha256", "filepath", "ground_truth.label", "split", "tags", "metadata.width",
        "metadata.height", "metadata.size_bytes", "phash", "dup_group", HISTORY_FIELD,
        *(f"source.{name}" for name in (*SOURCE_COLUMNS, "fetched_at")),
    ]  # fmt: skip
    present = [name for name in fields if dataset.has_field(name.split(".")[0])]
    values = dict(zip(present, dataset.values(present), strict=True))
    count = len(dataset)
    values.update({name: [None] * count for name in fields if name not in values})
    column = values.__getitem__
    known = set(class_names)
    rows: dict[str, list[dict]] = {name: [] for name in HUB_SPLITS.values()}
    for i in range(count):
        tags = set(column("tags")[i] or ())
        label, split = column("ground_truth.label")[i], column("split")[i]
        reason = (
            "excluded by a reviewer" if EXCLUDED_TAG in tags
            else "no label" if not label
            else f"label '{label}' is not a class of the project" if label not in known
            else "no split" if split not in HUB_SPLITS
            else None
        )  # fmt: skip
        if reason:
            build.left_out[reason] += 1
            if EXCLUDED_TAG in tags:
                flagged = [t for t in tags if t in PROBLEM_TAGS or t.startswith(ISSUE_TAG_PREFIX)]
                build.excluded_for.update(flagged or ["a reviewer's decision"])
            continue
        history = column(HISTORY_FIELD)[i] or []
        original = next((entry["from"] for entry in history if entry["what"] == "label"), None)
        issues = sorted(t for t in tags if t in PROBLEM_TAGS or t.startswith(ISSUE_TAG_PREFIX))
        if REVIEWED_TAG in tags:
            issues = []  # a reviewer looked and kept the sample as it is
        status = (
            "reviewed"
            if REVIEWED_TAG in tags
            else "needs-review"
            if NEEDS_REVIEW_TAG in tags
            else "unreviewed"
        )
        fetched = column("source.fetched_at")[i]
        row = {
            "_path": column("filepath")[i],
            "_size": column("metadata.size_bytes")[i] or 0,
            "label": class_names.index(label),
            "sha256": column("sha256")[i],
            "width": column("metadata.width")[i],
            "height": column("metadata.height")[i],
            **{name: column(f"source.{name}")[i] for name in SOURCE_COLUMNS},
            "fetched_at": fetched.isoformat() if fetched else None,
            "phash": column("phash")[i],
            "dup_group": column("dup_group")[i],
            "review_status": status,
            "original_label": original if original and original != label else None,
            "open_issues": issues,
        }
        rows[HUB_SPLITS[split]].append(row)
        build.add(row, label, HUB_SPLITS[split])
    if not build.samples:
        raise CurataError(
            "nothing to publish: no labelled, included samples with a split (import or scrape first)"
        )
    missing = [row["_path"] for split in rows.values() for row in split if not os.path.isfile(row["_path"])]
    if missing:
        raise CurataError(
            f"{len(missing)} media files are missing (first: {missing[0]}); restore them, or exclude "
            "those samples, then publish again"
        )
    for split_rows in rows.values():
        split_rows.sort(key=lambda row: (row["label"], row["sha256"]))
    build.counts = {split: build.counts[split] for split in rows if split in build.counts}
    return {split: split_rows for split, split_rows in rows.items() if split_rows}


def _with_image(row: dict[str, Any]) -> dict[str, Any]:
    """The row with its image bytes, checked against the sha256 the store files them under."""
    with open(row["_path"], "rb") as handle:
        data = handle.read()
    if hashlib.sha256(data).hexdigest() != row["sha256"]:
        raise CurataError(
            f"media file {row['_path']} no longer matches its sha256 (changed on disk); restore it "
            "or exclude the sample, then publish again"
        )
    name = row["sha256"] + os.path.splitext(row["_path"])[1]
    return {"image": {"bytes": data, "path": name}, **{k: v for k, v in row.items() if not k.startswith("_")}}


def write_manifest(folder: Path, manifest: dict[str, Any]) -> None:
    (folder / MANIFEST).write_text(
        json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8"
    )


def read_manifest(data: bytes | None) -> dict[str, Any] | None:
    return json.loads(data) if data else None
