"""Pull a published version back into a FiftyOne dataset, labels and provenance intact.

A published dataset is input like any other: every row's bytes must match its ``sha256`` and
pass the import's full decode and limits before it becomes a sample, so a damaged or hostile
repository costs rejected rows, never a broken store. Rows land in the content-addressed media
store, so pulling a version that shares images with the project stores nothing twice, and a
rerun adds nothing.
"""

from __future__ import annotations

import hashlib
import os
import re
import tempfile
import time
from collections import Counter
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.errors import CurataError
from curata.hub.build import DATA_DIR, HUB_SPLITS, MANIFEST, SOURCE_COLUMNS, read_manifest
from curata.hub.targets import Target
from curata.hub.versions import Reference, Version
from curata.images import RejectedImage, inspect_image
from curata.progress import progress_bar
from curata.store import NEEDS_REVIEW_TAG, REVIEWED_TAG, NewImage, remember_run

if TYPE_CHECKING:
    from curata.config import ImportSection
    from curata.store import Store

PULLED_TAG = "pulled"
STORE_SPLITS = {hub: store for store, hub in HUB_SPLITS.items()}
_SHARD = re.compile(r"^(?P<split>.+)-\d{5}-of-\d{5}\.parquet$")
_BATCH = 100


@dataclass
class Fetched:
    """A version's files, downloaded."""

    target: Target
    version: Version
    folder: Path
    manifest: dict[str, Any] | None
    class_names: list[str]

    @property
    def reference(self) -> str:
        return f"{self.target.location}@{self.version}"


@dataclass
class PullReport:
    reference: str
    dataset: str
    rows: int = 0
    added: int = 0
    already_stored: int = 0
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (sha256 or row, reason)
    counts: Counter = field(default_factory=Counter)  # store split -> rows
    seconds: float = 0.0


@contextmanager
def fetched(reference: Reference, target: Target, within: Path | None = None) -> Iterator[Fetched]:
    """The version ``reference`` names (the newest when it names none), downloaded into a temporary
    folder (under ``within`` when given) that is removed afterwards."""
    if within is not None:
        within.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=within, prefix="pull-") as scratch:
        yield fetch(reference, target, Path(scratch))


def fetch(reference: str | Reference, target: Target, folder: Path) -> Fetched:
    """Download the version ``reference`` names (the newest when it names none) into ``folder``."""
    if isinstance(reference, str):
        reference = Reference.parse(reference)
    published = target.versions()
    if not published:
        raise CurataError(f"{target.location} has no published versions")
    version = reference.version or max(published)
    if version not in published:
        raise CurataError(
            f"{target.location} has no version {version}; published: {', '.join(map(str, published))}"
        )
    target.download(version, folder)
    shards = sorted((folder / DATA_DIR).glob("*.parquet"))
    if not shards:
        raise CurataError(f"{target.location}@{version} holds no parquet files under {DATA_DIR}/")
    return Fetched(target, version, folder, read_manifest(_read(folder / MANIFEST)), _class_names(shards[0]))


def load_version(store: Store, fetched: Fetched, limits: ImportSection, progress: bool = True) -> PullReport:
    """Add the fetched rows to ``store``'s dataset (validated; existing bytes are not added twice)."""
    import pyarrow.parquet as pq

    started = time.perf_counter()
    report = PullReport(fetched.reference, store.dataset_name)
    dataset = store.dataset
    shards = sorted((fetched.folder / DATA_DIR).glob("*.parquet"))
    total = sum(pq.ParquetFile(path).metadata.num_rows for path in shards)
    max_bytes = int(limits.max_file_mb * 1_000_000)

    def check(row: dict[str, Any]) -> tuple[str, Any]:
        data = (row.get("image") or {}).get("bytes") or b""
        sha = hashlib.sha256(data).hexdigest()
        if sha != row.get("sha256"):
            return sha, "image bytes do not match the row's sha256 (damaged in storage or transfer)"
        try:
            info = inspect_image(data, max_pixels=limits.max_pixels, max_bytes=max_bytes)
        except RejectedImage as err:
            return sha, str(err)
        store.media.put(sha, info.ext, info.data)
        return sha, info

    with (
        ThreadPoolExecutor(max_workers=min(8, 2 * (os.cpu_count() or 1))) as pool,
        progress_bar(total, f"pull {fetched.version}", progress) as advance,
    ):
        for path in shards:
            match = _SHARD.match(path.name)
            split = STORE_SPLITS.get(match["split"], match["split"]) if match else None
            for batch in pq.ParquetFile(path).iter_batches(batch_size=_BATCH):
                rows = batch.to_pylist()
                images = []
                for row, (sha, outcome) in zip(rows, pool.map(check, rows), strict=True):
                    if isinstance(outcome, str):
                        report.rejected.append((row.get("sha256") or sha, outcome))
                        continue
                    images.append(_new_image(sha, outcome, row, fetched, split))
                result = store.add_images(images)
                report.added += len(result.added)
                report.already_stored += len(result.duplicates)
                report.counts[split] += len(images)
                report.rows += len(rows)
                advance(len(rows))
    report.seconds = time.perf_counter() - started
    remember_run(
        dataset,
        "pulls",
        {"from": fetched.reference, "added": report.added, "rejected": len(report.rejected),
         "at": datetime.now(UTC).isoformat(timespec="seconds")},
    )  # fmt: skip
    return report


def _new_image(sha: str, info, row: dict[str, Any], fetched: Fetched, split: str | None) -> NewImage:
    label_index = row.get("label")
    label = fetched.class_names[label_index] if label_index is not None and label_index >= 0 else None
    source = {name: row.get(name) for name in SOURCE_COLUMNS if row.get(name)}
    source.setdefault("engine", "unknown")
    if row.get("fetched_at"):
        source["fetched_at"] = datetime.fromisoformat(row["fetched_at"])
    if row.get("original_label"):
        source["original_label"] = row["original_label"]
    source["pulled_from"] = fetched.reference
    status = row.get("review_status")
    tags = [PULLED_TAG] + (
        [REVIEWED_TAG] if status == "reviewed" else [NEEDS_REVIEW_TAG] if status == "needs-review" else []
    )
    fields = {"split": split} if split else {}
    return NewImage(sha, info, label, source, tags=tags, fields=fields)


def _class_names(shard: Path) -> list[str]:
    """The label names from 🤗 Datasets' schema metadata in the parquet file."""
    import pyarrow.parquet as pq
    from datasets import ClassLabel, Features

    label = Features.from_arrow_schema(pq.read_schema(shard)).get("label")
    if not isinstance(label, ClassLabel):
        raise CurataError(f"{shard.name} has no ClassLabel column 'label'; it was not published by curata")
    return list(label.names)


def _read(path: Path) -> bytes | None:
    return path.read_bytes() if path.is_file() else None
