"""One adapter per image search engine; ``ENGINES`` maps the config's names to them."""

from curata.scrapers.engines.base import Engine
from curata.scrapers.engines.bing import Bing
from curata.scrapers.engines.duckduckgo import DuckDuckGo
from curata.scrapers.engines.google import Google

ENGINES: dict[str, type[Engine]] = {engine.name: engine for engine in (Bing, DuckDuckGo, Google)}

__all__ = ["ENGINES", "Bing", "DuckDuckGo", "Engine", "Google"]
