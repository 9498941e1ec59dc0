"""What every engine adapter shares: loading a page and saying loudly why it yielded nothing.

An adapter knows only its engine's pages: how to ask for a query, page or scroll for more, and
turn results into :class:`~curata.scrapers.records.ImageRecord`. When a page is a consent wall,
a CAPTCHA, a rate limit or an error, or simply holds no results, it raises
:class:`~curata.scrapers.records.EngineProblem` instead of returning an empty list.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import TYPE_CHECKING, ClassVar

from curata.scrapers.browser import page_status
from curata.scrapers.records import EngineProblem, ImageRecord, is_web_url

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

CAPTCHA_MARKERS = (
    "unusual traffic",
    "captcha",
    "are you a robot",
    "verify you are human",
    "not a robot",
)
CONSENT_MARKERS = (
    "before you continue",
    "we value your privacy",
    "consent to cookies",
    "accept all cookies",
)


class Ranked:
    """An engine's results in order: ranks them 1, 2, ... and drops repeats and links that cannot be
    downloaded (data:, javascript:, missing)."""

    def __init__(self, engine: str, query: str, licence: str | None = None):
        self.engine, self.query, self.licence = engine, query, licence
        self.seen: set[str] = set()
        self.rank = 0

    def record(self, image_url: str | None, **fields) -> ImageRecord | None:
        if not is_web_url(image_url) or image_url in self.seen:
            return None
        self.seen.add(image_url)
        self.rank += 1
        fields.setdefault("licence", self.licence)
        return ImageRecord(
            engine=self.engine, query=self.query, rank=self.rank, image_url=image_url, **fields
        )


class Engine:
    """One image search engine, driven through a browser."""

    name: ClassVar[str] = ""
    base_url: ClassVar[str] = ""

    # the engine's search parameter for each licence filter (``[scrape] licence``); absent: not offered
    licence_filters: ClassVar[dict[str, str]] = {}

    def __init__(self, driver: WebDriver, base_url: str | None = None, pages: int = 5, licence: str = "any"):
        self.driver = driver
        self.base = (base_url or self.base_url).rstrip("/")
        self.pages = pages
        self.licence = licence if licence in self.licence_filters else "any"

    @property
    def licence_param(self) -> str:
        """The query-string part that asks for the licence, or ""."""
        return self.licence_filters.get(self.licence, "")

    @property
    def licence_hint(self) -> str | None:
        """What the results' licence is known to be, from the filter the engine applied."""
        return None if self.licence == "any" else f"{self.licence} ({self.name} licence filter)"

    def search(self, query: str) -> Iterator[ImageRecord]:
        """Results for ``query`` in the engine's order, full-size URLs only."""
        raise NotImplementedError

    def load(self, url: str, query: str) -> None:
        """Open ``url`` and raise EngineProblem if the engine answered with anything but results."""
        from selenium.common.exceptions import WebDriverException

        try:
            self.driver.get(url)
        except WebDriverException as err:
            first_line = (err.msg or str(err)).strip().splitlines()[0]
            raise self.problem(query, "unreachable", f"could not load {url} ({first_line})") from None
        self.check_page(query)

    def check_page(self, query: str) -> None:
        status = page_status(self.driver)
        text = self.page_text()
        if any(marker in text for marker in CAPTCHA_MARKERS):  # often served with a 429
            raise self.problem(
                query,
                "captcha",
                "the engine shows a CAPTCHA instead of results; wait a while or use another engine",
            )
        if status == 429:
            raise self.problem(
                query, "rate-limited", "HTTP 429 Too Many Requests: the engine is rate limiting"
            )
        if any(marker in text for marker in CONSENT_MARKERS):
            raise self.problem(
                query,
                "consent",
                "a cookie-consent page stands before the results; answer it once in a browser or use "
                "another engine",
            )
        if status is not None and status >= 400:
            raise self.problem(query, "http-error", f"HTTP {status} for {self.driver.current_url}")

    def page_text(self) -> str:
        try:
            return (
                self.driver.execute_script("return document.body ? document.body.innerText : ''") or ""
            ).lower()
        except Exception:
            return ""

    def fetch(self, url: str, query: str) -> str:
        """GET ``url`` from inside the page (the browser's own user agent and cookies)."""
        status, body = self.driver.execute_async_script(
            "const done = arguments[arguments.length - 1];"
            "fetch(arguments[0], {credentials: 'include'})"
            ".then(r => r.text().then(t => done([r.status, t])))"
            ".catch(e => done([0, String(e)]));",
            url,
        )
        if status == 429:
            raise self.problem(
                query, "rate-limited", "HTTP 429 Too Many Requests: the engine is rate limiting"
            )
        if status == 0:
            raise self.problem(query, "unreachable", f"could not fetch {url} ({body})")
        if status >= 400:
            raise self.problem(query, "http-error", f"HTTP {status} for {url}")
        return body

    def fetch_json(self, url: str, query: str) -> dict:
        body = self.fetch(url, query)
        try:
            return json.loads(body)
        except json.JSONDecodeError:
            raise self.problem(
                query, "no-results", f"{url} did not answer with JSON; the engine's API may have changed"
            ) from None

    def nothing_found(self, query: str) -> EngineProblem:
        return self.problem(query, "no-results", f"0 results for {query!r}; the page layout may have changed")

    def problem(self, query: str, kind: str, message: str) -> EngineProblem:
        return EngineProblem(self.name, query, kind, message)
