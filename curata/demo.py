"""``make demo``: the curata loop on the bundled flower sample, offline, in one command.

Creates (or reuses) ``demo-project/`` from ``data/sample/curata.toml``, imports, curates, embeds
and trains on the sample, prints what each step did with counts and times, then serves the
FiftyOne App on the result until Ctrl-C. ``--no-app`` stops after the summary (for scripted runs).
"""

from __future__ import annotations

import argparse
import shutil
import sys
import time
from pathlib import Path

from rich.console import Console

from curata.config import CONFIG_NAME
from curata.errors import CurataError
from curata.project import Project

REPO = Path(__file__).resolve().parents[1]
SAMPLE = REPO / "data" / "sample"
console = Console()


def run(project_dir: Path, serve_app: bool, port: int) -> Project:
    started = time.perf_counter()
    project_dir.mkdir(parents=True, exist_ok=True)
    if not (project_dir / CONFIG_NAME).exists():
        shutil.copy(SAMPLE / CONFIG_NAME, project_dir / CONFIG_NAME)
    project = Project(project_dir)
    console.rule(f"[bold]curata demo[/] — project {project.root}")

    step = time.perf_counter()
    report = project.import_folder(SAMPLE / "flowers")
    console.print(
        f"[bold]import[/]  {report.seen} files: {report.added} new, {report.duplicates} already stored, "
        f"{len(report.conflicts)} label conflicts, {len(report.rejected)} rejected "
        f"({time.perf_counter() - step:.1f} s)"
    )
    for path, label, stored in report.conflicts:
        console.print(
            f"          conflict: {path} is filed as {label} but the same bytes are stored as {stored}"
        )
    step = time.perf_counter()
    curation = project.curate()
    found = ", ".join(f"{problem} {count}" for problem, count, _ in curation.rows if count)
    console.print(
        f"[bold]curate[/]  {curation.analysed} images analysed, {curation.reused} unchanged: "
        f"{found or 'nothing'} ({time.perf_counter() - step:.1f} s; one saved view per problem)"
    )
    step = time.perf_counter()
    embedded = project.embed()
    console.print(
        f"[bold]embed[/]   {embedded.embedded} images embedded with {embedded.model_id}, "
        f"{embedded.from_cache + embedded.unchanged} reused"
        + (
            f"; {embedded.map_method.upper()} map for the App's Embeddings panel"
            if embedded.map_method
            else ""
        )
        + f" ({time.perf_counter() - step:.1f} s)"
    )
    if embedded.signals:
        found = ", ".join(f"{signal} {count}" for signal, count, _ in embedded.signals.rows)
        console.print(
            f"          from the embeddings: {found} (saved views suspected-mislabels, outliers, clusters)"
        )
    step = time.perf_counter()
    trained = project.train(progress=False)
    test = trained.test
    console.print(
        f"[bold]train[/]   linear probe: test top-1 {test.top1:.3f}, top-3 {test.top3:.3f} on {test.samples} "
        f"photos; {trained.disagreements} model disagreements (saved view model-disagreements) "
        f"({time.perf_counter() - step:.1f} s)"
    )
    console.print(f"          confusion matrix {trained.confusion_path}, model {trained.model_path}")
    photo = project.dataset.match({"split": "test"}).first()
    (guess,) = project.predict([photo.filepath])
    shown = ", ".join(f"{name} {p:.2f}" for name, p in guess.top)
    console.print(
        f"[bold]predict[/] a test photo filed as {photo.ground_truth.label}: {guess.label} ({shown}) — "
        f"`curata predict -p {project.root} IMAGE...`"
    )
    counts = ", ".join(f"{name} {count}" for name, count in project.class_counts().items())
    console.print(
        f"[bold]dataset[/] {project.config.dataset.name}: {len(project.dataset)} samples ({counts})"
    )
    console.print(f"done in {time.perf_counter() - started:.1f} s")
    if serve_app:
        app = project.review(port=port)
        to_review = ", ".join(f"{name} {count}" for name, count, _ in app.views if count)
        console.print(f"[bold]review[/]  saved views with work in them: {to_review}")
        console.print(
            "          decide in the App: press ` and type curata (relabel, accept suggested labels, "
            "keep this copy, exclude, mark reviewed, undo); `curata history -p "
            f"{project.root}` lists every decision"
        )
        console.print(f"[bold]App[/]     {app.url}  (saved views: the view menu, top left; Ctrl-C to stop)")
        try:
            app.wait()
        except KeyboardInterrupt:
            console.print("App stopped")
    return project


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
