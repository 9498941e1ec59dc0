"""``Project``: the Python API every notebook and the CLI use.

A project is a folder with ``curata.toml``, its media store and (by default) its database.
Each method is one stage verb; the CLI is a thin layer over these.
"""

from __future__ import annotations

from collections import Counter
from datetime import datetime
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING

from curata.config import CONFIG_NAME, Config, load_config
from curata.errors import CurataError
from curata.project_template import render_config, slugify
from curata.store import STATE_DIR, Store

if TYPE_CHECKING:
    from collections.abc import Iterable

    import fiftyone as fo

    from curata.curation.curate import CurationReport
    from curata.embeddings.embed import EmbeddingReport
    from curata.folder_import import ImportReport
    from curata.hub.publish import PublishReport
    from curata.hub.pull import PullReport
    from curata.review import RunningApp
    from curata.review.decisions import Decision
    from curata.review.history import Change
    from curata.scrapers.scrape import ScrapeReport
    from curata.training.predict import Prediction
    from curata.training.train import TrainReport

    SampleSelection = fo.SampleCollection | fo.Sample | Iterable[str | fo.Sample] | str


class Project:
    def __init__(self, root: str | Path):
        self.root = Path(root).expanduser().resolve()
        self.config: Config = load_config(self.root / CONFIG_NAME)

    def __repr__(self) -> str:
        return f"Project({str(self.root)!r}, dataset={self.config.dataset.name!r})"

    @cached_property
    def store(self) -> Store:
        return Store(self.root, self.config.dataset.name, self.config.class_names)

    @property
    def dataset(self) -> fo.Dataset:
        """The project's FiftyOne dataset: the single source of truth for every stage."""
        return self.store.dataset

    def import_folder(
        self, folder: str | Path, label: str | None = None, progress: bool = True
    ) -> ImportReport:
        """Import ``folder`` (one subfolder per class, or a flat folder with ``label``)."""
        from curata.folder_import import import_folder

        return import_folder(self.store, self.config, folder, label=label, progress=progress)

    def scrape(
        self,
        classes: list[str] | None = None,
        engines: list[str] | None = None,
        max_per_class: int | None = None,
        progress: bool = True,
    ) -> ScrapeReport:
        """Search each class's queries on the configured engines and store what downloads and
        validates; reruns finish an interrupted scrape without fetching anything twice."""
        from curata.scrapers.scrape import scrape

        return scrape(
            self.store, self.config, classes=classes, engines=engines, max_per_class=max_per_class,
            progress=progress,
        )  # fmt: skip

    def curate(self, progress: bool = True, quality: bool | None = None) -> CurationReport:
        """Find duplicates, label conflicts, split leaks and quality issues; save a view for each.

        ``quality=False`` hashes and groups only (default: the ``quality_checks`` setting).
        """
        from curata.curation.curate import curate

        return curate(self.store, self.config.curation, progress=progress, quality=quality)

    def embed(
        self,
        batch_size: int = 32,
        visualize: bool = True,
        map_method: str | None = None,
        signals: bool = True,
        progress: bool = True,
    ) -> EmbeddingReport:
        """Embed every sample with the configured model (cached), index the vectors for similarity
        search, lay out the App's embeddings map, and derive clusters, outliers and suspected
        mislabels from the embeddings.

        ``map_method`` is "umap" (the default when umap-learn is installed) or "pca".
        """
        from curata.embeddings.run import embed

        return embed(
            self.store,
            self.config,
            batch_size=batch_size,
            visualize=visualize,
            map_method=map_method,
            signals=signals,
            progress=progress,
        )

    def train(
        self,
        trainer: str = "probe",
        seed: int = 51,
        cv: int = 0,
        tta: bool = False,
        epochs: int = 8,
        progress: bool = True,
    ) -> TrainReport:
        """Assign splits, train a classifier (``probe`` on the embeddings, or ``finetune`` of the
        backbone's last blocks), evaluate it on the test split, write out-of-fold predictions
        back for review, and save the model file under ``models/``."""
        from curata.training.train import train

        return train(
            self.store,
            self.config,
            trainer=trainer,
            seed=seed,
            cv=cv,
            tta=tta,
            epochs=epochs,
            progress=progress,
        )

    def predict(
        self,
        images: list[str | Path],
        model: str | Path | None = None,
        top_k: int = 3,
        threshold: float = 0.5,
    ) -> list[Prediction]:
        """Top classes for image files with the project's latest model (or ``model``)."""
        from curata.training.predict import predict

        path = Path(model) if model else self.root / "models" / "latest.pt"
        return predict(path, images, top_k=top_k, threshold=threshold)

    def publish(
        self,
        version: str,
        target: str | None = None,
        message: str | None = None,
        progress: bool = True,
        endpoint: str | None = None,
        token: str | None = None,
    ) -> PublishReport:
        """Publish the included samples as ``version`` (1.2.0, or major/minor/patch) to ``target``
        (default: ``[hub] target``): parquet shards, a dataset card and a changelog, one tagged
        commit. Samples without a split get one first (the same leak-free splits training uses)."""
        from curata.hub.publish import publish, resolve_target
        from curata.training.splits import assign_splits

        where = resolve_target(
            target or self.config.hub.target, self.root, endpoint=endpoint, token=token,
            private=self.config.hub.private,
        )  # fmt: skip
        assign_splits(self.dataset)
        return publish(self.store, self.config, version, where, message=message, progress=progress)

    def pull(
        self,
        reference: str,
        dataset: str | None = None,
        progress: bool = True,
        endpoint: str | None = None,
        token: str | None = None,
    ) -> PullReport:
        """Load a published version (``TARGET@VERSION``; the newest without ``@``) into the FiftyOne
        dataset ``dataset`` (default: ``<name>-v<version>``) beside the project's own."""
        from curata.hub.publish import resolve_target
        from curata.hub.pull import fetched, load_version
        from curata.hub.versions import Reference

        ref = Reference.parse(reference)
        target = resolve_target(ref.target, self.root, endpoint=endpoint, token=token)
        with fetched(ref, target, within=self.root / STATE_DIR) as version:
            name = dataset or f"{self.config.dataset.name}-v{version.version}"
            store = (
                self.store
                if name == self.config.dataset.name
                else Store(self.root, name, version.class_names)
            )
            return load_version(store, version, self.config.import_, progress=progress)

    def class_counts(self) -> dict[str, int]:
        """Samples per class, every configured class listed (zero included)."""
        counts = Counter(self.dataset.values("ground_truth.label"))
        return {name: counts.get(name, 0) for name in self.config.class_names}

    def class_sources(self) -> dict[str, Counter]:
        """Per class, where its samples came from (``folder`` for imports, or the engine) and how
        many a reviewer excluded (``excluded``)."""
        from curata.store import EXCLUDED_TAG

        labels, engines, tags = self.dataset.values(["ground_truth.label", "source.engine", "tags"])
        sources = {name: Counter() for name in self.config.class_names}
        for label, engine, sample_tags in zip(labels, engines, tags, strict=True):
            if label in sources:
                sources[label][engine or "unknown"] += 1
                sources[label]["excluded"] += EXCLUDED_TAG in (sample_tags or ())
        return sources

    def review(
        self, port: int | None = None, address: str | None = None, open_browser: bool = True
    ) -> RunningApp:
        """Serve the FiftyOne App on this project's dataset, with curata's review operators, the
        saved views in working order and the Annotate tab set up on ``ground_truth``."""
        from curata.review import app

        views = self.review_views()
        running = app.launch_app(
            self.dataset,
            self.root,
            port=port or app.DEFAULT_PORT,
            address=address or app.DEFAULT_ADDRESS,
            open_browser=open_browser,
        )
        running.views = views
        return running

    def review_views(self) -> list[tuple[str, int, str]]:
        """(saved view, samples, description) in the order to work through them."""
        from curata.review import views

        return views.prepare(self.dataset, self.config.class_names)

    # Review decisions: each takes samples (a view, or sample ids), logs every change in the
    # samples' label_history, and returns a Decision whose message says what changed.

    def relabel(self, samples: SampleSelection, label: str, note: str | None = None) -> Decision:
        from curata.review import decisions

        return decisions.relabel(self.dataset, _ids(samples), label, note=note)

    def accept_suggestions(self, samples: SampleSelection, note: str | None = None) -> Decision:
        from curata.review import decisions

        return decisions.accept_suggestions(self.dataset, _ids(samples), note=note)

    def keep_duplicate(self, sample_id: str, note: str | None = None) -> Decision:
        from curata.review import decisions

        return decisions.keep_duplicate(self.dataset, sample_id, note=note)

    def exclude(self, samples: SampleSelection, note: str | None = None) -> Decision:
        from curata.review import decisions

        return decisions.exclude(self.dataset, _ids(samples), note=note)

    def restore(self, samples: SampleSelection, note: str | None = None) -> Decision:
        from curata.review import decisions

        return decisions.restore(self.dataset, _ids(samples), note=note)

    def mark_reviewed(
        self, samples: SampleSelection, needs_another_look: bool = False, note: str | None = None
    ) -> Decision:
        from curata.review import decisions

        return decisions.mark_reviewed(
            self.dataset, _ids(samples), needs_another_look=needs_another_look, note=note
        )

    def undo(self, via: str = "python") -> Decision | None:
        """Revert the newest decision not yet undone; None when there is none."""
        from curata.review import decisions

        return decisions.undo(self.dataset, via=via)

    def history(self, since: str | datetime | None = None) -> list[Change]:
        """Every logged change, oldest first; ``since`` is a time or "45m", "2h", "3d", "2026-11-20"."""
        from curata.review import history

        history.record_outside_edits(self.dataset)
        if isinstance(since, str):
            since = history.parse_since(since)
        return history.changes(self.dataset, since=since)


