"""The scrapers against local pages shaped like Bing's, DuckDuckGo's and Google's, serving real
photos on 127.0.0.1: full-size URLs only, loud problems, validated downloads, provenance, resume."""

from __future__ import annotations

import hashlib
import re
import signal
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import urlsplit

import pytest

import curata
from curata.scrapers.browser import open_browser
from curata.scrapers.engines import ENGINES
from curata.scrapers.local_engine import LocalEngine
from curata.scrapers.manifest import ACCEPTED
from curata.scrapers.records import EngineProblem
from tests.conftest import cli_env, run_cli

pytestmark = pytest.mark.browser

TROUBLE = ["html", "corrupt", "missing", "flaky"]


@pytest.fixture
def photos(shared_data) -> dict[str, list[Path]]:
    root = shared_data / "tf-flowers-subset" / "images"
    return {name: sorted((root / name).glob("*.jpg"))[:14] for name in ("tulips", "daisy")}


@pytest.fixture
def engine(photos):
    tulips, daisies = photos["tulips"], photos["daisy"]
    results = {
        # a repeated photo under a second URL, and the troubles real results bring
        "red tulips": tulips[:12] + [tulips[0]] + TROUBLE,
        "tulip field": tulips[10:14],
        "daisy flower": daisies[:8],
        "nothing here": [],
    }
    with LocalEngine(results, preview_delay_ms=150) as server:
        yield server


def write_project(
    make_project, server: LocalEngine, queries: dict[str, list[str]], **scrape
) -> curata.Project:
    """A project whose classes search ``queries`` on ``server`` (every engine's base URL)."""
    project = make_project(classes=tuple(queries))
    text = (project.root / "curata.toml").read_text()
    for name, words in queries.items():
        quoted = ", ".join(f'"{q}"' for q in words)
        text = text.replace(
            f'name = "{name}"\nqueries = ["{name}"]', f'name = "{name}"\nqueries = [{quoted}]'
        )
    options = {"politeness_s": 0.0, "retries": 2, "downloads": 8, **scrape}
    for key, value in options.items():
        text, found = re.subn(rf"^{key} = .*$", f"{key} = {value}", text, count=1, flags=re.M)
        if not found:
            text = text.replace("[scrape]\n", f"[scrape]\n{key} = {value}\n", 1)
    urls = ", ".join(f'{k} = "{v}"' for k, v in server.base_urls().items())
    text = text.replace("[scrape]\n", f"[scrape]\nbase_urls = {{ {urls} }}\n", 1)
    (project.root / "curata.toml").write_text(text)
    return curata.open(project.root)


def test_each_adapter_reads_full_size_results_from_its_engine(engine):
    driver = open_browser()
    try:
        for name, adapter_class in ENGINES.items():
            adapter = adapter_class(driver, engine.url, pages=5)
            records = list(adapter.search("red tulips"))
            urls = [r.image_url for r in records]
            expected = 17  # 12 photos, the repeat under its own URL, 4 troubles (found, not yet judged)
            assert len(records) == expected, name
            assert all("/img/" in u for u in urls), "full-size image URLs, never thumbnails"
            assert len(set(urls)) == len(urls) and [r.rank for r in records] == list(range(1, expected + 1))
            first = records[0]
            assert first.page_url.endswith("/page/0.html") and first.title.startswith(photo_stem(engine, 0))
            assert first.thumbnail_url.endswith("/thumb/0.jpg") and first.engine == name
    finally:
        driver.quit()


def photo_stem(engine: LocalEngine, i: int) -> str:
    return engine.items[i].stem


def test_google_never_passes_a_thumbnail_off_as_the_image(photos):
    with LocalEngine({"tulips": photos["tulips"][:3] + ["thumbnail-only"]}, preview_delay_ms=100) as server:
        driver = open_browser()
        try:
            google = ENGINES["google"](driver, server.url)
            records = list(google.search("tulips"))
        finally:
            driver.quit()
    assert len(records) == 3 and google.thumbnail_only == 1
    assert all("/thumb/" not in r.image_url for r in records)


