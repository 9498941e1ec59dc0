"""Load and validate ``curata.toml``, the one file that describes a project.

Validation is strict (unknown keys are errors, not silently ignored) because a typo such as
``engine = "bing"`` for ``engines`` would otherwise quietly fall back to a default. Every
error names the key and the line it is on, so users fix the file instead of reading a
traceback.
"""

from __future__ import annotations

import difflib
import re
import tomllib
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from curata.errors import CurataError

CONFIG_NAME = "curata.toml"
ENGINES = ("bing", "duckduckgo", "google")
EMBEDDING_BACKENDS = ("open_clip", "efficientnet-lite0")


class _Section(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)


class DatasetSection(_Section):
    name: str = Field(pattern=r"^[A-Za-z0-9][A-Za-z0-9._-]{0,95}$")
    description: str = ""
    license: str = "other"


class ClassSpec(_Section):
    name: str = Field(min_length=1)
    queries: list[str] = Field(default_factory=list)
    description: str = ""

    @field_validator("queries")
    @classmethod
    def _queries_not_blank(cls, queries: list[str]) -> list[str]:
        if any(not q.strip() for q in queries):
            raise ValueError("queries must not contain empty strings")
        return queries


class ScrapeSection(_Section):
    engines: list[Literal["bing", "duckduckgo", "google"]] = Field(
        default_factory=lambda: ["bing", "duckduckgo"], min_length=1
    )
    max_per_class: int = Field(default=200, gt=0)
    pages: int = Field(default=5, gt=0)  # result pages (or scroll loads) per query and engine
    downloads: int = Field(default=8, gt=0, le=64)  # images fetched at once
    politeness_s: float = Field(default=1.0, ge=0)  # at least this long between requests to one host
    connect_timeout_s: float = Field(default=5.0, gt=0)
    read_timeout_s: float = Field(default=20.0, gt=0)
    retries: int = Field(default=3, ge=0, le=10)  # on 429/503 and dropped connections, with backoff
    user_agent: str = ""  # empty: the browser's own
    # Ask the engines for images under open licences only; the hint is kept in each sample's source.
    licence: Literal["any", "creative-commons", "public-domain"] = "any"
    # Where each engine lives; change only to point an adapter at a mirror or a local fixture.
    base_urls: dict[Literal["bing", "duckduckgo", "google"], str] = Field(default_factory=dict)

    @field_validator("base_urls")
    @classmethod
    def _urls_are_http(cls, urls: dict[str, str]) -> dict[str, str]:
        for engine, url in urls.items():
            if not re.match(r"^https?://[^/\s]+", url):
                raise ValueError(f"{engine}: {url!r} is not an http(s) URL")
        return {engine: url.rstrip("/") for engine, url in urls.items()}


class ImportSection(_Section):
    max_pixels: int = Field(default=100_000_000, gt=0)
    max_file_mb: float = Field(default=50.0, gt=0)


class QualityThresholds(_Section):
    """A sample has an issue when its score (0-1, lower is worse) is below the threshold."""

    blurry: float = Field(default=0.25, ge=0, le=1)
    dark: float = Field(default=0.36, ge=0, le=1)
    light: float = Field(default=0.05, ge=0, le=1)
    low_information: float = Field(default=0.3, ge=0, le=1)
    grayscale: float = Field(default=0.05, ge=0, le=1)
    odd_aspect_ratio: float = Field(default=0.35, ge=0, le=1)
    odd_size: float = Field(default=0.5, ge=0, le=1)


class CurationSection(_Section):
    near_duplicate_radius: int = Field(default=6, ge=0, le=32)
    match_mirrored: bool = True
    match_rotated: bool = True  # copies turned by any angle, by polar-spectrum correlation
    rotated_similarity: float = Field(default=0.95, gt=0, le=1)
    quality_checks: bool = True  # false: hash and group only (a faster pass for large scrapes)
    workers: int = Field(default=0, ge=0)
    thresholds: QualityThresholds = Field(default_factory=QualityThresholds)


class EmbeddingsSection(_Section):
    backend: Literal["open_clip", "efficientnet-lite0"] = "open_clip"
    arch: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"


class HubSection(_Section):
    target: str = ""  # hf://datasets/<user>/<name>, or a local folder / file:// URL (a git repository)
    private: bool = False  # a new Hub repository is created private
    shard_mb: float = Field(default=500.0, gt=0)  # parquet shard size, as push_to_hub's default


class Config(_Section):
    dataset: DatasetSection
    classes: list[ClassSpec] = Field(min_length=1)
    scrape: ScrapeSection = Field(default_factory=ScrapeSection)
    import_: ImportSection = Field(default_factory=ImportSection, alias="import")
    curation: CurationSection = Field(default_factory=CurationSection)
    embeddings: EmbeddingsSection = Field(default_factory=EmbeddingsSection)
    hub: HubSection = Field(default_factory=HubSection)

    model_config = ConfigDict(extra="forbid", populate_by_name=True)

    @model_validator(mode="after")
    def _unique_class_names(self) -> Config:
        seen: set[str] = set()
        for spec in self.classes:
            if spec.name in seen:
                raise ValueError(f"class '{spec.name}' is defined twice")
            seen.add(spec.name)
        return self

    @property
    def class_names(self) -> list[str]:
        return [c.name for c in self.classes]

    def class_spec(self, name: str) -> ClassSpec:
        for spec in self.classes:
            if spec.name == name:
                return spec
        raise CurataError(
            f"'{name}' is not a class of this project; add it under [[classes]] in {CONFIG_NAME}"
        )


