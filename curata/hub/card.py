"""The dataset card: the Hub's YAML metadata and prose written from the project itself.

The metadata (licence, task, size, configs and splits, features with the class names) is built
with huggingface_hub's ``DatasetCardData`` and 🤗 Datasets' own helpers, so the Hub's viewer
and ``load_dataset`` read it as they read any pushed dataset. The prose says what a reader
needs before training on the data: what each class is, how the images were collected, what
curation removed or changed, what is still uncertain, and what changed since the last version.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from curata.hub import changelog
from curata.hub.build import DATA_DIR, Build, features

if TYPE_CHECKING:
    from curata.config import Config

_SIZES = ((1_000, "n<1K"), (10_000, "1K<n<10K"), (100_000, "10K<n<100K"), (1_000_000, "100K<n<1M"))
_ENGINES = {"bing": "Bing Images", "duckduckgo": "DuckDuckGo Images", "google": "Google Images"}
_PROBLEMS = {
    "dup": "near-duplicate copy of another image",
    "label-conflict": "same image filed under two classes",
    "leak": "near-duplicate group across splits",
    "outlier": "unlike the rest of its class",
    "suspect": "label doubted by the embeddings",
    "model-suspect": "label doubted by the trained model",
}
_COLUMNS = (
    ("image", "the image, original bytes (JPEG, PNG, WebP or GIF)"),
    ("label", "class (see the table above)"),
    ("sha256", "sha256 of the image bytes: a stable id across versions"),
    ("width, height", "pixels, upright"),
    ("engine, query", "the search engine and query that found the image (`folder` for imported files)"),
    ("page_url, image_url, title", "the page the image was on and its address"),
    ("licence", "the engine's licence hint, when it gave one (not verified)"),
    ("fetched_at", "when the image was downloaded or imported (UTC)"),
    ("phash, dup_group", "64-bit perceptual hash (hex) and near-duplicate group, if any"),
    ("review_status", "`reviewed`, `needs-review` or `unreviewed`"),
    ("original_label", "the label before a reviewer changed it (empty when unchanged)"),
    ("open_issues", "problems curation flagged that no reviewer has settled yet"),
)


def size_category(rows: int) -> str:
    return next((name for limit, name in _SIZES if rows < limit), "n>1M")


def render(
    config: Config,
    build: Build,
    version: str,
    history: list[dict[str, Any]],
    store: dict[str, Any],
    load_line: str,
) -> str:
    """The whole ``README.md``: YAML front matter, then the prose."""
    return (
        f"---\n{_metadata(config, build).to_yaml()}\n---\n\n"
        + "\n\n".join(
            section
            for section in (
                _summary(config, build, version, load_line),
                _classes(config, build),
                _collection(config, build, store),
                _curation(build, store),
                _limitations(config, build),
                _columns(),
                "## Changelog\n\n" + "\n".join(changelog.describe(record) for record in history),
            )
            if section
        )
        + "\n"
    )


def _metadata(config: Config, build: Build):
    from datasets import DatasetInfo, SplitDict, SplitInfo
    from datasets.info import DatasetInfosDict
    from datasets.utils.metadata import MetadataConfigs
    from huggingface_hub import DatasetCardData

    card = DatasetCardData(
        license=config.dataset.license,
        task_categories=["image-classification"],
        size_categories=[size_category(build.rows)],
        pretty_name=config.dataset.name,
        tags=["curata", "image-classification"],
    )
    splits = SplitDict()
    for split, counts in build.counts.items():
        splits.add(SplitInfo(name=split, num_bytes=build.num_bytes[split], num_examples=sum(counts.values())))
    info = DatasetInfo(
        features=features(config.class_names),
        splits=splits,
        download_size=build.download_size,
        dataset_size=sum(build.num_bytes.values()),
    )
    DatasetInfosDict({"default": info}).to_dataset_card_data(card)
    data_files = [{"split": split, "path": f"{DATA_DIR}/{split}-*"} for split in build.counts]
    MetadataConfigs({"default": {"data_files": data_files}}).to_dataset_card_data(card)
    return card


def _summary(config: Config, build: Build, version: str, load_line: str) -> str:
    splits = ", ".join(f"{split} {sum(c.values())}" for split, c in build.counts.items())
    return (
        f"# {config.dataset.name}\n\n"
        + (f"{config.dataset.description.strip()}\n\n" if config.dataset.description.strip() else "")
        + f"Version **{version}**: {build.rows} images in {len(config.class_names)} classes "
        f"({splits}), collected and curated with curata.\n\n"
        "```python\nfrom datasets import load_dataset\n\n"
        f"dataset = {load_line}\n```\n\n"
        f"Every version is a git tag (`v{version}`); `curata pull <repository>@{version}` loads this "
        "version into a FiftyOne dataset, labels and provenance intact."
    )


def _classes(config: Config, build: Build) -> str:
    splits = list(build.counts)
    lines = [
        "## Classes\n",
        "| id | class | " + " | ".join(splits) + " | description |",
        "|---:|---|" + "---:|" * len(splits) + "---|",
    ]
    for index, spec in enumerate(config.classes):
        counts = " | ".join(str(build.counts[split].get(spec.name, 0)) for split in splits)
        description = " ".join(spec.description.split()) or "—"
        lines.append(f"| {index} | {spec.name} | {counts} | {description.replace('|', '/')} |")
    return "\n".join(lines)


def _collection(config: Config, build: Build, store: dict[str, Any]) -> str:
    lines = ["## How the data was collected\n"]
    for engine, rows in build.engines.most_common():
        if engine == "folder":
            lines.append(f"- {rows} images imported from local folders.")
        else:
            lines.append(f"- {rows} images found with {_ENGINES.get(engine, engine)}.")
    searched = {label: counts for label, counts in build.queries.items() if counts}
    if searched:
        per_class = (
            f"{label}: " + ", ".join(f'"{query}"' for query in counts)
            for label, counts in sorted(searched.items())
        )
        lines.append("- Search queries per class: " + "; ".join(per_class) + ".")
    if build.fetched:
        first, last = build.fetched
        lines.append(
            f"- Downloaded or imported between {first} and {last}."
            if first != last
            else f"- Collected on {first}."
        )
    hints = {hint: rows for hint, rows in build.licences.items() if hint != "none given"}
    if hints:
        lines.append(
            "- Licence hints from the engines: " + ", ".join(f"{h} {n}" for h, n in hints.items()) + "."
        )
    lines.append(
        "- Every image was fully decoded and checked (format, size, pixel limits) before it was "
        "stored; identical bytes were stored once."
    )
    if store.get("scrape_problems"):
        lines.append(
            f"- The engines reported {store['scrape_problems']} problems while searching (no results, "
            "rate limits, consent pages); see the project's scrape log."
        )
    return "\n".join(lines)


def _curation(build: Build, store: dict[str, Any]) -> str:
    lines = [
        "## Curation\n",
        f"- {store['stored']} images were stored; {build.rows} are published.",
    ]
    for reason, count in sorted(build.left_out.items()):
        lines.append(f"- Left out: {count} {'image' if count == 1 else 'images'}, {reason}.")
    if build.excluded_for:
        lines.append(f"- Reviewers excluded images flagged as: {_problems(build.excluded_for)}.")
    lines.append(
        f"- {build.relabelled} published images were relabelled by a reviewer (`original_label` keeps "
        f"the old label); {build.reviewed} were checked and kept as they are (`review_status`)."
    )
    curation = store.get("curation")
    if curation:
        settings = curation.get("settings", {})
        lines.append(
            "- Checked for exact and near duplicates (pHash, Hamming radius "
            f"{settings.get('near_duplicate_radius', '?')}), label conflicts, split leaks and image "
            "quality (blurry, dark, light, low information, grayscale, odd aspect ratio, odd size); "
            "near-duplicate groups never straddle splits."
        )
    training = store.get("training")
    if training:
        lines.append(
            f"- A {training['trainer']} classifier trained by curata on the train split reached top-1 "
            f"accuracy {training['top1']:.3f} on the test split."
        )
    return "\n".join(lines)


def _limitations(config: Config, build: Build) -> str:
    lines = ["## Known limitations\n"]
    if build.open_issues:
        lines.append(
            "- Still flagged by curation and not yet settled by a reviewer (see `open_issues`): "
            f"{_problems(build.open_issues)}."
        )
    unreviewed = build.rows - build.reviewed
    if unreviewed:
        lines.append(f"- {unreviewed} of {build.rows} images have not been looked at by a person.")
    totals = {name: sum(c.get(name, 0) for c in build.counts.values()) for name in config.class_names}
    if totals and min(totals.values()) and max(totals.values()) / min(totals.values()) >= 2:
        small, large = min(totals, key=totals.get), max(totals, key=totals.get)
        lines.append(
            f"- Classes are imbalanced: {small} has {totals[small]} images, {large} {totals[large]}."
        )
    if any(engine not in ("folder", "unknown") for engine in build.engines):
        lines.append(
            "- Images found by web search carry the biases of the engines' rankings, and their "
            "licences are the publishers'; check an image's source page before reusing it."
        )
    return "\n".join(lines)


def _problems(counts) -> str:
    """ "blurry (3), near-duplicate copy of another image (2)": tags as readers say them, most first."""
    return ", ".join(
        f"{_PROBLEMS.get(tag, tag.removeprefix('issue:'))} ({n})" for tag, n in counts.most_common()
    )


def _columns() -> str:
    rows = "\n".join(f"| {name} | {meaning} |" for name, meaning in _COLUMNS)
    return f"## Columns\n\n| column | meaning |\n|---|---|\n{rows}"
