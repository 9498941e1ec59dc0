"""Google images: no JSON, a JavaScript page. Results are a lazily loaded grid; clicking one opens
a preview that shows the thumbnail first and swaps in the full-size URL a moment later. The
markup changes often, so the selectors live here, together, and a page where they match
nothing is reported, never returned as an empty result."""

from __future__ import annotations

import time
from collections.abc import Iterator
from urllib.parse import quote_plus

from curata.scrapers.engines.base import Engine, Ranked
from curata.scrapers.records import ImageRecord, is_web_url

RESULT = "div[data-lpage]"  # one grid item; data-lpage is the page the image is on
PREVIEW_IMAGE = "img.sFlh5c, img.n3VNCb, img.iPVvYb"  # the preview's large image, by markup era
THUMBNAIL_HOSTS = ("encrypted-tbn", "gstatic.com")  # Google's own thumbnail servers
PREVIEW_WAIT_S = 4.0  # how long a preview may take to swap in the full-size URL
SCROLL_WAIT_S = 3.0

THUMBNAIL_OF = (
    "const img = arguments[0].querySelector('img'); return img ? (img.dataset.src || img.src) : null;"
)
PREVIEW_STATE = f"""
const img = [...document.querySelectorAll({PREVIEW_IMAGE!r})].find(i => i.offsetParent !== null)
    || document.querySelector({PREVIEW_IMAGE!r});
if (!img) return null;
const link = img.closest('a[href]');
return [img.src, link ? link.href : null, img.alt || null];
"""


class Google(Engine):
    name = "google"
    base_url = "https://www.google.com"
    licence_filters = {"creative-commons": "&tbs=il%3Acl"}  # no public-domain-only filter

    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.thumbnail_only = 0  # results whose preview never showed a full-size URL (skipped)

    def search(self, query: str) -> Iterator[ImageRecord]:
        from selenium.webdriver.common.by import By

        self.load(f"{self.base}/search?q={quote_plus(query)}&tbm=isch&hl=en{self.licence_param}", query)
        ranked = Ranked(self.name, query, self.licence_hint)
        done = 0
        for load in range(self.pages):
            items = self.driver.find_elements(By.CSS_SELECTOR, RESULT)
            if not items and load == 0:
                raise self.nothing_found(query)
            for item in items[done:]:
                record = self._open_preview(item, ranked)
                if record is not None:
                    yield record
            done = len(items)
            if not self._scroll_for_more(done):
                return

    def _open_preview(self, item, ranked: Ranked) -> ImageRecord | None:
        """Click a result and wait for its preview to show the full-size image; None if it never does."""
        thumbnail = self.driver.execute_script(THUMBNAIL_OF, item)
        page_url = item.get_attribute("data-lpage")
        self.driver.execute_script(
            "arguments[0].scrollIntoView({block: 'center'}); arguments[0].click();", item
        )
        deadline = time.monotonic() + PREVIEW_WAIT_S
        while time.monotonic() < deadline:
            state = self.driver.execute_script(PREVIEW_STATE)
            if state:
                source, link, title = state
                if is_web_url(source) and source != thumbnail and not _is_thumbnail(source):
                    return ranked.record(
                        source,
                        page_url=page_url or link,
                        title=title,
                        thumbnail_url=thumbnail if is_web_url(thumbnail) else None,
                    )
            time.sleep(0.1)
        self.thumbnail_only += 1  # never pass a thumbnail off as the image
        return None

    def _scroll_for_more(self, count: int) -> bool:
        from selenium.webdriver.common.by import By

        self.driver.execute_script("window.scrollTo(0, document.body.scrollHeight);")
        deadline = time.monotonic() + SCROLL_WAIT_S
        while time.monotonic() < deadline:
            if len(self.driver.find_elements(By.CSS_SELECTOR, RESULT)) > count:
                return True
            time.sleep(0.1)
        return False


def _is_thumbnail(url: str) -> bool:
    return any(host in url for host in THUMBNAIL_HOSTS)
