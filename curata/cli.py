"""The ``curata`` command: a thin layer over ``curata.Project``.

Each command parses options, calls one API method and presents its result; user errors
(``CurataError``) are printed as one line and exit with status 1.
"""

from __future__ import annotations

import logging
import sys
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.logging import RichHandler
from rich.table import Table

from curata.errors import CurataError

app = typer.Typer(
    help="Turn a list of class names into a clean, reviewed, versioned image-classification dataset.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)
console = Console()
errors = Console(stderr=True)

ProjectOption = Annotated[
    Path, typer.Option("--project", "-p", help="Project folder (holds curata.toml).", envvar="CURATA_PROJECT")
]


@app.callback()
def _setup(verbose: Annotated[bool, typer.Option("--verbose", "-v", help="Log details.")] = False) -> None:
    logging.basicConfig(
        level=logging.INFO if verbose else logging.WARNING,
        format="%(message)s",
        handlers=[RichHandler(console=errors, show_path=False)],
    )


@app.command()
def init(
    directory: Annotated[Path, typer.Argument(help="Folder for the new project (created if missing).")],
    name: Annotated[str | None, typer.Option(help="Dataset name (default: the folder's name).")] = None,
    classes: Annotated[
        list[str] | None, typer.Option("--class", "-c", help="A class name; repeat for more.")
    ] = None,
    classes_from: Annotated[
        Path | None, typer.Option(help="Take class names from this folder's subfolders.")
    ] = None,
) -> None:
    """Write a commented curata.toml for a new project."""
    from curata.project import init_project

    project = init_project(directory, name=name, classes=classes, classes_from=classes_from)
    console.print(
        f"created {project.root / 'curata.toml'} with {len(project.config.classes)} classes: "
        f"{', '.join(project.config.class_names)}"
    )
    console.print("next: edit the classes' queries and descriptions, then `curata import FOLDER`")


@app.command("import")
def import_(
    folder: Annotated[
        Path, typer.Argument(help="Folder with one subfolder per class (or flat, with --label).")
    ],
    label: Annotated[
        str | None, typer.Option(help="Label every image of a flat folder with this class.")
    ] = None,
    project: ProjectOption = Path("."),
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Import images from a folder: validate, copy into the media store, add to the dataset."""
    from curata.project import open_project

    proj = open_project(project)
    report = proj.import_folder(folder, label=label, progress=not quiet)
    console.print(
        f"imported {report.added} new images from {report.folder} in {report.seconds:.1f} s "
        f"({report.duplicates} already stored, {len(report.conflicts)} label conflicts, "
        f"{len(report.rejected)} rejected)"
    )
    if report.conflicts:
        table = Table(
            "file",
            "its class",
            "same bytes already stored as",
            title="Label conflicts (tagged label-conflict for review)",
        )
        for path, label, stored in report.conflicts:
            table.add_row(path, label, stored or "(no label)")
        console.print(table)
    if report.rejected:
        table = Table("file", "reason", title="Rejected files")
        for path, reason in report.rejected:
            table.add_row(path, reason)
        console.print(table)


@app.command()
def scrape(
    project: ProjectOption = Path("."),
    class_: Annotated[
        list[str] | None, typer.Option("--class", "-c", help="Only this class; repeat for more.")
    ] = None,
    engine: Annotated[
        list[str] | None,
        typer.Option("--engine", "-e", help="Use this engine instead of the config's; repeat."),
    ] = None,
    max_per_class: Annotated[
        int | None, typer.Option(help="Stop a class at this many accepted images (default: the config's).")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No live display.")] = False,
) -> None:
    """Collect images for the classes by their search queries; rerun to resume."""
    from curata.project import open_project

    proj = open_project(project)
    report = proj.scrape(classes=class_, engines=engine, max_per_class=max_per_class, progress=not quiet)
    table = Table(
        "class", "found", "downloaded", "rejected", "duplicate", "failed", "accepted in all",
        title=f"Scraped in {report.seconds:.1f} s (new samples are tagged scraped)",
    )  # fmt: skip
    for name, tally in report.classes.items():
        table.add_row(
            name, str(tally.found), str(tally.downloaded), str(tally.rejected), str(tally.duplicate),
            str(tally.failed), str(tally.accepted_total),
        )  # fmt: skip
    console.print(table)
    for _engine, query, _kind, message in report.problems:
        errors.print(f"[yellow]warning:[/] {message} (query {query!r})", highlight=False, soft_wrap=True)
    if any(t.failed for t in report.classes.values()):
        console.print("some downloads did not complete; run the same command again to retry them")
    empty = [name for name, t in report.classes.items() if t.accepted_total == 0]
    if empty:
        errors.print(
            f"[bold red]no images for {', '.join(empty)}[/]: see the warnings above, "
            "or add queries in curata.toml",
            highlight=False,
            soft_wrap=True,
        )


@app.command()
def curate(
    project: ProjectOption = Path("."),
    hashes_only: Annotated[
        bool,
        typer.Option(
            "--hashes-only",
            help="Only duplicates, conflicts and leaks: a faster pass that decodes images at hash "
            "size. Quality issues stay as the last full pass left them.",
        ),
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Find duplicates, label conflicts, split leaks and quality issues; save a view for each."""
    from curata.project import open_project

    proj = open_project(project)
    report = proj.curate(progress=not quiet, quality=False if hashes_only else None)
    console.print(
        f"curated {len(proj.dataset)} samples in {report.seconds:.1f} s "
        f"({report.analysed} analysed, {report.reused} unchanged since the last run)"
    )
    table = Table("problem", "samples", "saved view", title="Found (open them with `curata review`)")
    for problem, count, view in report.rows:
        table.add_row(problem, str(count), view)
    console.print(table)
    if hashes_only:
        console.print(
            "quality issues were not measured (--hashes-only): their counts are the last full pass's"
        )
    for name, path in report.sheets.items():
        console.print(f"{name}: {path}", soft_wrap=True)
    if report.unreadable:
        shown = ", ".join(report.unreadable[:3]) + (" ..." if len(report.unreadable) > 3 else "")
        console.print(
            f"[yellow]{len(report.unreadable)} media files could not be decoded[/] (tagged "
            f"issue:unreadable; import the originals again): {shown}"
        )
    if report.groups:
        largest = ", ".join(f"{len(g.members)}" for g in report.groups[:5])
        console.print(f"{len(report.groups)} duplicate groups (largest: {largest})")


@app.command()
def embed(
    project: ProjectOption = Path("."),
    batch_size: Annotated[int, typer.Option(help="Images per forward pass.")] = 32,
    no_map: Annotated[
        bool, typer.Option("--no-map", help="Skip the 2-D map for the App's embeddings panel.")
    ] = False,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Embed every sample with the configured model (cached per image and model)."""
    from curata.project import open_project

    proj = open_project(project)
    report = proj.embed(batch_size=batch_size, visualize=not no_map, progress=not quiet)
    console.print(
        f"embedded with {report.model_id} in {report.seconds:.1f} s: {report.embedded} computed, "
        f"{report.from_cache} from the cache, {report.unchanged} unchanged, {len(report.failed)} unreadable"
    )
    if report.map_method:
        console.print(f"embeddings map ({report.map_method}) ready in the App's Embeddings panel")
    if report.signals:
        table = Table(
            "signal", "samples", "saved view", title="From the embeddings (open them with `curata review`)"
        )
        for signal, count, view in report.signals.rows:
            table.add_row(signal, str(count), view)
        console.print(table)


@app.command()
def train(
    project: ProjectOption = Path("."),
    seed: Annotated[int, typer.Option(help="Seed for new split assignments and the folds.")] = 51,
    cv: Annotated[int, typer.Option("--cv", help="Also run K-fold cross-validation on train + val.")] = 0,
    trainer: Annotated[
        str,
        typer.Option(
            help="probe: a linear head on the embeddings; finetune: the backbone's last blocks too."
        ),
    ] = "probe",
    tta: Annotated[
        bool, typer.Option("--tta", help="Also report test accuracy with flip augmentation.")
    ] = False,
    epochs: Annotated[int, typer.Option(help="Most epochs for finetune (it stops early on validation).")] = 8,
) -> None:
    """Train a classifier on the curated data, evaluate it, and write its predictions back."""
    from curata.project import open_project

    proj = open_project(project)
    report = proj.train(trainer=trainer, seed=seed, cv=cv, tta=tta, epochs=epochs)
    test = report.test
    what = "a linear probe" if trainer == "probe" else "a fine-tune"
    console.print(
        f"trained {what} in {report.seconds:.1f} s; test split ({test.samples} samples): "
        f"top-1 {test.top1:.3f}, top-3 {test.top3:.3f}, top-5 {test.top5:.3f}, macro F1 {test.macro_f1:.3f}"
    )
    table = Table("class", "precision", "recall", "F1", "test samples", title="Per class (test split)")
    for scores in test.per_class:
        table.add_row(scores.name, f"{scores.precision:.3f}", f"{scores.recall:.3f}", f"{scores.f1:.3f}",
                      str(scores.support))  # fmt: skip
    console.print(table)
    if report.cv and report.cv.get("folds"):
        console.print(
            f"{report.cv['folds']}-fold cross-validation top-1: "
            f"{report.cv['mean']:.3f} ± {report.cv['std']:.3f}"
        )
    if "fine_tune" in report.details:
        tuned = report.details["fine_tune"]
        console.print(
            f"fine-tune: best epoch {tuned['best_epoch']} of {len(tuned['history']) - 1} "
            f"on {tuned['device']} ({tuned['seconds']:.0f} s); "
            f"the linear probe alone: top-1 {report.details['probe_test_top1']:.3f}"
            + ("; no epoch improved on validation, so the probe is kept" if tuned.get("kept") else "")
        )
    if "tta" in report.details:
        console.print(
            f"test-time augmentation (flip): top-1 {report.details['tta']['top1_without']:.3f} → "
            f"{report.details['tta']['top1_with']:.3f}"
        )
    console.print(f"confusion matrix: {report.confusion_path}")
    console.print(f"report: {report.report_path}")
    console.print(f"model: {report.model_path} (also models/latest.pt, used by `curata predict`)")
    console.print(
        f"{report.disagreements} samples where the model disagrees with the label: "
        "saved view model-disagreements"
    )


@app.command()
def predict(
    images: Annotated[list[Path], typer.Argument(help="Image files.")],
    project: ProjectOption = Path("."),
    model: Annotated[Path | None, typer.Option(help="Model file (default: models/latest.pt).")] = None,
    top_k: Annotated[int, typer.Option(help="Classes to show per image.")] = 3,
    threshold: Annotated[float, typer.Option(help="Below this confidence the answer is 'unknown'.")] = 0.5,
) -> None:
    """Classify images with the trained model: top classes, confidence, and the class's context."""
    from curata.project import open_project

    results = open_project(project).predict(list(images), model=model, top_k=top_k, threshold=threshold)
    for result in results:
        shown = ", ".join(f"{name} {p:.2f}" for name, p in result.top)
        console.print(f"[bold]{result.path}[/]: {result.label}  ({shown})")
        if result.description:
            console.print(f"  {' '.join(result.description.split())}")


@app.command()
def status(project: ProjectOption = Path(".")) -> None:
    """Show the project's classes and sample counts."""
    from curata.project import open_project

    proj = open_project(project)
    counts = proj.class_counts()
    sources = proj.class_sources()
    table = Table("class", "samples", "from", "excluded", title=f"{proj.config.dataset.name} ({proj.root})")
    for name, count in counts.items():
        origin = ", ".join(
            f"{'imported' if where == 'folder' else where} {n}"
            for where, n in sources[name].most_common()
            if where != "excluded" and n
        )
        table.add_row(name, str(count), origin, str(sources[name]["excluded"]))
    table.add_row("[bold]total", f"[bold]{len(proj.dataset)}", "", "")
    console.print(table)
    published = proj.dataset.info.get("publishes", [])
    if published:
        last = published[-1]
        console.print(
            f"last published: {last['version']} to {last['target']} ({last['rows']} images, {last['at']})"
        )


@app.command()
def review(
    project: ProjectOption = Path("."),
    port: Annotated[int, typer.Option(help="Port for the App.")] = 5151,
    address: Annotated[
        str, typer.Option(help="Address to listen on; 0.0.0.0 exposes the App to your network.")
    ] = "127.0.0.1",
    no_browser: Annotated[
        bool, typer.Option("--no-browser", help="Only serve; do not open a browser.")
    ] = False,
) -> None:
    """Open the FiftyOne App on the project's dataset (Ctrl-C to stop)."""
    from curata.project import open_project

    proj = open_project(project)
    running = proj.review(port=port, address=address, open_browser=not no_browser)
    if running.views:
        table = Table(
            "saved view", "to review", "what it holds", title="Work through these in the App's view menu"
        )
        for name, count, description in running.views:
            table.add_row(name, str(count), description)
        console.print(table)
    console.print(
        "decide with the curata operators: the grid's action bar, or press ` and type curata "
        "(relabel, accept suggested labels, keep this copy, exclude, restore, mark reviewed, undo)"
    )
    console.print(f"FiftyOne App for {proj.config.dataset.name} ({len(proj.dataset)} samples): {running.url}")
    console.print("press Ctrl-C to stop")
    try:
        running.wait()
    except KeyboardInterrupt:
        console.print("App stopped")


@app.command()
def history(
    project: ProjectOption = Path("."),
    since: Annotated[
        str | None, typer.Option(help="Only changes since: 45m, 2h, 3d, 1w, or a date like 2026-11-20.")
    ] = None,
    limit: Annotated[int, typer.Option(help="Show at most this many (the newest).")] = 200,
) -> None:
    """Print every review decision: labels, exclusions, keepers, reviews, undos."""
    from curata.project import open_project

    proj = open_project(project)
    changes = proj.history(since=since)
    if not changes:
        console.print("no changes recorded" + (f" since {since}" if since else ""))
        return
    shown = changes[-limit:]
    table = Table("when", "sample", "change", "how", "note", "batch", title=f"{len(changes)} changes")
    for change in shown:
        table.add_row(
            change.at.astimezone().strftime("%Y-%m-%d %H:%M:%S"),
            change.name,
            f"{change.what}: {change.before or '(none)'} → {change.after or '(none)'}",
            f"{change.how} ({change.via})",
            change.note or "",
            change.batch,
        )
    console.print(table)
    if len(shown) < len(changes):
        console.print(f"showing the newest {len(shown)}; pass --limit or --since for others")


@app.command()
def undo(project: ProjectOption = Path(".")) -> None:
    """Revert the newest review decision (samples changed since keep their newer state)."""
    from curata.project import open_project

    decision = open_project(project).undo(via="cli")
    console.print(decision.message if decision else "nothing to undo")


@app.command()
def publish(
    version: Annotated[
        str, typer.Option("--version", help="MAJOR.MINOR.PATCH (e.g. 1.1.0), or major, minor, patch.")
    ],
    project: ProjectOption = Path("."),
    target: Annotated[
        str | None,
        typer.Option(
            help="hf://datasets/<user>/<name>, or a local folder / file:// URL (default: [hub] target)."
        ),
    ] = None,
    message: Annotated[
        str | None, typer.Option("--message", "-m", help="What this version is about.")
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Publish the included samples as a new version: parquet, dataset card, changelog, tag."""
    from curata.project import open_project

    report = open_project(project).publish(version, target=target, message=message, progress=not quiet)
    console.print(
        f"published {report.version} to {report.target} in {report.seconds:.1f} s "
        f"(commit {report.commit[:12]})"
    )
    table = Table(
        "split", "images", *(name for name in next(iter(report.counts.values()), {})), title=report.summary
    )
    for split, counts in report.counts.items():
        table.add_row(split, str(sum(counts.values())), *(str(n) for n in counts.values()))
    console.print(table)
    for reason, count in report.left_out.items():
        console.print(f"left out: {count} ({reason})")
    console.print(
        f"{report.shards} parquet shards, {report.download_size / 1e6:.1f} MB; repository: {report.location}"
    )
    console.print(f"load it: {report.load_line}")


@app.command()
def pull(
    reference: Annotated[
        str,
        typer.Argument(help="TARGET@VERSION, e.g. hf://datasets/alice/ornaments@1.1.0 (no @: the newest)."),
    ],
    project: Annotated[
        Path,
        typer.Option(
            "--project",
            "-p",
            envvar="CURATA_PROJECT",
            help="A project to pull into (beside its own dataset), or a new folder to start a project in.",
        ),
    ] = Path("."),
    dataset: Annotated[
        str | None,
        typer.Option(
            help="FiftyOne dataset to load into (default: <name>-v<version>, or <name> in a new project)."
        ),
    ] = None,
    quiet: Annotated[bool, typer.Option("--quiet", "-q", help="No progress bar.")] = False,
) -> None:
    """Load a published version into a FiftyOne dataset, labels and provenance intact."""
    from curata.config import CONFIG_NAME
    from curata.project import open_project, pull_project

    if (project / CONFIG_NAME).exists():
        report = open_project(project).pull(reference, dataset=dataset, progress=not quiet)
        where = f"dataset {report.dataset} of {project.resolve()}"
    else:
        started, report = pull_project(reference, project, dataset=dataset, progress=not quiet)
        where = f"new project {started.root} (dataset {report.dataset})"
    splits = ", ".join(f"{split} {count}" for split, count in report.counts.items())
    console.print(
        f"pulled {report.reference} into {where}: {report.rows} rows ({splits}); {report.added} new, "
        f"{report.already_stored} already stored, {len(report.rejected)} rejected ({report.seconds:.1f} s)"
    )
    for sha, reason in report.rejected[:5]:
        console.print(f"[yellow]rejected[/] {sha[:12]}: {reason}")


def main() -> None:
    try:
        app()
    except CurataError as err:
        errors.print(f"[bold red]error:[/] {err}", highlight=False, soft_wrap=True)
        sys.exit(1)