@pytest.mark.parametrize(
    ("query", "kind", "words"),
    [
        ("nothing here", "no-results", "0 results for 'nothing here'; the page layout may have changed"),
        ("captcha", "captcha", "CAPTCHA"),
        ("consent", "consent", "cookie-consent page"),
    ],
)
def test_engines_say_loudly_why_they_found_nothing(engine, query, kind, words):
    driver = open_browser()
    try:
        for name, adapter_class in ENGINES.items():
            with pytest.raises(EngineProblem) as caught:
                list(adapter_class(driver, engine.url).search(query))
            assert caught.value.kind == kind and caught.value.engine == name
            assert str(caught.value).startswith(f"{name}: ") and words in str(caught.value)
    finally:
        driver.quit()


def test_scrape_stores_validated_images_with_provenance_and_reruns_fetch_nothing(make_project, engine):
    project = write_project(make_project, engine, {"tulips": ["red tulips", "tulip field"]})
    report = project.scrape(engines=["bing"], progress=False)

    tally = report.classes["tulips"]
    # 12 photos and the flaky one (after two 429s) from the first query, 2 new from the second
    assert tally.downloaded == 15 and tally.accepted_total == 15
    assert tally.rejected == 3  # html served as an image, a corrupt JPEG, a 404
    assert tally.duplicate == 3  # the repeated photo, and the two photos both queries found
    dataset = project.dataset
    scraped = dataset.match_tags("scraped")
    assert len(scraped) == 15 and set(scraped.values("ground_truth.label")) == {"tulips"}
    sample = scraped.match({"source.rank": 1, "source.query": "red tulips"}).first()
    assert sample.source.engine == "bing" and sample.source.image_url.endswith("/img/0.jpg")
    assert sample.source.page_url.endswith("/page/0.html") and sample.source.http_status == 200
    assert sample.source.title and sample.source.fetched_at is not None
    assert Path(sample.filepath).read_bytes() == engine.items[0].read_bytes()
    reasons = {r[0] for r in sqlite3.connect(project.root / ".curata" / "scrape.sqlite").execute(
        "SELECT reason FROM urls WHERE status = 'rejected'")}  # fmt: skip
    assert len(reasons) == 3 and {"HTTP 404", "served as text/html, not an image"} < reasons
    assert "not an image in a supported format" in reasons  # the corrupt JPEG, caught by decoding
    assert dataset.info["scrapes"][-1]["classes"]["tulips"]["downloaded"] == 15

    hits = engine.image_hits()
    again = project.scrape(engines=["bing"], progress=False)
    assert again.classes["tulips"].downloaded == 0 and engine.image_hits() == hits
    assert len(project.dataset.match_tags("scraped")) == 15


def test_rate_limited_downloads_back_off_and_succeed(make_project, photos):
    with LocalEngine({"tulips": ["flaky", photos["tulips"][0]]}) as server:
        project = write_project(make_project, server, {"tulips": ["tulips"]})
        report = project.scrape(engines=["duckduckgo"], progress=False)
        flaky_hits = server.hits["/img/0.jpg"]
    assert report.classes["tulips"].downloaded == 2
    assert flaky_hits == 3  # two 429s with Retry-After, then the image


def test_max_per_class_stops_at_n_accepted(make_project, engine):
    project = write_project(make_project, engine, {"tulips": ["red tulips"], "daisy": ["daisy flower"]})
    report = project.scrape(engines=["duckduckgo"], max_per_class=5, progress=False)
    assert {name: t.accepted_total for name, t in report.classes.items()} == {"tulips": 5, "daisy": 5}
    assert project.class_counts() == {"tulips": 5, "daisy": 5}


