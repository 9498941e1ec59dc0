"""Bing images: ``/images/async?q=…&first=N`` pages of ``a.iusc`` results, each carrying its data
as JSON in the ``m`` attribute (``murl`` the full image, ``purl`` its page, ``turl`` the
thumbnail, ``t`` the title)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from urllib.parse import quote_plus

from curata.scrapers.engines.base import Engine, Ranked
from curata.scrapers.records import ImageRecord

PAGE_SIZE = 35
RESULT_ATTRIBUTES = "return [...document.querySelectorAll('a.iusc')].map(a => a.getAttribute('m'));"


class Bing(Engine):
    name = "bing"
    base_url = "https://www.bing.com"
    licence_filters = {
        "creative-commons": "&qft=%2Bfilterui%3Alicense-L2_L3_L4_L5_L6_L7",
        "public-domain": "&qft=%2Bfilterui%3Alicense-L1",
    }

    def search(self, query: str) -> Iterator[ImageRecord]:
        results = Ranked(self.name, query, self.licence_hint)
        for page in range(self.pages):
            first = page * PAGE_SIZE + 1
            self.load(
                f"{self.base}/images/async?q={quote_plus(query)}&first={first}&count={PAGE_SIZE}&mmasync=1"
                + self.licence_param,
                query,
            )
            attributes = self.driver.execute_script(RESULT_ATTRIBUTES) or []
            if not attributes:
                if page == 0:
                    raise self.nothing_found(query)
                return
            new = 0
            for raw in attributes:
                try:
                    data = json.loads(raw or "{}")
                except json.JSONDecodeError:
                    continue
                record = results.record(
                    data.get("murl"),
                    page_url=data.get("purl"),
                    title=data.get("t"),
                    thumbnail_url=data.get("turl"),
                )
                if record is not None:
                    new += 1
                    yield record
            if new == 0:  # Bing repeats its last page when results run out: stop rather than loop
                return
