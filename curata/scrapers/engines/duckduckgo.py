"""DuckDuckGo images: the search page carries a ``vqd`` token tied to the query (and the browser's
user agent); the ``i.js`` endpoint answers JSON pages of 100 results (``image``, ``url``,
``thumbnail``, ``title``, ``width``, ``height``) with a ``next`` link."""

from __future__ import annotations

import re
from collections.abc import Iterator
from urllib.parse import quote_plus

from curata.scrapers.engines.base import Engine, Ranked
from curata.scrapers.records import ImageRecord

VQD = re.compile(r"""vqd\s*[=:]\s*["']?([0-9][0-9-]+)""")


class DuckDuckGo(Engine):
    name = "duckduckgo"
    base_url = "https://duckduckgo.com"
    licence_filters = {"creative-commons": "license:Share", "public-domain": "license:Public"}

    def search(self, query: str) -> Iterator[ImageRecord]:
        q = quote_plus(query)
        self.load(f"{self.base}/?q={q}&iax=images&ia=images", query)
        token = VQD.search(self.driver.page_source)
        if token is None:
            raise self.problem(
                query, "no-results", "the search page carried no vqd token; the page layout may have changed"
            )
        vqd = token.group(1)
        path = f"i.js?l=us-en&o=json&q={q}&vqd={vqd}&f=,,,,,{self.licence_param}&p=1"
        ranked = Ranked(self.name, query, self.licence_hint)
        for page in range(self.pages):
            data = self.fetch_json(f"{self.base}/{path}", query)
            results = data.get("results") or []
            if not results and page == 0:
                raise self.nothing_found(query)
            for result in results:
                record = ranked.record(
                    result.get("image"),
                    page_url=result.get("url"),
                    title=result.get("title"),
                    thumbnail_url=result.get("thumbnail"),
                    width=_int(result.get("width")),
                    height=_int(result.get("height")),
                )
                if record is not None:
                    yield record
            following = data.get("next")
            if not following or not results:
                return
            path = following + ("" if "vqd=" in following else f"&vqd={vqd}")
            path += "" if "f=" in following else f"&f=,,,,,{self.licence_param}"


def _int(value) -> int | None:
    try:
        return int(value)
    except (TypeError, ValueError):
        return None
