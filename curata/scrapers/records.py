"""What an engine adapter hands on: one record per search result, and the problems it reports."""

from __future__ import annotations

from dataclasses import asdict, dataclass
from urllib.parse import urlsplit


@dataclass(frozen=True)
class ImageRecord:
    """One search result: the full-size image and where it was found. Never a thumbnail posing as
    the image: ``image_url`` is the engine's link to the original."""

    engine: str
    query: str
    rank: int  # 1-based position in the engine's results for this query
    image_url: str
    page_url: str | None = None
    title: str | None = None
    thumbnail_url: str | None = None
    licence: str | None = None  # the engine's licence hint, when it gives one
    width: int | None = None
    height: int | None = None

    def as_dict(self) -> dict:
        return asdict(self)


class EngineProblem(Exception):
    """The engine did not give results, for a reason the user should hear about.

    ``kind`` is one of: "no-results", "consent", "captcha", "rate-limited", "http-error",
    "unreachable"; the message says what happened and what to do.
    """

    def __init__(self, engine: str, query: str, kind: str, message: str):
        super().__init__(f"{engine}: {message}")
        self.engine = engine
        self.query = query
        self.kind = kind


def is_web_url(url: str | None) -> bool:
    """A link that can be downloaded: http(s), with a host (not data:, blob: or javascript:)."""
    if not url:
        return False
    parts = urlsplit(url)
    return parts.scheme in ("http", "https") and bool(parts.netloc)
