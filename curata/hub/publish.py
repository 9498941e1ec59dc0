"""Publish the store's included samples as a new version: parquet, manifest and card, committed
and tagged on the target.

Nothing reaches the target until every file is written, so a failed build leaves the target as
it was; the version is read from the target itself, so two machines publishing to one target
never reuse a number.
"""

from __future__ import annotations

import tempfile
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.hub import card, changelog
from curata.hub.build import MANIFEST, build_version, read_manifest, write_manifest
from curata.hub.targets import GitTarget, Target, open_target
from curata.hub.versions import next_version
from curata.store import STATE_DIR, remember_run

if TYPE_CHECKING:
    from curata.config import Config
    from curata.store import Store

MANIFEST_FORMAT = 1


@dataclass
class PublishReport:
    version: str
    target: str
    commit: str
    rows: int
    counts: dict[str, dict[str, int]]  # Hub split -> class -> rows
    shards: int
    download_size: int  # bytes of parquet
    changes: dict[str, Any]  # the changelog entry of this version
    load_line: str
    location: str  # the repository folder, or the Hub URL
    left_out: dict[str, int] = field(default_factory=dict)
    seconds: float = 0.0

    @property
    def summary(self) -> str:
        return changelog.describe(self.changes).removeprefix("- ")


def resolve_target(
    spec: str,
    project_root: Path,
    endpoint: str | None = None,
    token: str | None = None,
    private: bool = False,
) -> Target:
    """The target ``spec`` names; a relative local path is relative to the project folder."""
    if spec and "://" not in spec and not Path(spec).expanduser().is_absolute():
        spec = str(project_root / spec)
    return open_target(spec, endpoint=endpoint, token=token, private=private)


def publish(
    store: Store,
    config: Config,
    version: str,
    target: Target,
    message: str | None = None,
    progress: bool = True,
) -> PublishReport:
    """Build version ``version`` (1.2.0, or major/minor/patch) of the dataset and publish it to ``target``."""
    started = time.perf_counter()
    dataset = store.dataset
    published = target.versions()
    chosen = next_version(version, published)
    previous = read_manifest(target.read_file(max(published), MANIFEST)) if published else None
    scratch_root = store.root / STATE_DIR / "publish"
    scratch_root.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=scratch_root, prefix=f"{chosen.tag}-") as scratch:
        folder = Path(scratch)
        build = build_version(dataset, config.class_names, folder, config.hub.shard_mb, progress)
        record = changelog.entry(str(chosen), build.samples, previous, message)
        history = [record, *(previous or {}).get("changelog", [])]
        write_manifest(
            folder,
            {
                "format": MANIFEST_FORMAT,
                "dataset": config.dataset.name,
                "version": str(chosen),
                "published_at": datetime.now(UTC).isoformat(timespec="seconds"),
                "description": config.dataset.description,
                "license": config.dataset.license,
                "class_names": config.class_names,
                "classes": [spec.model_dump() for spec in config.classes],
                "changelog": history,
                "samples": build.samples,
            },
        )
        load_line = target.load_line(chosen)
        (folder / "README.md").write_text(
            card.render(config, build, str(chosen), history, _store_facts(dataset), load_line),
            encoding="utf-8",
        )
        commit = target.publish(folder, chosen, message or f"version {chosen}")
    report = PublishReport(
        version=str(chosen),
        target=target.location,
        commit=commit,
        rows=build.rows,
        counts={split: dict(counts) for split, counts in build.counts.items()},
        shards=sum(len(files) for files in build.shards.values()),
        download_size=build.download_size,
        changes=record,
        load_line=load_line,
        location=str(target.path) if isinstance(target, GitTarget) else f"{target.location}@{chosen.tag}",
        left_out=dict(build.left_out),
        seconds=time.perf_counter() - started,
    )
    remember_run(
        dataset,
        "publishes",
        {"version": report.version, "target": report.target, "commit": commit, "rows": report.rows,
         "at": record["date"], "seconds": round(report.seconds, 1)},
    )  # fmt: skip
    return report


def _store_facts(dataset) -> dict[str, Any]:
    """What the card says about the whole store, beyond the published rows."""
    info = dataset.info
    training = (info.get("training") or [None])[-1]
    return {
        "stored": len(dataset),
        "curation": info.get("curation"),
        "training": training,
        "scrape_problems": sum(len(run.get("problems", [])) for run in info.get("scrapes", [])),
    }
