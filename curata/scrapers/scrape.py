"""The scrape stage: search each class's queries on each engine, download, validate, store.

Per class, engines run in the configured order and queries in the config's order; after each
search the new candidates are downloaded (best-ranked first) until the class has
``max_per_class`` accepted images. Everything seen goes through the manifest first, so a rerun
after any interruption finishes the job without searching or downloading twice. Accepted
images become samples labelled with their class, tagged ``scraped``, with a ``source`` record
of where they came from.
"""

from __future__ import annotations

import hashlib
import logging
import random
import time
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from curata.config import Config
from curata.errors import CurataError
from curata.images import RejectedImage, inspect_image
from curata.scrapers.browser import open_browser
from curata.scrapers.download import Download, Downloader
from curata.scrapers.engines import ENGINES
from curata.scrapers.manifest import ACCEPTED, DUPLICATE, FAILED, REJECTED, Manifest, Pending
from curata.scrapers.records import EngineProblem
from curata.store import STATE_DIR, NewImage, Store, remember_run

if TYPE_CHECKING:
    from selenium.webdriver.remote.webdriver import WebDriver

SCRAPED_TAG = "scraped"
MANIFEST_NAME = "scrape.sqlite"
GIVE_UP_ENGINE = ("consent", "captcha", "unreachable")  # the engine will keep answering so this run
log = logging.getLogger(__name__)


@dataclass
class ClassTally:
    """One class's scrape, as the progress display and the summary show it."""

    found: int = 0  # new candidate URLs from the engines this run
    downloaded: int = 0  # accepted into the store this run
    rejected: int = 0
    duplicate: int = 0
    failed: int = 0  # downloads that did not complete (retried next run)
    accepted_total: int = 0  # accepted over every run so far
    engines: dict[str, int] = field(default_factory=dict)  # engine -> results found this run


@dataclass
class ScrapeReport:
    classes: dict[str, ClassTally] = field(default_factory=dict)
    problems: list[tuple[str, str, str, str]] = field(default_factory=list)  # engine, query, kind, message
    seconds: float = 0.0

    def as_info(self) -> dict:
        return {
            "at": datetime.now(UTC).isoformat(),
            "seconds": round(self.seconds, 1),
            "classes": {name: asdict(tally) for name, tally in self.classes.items()},
            "problems": [
                dict(zip(("engine", "query", "kind", "message"), p, strict=True)) for p in self.problems
            ],
        }


def scrape(
    store: Store,
    config: Config,
    classes: Sequence[str] | None = None,
    engines: Sequence[str] | None = None,
    max_per_class: int | None = None,
    progress: bool = True,
    browser: Callable[[], WebDriver] | None = None,
) -> ScrapeReport:
    """Collect images for ``classes`` (default: all) from ``engines`` (default: the config's)."""
    settings = config.scrape
    names = list(classes or config.class_names)
    for name in names:
        config.class_spec(name)  # unknown class: one clear error before any work
    engine_names = list(engines or settings.engines)
    unknown = [e for e in engine_names if e not in ENGINES]
    if unknown:
        raise CurataError(f"unknown engine {unknown[0]!r}; choose from {', '.join(ENGINES)}")
    limit = max_per_class or settings.max_per_class
    report = ScrapeReport()
    started = time.perf_counter()
    manifest = Manifest(store.root / STATE_DIR / MANIFEST_NAME)
    max_bytes = int(config.import_.max_file_mb * 1_000_000)
    downloader = Downloader(settings, max_bytes)
    display = _Display(progress)
    driver: WebDriver | None = None
    given_up: set[str] = set()  # engines that showed a CAPTCHA or a consent wall: left alone this run
    unfiltered: set[str] = set()  # engines without the configured licence filter (warned once)
    try:
        with ExitStack() as stack:
            stack.callback(manifest.close)
            stack.callback(downloader.close)
            stack.enter_context(display)
            for name in names:
                tally = report.classes.setdefault(name, ClassTally())
                tally.accepted_total = manifest.counts(name)[ACCEPTED]
                display.add(name, limit, tally)
                job = _ClassJob(store, config, manifest, downloader, name, tally, limit, display, max_bytes)
                job.download()  # what an interrupted run left pending
                for engine_name in engine_names:
                    for query in config.class_spec(name).queries or [name]:
                        if tally.accepted_total >= limit or engine_name in given_up:
                            break
                        if manifest.searched(name, engine_name, query):
                            continue
                        if driver is None:
                            driver = (browser or (lambda: open_browser(settings.user_agent)))()
                            stack.callback(driver.quit)
                        engine = ENGINES[engine_name](
                            driver, settings.base_urls.get(engine_name), settings.pages, settings.licence
                        )
                        if (
                            settings.licence != "any"
                            and engine.licence == "any"
                            and engine_name not in unfiltered
                        ):
                            unfiltered.add(engine_name)
                            display.note(
                                f"[yellow]{engine_name} offers no {settings.licence} filter: its results "
                                "carry no licence hint[/]"
                            )
                        problem = _search(engine, query, name, manifest, tally, settings.retries, limit)
                        if problem is not None:
                            report.problems.append((engine_name, query, problem.kind, str(problem)))
                            display.note(f"[yellow]{problem}[/]")
                            if problem.kind in GIVE_UP_ENGINE:
                                given_up.add(engine_name)
                        job.download()
                display.update(name)
    finally:
        report.seconds = time.perf_counter() - started
        if report.classes:
            remember_run(store.dataset, "scrapes", report.as_info())  # for review and the card
    return report


