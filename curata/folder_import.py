"""Import a folder of images: one subfolder per class, or a flat folder with one label.

Every file is decoded before it is accepted (``curata.images.inspect_image``); what is
rejected is reported with its reason and never stops the batch. Decoding runs on a thread
pool (Pillow releases the GIL while decoding) and samples are inserted in bulk, a few hundred
per database round-trip. Rerunning is idempotent because the store upserts by sha256.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from curata.config import CONFIG_NAME, Config
from curata.errors import CurataError
from curata.images import ImageInfo, RejectedImage, inspect_image
from curata.progress import progress_bar
from curata.store import NewImage, Store, remember_run

BATCH_SIZE = 256
IMPORT_TAG = "imported"


@dataclass
class ImportReport:
    """What an import did, file by file where it matters."""

    folder: str
    seen: int = 0
    added: int = 0
    duplicates: int = 0
    conflicts: list[tuple[str, str, str | None]] = field(
        default_factory=list
    )  # (file, its label, stored label)
    rejected: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    seconds: float = 0.0

    def as_info(self) -> dict:
        return {
            "folder": self.folder,
            "at": datetime.now(UTC).isoformat(),
            "seen": self.seen,
            "added": self.added,
            "duplicates": self.duplicates,
            "conflicts": len(self.conflicts),
            "rejected": len(self.rejected),
            "seconds": round(self.seconds, 2),
        }


def discover(folder: Path, label: str | None = None) -> tuple[list[tuple[Path, str]], list[Path]]:
    """List (file, label) pairs to import, and the files that sit outside any class folder."""
    if not folder.is_dir():
        raise CurataError(f"{folder} is not a folder; pass the folder that holds one subfolder per class")
    if label is not None:
        return [(path, label) for path in _files(folder)], []
    found: list[tuple[Path, str]] = []
    stray: list[Path] = []
    for entry in sorted(folder.iterdir()):
        if entry.name.startswith("."):
            continue
        if entry.is_dir():
            found.extend((path, entry.name) for path in _files(entry))
        elif entry.is_file():
            stray.append(entry)
    return found, stray


def _files(folder: Path) -> Iterator[Path]:
    for root, dirs, names in os.walk(folder, followlinks=False):
        dirs[:] = sorted(d for d in dirs if not d.startswith("."))
        for name in sorted(names):
            if not name.startswith("."):
                yield Path(root) / name


def import_folder(
    store: Store, config: Config, folder: str | Path, label: str | None = None, progress: bool = True
) -> ImportReport:
    """Validate every file under ``folder`` and add the good ones to the store."""
    folder = Path(folder).expanduser().resolve()
    files, stray = discover(folder, label)
    _check_labels({lbl for _, lbl in files}, config, label)
    report = ImportReport(folder=str(folder))
    report.rejected.extend(
        (str(p.relative_to(folder)), "not inside a class folder (use --label for a flat folder)")
        for p in stray
    )
    report.seen = len(files) + len(stray)
    max_bytes = int(config.import_.max_file_mb * 1_000_000)
    dataset = store.dataset  # connect first, so the timing below is the import's own
    started = time.perf_counter()

    def inspect_and_store(path: Path) -> tuple[str, ImageInfo] | str:
        """Runs on a worker thread: read, hash, fully decode, and write the media file."""
        try:
            size = path.stat().st_size
            if size > max_bytes:
                return f"file is {size / 1e6:.1f} MB, over the {max_bytes / 1e6:.0f} MB limit"
            data = path.read_bytes()
            sha = hashlib.sha256(data).hexdigest()
            info = inspect_image(data, max_pixels=config.import_.max_pixels, max_bytes=max_bytes)
            store.media.put(sha, info.ext, info.data)
            return sha, info
        except RejectedImage as err:
            return str(err)
        except OSError as err:  # unreadable source, or the media folder cannot be written
            return f"cannot read or store the file: {err.strerror or err}"

    workers = min(8, 2 * (os.cpu_count() or 1))
    batches = [files[start : start + BATCH_SIZE] for start in range(0, len(files), BATCH_SIZE)]
    with (
        ThreadPoolExecutor(max_workers=workers) as pool,
        progress_bar(len(files), f"import {folder.name}", progress) as advance,
    ):

        def submit(batch: list[tuple[Path, str]]) -> list:
            return [pool.submit(inspect_and_store, path) for path, _ in batch]

        # One batch is decoded on the pool while the previous one is inserted.
        pending = submit(batches[0]) if batches else []
        for index, batch in enumerate(batches):
            outcomes, pending = pending, submit(batches[index + 1]) if index + 1 < len(batches) else []
            images: list[NewImage] = []
            path_of: dict[tuple[str, str], str] = {}
            for (path, lbl), future in zip(batch, outcomes, strict=True):
                outcome = future.result()
                relative = str(path.relative_to(folder))
                advance(1)
                if isinstance(outcome, str):
                    report.rejected.append((relative, outcome))
                    continue
                sha, info = outcome
                path_of.setdefault((sha, lbl), relative)
                images.append(
                    NewImage(sha, info, lbl, _provenance(relative, folder, info), tags=(IMPORT_TAG,))
                )
            result = store.add_images(images)
            report.added += len(result.added)
            report.duplicates += len(result.duplicates)
            report.conflicts.extend(
                (path_of[(sha, lbl)], lbl, stored) for sha, lbl, stored in result.conflicts
            )
    report.seconds = time.perf_counter() - started
    remember_run(dataset, "imports", report.as_info())  # for the dataset card and `curata status`
    return report


def _check_labels(labels: set[str], config: Config, flat_label: str | None) -> None:
    unknown = sorted(labels - set(config.class_names))
    if not unknown:
        return
    if flat_label is not None:
        raise CurataError(
            f"'{flat_label}' is not a class in {CONFIG_NAME}; add a [[classes]] block for it first"
        )
    shown = ", ".join(unknown[:8]) + (f" and {len(unknown) - 8} more" if len(unknown) > 8 else "")
    raise CurataError(
        f"subfolders {shown} are not classes in {CONFIG_NAME}; add [[classes]] blocks for them "
        "(or start a project from this folder with `curata init DIR --classes-from FOLDER`)"
    )


def _provenance(relative: str, folder: Path, info: ImageInfo) -> dict:
    return {
        "engine": "folder",
        "original_path": relative,
        "import_root": str(folder),
        "original_format": info.format,
        "fetched_at": datetime.now(UTC),
    }