def pull_project(
    reference: str,
    path: str | Path,
    dataset: str | None = None,
    progress: bool = True,
    endpoint: str | None = None,
    token: str | None = None,
) -> tuple[Project, PullReport]:
    """Start a project in ``path`` from a published version: its config is rebuilt from the
    version's manifest (classes, queries, descriptions, licence) and its samples become the
    project's dataset, ready to curate, review and publish the next version."""
    from curata.hub.publish import resolve_target
    from curata.hub.pull import fetched, load_version
    from curata.hub.versions import Reference

    root = Path(path).expanduser().resolve()
    if (root / CONFIG_NAME).exists():
        raise CurataError(
            f"{root / CONFIG_NAME} exists; pull into that project with `curata pull REF -p {root}`"
        )
    ref = Reference.parse(reference)
    target = resolve_target(ref.target, Path.cwd(), endpoint=endpoint, token=token)
    with fetched(ref, target) as version:
        manifest = version.manifest or {}
        classes = manifest.get("classes") or version.class_names
        name = dataset or manifest.get("dataset") or slugify(root.name)
        _refuse_taken_name(root, name)
        root.mkdir(parents=True, exist_ok=True)
        (root / CONFIG_NAME).write_text(
            render_config(
                name,
                classes,
                description=manifest.get("description", ""),
                license=manifest.get("license", "other"),
                target=target.location,
            ),
            encoding="utf-8",
        )
        _write_gitignore(root)
        project = Project(root)
        return project, load_version(project.store, version, project.config.import_, progress=progress)