def _search(
    engine, query: str, class_name: str, manifest: Manifest, tally: ClassTally, retries: int, limit: int
):
    """Run one query to the end (or to enough candidates); return the problem that stopped it, if any."""
    wanted = max(3 * (limit - tally.accepted_total), 20)  # candidates: some will be rejected or duplicates
    for attempt in range(retries + 1):
        records = []
        try:
            for record in engine.search(query):
                records.append(record)
                if len(records) >= wanted:
                    break
        except EngineProblem as problem:
            tally.found += manifest.add(class_name, records)
            if problem.kind == "rate-limited" and attempt < retries:
                time.sleep(min(60.0, 2.0 ** (attempt + 1)) * (0.5 + random.random()))
                continue
            manifest.finish_search(class_name, engine.name, query, len(records), problem.kind)
            return problem
        new = manifest.add(class_name, records)
        tally.found += new
        tally.engines[engine.name] = tally.engines.get(engine.name, 0) + new
        manifest.finish_search(class_name, engine.name, query, len(records), None)
        return None
    return None


class _ClassJob:
    """Downloads a class's pending URLs until it has enough accepted images."""

    def __init__(self, store, config, manifest, downloader, name, tally, limit, display, max_bytes):
        self.store, self.config, self.manifest, self.downloader = store, config, manifest, downloader
        self.name, self.tally, self.limit, self.display, self.max_bytes = (
            name,
            tally,
            limit,
            display,
            max_bytes,
        )

    def download(self) -> None:
        pending = self.manifest.pending(self.name, max_attempts=self.config.scrape.retries + 1)
        if not pending or self.tally.accepted_total >= self.limit:
            return
        workers = self.config.scrape.downloads
        with ThreadPoolExecutor(max_workers=workers) as pool:
            position = 0
            while position < len(pending) and self.tally.accepted_total < self.limit:
                room = self.limit - self.tally.accepted_total
                batch = pending[position : position + max(room, workers)]
                position += len(batch)
                for item, fetched in zip(batch, pool.map(self._fetch, batch), strict=True):
                    if self.tally.accepted_total >= self.limit:
                        break  # enough: the rest stay pending for a run with a higher limit
                    self._settle(item, fetched)
                    self.display.update(self.name)

    def _fetch(self, item: Pending) -> tuple[Download, object]:
        """Runs on a worker thread: download, then validate exactly as import does."""
        fetched = self.downloader.get(item.record.image_url)
        if fetched.data is None:
            return fetched, None
        try:
            info = inspect_image(
                fetched.data, max_pixels=self.config.import_.max_pixels, max_bytes=self.max_bytes
            )
        except RejectedImage as err:
            return fetched, str(err)
        return fetched, info

    def _settle(self, item: Pending, outcome: tuple[Download, object]) -> None:
        fetched, info = outcome
        url = item.record.image_url
        if fetched.data is None:
            status = FAILED if fetched.retry else REJECTED
            self.manifest.record(self.name, url, status, fetched.error, fetched.http_status)
            self.tally.failed += status == FAILED
            self.tally.rejected += status == REJECTED
            return
        if isinstance(info, str):
            self.manifest.record(self.name, url, REJECTED, info, fetched.http_status)
            self.tally.rejected += 1
            return
        sha = hashlib.sha256(fetched.data).hexdigest()
        source = {
            **{k: v for k, v in item.record.as_dict().items() if v is not None},
            "fetched_at": datetime.now(UTC),
            "http_status": fetched.http_status,
            "original_format": info.format,
        }
        result = self.store.add_images([NewImage(sha, info, self.name, source, tags=(SCRAPED_TAG,))])
        if result.added or self._stored_from(sha, url):  # the latter: a run killed after storing it
            self.manifest.record(self.name, url, ACCEPTED, None, fetched.http_status, sha)
            self.tally.downloaded += 1
            self.tally.accepted_total += 1
        else:
            self.manifest.record(
                self.name, url, DUPLICATE, "same bytes as a stored sample", fetched.http_status, sha
            )
            self.tally.duplicate += 1

    def _stored_from(self, sha: str, url: str) -> bool:
        match = self.store.dataset.match({"sha256": sha, "source.image_url": url})
        return len(match) > 0


class _Display:
    """A live line per class: found, downloaded, rejected, duplicate, out of the wanted count."""

    def __init__(self, enabled: bool):
        self.enabled = enabled
        self.progress = None
        self.tasks: dict[str, tuple[int, ClassTally]] = {}

    def __enter__(self):
        if self.enabled:
            from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

            self.progress = Progress(
                TextColumn("[bold]{task.description}"),
                BarColumn(),
                MofNCompleteColumn(),
                TextColumn("{task.fields[detail]}"),
                TimeElapsedColumn(),
            )
            self.progress.__enter__()
        return self

    def __exit__(self, *exc):
        if self.progress is not None:
            self.progress.__exit__(*exc)

    def add(self, name: str, limit: int, tally: ClassTally) -> None:
        if self.progress is not None:
            task = self.progress.add_task(name, total=limit, detail="", completed=tally.accepted_total)
            self.tasks[name] = (task, tally)
            self.update(name)

    def update(self, name: str) -> None:
        if self.progress is None or name not in self.tasks:
            return
        task, tally = self.tasks[name]
        detail = (
            f"found {tally.found} · downloaded {tally.downloaded} · rejected {tally.rejected} · "
            f"duplicate {tally.duplicate}" + (f" · failed {tally.failed}" if tally.failed else "")
        )
        self.progress.update(
            task, completed=min(tally.accepted_total, self.progress.tasks[task].total), detail=detail
        )

    def note(self, message: str) -> None:
        if self.progress is not None:
            self.progress.console.print(message)
        else:
            log.warning(message)
