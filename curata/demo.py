"""``make demo``: the whole curata loop on the bundled flower sample, offline, in one command.

Creates (or reuses) ``demo-project/`` from ``data/sample/curata.toml``; imports four classes from
the sample's folders; scrapes the fifth (sunflowers) through headless Chromium from a local
stand-in for Bing and DuckDuckGo on 127.0.0.1, which serves the sample's sunflower photos (and
a few broken results) as search results; curates, embeds, trains, predicts, publishes version
1.0.0 to a local git repository, then serves the FiftyOne App on the result until Ctrl-C.
Every step prints what it did with counts and times; ``--no-app`` stops after the summary.
"""

from __future__ import annotations

import argparse
import shutil
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from rich.console import Console

from curata.config import CONFIG_NAME
from curata.errors import CurataError
from curata.project import Project
from curata.scrapers.local_engine import LocalEngine

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
SCRAPED_CLASS = "sunflowers"  # collected from the stand-in engine; the other classes are imported
# What the stand-in engine answers for the class's two queries: the sample's photos; the second
# query also with what real results bring: the same photo resized, re-encoded or mirrored by
# other sites, a page instead of an image, a truncated JPEG and a dead link.
BROKEN_RESULTS = ["html", "corrupt", "missing"]
console = Console()


@contextmanager
def stand_in_engine(project: Project) -> Iterator[LocalEngine]:
    """Serve the sample's sunflower photos as web search results on 127.0.0.1, and point the
    project's engines there for this process only (``curata.toml`` keeps the real engines)."""
    photos = sorted((SAMPLE / "flowers" / SCRAPED_CLASS).glob("*.jpg"))
    first, second = project.config.class_spec(SCRAPED_CLASS).queries[:2]
    with tempfile.TemporaryDirectory(prefix="curata-demo-web-") as scratch:
        copies = _copies_from_other_sites(photos[1:4], Path(scratch))
        results = {first: photos, second: photos[::3] + copies + BROKEN_RESULTS}
        with LocalEngine(results, preview_delay_ms=100) as engine:
            settings = project.config.scrape
            saved = settings.base_urls, settings.politeness_s
            settings.base_urls = engine.base_urls()
            settings.politeness_s = 0.0  # one local server; real runs wait between requests to a host
            try:
                yield engine
            finally:
                settings.base_urls, settings.politeness_s = saved


