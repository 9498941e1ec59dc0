"""The commented ``curata.toml`` that ``curata init`` writes.

The comments are the config's documentation at the place users read it: every key says
what it does and what values it takes.
"""

from __future__ import annotations

import json
import re

from curata.config import ENGINES, QualityThresholds


def _toml_string(value: str) -> str:
    return json.dumps(value, ensure_ascii=False)


def _toml_multiline(value: str) -> str:
    escaped = value.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return f'"""\n{escaped}\n"""'


def slugify(text: str) -> str:
    slug = re.sub(r"[^A-Za-z0-9._-]+", "-", text.strip()).strip("-._")
    return slug[:96] or "my-dataset"


def render_config(
    name: str,
    classes: list[str] | list[dict],
    description: str = "",
    license: str = "other",  # noqa: A002 - the Hub's word
    target: str = "",
) -> str:
    """The commented config; ``classes`` are names, or dicts with name, queries and description."""
    class_blocks = "\n".join(_class_block(**(c if isinstance(c, dict) else {"name": c})) for c in classes)
    thresholds = "\n".join(f"{key} = {value}" for key, value in QualityThresholds().model_dump().items())
    return f"""\
# curata project file. Every stage reads it; edit it freely.
# Reference: README.md, section "The config".

[dataset]
# Name of the FiftyOne dataset and of the published dataset (letters, digits, . _ -).
name = {_toml_string(name)}
# One or two sentences for the dataset card.
description = {_toml_string(description)}
# Licence of the collected images as the Hub spells it (e.g. "cc-by-4.0", "other").
license = {_toml_string(license)}

# One [[classes]] block per class. `queries` are the web searches `curata scrape` runs;
# `description` is the cultural or domain context of the class, shown in the dataset card
# and by `curata predict`.
{class_blocks}
[scrape]
# Engines to query, in order. Known: {", ".join(ENGINES)}.
engines = ["bing", "duckduckgo"]
# Stop collecting a class once it has this many accepted images.
max_per_class = 200
# Result pages (or scroll loads) to read per query and engine.
pages = 5
# Images downloaded at once, and the least time between two requests to one host (seconds).
downloads = 8
politeness_s = 1.0
# "creative-commons" or "public-domain" asks the engines for openly licensed images only
# (Google has no public-domain filter); each sample's source.licence keeps the hint.
licence = "any"

[import]
# Images above this many pixels are rejected (decompression-bomb guard).
max_pixels = 100_000_000
# Files above this size (MB) are rejected before decoding.
max_file_mb = 50

[curation]
# Hamming distance (0-32) between 64-bit pHashes at or under which two images are near
# duplicates: 0 finds re-encodes and resizes only; 6 also finds light edits and crops.
near_duplicate_radius = 6
# Also match left-right mirrored copies.
match_mirrored = true
# Also match copies turned about their centre by any angle (polar-spectrum correlation), and
# the correlation (0-1) they must reach: turned copies score about 0.99, unrelated photos < 0.9.
match_rotated = true
rotated_similarity = 0.95
# Measure image quality too; false hashes and groups only (a faster pass for a large scrape).
quality_checks = true
# Worker processes for image analysis (0 = one per CPU core).
workers = 0

[curation.thresholds]
# Every quality score lies in 0-1, lower is worse; a sample has the issue below its threshold.
{thresholds}

[embeddings]
# "open_clip" (needs its weights: downloaded once, or a local file in `pretrained`)
# or "efficientnet-lite0" (ImageNet weights shipped with curata, works offline).
backend = "open_clip"
arch = "ViT-B-32"
# An open_clip pretrained tag, or the path of a local weights file.
pretrained = "laion2b_s34b_b79k"

[hub]
# Where `curata publish` writes: "hf://datasets/<user>/<name>" for the Hugging Face Hub,
# or a local folder / file:// URL for a git repository laid out like the Hub's.
target = {_toml_string(target)}
# Create a new Hub repository as private.
private = false
# Size of each parquet shard (MB): smaller shards upload and resume in smaller steps.
shard_mb = 500
"""


def _class_block(name: str, queries: list[str] | None = None, description: str | None = None) -> str:
    queries = queries if queries is not None else [name]
    description = (description or "").strip() or (
        f"What a {name} is, where it comes from and what tells it apart from its neighbours."
    )
    return f"""\
[[classes]]
name = {_toml_string(name)}
queries = [{", ".join(_toml_string(q) for q in queries)}]
description = {_toml_multiline(description)}
"""