def test_engine_problems_reach_the_summary_and_the_dataset(make_project, engine):
    project = write_project(make_project, engine, {"tulips": ["captcha", "nothing here", "red tulips"]})
    result = run_cli("scrape", "-p", str(project.root), "--engine", "bing", "--max-per-class", "3", "-q")
    assert result.returncode == 0, result.stderr
    assert "bing: the engine shows a CAPTCHA" in result.stderr
    assert "tulips" in result.stdout and "accepted in all" in result.stdout
    problems = curata.open(project.root).dataset.info["scrapes"][-1]["problems"]
    assert [p["kind"] for p in problems] == ["captcha"]  # bing is given up on after a CAPTCHA
    unknown = run_cli("scrape", "-p", str(project.root), "--engine", "altavista")
    assert unknown.returncode == 1 and "unknown engine 'altavista'" in unknown.stderr


def test_a_killed_scrape_resumes_without_refetching_or_duplicating(make_project, engine):
    project = write_project(make_project, engine, {"tulips": ["red tulips"]}, politeness_s=0.4, downloads=1)
    command = [str(Path(sys.executable).with_name("curata")), "scrape", "-p", str(project.root), "-q"]
    process = subprocess.Popen(command, env=cli_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    manifest = project.root / ".curata" / "scrape.sqlite"
    deadline = time.monotonic() + 120
    accepted_before = 0
    while time.monotonic() < deadline and process.poll() is None:
        if manifest.exists():
            with sqlite3.connect(manifest) as db:
                accepted_before = db.execute(
                    "SELECT COUNT(*) FROM urls WHERE status = ?", (ACCEPTED,)
                ).fetchone()[0]
            if accepted_before >= 4:
                break
        time.sleep(0.1)
    process.send_signal(signal.SIGKILL)
    process.wait(timeout=30)
    assert 4 <= accepted_before < 13, "killed in the middle of the downloads"
    with sqlite3.connect(manifest) as db:
        stored_first = [
            row[0] for row in db.execute("SELECT image_url FROM urls WHERE status = ?", (ACCEPTED,))
        ]

    result = run_cli("scrape", "-p", str(project.root), "-q")
    assert result.returncode == 0, result.stderr
    finished = curata.open(project.root)
    assert len(finished.dataset.match_tags("scraped")) == 13  # 12 photos + the flaky one, once each
    assert len(set(finished.dataset.values("sha256"))) == 13
    assert all(engine.hits[urlsplit(url).path] == 1 for url in stored_first), (
        "nothing stored is fetched again"
    )
    for path in (project.root / "media").rglob("*.*"):
        if not path.name.startswith("."):  # content-addressed files are whole: their name is their sha256
            assert hashlib.sha256(path.read_bytes()).hexdigest() == path.name.split(".")[0]


def test_a_licence_filter_reaches_each_engine_and_its_hint_the_samples(make_project, engine):
    project = write_project(make_project, engine, {"daisy": ["daisy flower"]}, licence='"creative-commons"')
    report = project.scrape(engines=["bing", "duckduckgo", "google"], max_per_class=4, progress=False)
    assert report.classes["daisy"].accepted_total == 4
    asked = [r for r in engine.requests if "daisy" in r]
    assert any("filterui%3Alicense-L2" in r for r in asked if r.startswith("/images/async"))
    licences = set(project.dataset.match_tags("scraped").values("source.licence"))
    assert licences == {"creative-commons (bing licence filter)"}  # bing found enough on its own


class Hostile(BaseHTTPRequestHandler):
    """Image URLs that misbehave in every way real ones do."""

    big = b"\xff\xd8\xff\xe0" + b"\x00" * 2_000_000  # ten times the 0.2 MB limit the test sets

    def log_message(self, *args) -> None:
        pass

    def do_GET(self) -> None:
        case = self.path.strip("/").split(".")[0]
        if case == "slow":
            time.sleep(3)  # past the 1 s read timeout
            return self.reply(200, "image/jpeg", self.server.photo)
        if case == "endless":  # promises a body and stops sending
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", "100000")
            self.end_headers()
            self.wfile.write(self.server.photo[:1000])
            self.wfile.flush()
            time.sleep(3)
            return
        if case == "huge":
            return self.reply(200, "image/jpeg", self.big)
        if case == "huge-undeclared":  # no Content-Length: the limit must hold while streaming
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.end_headers()
            for _ in range(20):
                self.wfile.write(self.big[:100_000])
            return
        if case == "html":
            return self.reply(200, "image/jpeg", b"<!doctype html><html><body>gotcha</body></html>")
        if case == "svg":
            return self.reply(200, "image/jpeg", b'<svg xmlns="http://www.w3.org/2000/svg"><rect/></svg>')
        if case == "loop":
            self.send_response(302)
            self.send_header("Location", "/loop.jpg")
            self.end_headers()
            return
        if case in ("404", "500", "429"):
            return self.reply(int(case), "text/plain", b"no", {"Retry-After": "0"})
        if case == "truncated":
            return self.reply(200, "image/jpeg", self.server.photo[: len(self.server.photo) // 3])
        if case == "bomb":
            return self.reply(200, "image/png", self.server.bomb)
        if case == "good":
            return self.reply(200, "image/jpeg", self.server.photo)
        return self.reply(404, "text/plain", b"no")

    def reply(self, status: int, kind: str, body: bytes, headers: dict | None = None) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        for name, value in (headers or {}).items():
            self.send_header(name, value)
        self.end_headers()
        self.wfile.write(body)


class QuietServer(ThreadingHTTPServer):
    def handle_error(self, request, client_address) -> None:  # clients that give up are the point
        pass


HOSTILE_CASES = {
    "slow": "ReadTimeout",
    "endless": "ConnectionError",
    "huge": "over the limit",
    "huge-undeclared": "stopped",
    "html": "no image signature",
    "svg": "no image signature",
    "loop": "TooManyRedirects",
    "404": "HTTP 404",
    "500": "HTTP 500",
    "429": "HTTP 429",
    "truncated": "corrupt or truncated image",
    "bomb": "decompression bomb",
}


def test_hostile_image_servers_are_counted_rejections_and_nothing_partial_is_stored(make_project, photos):
    import io

    from PIL import Image

    server = QuietServer(("127.0.0.1", 0), Hostile)
    server.photo = photos["tulips"][0].read_bytes()
    bomb = io.BytesIO()
    Image.new("1", (12_000, 12_000)).save(bomb, "PNG")  # 144 M pixels in a few kB
    server.bomb = bomb.getvalue()
    threading.Thread(target=server.serve_forever, daemon=True).start()
    base = f"http://127.0.0.1:{server.server_address[1]}"
    try:
        urls = [f"{base}/{case}.jpg" for case in HOSTILE_CASES] + [f"{base}/good.jpg"]
        with LocalEngine({"tulips": urls}) as engine:
            project = write_project(
                make_project,
                engine,
                {"tulips": ["tulips"]},
                read_timeout_s=1.0,
                connect_timeout_s=1.0,
                retries=1,
            )
            config = project.root / "curata.toml"
            config.write_text(
                config.read_text().replace("max_pixels = 100_000_000", "max_pixels = 50_000_000")
            )
            config.write_text(re.sub(r"max_file_mb = .*", "max_file_mb = 0.2", config.read_text()))
            report = curata.open(project.root).scrape(engines=["duckduckgo"], progress=False)
    finally:
        server.shutdown()
        server.server_close()

    tally = report.classes["tulips"]
    assert tally.downloaded == 1 and tally.rejected + tally.failed == len(HOSTILE_CASES)
    with sqlite3.connect(project.root / ".curata" / "scrape.sqlite") as db:
        outcomes = {url.rsplit("/", 1)[1][:-4]: (status, reason) for url, status, reason in db.execute(
            "SELECT image_url, status, reason FROM urls")}  # fmt: skip
    assert outcomes.pop("good")[0] == "accepted"
    for case, words in HOSTILE_CASES.items():
        status, reason = outcomes[case]
        assert status in ("rejected", "failed") and words in (reason or ""), (case, status, reason)
    stored = [p for p in (project.root / "media").rglob("*.*") if not p.name.startswith(".")]
    assert (
        len(stored) == 1
        and hashlib.sha256(stored[0].read_bytes()).hexdigest() == stored[0].name.split(".")[0]
    )