def _refuse_taken_name(root: Path, name: str) -> None:
    """A shared database (FIFTYONE_DATABASE_URI) may already hold a dataset of that name."""
    import fiftyone as fo

    from curata.store import connect

    connect(root)
    if fo.dataset_exists(name):
        raise CurataError(
            f"the database already has a dataset named {name} (another project); pass --dataset NEW-NAME"
        )


def _write_gitignore(root: Path) -> None:
    gitignore = root / ".gitignore"
    if not gitignore.exists():  # the database and media are data, not source
        gitignore.write_text(".curata/\nmedia/\n", encoding="utf-8")


def _ids(samples: SampleSelection) -> list[str]:
    """Sample ids from a FiftyOne dataset or view, a sample or samples, one id, or ids."""
    from fiftyone.core.collections import SampleCollection
    from fiftyone.core.sample import Sample, SampleView

    if isinstance(samples, str | Sample | SampleView):
        samples = [samples]
    if isinstance(samples, SampleCollection):
        return samples.values("id")
    return [item.id if isinstance(item, Sample | SampleView) else str(item) for item in samples]


def open_project(path: str | Path = ".") -> Project:
    """Open the project whose ``curata.toml`` is in ``path``."""
    return Project(path)


def init_project(
    path: str | Path,
    name: str | None = None,
    classes: list[str] | None = None,
    classes_from: str | Path | None = None,
) -> Project:
    """Create ``path/curata.toml`` (never overwriting one) and return the project."""
    root = Path(path).expanduser().resolve()
    config_path = root / CONFIG_NAME
    if config_path.exists():
        raise CurataError(f"{config_path} already exists; edit it, or choose another folder")
    names = list(classes or [])
    if classes_from is not None:
        folder = Path(classes_from).expanduser()
        if not folder.is_dir():
            raise CurataError(
                f"{folder} is not a folder; --classes-from takes a folder with one subfolder per class"
            )
        names += sorted(p.name for p in folder.iterdir() if p.is_dir() and not p.name.startswith("."))
    names = list(dict.fromkeys(n.strip() for n in names if n.strip()))
    if not names:
        names = ["first-class", "second-class"]
    root.mkdir(parents=True, exist_ok=True)
    config_path.write_text(render_config(name or slugify(root.name), names), encoding="utf-8")
    _write_gitignore(root)
    return Project(root)