def load_config(path: str | Path) -> Config:
    """Read and validate a ``curata.toml``; raise ``CurataError`` naming key and line."""
    path = Path(path)
    if path.is_dir():
        path = path / CONFIG_NAME
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise CurataError(
            f"no {CONFIG_NAME} at {path.parent}; create a project with `curata init {path.parent}`"
        ) from None
    except (OSError, UnicodeDecodeError) as err:
        raise CurataError(f"cannot read {path}: {err}") from None
    return parse_config(text, source=str(path))


def parse_config(text: str, source: str = CONFIG_NAME) -> Config:
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as err:
        raise CurataError(f"{source}: not valid TOML: {err}") from None
    try:
        return Config.model_validate(raw)
    except ValidationError as err:
        raise CurataError(_describe(err, text, source)) from None


def _describe(err: ValidationError, text: str, source: str) -> str:
    """Turn pydantic's first error into 'file line N: key: what is wrong'."""
    problems = err.errors(include_url=False)
    first = problems[0]
    loc = tuple(first["loc"])
    line = _TomlLocator(text).line_of(loc)
    key = _dotted(loc)
    where = f"{source} line {line}" if line else source
    kind = first["type"]
    if kind == "extra_forbidden":
        message = f"unknown key '{loc[-1]}'" + _suggestion(loc)
    elif kind == "missing":
        message = f"'{loc[-1]}' is required here" if loc else "a required key is missing"
    else:
        got = first.get("input")
        shown = f" (got {got!r})" if got is not None and not isinstance(got, dict | list) else ""
        message = first["msg"].removeprefix("Value error, ") + shown
    more = f" (and {len(problems) - 1} more problem(s) after fixing this)" if len(problems) > 1 else ""
    return f"{where}: {key}: {message}{more}" if key else f"{where}: {message}{more}"


def _dotted(loc: tuple[Any, ...]) -> str:
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        else:
            out += ("." if out else "") + str(part)
    return out


def _suggestion(loc: tuple[Any, ...]) -> str:
    model: type[BaseModel] = Config
    for part in loc[:-1]:
        if isinstance(part, int):
            continue
        fields = {f.alias or n: f for n, f in model.model_fields.items()}
        annotation = fields[part].annotation if part in fields else None
        inner = getattr(annotation, "__args__", (annotation,))[0] if annotation else None
        candidate = annotation if isinstance(annotation, type) else inner
        if not (isinstance(candidate, type) and issubclass(candidate, BaseModel)):
            return ""
        model = candidate
    known = [f.alias or n for n, f in model.model_fields.items()]
    close = difflib.get_close_matches(str(loc[-1]), known, n=1)
    hint = f"; did you mean '{close[0]}'?" if close else ""
    return f"{hint} (allowed here: {', '.join(known)})"


_HEADER = re.compile(r"^\s*(\[\[?)\s*([^\]]+?)\s*\]\]?\s*(#.*)?$")
_ASSIGN = re.compile(
    r"^\s*((?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*')(?:\s*\.\s*(?:[A-Za-z0-9_-]+|\"[^\"]*\"|'[^']*'))*)\s*="
)


@dataclass
class _TomlLocator:
    """Find the line a key path was written on (tomllib keeps no positions)."""

    text: str

    def __post_init__(self) -> None:
        self._lines: dict[tuple[Any, ...], int] = {}
        table: tuple[Any, ...] = ()
        array_counts: dict[tuple[Any, ...], int] = {}
        in_multiline: str | None = None
        for number, line in enumerate(self.text.splitlines(), start=1):
            if in_multiline:
                if line.count(in_multiline) % 2 == 1:
                    in_multiline = None
                continue
            header = _HEADER.match(line)
            if header:
                path = tuple(_split_key(header.group(2)))
                if header.group(1) == "[[":
                    index = array_counts.get(path, 0)
                    array_counts[path] = index + 1
                    table = path + (index,)
                else:
                    table = path
                self._lines.setdefault(table, number)
                continue
            assign = _ASSIGN.match(line)
            if assign:
                self._lines.setdefault(table + tuple(_split_key(assign.group(1))), number)
                rest = line[assign.end() :]
                for quote in ('"""', "'''"):
                    if rest.count(quote) % 2 == 1:
                        in_multiline = quote

    def line_of(self, loc: tuple[Any, ...]) -> int | None:
        loc = tuple("import" if part == "import_" else part for part in loc)
        for end in range(len(loc), 0, -1):
            if loc[:end] in self._lines:
                return self._lines[loc[:end]]
        return None


def _split_key(key: str) -> list[str]:
    parts = re.findall(r"\"[^\"]*\"|'[^']*'|[^.\s]+", key)
    return [p[1:-1] if p[:1] in "\"'" else p for p in parts]