def _copies_from_other_sites(photos: list[Path], folder: Path) -> list[Path]:
    """Near duplicates as the web holds them: downsized and re-encoded, and one also mirrored."""
    from PIL import Image, ImageOps

    copies = []
    for index, photo in enumerate(photos):
        with Image.open(photo) as image:
            copy = image.convert("RGB").resize((image.width * 3 // 5, image.height * 3 // 5))
        if index == 0:
            copy = ImageOps.mirror(copy)
        path = folder / f"{photo.stem}-copy.jpg"
        copy.save(path, "JPEG", quality=72)
        copies.append(path)
    return copies


@contextmanager
def _step(name: str) -> Iterator[list[str]]:
    """Print one line per step: its name, what it did (appended by the caller) and its time."""
    started = time.perf_counter()
    lines: list[str] = []
    yield lines
    seconds = time.perf_counter() - started
    first, *rest = lines or [""]
    console.print(f"[bold]{name:<8}[/]{first} [dim]({seconds:.1f} s)[/]", highlight=False)
    for line in rest:
        console.print(f"{'':<8}{line}", highlight=False)


def run(project_dir: Path, serve_app: bool, port: int) -> Project:
    started = time.perf_counter()
    project_dir.mkdir(parents=True, exist_ok=True)
    if not (project_dir / CONFIG_NAME).exists():
        shutil.copy(SAMPLE / CONFIG_NAME, project_dir / CONFIG_NAME)
    project = Project(project_dir)
    console.rule(f"[bold]curata demo[/] — project {project.root}")

    with _step("import") as say:
        imported = [c for c in project.config.class_names if c != SCRAPED_CLASS]
        reports = [
            project.import_folder(SAMPLE / "flowers" / name, label=name, progress=False) for name in imported
        ]
        say.append(
            f"{', '.join(imported)} from data/sample/flowers: {sum(r.seen for r in reports)} files, "
            f"{sum(r.added for r in reports)} new, {sum(r.duplicates for r in reports)} already stored, "
            f"{sum(len(r.rejected) for r in reports)} rejected"
        )
        conflicts = [c for r in reports for c in r.conflicts]
        say += [
            f"conflict: {path} is filed as {label} but stored as {stored}"
            for path, label, stored in conflicts
        ]

    _scrape(project)

    with _step("curate") as say:
        curation = project.curate(progress=False)
        found = ", ".join(f"{problem} {count}" for problem, count, _ in curation.rows if count)
        say.append(
            f"{curation.analysed} images analysed, {curation.reused} unchanged: {found or 'nothing'} "
            "(one saved view per problem)"
        )
        if curation.sheets:
            say.append("pictures " + ", ".join(str(path) for path in curation.sheets.values()))

    with _step("embed") as say:
        embedded = project.embed(progress=False)
        say.append(
            f"{embedded.embedded} images embedded with {embedded.model_id}, "
            f"{embedded.from_cache + embedded.unchanged} reused"
            + (
                f"; {embedded.map_method.upper()} map for the App's Embeddings panel"
                if embedded.map_method
                else ""
            )
        )
        if embedded.signals:
            found = ", ".join(f"{signal} {count}" for signal, count, _ in embedded.signals.rows)
            say.append(f"from the embeddings: {found} (saved views suspected-mislabels, outliers, clusters)")

    with _step("train") as say:
        trained = project.train(progress=False)
        test = trained.test
        say.append(
            f"linear probe: test top-1 {test.top1:.3f}, top-3 {test.top3:.3f} on {test.samples} photos; "
            f"{trained.disagreements} model disagreements (saved view model-disagreements)"
        )
        say.append(f"confusion matrix {trained.confusion_path}, model {trained.model_path}")

    with _step("predict") as say:
        photo = project.dataset.match({"split": "test", "ground_truth.label": SCRAPED_CLASS}).first()
        (guess,) = project.predict([photo.filepath])
        shown = ", ".join(f"{name} {p:.2f}" for name, p in guess.top)
        say.append(
            f"a scraped {SCRAPED_CLASS} photo from the test split: {guess.label} ({shown}) — "
            f"`curata predict -p {project.root} IMAGE...`"
        )

    repository = _publish(project)
    counts = ", ".join(f"{name} {count}" for name, count in project.class_counts().items())
    console.print(
        f"[bold]dataset[/] {project.config.dataset.name}: {len(project.dataset)} samples ({counts})"
    )
    console.print(f"done in {time.perf_counter() - started:.1f} s; published repository: {repository}")
    if serve_app:
        app = project.review(port=port)
        to_review = ", ".join(f"{name} {count}" for name, count, _ in app.views if count)
        console.print(f"[bold]review[/]  saved views with work in them: {to_review}")
        console.print(
            "        decide in the App: press ` and type curata (relabel, accept suggested labels, "
            f"keep this copy, exclude, mark reviewed, undo); `curata history -p {project.root}` lists "
            f"every decision; `curata publish -p {project.root} --version minor` publishes the next version"
        )
        console.print(f"[bold]App[/]     {app.url}  (saved views: the view menu, top left; Ctrl-C to stop)")
        try:
            app.wait()
        except KeyboardInterrupt:
            console.print("App stopped")
    else:
        console.print(f"review it in the App: curata review -p {project.root}")
    return project


def _scrape(project: Project) -> None:
    """Collect the scraped class from the local stand-in engine, announced as such."""
    with stand_in_engine(project) as engine:
        console.print(
            f"[bold]scrape[/]  {SCRAPED_CLASS} via {' and '.join(project.config.scrape.engines)} in headless "
            f"Chromium — from a [bold]local stand-in for the web search engines[/] at {engine.url} (offline "
            "demo: it serves the sample's photos in each engine's page format)",
            highlight=False,
        )
        with _step("") as say:
            report = project.scrape(classes=[SCRAPED_CLASS], progress=False)
            tally = report.classes[SCRAPED_CLASS]
            say.append(
                f"{tally.found} results found, {tally.downloaded} downloaded and stored, {tally.duplicate} "
                f"duplicates, {tally.rejected} rejected, {tally.failed} failed; {tally.accepted_total} "
                f"{SCRAPED_CLASS} in all, each with its query, engine, page and image URL"
            )
            say += [f"{engine} / {query!r}: {kind}" for engine, query, kind, _ in report.problems]


def _publish(project: Project) -> Path | str:
    """Publish 1.0.0 to the config's local target (a rerun leaves published versions alone)."""
    from curata.hub.publish import resolve_target

    target = resolve_target(project.config.hub.target, project.root)
    with _step("publish") as say:
        published = target.versions()
        if published:
            say.append(
                f"{target.location} already has version {max(published)}; after changes, "
                f"`curata publish -p {project.root} --version minor` adds the next one"
            )
        else:
            report = project.publish("1.0.0", message="first version, from the demo", progress=False)
            splits = ", ".join(f"{split} {sum(c.values())}" for split, c in report.counts.items())
            say.append(
                f"version {report.version}: {report.rows} images ({splits}) as parquet with a dataset card, "
                f"committed and tagged v{report.version}"
            )
            say.append(f"load it: {report.load_line}")
    return getattr(target, "path", target.location)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--project", type=Path, default=REPO / "demo-project", help="demo project folder")
    parser.add_argument("--no-app", action="store_true", help="do not serve the App at the end")
    parser.add_argument("--port", type=int, default=5151, help="App port")
    args = parser.parse_args(argv)
    try:
        run(args.project, serve_app=not args.no_app, port=args.port)
    except CurataError as err:
        console.print(f"[bold red]error:[/] {err}", highlight=False)
        sys.exit(1)


if __name__ == "__main__":
    main()
