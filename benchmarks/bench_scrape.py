"""Scraper speed: the downloader against a plain sequential loop, and browser time per engine.

Data: the 606 flower photos in ../shared/data/tf-flowers-subset, served on 127.0.0.1 by a server
that adds 50 ms to every response (a stand-in for a distant host). Downloads: curata's
`Downloader` (pooled session, 8 at once, no politeness delay, every image checked) against a
plain `requests.get` loop over the same 200 URLs, in the same run. Browser: seconds per 100
results for each engine adapter against the local stand-in pages (`LocalEngine`).
Run: .venv/bin/python benchmarks/bench_scrape.py
"""

from __future__ import annotations

import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "tf-flowers-subset" / "images"
LATENCY_S = 0.05
DOWNLOADS = 200
RESULTS = 120


def serve(photos: list[Path]) -> ThreadingHTTPServer:
    class Slow(BaseHTTPRequestHandler):
        def log_message(self, *args) -> None:
            pass

        def do_GET(self) -> None:
            time.sleep(LATENCY_S)
            body = photos[int(self.path.strip("/").split(".")[0]) % len(photos)].read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "image/jpeg")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

    server = ThreadingHTTPServer(("127.0.0.1", 0), Slow)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    return server


def main() -> None:
    if not DATA.is_dir():
        sys.exit(f"benchmark data not found at {DATA} (the shared data folder beside the repo)")
    import requests

    from curata.config import ScrapeSection
    from curata.scrapers.browser import open_browser
    from curata.scrapers.download import Downloader
    from curata.scrapers.engines import ENGINES
    from curata.scrapers.local_engine import LocalEngine

    photos = sorted(DATA.rglob("*.jpg"))
    server = serve(photos)
    urls = [f"http://127.0.0.1:{server.server_address[1]}/{i}.jpg" for i in range(DOWNLOADS)]
    try:
        started = time.perf_counter()
        with requests.Session() as session:
            plain = [session.get(url, timeout=30).content for url in urls]
        plain_seconds = time.perf_counter() - started

        downloader = Downloader(ScrapeSection(politeness_s=0.0, downloads=8), max_bytes=50_000_000)
        started = time.perf_counter()
        with ThreadPoolExecutor(max_workers=8) as pool:
            ours = list(pool.map(downloader.get, urls))
        ours_seconds = time.perf_counter() - started
        downloader.close()
    finally:
        server.shutdown()
    assert all(d.data is not None for d in ours) and len(plain) == len(ours)
    print(f"downloads: {DOWNLOADS} images, {LATENCY_S * 1000:.0f} ms latency each")
    print(f"sequential_images_per_s: {DOWNLOADS / plain_seconds:.1f}")
    print(f"curata_images_per_s: {DOWNLOADS / ours_seconds:.1f}")
    print(f"download_speedup: {plain_seconds / ours_seconds:.1f}x")

    with LocalEngine({"flowers": photos[:RESULTS]}, preview_delay_ms=100) as engine:
        driver = open_browser(loopback_only=True)
        try:
            for name, adapter in ENGINES.items():
                started = time.perf_counter()
                found = len(list(adapter(driver, engine.url, pages=10).search("flowers")))
                seconds = time.perf_counter() - started
                print(f"{name}_seconds_per_100_results: {100 * seconds / found:.1f} ({found} results)")
        finally:
            driver.quit()


if __name__ == "__main__":
    main()
